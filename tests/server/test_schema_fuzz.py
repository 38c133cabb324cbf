"""schemathesis against `GET /doc`: every operation, about 20 generated requests each, no answer may be
a 5xx or break the documented schema (issue 12).

The server runs in a throwaway project on the scripted model, with short bash and run deadlines, so
fuzzed prompts run for real and fuzzed `/shell` commands run nowhere that matters: the project
directory is pinned (`?directory=` and `x-opencode-directory`) to that throwaway directory.
Operations on a session get a real one, so prompts are stored and read back. `/event` and `/global/event` are
checked for status and content type only: its schema documents the JSON of each `data:` line (as the reference
does), while schemathesis reads an event stream's schema as the SSE envelope; tests/server/
test_events.py validates the events themselves.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import SCRIPTED, WakefulProcess, write_project_config

# The same cases on every run, so that a failure here is reproducible; set WAKEFUL_FUZZ_SEED to explore.
SEED = os.environ.get("WAKEFUL_FUZZ_SEED", "12")
BUDGET = 180.0  # seconds; the stage must stay within 3 minutes
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)


def config_file(path: Path, project: Path, session_id: str) -> Path:
    checks = "\n".join(f"{name}.enabled = true" for name in CHECKS)
    path.write_text(
        f"""
generation.max-examples = 20
generation.database = "none"
request-timeout = 30

[parameters]
"query.directory" = "{project}"
"header.x-opencode-directory" = "{project}"

[checks]
enabled = false
{checks}

[[operations]]
exclude-operation-id-regex = "^(session[.]delete|event[.]subscribe|global[.]event)$"
parameters = {{ "path.sessionID" = "{session_id}" }}

[[operations]]
include-operation-id = "event.subscribe"
max-stream-events = 2
checks.response_schema_conformance.enabled = false

[[operations]]
include-operation-id = "global.event"
max-stream-events = 2
checks.response_schema_conformance.enabled = false
"""
    )
    return path


@pytest.mark.timeout(BUDGET + 60)
def test_every_operation_survives_schemathesis(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "project"
    project.mkdir()
    write_project_config(project, SCRIPTED)
    env = {"WAKEFUL_BASH_TIMEOUT": "5", "WAKEFUL_BASH_MAX_TIMEOUT": "5", "WAKEFUL_RUN_DEADLINE": "10"}
    server = WakefulProcess(tmp_path / "data", project, env=dict(env)).start()
    try:
        with server.client() as http:
            session_id = http.post("/session", json={"title": "fuzzed"}).json()["id"]
        report = tmp_path / "report.json"
        st = Path(sys.executable).parent / "st"
        result = subprocess.run(
            [
                str(st),
                "--config-file",
                str(config_file(tmp_path / "schemathesis.toml", project, session_id)),
                "run",
                f"{server.url}/doc",
                "--phases",
                "examples,coverage,fuzzing",
                "--seed",
                SEED,
                "--no-color",
                "--report",
                "json",
                "--report-json-path",
                str(report),
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=BUDGET,
        )
    finally:
        server.stop()
    summary = json.loads(report.read_text())
    operations, cases = summary["operations"], summary["test_cases"]
    with capsys.disabled():
        print(
            f"\nschemathesis: {operations['tested']} operations, {cases['generated']} requests, "
            f"{cases['with_failures']} failures, {cases['errored']} errors "
            f"({summary['running_time']:.0f} s, seed {SEED})"
        )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert operations["tested"] == operations["total"] >= 25
    assert cases["with_failures"] == 0 and cases["errored"] == 0 and not summary["failures"]
    assert cases["generated"] >= 20 * operations["tested"]
    assert "Traceback" not in "".join(server.output), "".join(server.output)[-4000:]
