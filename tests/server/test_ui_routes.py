"""What opencode's terminal UI reads at start-up, in process: paths and the project, git's facts
(branch, changed files, the session diff) inside and outside a repository, the empty answers, and
the `/api/*` reads; each answer checked against the reference's own schema."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.inproc import InProcess
from tests.support.schemas import validate, validate_response
from tests.support.server import SCRIPTED, write_project_config
from wakeful.session.sessions import project_id


def git(directory: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=directory,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository on branch `main` with one commit, then: `kept.txt` changed (one line replaced,
    one added), `gone.txt` deleted, `new.txt` untracked (two lines), `ignored.log` ignored."""
    directory = tmp_path / "repo"
    directory.mkdir()
    git(directory, "init", "-q", "-b", "main")
    (directory / "kept.txt").write_text("one\ntwo\n")
    (directory / "gone.txt").write_text("bye\n")
    (directory / ".gitignore").write_text("*.log\n")
    write_project_config(directory, SCRIPTED)
    git(directory, "add", ".")
    git(directory, "commit", "-q", "-m", "first")
    (directory / "kept.txt").write_text("one\nTWO\nthree\n")
    (directory / "gone.txt").unlink()
    (directory / "new.txt").write_text("fresh\nlines\n")
    (directory / "ignored.log").write_text("noise\n")
    return directory


async def get(client: httpx.AsyncClient, path: str, directory: Path | None = None, **params: Any) -> Any:
    if directory is not None:
        params["directory"] = str(directory)
    response = await client.get(path, params=params)
    assert response.status_code == 200, (path, response.text)
    return response.json()


async def test_outside_git_the_answers_are_the_references(
    wakeful: InProcess, client: httpx.AsyncClient
) -> None:
    project = wakeful.project
    path = await get(client, "/path")
    validate("Path", path)
    config = wakeful.runtime.config
    assert path == {
        "home": config.environ["HOME"],
        "state": str(config.data_dir),
        "config": str(Path(config.environ["XDG_CONFIG_HOME"]) / "opencode"),
        "worktree": "/",
        "directory": str(project),
    }
    current = await get(client, "/project/current")
    validate("Project", current)
    assert current["id"] == project_id(project) and current["worktree"] == "/" and "vcs" not in current
    assert current["sandboxes"] == []
    # The reference's own capture outside a repository: both fields null.
    assert await get(client, "/vcs") == {"branch": None, "default_branch": None}
    assert await get(client, "/file/status") == []
    session = (await client.post("/session", json={})).json()
    assert await get(client, f"/session/{session['id']}/diff") == []


async def test_git_facts_of_a_repository(client: httpx.AsyncClient, repo: Path) -> None:
    path = await get(client, "/path", repo)
    assert path["worktree"] == str(repo) and path["directory"] == str(repo)
    current = await get(client, "/project/current", repo)
    validate("Project", current)
    assert current["worktree"] == str(repo) and current["vcs"] == "git"
    vcs = await get(client, "/vcs", repo)
    validate("VcsInfo", vcs)
    assert vcs == {"branch": "main", "default_branch": "main"}

    status = await get(client, "/file/status", repo)
    validate_response("get", "/file/status", 200, status)
    assert status == [
        {"path": "gone.txt", "added": 0, "removed": 1, "status": "deleted"},
        {"path": "kept.txt", "added": 2, "removed": 1, "status": "modified"},
        {"path": "new.txt", "added": 2, "removed": 0, "status": "added"},
    ]

    session = (await client.post("/session", params={"directory": str(repo)}, json={})).json()
    diff = await get(client, f"/session/{session['id']}/diff")
    validate_response("get", "/session/{sessionID}/diff", 200, diff)
    by_file = {d["file"]: d for d in diff}
    assert [d["file"] for d in diff] == ["gone.txt", "kept.txt", "new.txt"]
    assert (by_file["kept.txt"]["additions"], by_file["kept.txt"]["deletions"]) == (2, 1)
    assert "-two\n+TWO\n+three\n" in by_file["kept.txt"]["patch"]
    assert "-bye\n" in by_file["gone.txt"]["patch"] and by_file["gone.txt"]["status"] == "deleted"
    assert by_file["new.txt"]["patch"].endswith("@@ -0,0 +1,2 @@\n+fresh\n+lines\n")


async def test_a_subdirectory_reads_its_repository(client: httpx.AsyncClient, repo: Path) -> None:
    inner = repo / "sub"
    inner.mkdir()
    assert (await get(client, "/path", inner))["worktree"] == str(repo)
    # paths stay relative to the worktree's root, wherever the UI stands
    assert [f["path"] for f in await get(client, "/file/status", inner)] == [
        "gone.txt",
        "kept.txt",
        "new.txt",
    ]


async def test_a_detached_head_has_no_branch(client: httpx.AsyncClient, repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach")
    assert await get(client, "/vcs", repo) == {"branch": None, "default_branch": "main"}


async def test_projects_are_those_with_sessions(
    wakeful: InProcess, client: httpx.AsyncClient, repo: Path
) -> None:
    first = (await client.post("/session", json={})).json()
    await client.post("/session", params={"directory": str(repo)}, json={})
    listed = await get(client, "/project", repo)
    validate_response("get", "/project", 200, listed)
    assert [p["id"] for p in listed] == [project_id(repo), project_id(wakeful.project)]
    assert listed[1]["time"]["created"] == first["time"]["created"]
    assert listed[1]["worktree"] == "/"


async def test_the_ui_reads_of_what_wakeful_has_none_of(client: httpx.AsyncClient) -> None:
    expected: dict[str, Any] = {
        "/lsp": [],
        "/formatter": [],
        "/provider/auth": {},
        "/mcp": {},
        "/experimental/resource": {},
        "/experimental/workspace": [],
        "/experimental/workspace/status": [],
        "/experimental/capabilities": {"backgroundSubagents": False},
        "/experimental/console": {"consoleManagedProviders": [], "switchableOrgCount": 0},
        "/project/global/directories": [],
    }
    for path, answer in expected.items():
        assert await get(client, path) == answer, path
    validate("ExperimentalCapabilities", expected["/experimental/capabilities"])
    validate("ConsoleState", expected["/experimental/console"])


async def test_the_api_reads_are_located_and_carry_the_projects_data(
    wakeful: InProcess, client: httpx.AsyncClient, repo: Path
) -> None:
    where = {"location[directory]": str(repo)}
    location = await get(client, "/api/location", **where)
    validate("LocationInfo", location)
    assert location == {"directory": str(repo), "project": {"id": project_id(repo), "directory": str(repo)}}
    # Without a location, the usual ?directory= (or the server's project) places the request.
    assert (await get(client, "/api/location"))["directory"] == str(wakeful.project)
    for path in ("/api/agent", "/api/model", "/api/provider", "/api/command", "/api/skill",
                 "/api/reference", "/api/integration"):  # fmt: skip
        answer = await get(client, path, **where)
        validate_response("get", path, 200, answer)
        assert answer["location"] == location, path
    agents = (await get(client, "/api/agent", **where))["data"]
    assert {a["id"] for a in agents} == {"build", "plan", "general", "explore"}
    models = (await get(client, "/api/model", **where))["data"]
    assert {(m["providerID"], m["id"]) for m in models} == {("mock", "mock-model"), ("anth", "claude-mock")}
    providers = (await get(client, "/api/provider", **where))["data"]
    assert {p["id"] for p in providers} == {"mock", "anth"}
    assert "test-key" not in str(providers)  # keys are never sent
    assert {c["name"] for c in (await get(client, "/api/command", **where))["data"]} >= {"init", "review"}
    missing = await client.get("/api/location", params={"location[directory]": "/no/such/dir"})
    assert missing.status_code == 400
