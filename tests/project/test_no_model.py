"""The error of a run that has no model says where wakeful looked and how to name one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wakeful.errors import InvalidRequestError
from wakeful.project.catalog import Catalog
from wakeful.project.config import ProjectConfigs


def test_no_model_names_the_files_searched_and_both_ways_to_pass_one(tmp_path: Path) -> None:
    home, project = tmp_path / "home", tmp_path / "project"
    project.mkdir()
    (project / "opencode.json").write_text(json.dumps({"provider": {"a": {"models": {"x": {}, "y": {}}}}}))
    environ = {"HOME": str(home)}
    config = ProjectConfigs(environ).load(project)
    with pytest.raises(InvalidRequestError) as info:
        Catalog(config, environ).resolve()
    message = info.value.message
    assert str(project) in message and "2 models are configured" in message
    for path in config.searched:
        assert str(path) in message
    assert f"{project / 'opencode.json'} (found)" in message
    assert f"{home / '.config' / 'opencode' / 'opencode.json'} (found)" not in message
    assert '"model": "provider/model"' in message and '"providerID"' in message and "--model" in message
    assert info.value.field == "model"


def test_no_provider_at_all_says_so(tmp_path: Path) -> None:
    config = ProjectConfigs({"HOME": str(tmp_path)}).load(tmp_path)
    with pytest.raises(InvalidRequestError, match="no provider declares a model"):
        Catalog(config, {}).resolve()


def test_an_unknown_provider_lists_the_configured_ones(tmp_path: Path) -> None:
    (tmp_path / "opencode.json").write_text(json.dumps({"provider": {"a": {"models": {"x": {}}}}}))
    config = ProjectConfigs({"HOME": str(tmp_path)}).load(tmp_path)
    with pytest.raises(InvalidRequestError, match=r"Unknown provider: b \(configured for .*: a\)"):
        Catalog(config, {}).resolve("b", "x")
