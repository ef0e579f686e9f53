"""Uncommitted changes of a local git working tree: taken as one patch, applied to a checkout.

A project run from a working tree whose files differ from its commit ran code that the commit
alone does not give back. :func:`take_snapshot` records the difference as one binary git patch
(relative to the repository's top level): modified and deleted tracked files, staged or not,
and untracked files that ``.gitignore`` does not exclude (the tracking stores and bytecode
caches a run writes, :data:`runlab.projects.sources.RUN_OUTPUTS`, are left out). The runner stores it as the run's
artifact ``project/uncommitted.patch``; a re-run checks the commit out and :func:`apply_patch`
puts the changes back.

Taking the snapshot leaves the user's repository as it was: git works on a temporary index file
and writes the objects it hashes into a temporary object directory (reading the repository's
own objects as an alternate), so neither the index, nor the working tree, nor the object
database changes. Git runs with an argument list, never through a shell.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from runlab.errors import InvalidParameter
from runlab.projects.sources import CODE_PATHSPEC, _git_env, _last_lines

__all__ = [
    "MAX_PATCH_BYTES",
    "PATCH_ARTIFACT",
    "RECORDED",
    "TOO_LARGE",
    "UNCOMMITTED_TAG",
    "UncommittedChanges",
    "apply_patch",
    "describe_patch",
    "take_snapshot",
]

_logger = logging.getLogger("runlab.projects")

#: Where a run keeps its uncommitted changes.
PATCH_ARTIFACT = "project/uncommitted.patch"
#: The largest patch recorded (bytes). A larger one is not recorded: the run is tagged
#: ``runlab.source.git.uncommitted=too large`` and a re-run runs the commit as committed.
MAX_PATCH_BYTES = 20 * 1024 * 1024
#: Changed and untracked files adding up to more than this many times MAX_PATCH_BYTES are not
#: read at all (a binary file's patch is compressed, a text file's is as large as the file): a
#: dataset left untracked must not be hashed and compressed on every run only to be dropped.
SCAN_FACTOR = 5
#: Tag saying what became of a run's uncommitted changes: RECORDED or TOO_LARGE.
UNCOMMITTED_TAG = "runlab.source.git.uncommitted"
RECORDED = "recorded"
TOO_LARGE = "too large"

_CHUNK = 1024 * 1024
# Settings that would change how the patch is written, whatever the user's configuration says:
# a/ and b/ prefixes, paths from the top level, no colours, no external or textconv drivers.
_DIFF_CONFIG = (
    "-c", "diff.noprefix=false",
    "-c", "diff.mnemonicPrefix=false",
    "-c", "diff.relative=false",
    "-c", "diff.suppressBlankEmpty=false",
    "-c", "color.diff=false",
)  # fmt: skip


@dataclass(frozen=True)
class UncommittedChanges:
    """The uncommitted changes a run ran: ``patch`` (a binary git patch relative to the
    repository's top level), or None when it was too large to record."""

    patch: bytes | None

    @property
    def tag_value(self) -> str:
        """The value of the run's :data:`UNCOMMITTED_TAG`."""
        return RECORDED if self.patch is not None else TOO_LARGE


def take_snapshot(directory: Path) -> UncommittedChanges | None:
    """The differences between the working tree holding ``directory`` and its HEAD commit.

    Returns None when there are none (ignored files do not count), an
    :class:`UncommittedChanges` without a patch when the patch would exceed
    :data:`MAX_PATCH_BYTES`. Raises :class:`~runlab.errors.InvalidParameter` when git fails.
    """
    toplevel = Path(os.fsdecode(_run(["rev-parse", "--show-toplevel"], directory).strip()))
    limit = MAX_PATCH_BYTES
    changed = _changed_file_bytes(toplevel)
    if changed > limit * SCAN_FACTOR:
        _warn_too_large(toplevel, f"the changed and untracked files hold {changed} bytes")
        return UncommittedChanges(None)
    objects = Path(os.fsdecode(_run(["rev-parse", "--git-path", "objects"], toplevel).strip()))
    with tempfile.TemporaryDirectory(prefix="runlab-uncommitted-") as tmp:
        (Path(tmp) / "objects").mkdir()
        env = {
            # A private index: the user's staging area is neither read for the result nor written.
            "GIT_INDEX_FILE": str(Path(tmp) / "index"),
            # New objects (untracked and modified files' contents) go to the temporary folder;
            # the repository's objects are read from where they are.
            "GIT_OBJECT_DIRECTORY": str(Path(tmp) / "objects"),
            "GIT_ALTERNATE_OBJECT_DIRECTORIES": str((toplevel / objects).resolve()),
        }
        _run(["read-tree", "HEAD"], toplevel, env)
        _run(["add", "--all", "--", *CODE_PATHSPEC], toplevel, env)
        patch = _capped_output(
            [
                *_DIFF_CONFIG,
                "diff", "--cached", "--binary", "--full-index", "--find-renames",
                "--no-color", "--no-ext-diff", "--no-textconv",
                "--src-prefix=a/", "--dst-prefix=b/", "HEAD", "--",
            ],
            toplevel,
            env,
            limit,
        )  # fmt: skip
    if patch is None:
        _warn_too_large(toplevel, f"their patch exceeds {limit} bytes")
        return UncommittedChanges(None)
    return UncommittedChanges(patch) if patch else None


def apply_patch(toplevel: Path, patch: bytes, shown: str) -> None:
    """Apply ``patch`` (from :func:`take_snapshot`) to the checkout whose top level is
    ``toplevel``; ``shown`` names the checkout's commit and repository in an error.

    All or nothing: a patch that does not apply changes no file and raises
    :class:`~runlab.errors.InvalidParameter`.
    """
    if not isinstance(patch, (bytes, bytearray)):
        raise InvalidParameter(
            f"code_patch must be bytes (a git patch's contents), not {type(patch).__name__}."
        )
    if not patch.strip():
        raise InvalidParameter(
            "code_patch is empty; pass None to run the commit as it was committed."
        )
    proc = _git(
        # --whitespace=nowarn: apply exactly what was recorded, whatever apply.whitespace says.
        ["apply", "--binary", "--whitespace=nowarn", "-p1"],
        toplevel,
        input=bytes(patch),
    )
    if proc.returncode != 0:
        message = _last_lines(proc.stderr.decode("utf-8", errors="replace"))
        raise InvalidParameter(
            f"The uncommitted changes (code_patch) do not apply to {shown}: {message}. The "
            "patch must have been taken on top of that commit of that repository."
        )


def describe_patch(patch: bytes) -> str:
    """A short name for a patch's contents, for showing two patches apart."""
    return f"sha256 {hashlib.sha256(patch).hexdigest()[:16]}, {len(patch)} bytes"


def _changed_file_bytes(toplevel: Path) -> int:
    """The size of the files that differ from the index or are untracked (not ignored).

    Reads the index without writing it, and hashes nothing it has not cached.
    """
    listed = _run(
        ["ls-files", "-z", "--modified", "--others", "--exclude-standard", "--", *CODE_PATHSPEC],
        toplevel,
    )
    total = 0
    for name in set(listed.split(b"\0")):
        if not name:
            continue
        try:
            info = os.lstat(toplevel / os.fsdecode(name))
        except OSError:
            continue  # deleted: costs nothing in the patch
        if stat.S_ISREG(info.st_mode):
            total += info.st_size
    return total


def _warn_too_large(toplevel: Path, why: str) -> None:
    _logger.warning(
        "The uncommitted changes in %s are too large to record (%s): this run records its "
        "commit only, and a re-run (--from-run) runs that commit as it was committed. Commit "
        "the changes, or list large data files in .gitignore, to make the run re-runnable "
        "exactly.",
        toplevel,
        why,
    )


def _git(
    args: list[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    *,
    input: bytes | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """git with ``args`` in ``cwd``, bytes in and out, with the project fetcher's settings."""
    full_env = _git_env()
    full_env.update(env or {})
    try:
        return subprocess.run(
            ["git", *args],
            cwd=cwd,
            input=input,
            stdin=subprocess.DEVNULL if input is None else None,
            capture_output=True,
            env=full_env,
            check=False,
        )
    except FileNotFoundError:
        raise InvalidParameter(
            "The git executable was not found; install git to record or apply uncommitted changes."
        ) from None


def _run(args: list[str], cwd: Path, env: Mapping[str, str] | None = None) -> bytes:
    proc = _git(args, cwd, env)
    if proc.returncode != 0:
        raise InvalidParameter(
            f"Could not record the uncommitted changes in {cwd}: git "
            f"{args[0]} failed: {_last_lines(proc.stderr.decode('utf-8', errors='replace'))}"
        )
    return proc.stdout


def _capped_output(args: list[str], cwd: Path, env: Mapping[str, str], limit: int) -> bytes | None:
    """git's stdout, or None as soon as it grows past ``limit`` bytes (git is then stopped, so a
    huge patch is never held in memory)."""
    full_env = _git_env()
    full_env.update(env)
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            ["git", *args],
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        assert process.stdout is not None
        chunks: list[bytes] = []
        size = 0
        with process.stdout:
            while chunk := process.stdout.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    process.kill()
                    process.wait()
                    return None
                chunks.append(chunk)
        if process.wait() != 0:
            errors.seek(0)
            message = _last_lines(errors.read().decode("utf-8", errors="replace"))
            raise InvalidParameter(
                f"Could not record the uncommitted changes in {cwd}: git diff failed: {message}"
            )
    return b"".join(chunks)
