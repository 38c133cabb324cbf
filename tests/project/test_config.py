"""Unit tests of wakeful.project.config: where opencode config comes from and in which order it merges."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wakeful.errors import InvalidRequestError
from wakeful.project.config import ProjectConfigs, merge, project_chain


def write(path: Path, data: object | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_merge_is_deep_for_objects_only() -> None:
    base = {"a": {"x": 1, "y": [1]}, "b": 1}
    assert merge(base, {"a": {"y": [2], "z": 3}, "b": {"c": 1}}) == {"a": {"x": 1, "y": [2], "z": 3}, "b": {"c": 1}}
    assert base == {"a": {"x": 1, "y": [1]}, "b": 1}


def test_precedence_of_every_source(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg" / "opencode"
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    project = repo / "sub" / "project"
    sources = {
        "global-config": xdg / "config.json",
        "global-json": xdg / "opencode.json",
        "global-jsonc": xdg / "opencode.jsonc",
        "custom": tmp_path / "custom.json",
        "root-jsonc": repo / "opencode.jsonc",
        "near-jsonc": project / "opencode.jsonc",
        "root-json": repo / "opencode.json",
        "near-json": project / "opencode.json",
        "dot-jsonc": project / ".opencode" / "opencode.jsonc",
        "dot-json": project / ".opencode" / "opencode.json",
    }
    for name, path in sources.items():
        write(path, {"order": {name: True}, "last": name})
    write(tmp_path / "outside" / "opencode.json", {"last": "never: above the worktree"})
    environ = {
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "OPENCODE_CONFIG": str(sources["custom"]),
        "OPENCODE_CONFIG_CONTENT": '{"last": "inline", "order": {"inline": true}}',
    }
    config = ProjectConfigs(environ).load(project)
    assert list(config.data["order"]) == [*sources, "inline"]
    assert config.data["last"] == "inline"
    assert config.sources == tuple(sources.values())


def test_project_chain_stops_at_the_worktree(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    deep = tmp_path / "repo" / "a" / "b"
    deep.mkdir(parents=True)
    assert project_chain(deep) == [tmp_path / "repo", tmp_path / "repo" / "a", deep]
    lone = tmp_path / "lone"
    lone.mkdir()
    assert project_chain(lone) == [lone]


def test_jsonc_env_and_file_substitution(tmp_path: Path) -> None:
    write(tmp_path / "prompt.txt", 'be "careful"\n')
    write(
        tmp_path / "opencode.jsonc",
        """{
          // comment
          "provider": {"p": {"options": {"apiKey": "{env:KEY}", "missing": "{env:NOPE}"}}},
          "agent": {"a": {"prompt": "{file:prompt.txt}"}}, /* trailing comma */
        }""",
    )
    config = ProjectConfigs({"KEY": "secret", "HOME": str(tmp_path)}).load(tmp_path)
    assert config.section("provider")["p"]["options"] == {"apiKey": "secret", "missing": ""}
    assert config.section("agent")["a"]["prompt"] == 'be "careful"'
    assert config.section("nothing") == {}


def test_cached_until_a_file_changes(tmp_path: Path) -> None:
    configs = ProjectConfigs({"HOME": str(tmp_path / "home")})
    path = write(tmp_path / "opencode.json", {"model": "a/b"})
    first = configs.load(tmp_path)
    assert configs.load(tmp_path) is first
    write(path, {"model": "a/longer"})
    assert configs.load(tmp_path).data["model"] == "a/longer"
    path.unlink()
    assert configs.load(tmp_path).data == {}


@pytest.mark.parametrize("text", ["{not json", "[1, 2]"])
def test_a_broken_file_is_a_clear_error(tmp_path: Path, text: str) -> None:
    write(tmp_path / "opencode.json", text)
    with pytest.raises(InvalidRequestError, match=r"opencode\.json"):
        ProjectConfigs({"HOME": str(tmp_path / "home")}).load(tmp_path)
