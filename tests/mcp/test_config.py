"""A project's `mcp` entries: parsed into specs or failed statuses, and which projects share one."""

from __future__ import annotations

from pathlib import Path

from wakeful.mcp.config import ServerSpec, parse_entry, sanitize
from wakeful.mcp.tool import model_schema, tool_name
from wakeful.wire.mcp import McpLocalConfig, MCPStatus


def spec(raw: object, directory: str = "/p") -> ServerSpec:
    parsed = parse_entry("k8s", raw, Path(directory))
    assert isinstance(parsed, ServerSpec), parsed
    return parsed


def test_names_are_sanitised_as_the_reference_does() -> None:
    assert sanitize("ops team.v2") == "ops_team_v2"
    assert tool_name("my server", "get-pods") == "my_server_get-pods"


def test_a_local_entry_runs_in_the_project_or_its_cwd() -> None:
    local = spec({"type": "local", "command": ["k8s-mcp"], "environment": {"A": "1"}, "timeout": 1500})
    assert isinstance(local.config, McpLocalConfig) and local.enabled
    assert local.cwd == Path("/p") and local.timeout(60.0) == 1.5
    assert spec({"type": "local", "command": ["x"], "cwd": "tools"}).cwd == Path("/p/tools")
    assert spec({"type": "local", "command": ["x"], "cwd": "/srv"}).cwd == Path("/srv")
    assert spec({"type": "local", "command": ["x"]}).timeout(60.0) == 60.0


def test_projects_share_a_server_when_entry_and_working_directory_agree() -> None:
    entry = {"type": "local", "command": ["k8s-mcp"]}
    assert spec(entry, "/a").key != spec(entry, "/b").key
    assert spec({**entry, "cwd": "/srv"}, "/a").key == spec({**entry, "cwd": "/srv"}, "/b").key
    remote = {"type": "remote", "url": "https://mcp.example/mcp"}
    assert spec(remote, "/a").key == spec(remote, "/b").key
    assert spec(remote).key != spec({**remote, "headers": {"Authorization": "Bearer x"}}).key


def test_a_bad_entry_is_a_failed_status_naming_the_problem() -> None:
    for raw, problem in [
        ({"type": "local"}, "command: Field required"),
        ({"type": "local", "command": []}, "command: List should have at least 1 item"),
        ({"type": "ftp"}, "the entry"),
        ("npx server", "the entry"),
    ]:
        parsed = parse_entry("k8s", raw, Path("/p"))
        assert isinstance(parsed, MCPStatus) and parsed.status == "failed"
        assert parsed.error is not None and parsed.error.startswith("invalid config mcp.k8s: ")
        assert problem in parsed.error, parsed.error


def test_opencode_remote_entries_with_oauth_load() -> None:
    assert not spec({"type": "remote", "url": "https://x/mcp", "oauth": False, "enabled": False}).enabled
    assert spec({"type": "remote", "url": "https://x/mcp", "oauth": {"clientId": "c"}}).enabled


def test_the_schema_offered_is_an_object_that_allows_nothing_else() -> None:
    assert model_schema({"type": "object"}) == {
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    assert model_schema(schema) == {**schema, "additionalProperties": False}
