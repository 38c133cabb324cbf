"""The apply_patch tool on real files: one patch adds, updates, moves and deletes; a patch that does
not apply, or is refused, changes nothing; paths are confined and `edit` is asked for each."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.tools.test_permission_asks import Gate, ctx
from wakeful.errors import ToolError
from wakeful.tools.apply_patch import apply_patch_tool


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "src").mkdir()
    (root / "src" / "app.py").write_text("import os\n\n\ndef run():\n    return 1\n")
    (root / "src" / "util.py").write_text("def helper():\n    pass\n")
    (root / "notes.txt").write_text("obsolete\n")
    return root


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


PATCH = """*** Begin Patch
*** Add File: docs/new.md
+# New
+
+text
*** Update File: src/app.py
@@ def run():
-    return 1
+    return 2
*** Update File: src/util.py
*** Move to: src/helpers.py
@@
 def helper():
-    pass
+    return None
*** Delete File: notes.txt
*** End Patch"""


async def test_one_patch_adds_updates_moves_and_deletes(project: Path) -> None:
    (project / "src" / "app.py").chmod(0o750)
    (project / "src" / "util.py").chmod(0o700)
    umask = os.umask(0o022)
    os.umask(umask)  # only read
    gate = Gate()
    result = await apply_patch_tool.call({"patchText": PATCH}, ctx(project, gate))
    assert result.output == (
        "Success. Updated the following files:\nA docs/new.md\nM src/app.py\nM src/helpers.py\nD notes.txt"
    )
    assert snapshot(project) == {
        "docs/new.md": "# New\n\ntext\n",
        "src/app.py": "import os\n\n\ndef run():\n    return 2\n",
        "src/helpers.py": "def helper():\n    return None\n",
    }
    modes = {
        name: (project / name).stat().st_mode & 0o777
        for name in ("src/app.py", "src/helpers.py", "docs/new.md")
    }
    # An updated or moved file keeps its mode; a new one gets the mode any new file gets.
    assert modes == {"src/app.py": 0o750, "src/helpers.py": 0o700, "docs/new.md": 0o666 & ~umask}
    assert gate.asked() == [
        ("edit", ["docs/new.md", "src/app.py", "src/util.py", "src/helpers.py", "notes.txt"])
    ]
    files = {f["relativePath"]: f for f in result.metadata["files"]}
    assert [f["type"] for f in files.values()] == ["add", "update", "move", "delete"]
    assert files["src/app.py"]["additions"] == 1 and files["src/app.py"]["deletions"] == 1
    assert files["src/helpers.py"]["movePath"] == str(project / "src" / "helpers.py")
    assert "+    return 2" in result.metadata["diff"]


async def test_a_failing_hunk_changes_nothing_and_names_the_file_and_hunk(project: Path) -> None:
    before = snapshot(project)
    broken = PATCH.replace("-    pass", "-    raise NotImplementedError")
    gate = Gate()
    with pytest.raises(ToolError) as failed:
        await apply_patch_tool.call({"patchText": broken}, ctx(project, gate))
    message = failed.value.message
    assert "no file was changed" in message
    assert f"{project / 'src' / 'util.py'}: hunk 1 does not apply" in message
    assert "raise NotImplementedError" in message
    assert snapshot(project) == before
    assert gate.asked() == []  # nothing to ask for: it was refused before


async def test_a_refused_edit_changes_nothing(project: Path) -> None:
    before = snapshot(project)
    with pytest.raises(ToolError, match="refused edit"):
        await apply_patch_tool.call({"patchText": PATCH}, ctx(project, Gate(frozenset({"edit"}))))
    assert snapshot(project) == before


async def test_changes_to_one_file_build_on_each_other(project: Path) -> None:
    text = """*** Begin Patch
*** Add File: a.txt
+one
*** Update File: a.txt
@@
-one
+two
*** End Patch"""
    await apply_patch_tool.call({"patchText": text}, ctx(project, Gate()))
    assert (project / "a.txt").read_text() == "two\n"


@pytest.mark.parametrize(
    ("patch", "says"),
    [
        ("just some text", "The patch could not be read: a patch starts with"),
        ("*** Begin Patch\n*** Delete File: missing.txt\n*** End Patch", "missing.txt does not exist"),
        ("*** Begin Patch\n*** Update File: src\n@@\n-x\n+y\n*** End Patch", "is a directory, not a file"),
    ],
)
async def test_bad_patches_are_refused(project: Path, patch: str, says: str) -> None:
    before = snapshot(project)
    with pytest.raises(ToolError, match=says):
        await apply_patch_tool.call({"patchText": patch}, ctx(project, Gate()))
    assert snapshot(project) == before


async def test_a_path_outside_the_project_asks_external_directory(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.txt"
    text = f"*** Begin Patch\n*** Add File: {outside}\n+x\n*** End Patch"
    gate = Gate(frozenset({"external_directory"}))
    with pytest.raises(ToolError, match="refused external_directory"):
        await apply_patch_tool.call({"patchText": text}, ctx(project, gate))
    assert not outside.exists()
    assert gate.asked() == [("external_directory", [f"{tmp_path}/*"])]
