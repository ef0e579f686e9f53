"""Uncommitted changes of a git working tree: the snapshot patch (what it holds, what it leaves
untouched), applying it to a fresh clone, the size cap, and patches that do not apply."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
from pathlib import Path

import pytest

from runlab.errors import InvalidParameter
from runlab.projects import uncommitted
from runlab.projects.sources import checkout_project
from runlab.projects.uncommitted import UncommittedChanges, apply_patch, take_snapshot

# Every byte value, NUL among them: git must treat it as binary and write a binary patch.
BINARY = bytes(range(256)) * 40


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` (never refreshing the index, so a test's own look does not change it)."""
    proc = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
    )
    return proc.stdout


def committed_repo(path: Path) -> Path:
    """A repository with one commit: text files, a binary file, a .gitignore."""
    (path / "pkg").mkdir(parents=True)
    git(path, "init", "--quiet", "--initial-branch=main")
    (path / ".gitignore").write_text("*.log\nignored/\n")
    (path / "modified.txt").write_text("line 1\nline 2\n")
    (path / "staged.txt").write_text("staged before\n")
    (path / "deleted.txt").write_text("to be deleted\n")
    (path / "pkg" / "code.py").write_text("VALUE = 1\n")
    (path / "model.bin").write_bytes(BINARY)
    git(path, "add", ".")
    git(path, "commit", "--quiet", "-m", "first")
    return path


def make_changes(repo: Path) -> None:
    """Every kind of difference, plus files that must not count (ignored ones)."""
    (repo / "modified.txt").write_text("line 1\nline 2 changed\n")
    (repo / "staged.txt").write_text("staged after\n")
    git(repo, "add", "staged.txt")  # staged: the working tree is what runs, and it has this
    (repo / "deleted.txt").unlink()
    (repo / "pkg" / "code.py").write_text("VALUE = 2\n")
    (repo / "model.bin").write_bytes(BINARY[::-1])  # a changed binary file
    (repo / "data").mkdir()
    (repo / "data" / "new.csv").write_text("x,y\n1,2\n")  # untracked
    (repo / "data" / "weights.npy").write_bytes(b"\x00NUMPY" + BINARY)  # untracked, binary
    (repo / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (repo / "run.sh").chmod(0o755)  # untracked and executable
    (repo / "train.log").write_text("ignored: *.log\n")
    (repo / "ignored").mkdir()
    (repo / "ignored" / "big.dat").write_bytes(BINARY)


def repository_state(repo: Path) -> tuple[str, str, bytes, list[str]]:
    """What the user sees and has: status, staged diff, the index file, the object files."""
    objects = sorted(
        str(p.relative_to(repo)) for p in (repo / ".git" / "objects").rglob("*") if p.is_file()
    )
    return (
        git(repo, "status", "--porcelain", "--untracked-files=all"),
        git(repo, "diff", "--cached", "--binary"),
        (repo / ".git" / "index").read_bytes(),
        objects,
    )


def tree_files(root: Path) -> dict[str, tuple[bytes, bool]]:
    """Every file under ``root`` but .git and ignored ones: contents and executable bit."""
    files = {}
    for path in root.rglob("*"):
        relative = path.relative_to(root).as_posix()
        if relative.startswith((".git/", "ignored/")) or relative == ".git" or not path.is_file():
            continue
        if relative.endswith(".log"):
            continue
        files[relative] = (path.read_bytes(), os.access(path, os.X_OK))
    return files


def clone(repo: Path, into: Path, commit: str = "HEAD") -> Path:
    subprocess.run(["git", "clone", "--quiet", str(repo), str(into)], check=True)
    git(into, "checkout", "--quiet", "--detach", git(repo, "rev-parse", commit).strip())
    return into


def test_snapshot_holds_every_change_and_applies_to_a_clone(tmp_path: Path) -> None:
    repo = committed_repo(tmp_path / "repo")
    make_changes(repo)
    before = repository_state(repo)

    changes = take_snapshot(repo / "pkg")  # from a subdirectory: still the whole repository
    assert changes is not None and changes.patch is not None
    assert changes.tag_value == "recorded"
    patch = changes.patch
    assert b"GIT binary patch" in patch  # model.bin and weights.npy
    for name in (b"modified.txt", b"staged.txt", b"deleted.txt", b"pkg/code.py", b"model.bin"):
        assert b"a/" + name in patch
    for name in (b"data/new.csv", b"data/weights.npy", b"run.sh"):
        assert b"b/" + name in patch
    assert b"train.log" not in patch and b"ignored/" not in patch
    # The user's index, working tree, staged changes and object database are as they were.
    assert repository_state(repo) == before

    copy = clone(repo, tmp_path / "copy")
    apply_patch(copy, patch, "the copy")
    assert tree_files(copy) == tree_files(repo)
    assert not (copy / "deleted.txt").exists()
    assert os.access(copy / "run.sh", os.X_OK)
    assert (copy / "data" / "weights.npy").read_bytes() == b"\x00NUMPY" + BINARY


def test_checkout_project_takes_the_snapshot_of_a_dirty_working_tree(tmp_path: Path) -> None:
    repo = committed_repo(tmp_path / "repo")
    clean = checkout_project(str(repo), None, tmp_path / "work")
    assert clean.git is not None and clean.git.dirty is False
    assert clean.uncommitted is None
    # Ignored files, the default tracking stores and bytecode caches do not make it dirty.
    (repo / "train.log").write_text("x")
    for folder in ("runlab-artifacts/1", "mlruns/0", "pkg/__pycache__"):
        (repo / folder).mkdir(parents=True)
        (repo / folder / "file").write_bytes(b"\x00")
    (repo / "runlab.db").write_bytes(b"SQLite")
    (repo / "runlab.db-wal").write_bytes(b"wal")
    still_clean = checkout_project(str(repo), None, tmp_path / "work")
    assert still_clean.git is not None and still_clean.git.dirty is False
    assert still_clean.uncommitted is None
    # One untracked file is enough; the run outputs stay out of the patch.
    (repo / "notes.txt").write_text("new\n")
    before = repository_state(repo)
    dirty = checkout_project(str(repo), None, tmp_path / "work")
    assert dirty.git is not None and dirty.git.dirty is True
    assert dirty.uncommitted is not None and dirty.uncommitted.patch is not None
    assert b"b/notes.txt" in dirty.uncommitted.patch
    for name in (b"runlab", b"mlruns", b"__pycache__", b"train.log"):
        assert name not in dirty.uncommitted.patch
    assert repository_state(repo) == before
    assert not (tmp_path / "work").exists()  # a working tree run in place needs no folder


def test_a_patch_over_the_cap_is_not_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    repo = committed_repo(tmp_path / "repo")
    monkeypatch.setattr(uncommitted, "MAX_PATCH_BYTES", 1000)
    (repo / "small.txt").write_text("fits\n")
    small = take_snapshot(repo)
    assert small is not None and small.patch is not None and len(small.patch) <= 1000
    # A text file's patch is as large as the file: 1500 bytes make a patch over 1000.
    (repo / "notes.txt").write_text("a line of notes\n" * 94)
    before = repository_state(repo)
    with caplog.at_level(logging.WARNING, logger="runlab.projects"):
        too_large = take_snapshot(repo)
    assert too_large == UncommittedChanges(None)
    assert too_large.tag_value == "too large"
    assert "too large to record (their patch exceeds 1000 bytes)" in caplog.text
    assert repository_state(repo) == before


def test_files_far_over_the_cap_are_not_even_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    repo = committed_repo(tmp_path / "repo")
    # 200 kB of zeros compress to a binary patch of under 2 kB, well within a 5 kB cap ...
    (repo / "zeros.bin").write_bytes(bytes(200_000))
    monkeypatch.setattr(uncommitted, "MAX_PATCH_BYTES", 5000)
    monkeypatch.setattr(uncommitted, "SCAN_FACTOR", 1000)
    recorded = take_snapshot(repo)
    assert recorded is not None and recorded.patch is not None
    assert len(recorded.patch) < 2000
    # ... but files adding up to more than SCAN_FACTOR times the cap are given up on unread.
    monkeypatch.setattr(uncommitted, "SCAN_FACTOR", 5)
    with caplog.at_level(logging.WARNING, logger="runlab.projects"):
        assert take_snapshot(repo) == UncommittedChanges(None)
    assert "(the changed and untracked files hold 200000 bytes)" in caplog.text


def test_a_patch_that_does_not_apply_changes_nothing(tmp_path: Path) -> None:
    repo = committed_repo(tmp_path / "repo")
    (repo / "modified.txt").write_text("line 1\nline 2 changed\n")
    (repo / "staged.txt").write_text("staged after\n")
    changes = take_snapshot(repo)
    assert changes is not None and changes.patch is not None
    # A later commit changed modified.txt: the patch's context no longer matches there.
    git(repo, "commit", "--quiet", "-am", "second")
    (repo / "modified.txt").write_text("something else\n")
    git(repo, "commit", "--quiet", "-am", "third")
    copy = clone(repo, tmp_path / "copy")
    before = tree_files(copy)
    with pytest.raises(InvalidParameter, match=r"do not apply to the copy: .*modified\.txt"):
        apply_patch(copy, changes.patch, "the copy")
    assert tree_files(copy) == before  # all or nothing: staged.txt was not changed either


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (b"this is not a patch\n", "do not apply to the copy"),
        (b"", "code_patch is empty"),
        ("diff --git a/x b/x", "code_patch must be bytes"),
        (
            # A path that climbs out of the checkout: git refuses it.
            b"diff --git a/../escape.txt b/../escape.txt\nnew file mode 100644\n"
            b"--- /dev/null\n+++ b/../escape.txt\n@@ -0,0 +1 @@\n+out\n",
            "do not apply to the copy",
        ),
    ],
)
def test_bad_patches_are_refused(tmp_path: Path, patch: object, message: str) -> None:
    repo = committed_repo(tmp_path / "repo")
    copy = clone(repo, tmp_path / "copy")
    before = tree_files(copy)
    with pytest.raises(InvalidParameter, match=message):
        apply_patch(copy, patch, "the copy")  # type: ignore[arg-type]
    assert tree_files(copy) == before
    assert not (tmp_path / "escape.txt").exists()


def test_a_clean_tree_has_no_snapshot_and_the_digest_names_contents(tmp_path: Path) -> None:
    repo = committed_repo(tmp_path / "repo")
    assert take_snapshot(repo) is None
    described = uncommitted.describe_patch(b"abc")
    assert described == f"sha256 {hashlib.sha256(b'abc').hexdigest()[:16]}, 3 bytes"
