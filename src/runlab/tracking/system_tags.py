"""The ``mlflow.*`` system tags every new run gets: who ran what, from which source and commit.

Everything here is computed once per process and is cheap: the git commit is read from the files
under ``.git`` (a ``git`` subprocess is only a fallback), and nothing imports GitPython.
"""

from __future__ import annotations

import functools
import getpass
import os
import subprocess
import sys
from pathlib import Path

__all__ = [
    "MLFLOW_GIT_COMMIT",
    "MLFLOW_PARENT_RUN_ID",
    "MLFLOW_RUN_NAME",
    "MLFLOW_RUN_NOTE",
    "MLFLOW_SOURCE_NAME",
    "MLFLOW_SOURCE_TYPE",
    "MLFLOW_USER",
    "default_run_tags",
    "git_commit",
]

MLFLOW_USER = "mlflow.user"
MLFLOW_SOURCE_NAME = "mlflow.source.name"
MLFLOW_SOURCE_TYPE = "mlflow.source.type"
MLFLOW_GIT_COMMIT = "mlflow.source.git.commit"
MLFLOW_RUN_NAME = "mlflow.runName"
MLFLOW_RUN_NOTE = "mlflow.note.content"
MLFLOW_PARENT_RUN_ID = "mlflow.parentRunId"


def default_run_tags() -> dict[str, str]:
    """The system tags for a run started by this process (a fresh dict each call)."""
    return dict(_process_tags())


@functools.lru_cache(maxsize=1)
def _process_tags() -> tuple[tuple[str, str], ...]:
    source = _source_name()
    tags = [
        (MLFLOW_USER, _user()),
        (MLFLOW_SOURCE_NAME, source),
        (MLFLOW_SOURCE_TYPE, "LOCAL"),
    ]
    start = Path(source).resolve().parent if os.path.isfile(source) else Path.cwd()
    commit = git_commit(start)
    if commit is not None:
        tags.append((MLFLOW_GIT_COMMIT, commit))
    return tuple(tags)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers: getuser raises OSError or KeyError
        return "unknown"


def _source_name() -> str:
    # The script as it was invoked, like MLflow; an interactive session has no script.
    if sys.argv and sys.argv[0]:
        return sys.argv[0]
    return "<console>"


def git_commit(start: str | os.PathLike[str]) -> str | None:
    """The commit checked out in the git work tree containing ``start``, or None."""
    git_dir = _find_git_dir(Path(start))
    if git_dir is None:
        return None
    try:
        commit = _read_head_commit(git_dir)
    except OSError:
        commit = None
    if commit is None:
        commit = _git_rev_parse(git_dir.parent if git_dir.name == ".git" else Path(start))
    return commit


def _find_git_dir(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        dot_git = folder / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():
            # A worktree or submodule: ".git" is a file pointing at the real git dir.
            try:
                text = dot_git.read_text(encoding="utf-8").strip()
            except OSError:
                return None
            if text.startswith("gitdir:"):
                target = Path(text[len("gitdir:") :].strip())
                return target if target.is_absolute() else (folder / target).resolve()
            return None
    return None


def _is_sha(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


def _read_head_commit(git_dir: Path) -> str | None:
    head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    if _is_sha(head):
        return head  # detached HEAD
    if not head.startswith("ref:"):
        return None
    ref = head[len("ref:") :].strip()
    # Linked worktrees keep their HEAD locally but share refs with the main repository.
    common = git_dir
    commondir_file = git_dir / "commondir"
    if commondir_file.is_file():
        common = (git_dir / commondir_file.read_text(encoding="utf-8").strip()).resolve()
    for base in (git_dir, common):
        ref_file = base / ref
        if ref_file.is_file():
            value = ref_file.read_text(encoding="utf-8").strip()
            return value if _is_sha(value) else None
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(encoding="utf-8").splitlines():
            parts = line.split(" ", 1)
            if len(parts) == 2 and parts[1].strip() == ref and _is_sha(parts[0]):
                return parts[0]
    return None  # e.g. a new repository with no commit yet


def _git_rev_parse(work_tree: Path) -> str | None:
    # Fallback for layouts the file reader does not know (e.g. reftable); bounded and optional.
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=work_tree,
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    value = out.stdout.strip()
    return value if out.returncode == 0 and _is_sha(value) else None
