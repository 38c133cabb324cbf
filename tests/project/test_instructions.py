"""Instruction files (AGENTS.md and friends) found as the reference finds them, in its order."""

from __future__ import annotations

from pathlib import Path

import pytest

from wakeful.project.instructions import Instructions


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """A home with a global config dir, and a git worktree with a nested project directory."""
    home = tmp_path / "home"
    (home / ".config" / "opencode").mkdir(parents=True)
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    project = root / "services" / "api"
    project.mkdir(parents=True)
    return {"home": home, "root": root, "project": project}


def environ(tree: dict[str, Path], **extra: str) -> dict[str, str]:
    return {"HOME": str(tree["home"]), **extra}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


async def test_project_global_and_configured_files_in_the_reference_order(tree: dict[str, Path]) -> None:
    root, project, home = tree["root"], tree["project"], tree["home"]
    nearest = write(project / "AGENTS.md", "api rules")
    top = write(root / "AGENTS.md", "repo rules")
    write(root / "CLAUDE.md", "never read: AGENTS.md was found")
    glob = write(home / ".config" / "opencode" / "AGENTS.md", "my rules")
    write(home / ".claude" / "CLAUDE.md", "never read: the global AGENTS.md was found")
    style = write(root / "docs" / "style.md", "style rules")
    absolute = write(home / "team" / "ops.md", "ops rules")
    texts = await Instructions(environ(tree)).load(project, ["docs/*.md", str(home / "team" / "*.md")])
    assert texts == (
        f"Instructions from: {nearest}\napi rules",
        f"Instructions from: {top}\nrepo rules",
        f"Instructions from: {glob}\nmy rules",
        f"Instructions from: {style}\nstyle rules",
        f"Instructions from: {absolute}\nops rules",
    )


async def test_claude_md_is_the_fallback_and_can_be_turned_off(tree: dict[str, Path]) -> None:
    claude = write(tree["root"] / "CLAUDE.md", "claude rules")
    personal = write(tree["home"] / ".claude" / "CLAUDE.md", "personal rules")
    texts = await Instructions(environ(tree)).load(tree["project"])
    assert texts == (f"Instructions from: {claude}\nclaude rules", f"Instructions from: {personal}\npersonal rules")
    off = environ(tree, OPENCODE_DISABLE_CLAUDE_CODE_PROMPT="1")
    assert await Instructions(off).load(tree["project"]) == ()


async def test_files_outside_the_worktree_and_urls_are_not_read(tree: dict[str, Path]) -> None:
    write(tree["root"].parent / "AGENTS.md", "above the worktree")
    home_rules = write(tree["home"] / "rules.md", "home rules")
    texts = await Instructions(environ(tree)).load(tree["project"], ["https://example.com/rules.md", "~/rules.md"])
    assert texts == (f"Instructions from: {home_rules}\nhome rules",)


async def test_changes_are_picked_up_once_the_cache_is_stale(tree: dict[str, Path]) -> None:
    instructions = Instructions(environ(tree), freshness=3600)
    assert await instructions.load(tree["project"]) == ()
    agents = write(tree["project"] / "AGENTS.md", "new rules")
    assert await instructions.load(tree["project"]) == ()  # fresh enough: not looked at again
    fresh = Instructions(environ(tree), freshness=0)
    assert await fresh.load(tree["project"]) == (f"Instructions from: {agents}\nnew rules",)
    agents.write_text("changed rules, longer")
    assert await fresh.load(tree["project"]) == (f"Instructions from: {agents}\nchanged rules, longer",)
