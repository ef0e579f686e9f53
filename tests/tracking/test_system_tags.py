"""Reading the git commit from .git files (no GitPython, no subprocess in the common cases)."""

from __future__ import annotations

from pathlib import Path

from runlab.tracking.system_tags import default_run_tags, git_commit

SHA = "89abcdef0123456789abcdef0123456789abcdef"


def _git_dir(root: Path) -> Path:
    git = root / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    return git


def test_branch_ref_found_from_a_subfolder(tmp_path: Path) -> None:
    git = _git_dir(tmp_path)
    (git / "HEAD").write_text("ref: refs/heads/feature/x\n")
    (git / "refs" / "heads" / "feature").mkdir()
    (git / "refs" / "heads" / "feature" / "x").write_text(SHA + "\n")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert git_commit(deep) == SHA


def test_packed_ref(tmp_path: Path) -> None:
    git = _git_dir(tmp_path)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "packed-refs").write_text(
        f"# pack-refs with: peeled fully-peeled sorted\n{SHA} refs/heads/main\n"
    )
    assert git_commit(tmp_path) == SHA


def test_detached_head(tmp_path: Path) -> None:
    git = _git_dir(tmp_path)
    (git / "HEAD").write_text(SHA + "\n")
    assert git_commit(tmp_path) == SHA


def test_linked_worktree(tmp_path: Path) -> None:
    main = _git_dir(tmp_path / "main")
    (main / "refs" / "heads" / "wt").write_text(SHA + "\n")
    wt_git = main / "worktrees" / "wt"
    wt_git.mkdir(parents=True)
    (wt_git / "HEAD").write_text("ref: refs/heads/wt\n")
    (wt_git / "commondir").write_text("../..\n")
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / ".git").write_text(f"gitdir: {wt_git}\n")
    assert git_commit(checkout) == SHA


def test_no_repository(tmp_path: Path) -> None:
    # tmp_path lives outside any repository on CI machines; an empty .git dir stops the search
    # here so the test does not depend on that.
    (tmp_path / ".git").mkdir()
    assert git_commit(tmp_path) is None


def test_default_tags_are_fresh_dicts() -> None:
    tags = default_run_tags()
    assert tags["mlflow.source.type"] == "LOCAL"
    assert {"mlflow.user", "mlflow.source.name"} <= set(tags)
    tags["mlflow.user"] = "changed"
    assert default_run_tags()["mlflow.user"] != "changed"
