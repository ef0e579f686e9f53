"""Where a project's files come from: a local directory, or a git repository checked out for the run.

A project URI is one of:

- a local directory (run in place; with ``version`` its git repository is cloned and the version
  checked out into a temporary directory instead, so the working tree is never touched);
- a git repository: ``file://``, ``https://``, ``http://``, ``ssh://`` or scp-like
  ``git@host:org/repo.git``, cloned into a temporary directory and checked out at ``version``
  (a branch, a tag or a commit; the default branch without one).

Either may end in ``#subdirectory`` to run a project that lives below the repository's root.

A local working tree run in place whose files differ from its commit (modified, deleted or
untracked files that ``.gitignore`` does not exclude) is dirty: its differences are taken as a
patch (:mod:`runlab.projects.uncommitted`) so that a re-run can check the commit out and apply
them. A patch given for a checkout (``code_patch``) is applied right after the checkout.

Git runs as the ``git`` executable with an argument list (never through a shell), with ``--``
before every URL, with the ``ext::`` transport (which runs arbitrary commands) refused, and
without terminal prompts, so a URI cannot inject options or commands and a missing credential
fails instead of hanging.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

from runlab.errors import InvalidParameter

if TYPE_CHECKING:
    from runlab.projects.uncommitted import UncommittedChanges

__all__ = ["FetchedProject", "GitInfo", "checkout_project", "fetch_project", "is_git_uri"]

_GIT_SCHEMES = ("file", "http", "https", "ssh")
# scp-like syntax: user@host:path (the user part is what tells it apart from a local path).
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!//)")
# A version is handed to git as a revision: no option look-alikes, no whitespace or controls.
_BAD_VERSION = re.compile(r"^-|[\s\x00-\x1f\x7f]|^$")
#: What running a project writes into its own folder and is never code: the default tracking
#: stores (runlab's ``runlab.db`` and ``runlab-artifacts/``, MLflow's ``mlruns/``) and Python's
#: bytecode caches. They count neither as uncommitted changes nor into the patch, even where
#: .gitignore does not list them; otherwise a run's own records would make the next run dirty.
RUN_OUTPUTS = ("runlab.db", "runlab.db-*", "runlab-artifacts", "mlruns", "__pycache__")
#: The git pathspec of a working tree's code: all of it (from the top, wherever git runs) but
#: RUN_OUTPUTS at any depth.
CODE_PATHSPEC = (
    ":/",
    *(f":(top,exclude,glob)**/{name}{suffix}" for name in RUN_OUTPUTS for suffix in ("", "/**")),
)


@dataclass(frozen=True)
class GitInfo:
    """The git state of the code a project run ran.

    ``commit`` is the full commit id; ``repo_url`` the repository it came from (credentials
    removed; for a local working tree its ``origin`` remote, None without one); ``branch`` the
    version asked for, else the checked-out branch (None on a detached HEAD); ``dirty`` is True
    when the code that ran differs from the commit: a local working tree with modified, deleted
    or untracked (not ignored) files, or a checkout a patch was applied to.
    """

    commit: str
    repo_url: str | None
    branch: str | None
    dirty: bool = False


@dataclass(frozen=True)
class FetchedProject:
    """A project ready to run: its ``directory``, its ``git`` state, and the ``source_name``
    recorded as ``mlflow.source.name`` (the URI as given for a repository, the absolute
    directory for a local project). ``uncommitted`` holds a dirty run's differences from its
    commit (None for a clean one)."""

    directory: Path
    git: GitInfo | None
    source_name: str
    uncommitted: UncommittedChanges | None = None


def is_git_uri(uri: str) -> bool:
    """True when ``uri`` (without its ``#subdirectory``) names a git repository to clone."""
    base = _split_fragment(uri)[0]
    if _SCP_LIKE.match(base):
        return True
    scheme = urlsplit(base).scheme.lower()
    return len(scheme) > 1 and scheme in _GIT_SCHEMES


@contextlib.contextmanager
def fetch_project(uri: str, version: str | None = None) -> Iterator[tuple[Path, GitInfo | None]]:
    """Yield ``(project_dir, git_info)`` for ``uri`` at ``version``; clean up afterwards.

    A local directory without ``version`` is yielded in place. Anything checked out goes to a
    temporary directory that is removed when the block ends, also on error. Raises
    :class:`~runlab.errors.InvalidParameter` for a URI or version that cannot be fetched.
    """
    workdir = Path(tempfile.mkdtemp(prefix="runlab-project-"))
    try:
        fetched = checkout_project(uri, version, workdir)
        yield fetched.directory, fetched.git
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def checkout_project(
    uri: str, version: str | None, workdir: Path, *, code_patch: bytes | None = None
) -> FetchedProject:
    """Resolve ``uri`` at ``version``, cloning into ``workdir`` when needed.

    ``code_patch`` (uncommitted changes recorded by an earlier run) is applied to the checkout
    before anything in it is looked at; it needs a checkout, so a ``version`` or a repository
    URI. The caller owns ``workdir`` and removes it (the runner keeps it until a background run
    ends). Nothing is written outside ``workdir``.
    """
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidParameter("The project URI is empty; pass a directory or a git repository.")
    if version is not None:
        _check_version(version)
    if code_patch is not None and version is None and not is_git_uri(uri):
        raise InvalidParameter(
            f"code_patch applies uncommitted changes to a git checkout, and {uri!r} without a "
            "version runs a local directory in place; pass the commit the patch was taken on "
            "as the version."
        )
    if not is_git_uri(uri):
        return _local_project(uri, version, workdir, code_patch)
    base, subdirectory = _split_fragment(uri)
    if urlsplit(base).scheme.lower() == "file":
        _check_local_repository(base)
    checkout = workdir / "checkout"
    shown = _without_credentials(base)
    _clone(base, checkout, shown=shown)
    commit, branch = _checkout_version(checkout, version, shown)
    changes = _apply(checkout, code_patch, f"commit {commit} of {shown}")
    directory = _subdirectory(checkout, subdirectory, uri)
    git = GitInfo(commit=commit, repo_url=shown, branch=branch, dirty=changes is not None)
    return FetchedProject(directory, git, _without_credentials_in_uri(uri), changes)


def _apply(checkout: Path, code_patch: bytes | None, shown: str) -> UncommittedChanges | None:
    """Apply ``code_patch`` to a fresh checkout; the changes the run then records."""
    if code_patch is None:
        return None
    from runlab.projects.uncommitted import UncommittedChanges, apply_patch

    apply_patch(checkout, code_patch, shown)
    return UncommittedChanges(bytes(code_patch))


# -- local directories ---------------------------------------------------------------------------
def _local_project(
    uri: str, version: str | None, workdir: Path, code_patch: bytes | None
) -> FetchedProject:
    path, subdirectory = Path(uri).expanduser(), ""
    if not path.is_dir():
        # Only a URI that is not itself a directory is split at '#' (a folder may contain one).
        base, subdirectory = _split_fragment(uri)
        path = Path(base).expanduser()
    if not path.is_dir():
        raise InvalidParameter(
            f"Project {uri!r} is neither a local directory nor a git repository URI "
            f"(file://, https://, http://, ssh:// or git@host:path)."
        )
    root = path.resolve()
    directory = _subdirectory(root, subdirectory, uri)
    source_name = str(directory)
    if version is None:
        git = _working_tree_info(directory)
        changes = None
        if git is not None and git.dirty:
            from runlab.projects.uncommitted import take_snapshot

            changes = take_snapshot(directory)
        return FetchedProject(directory, git, source_name, changes)
    # A version of a local project: clone its repository, so the user's working tree (and
    # whatever is uncommitted in it) stays as it is.
    toplevel = _git_toplevel(directory)
    if toplevel is None:
        raise InvalidParameter(
            f"--version {version!r} needs a git repository, and {directory} is not in one; "
            "drop --version to run the directory as it is."
        )
    inside = directory.relative_to(toplevel)
    checkout = workdir / "checkout"
    _clone(str(toplevel), checkout, shown=str(toplevel))
    commit, branch = _checkout_version(checkout, version, str(toplevel))
    changes = _apply(checkout, code_patch, f"commit {commit} of {toplevel}")
    # After the patch: a project folder the patch adds (one never committed) is there now.
    cloned_directory = _subdirectory(checkout, inside.as_posix(), uri)
    git = GitInfo(
        commit=commit, repo_url=_origin_url(toplevel), branch=branch, dirty=changes is not None
    )
    return FetchedProject(cloned_directory, git, source_name, changes)


def _working_tree_info(directory: Path) -> GitInfo | None:
    """The commit, branch and dirtiness of the working tree holding ``directory``, if any.

    Dirty: a tracked file differs from the commit, or an untracked file is not ignored (the
    code that ran may read it, and the commit does not have it); RUN_OUTPUTS do not count.
    """
    if shutil.which("git") is None:
        return None  # without git a local directory still runs, just without git tags
    proc = _git(
        ["status", "--porcelain=v2", "--branch", "--untracked-files=normal", "--", *CODE_PATHSPEC],
        cwd=directory,
        check=False,
    )
    if proc.returncode != 0:
        return None  # not in a git working tree (or git is missing): no git tags
    commit = branch = None
    dirty = False
    for line in proc.stdout.splitlines():
        if line.startswith("# branch.oid "):
            value = line.split(" ", 2)[2].strip()
            commit = value if value != "(initial)" else None
        elif line.startswith("# branch.head "):
            value = line.split(" ", 2)[2].strip()
            branch = value if value != "(detached)" else None
        elif not line.startswith("#"):
            dirty = True
    if commit is None:
        return None  # a repository without a commit yet
    toplevel = _git_toplevel(directory)
    repo_url = _origin_url(toplevel) if toplevel is not None else None
    return GitInfo(commit=commit, repo_url=repo_url, branch=branch, dirty=dirty)


def _git_toplevel(directory: Path) -> Path | None:
    proc = _git(["rev-parse", "--show-toplevel"], cwd=directory, check=False)
    if proc.returncode != 0:
        return None
    return Path(proc.stdout.strip()).resolve()


def _origin_url(toplevel: Path) -> str | None:
    proc = _git(["config", "--get", "remote.origin.url"], cwd=toplevel, check=False)
    url = proc.stdout.strip()
    return _without_credentials(url) if proc.returncode == 0 and url else None


# -- repositories --------------------------------------------------------------------------------
def _check_local_repository(base: str) -> None:
    parsed = urlsplit(base)
    if parsed.netloc not in ("", "localhost"):
        raise InvalidParameter(f"{base!r} names a remote host; a file:// URI must be local.")
    path = Path(unquote(parsed.path))
    if not path.is_dir():
        raise InvalidParameter(f"{base!r}: there is no directory {path} on this machine.")
    # A work tree has .git (a folder, or a file in a linked worktree); a bare repository HEAD.
    if not (path / ".git").exists() and not (path / "HEAD").is_file():
        raise InvalidParameter(
            f"{base!r} is not a git repository; a file:// project URI names one. To run a "
            f"plain directory, pass its path ({path}) instead."
        )


def _clone(source: str, checkout: Path, *, shown: str) -> None:
    # --no-checkout: the version is checked out next, so the default branch's files are
    # never written only to be replaced.
    proc = _git(
        ["clone", "--quiet", "--no-checkout", "--", source, str(checkout)], cwd=None, check=False
    )
    if proc.returncode != 0:
        raise InvalidParameter(f"Could not clone {shown}: {_last_lines(proc.stderr)}")


def _checkout_version(checkout: Path, version: str | None, shown: str) -> tuple[str, str | None]:
    """Check out ``version`` (default: the cloned default branch); return (commit, branch)."""
    if version is None:
        head = _git(["symbolic-ref", "--quiet", "--short", "HEAD"], cwd=checkout, check=False)
        branch = head.stdout.strip() or None
        target = "HEAD"
    else:
        branch = version
        target = _resolve_version(checkout, version, shown)
    proc = _git(["checkout", "--quiet", "--detach", target], cwd=checkout, check=False)
    if proc.returncode != 0:
        raise InvalidParameter(
            f"Could not check out {version or 'HEAD'} of {shown}: {_last_lines(proc.stderr)}"
        )
    commit = _git(["rev-parse", "HEAD"], cwd=checkout).stdout.strip()
    return commit, branch


def _resolve_version(checkout: Path, version: str, shown: str) -> str:
    # A clone has the remote's branches as origin/<name> and its tags; a commit is found as is.
    for candidate in (f"refs/remotes/origin/{version}", f"refs/tags/{version}", version):
        proc = _git(
            ["rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"],
            cwd=checkout,
            check=False,
        )
        if proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout.strip()
    raise InvalidParameter(f"Version {version!r} is not a branch, a tag or a commit of {shown}.")


def _check_version(version: str) -> None:
    if not isinstance(version, str) or _BAD_VERSION.search(version):
        raise InvalidParameter(
            f"Version {version!r} is not a git branch, tag or commit name (it must not be "
            "empty, start with '-', or contain spaces or control characters)."
        )


def _subdirectory(root: Path, subdirectory: str, uri: str) -> Path:
    if not subdirectory:
        return root
    candidate = (root / subdirectory).resolve()
    if Path(subdirectory).is_absolute() or not candidate.is_relative_to(root.resolve()):
        raise InvalidParameter(
            f"Subdirectory {subdirectory!r} of {uri!r} leads outside the project; name a "
            "folder inside it."
        )
    if not candidate.is_dir():
        raise InvalidParameter(f"{uri!r}: the project has no subdirectory {subdirectory!r}.")
    return candidate


# -- helpers -------------------------------------------------------------------------------------
def _split_fragment(uri: str) -> tuple[str, str]:
    base, _, fragment = uri.partition("#")
    return base, fragment.strip("/")


def _without_credentials(url: str) -> str:
    """``url`` with any user password or token removed, so it can be recorded in a tag."""
    if _SCP_LIKE.match(url) or "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.password is None and not (parts.username and parts.scheme in ("http", "https")):
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _without_credentials_in_uri(uri: str) -> str:
    base, sep, fragment = uri.partition("#")
    return _without_credentials(base) + sep + fragment


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"  # a missing credential fails instead of waiting for input
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    # The ext:: transport runs a command named in the URL: never allowed for a project URI.
    env["GIT_ALLOW_PROTOCOL"] = "file:git:http:https:ssh"
    # `git status` must not refresh (write) the user's index, nor take its lock while the user
    # runs git in that working tree.
    env["GIT_OPTIONAL_LOCKS"] = "0"
    return env


def _git(
    args: list[str], *, cwd: Path | None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    argv = ["git", "-c", "advice.detachedHead=false", *args]
    try:
        proc = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, env=_git_env(), check=False
        )
    except FileNotFoundError:
        raise InvalidParameter(
            "The git executable was not found; install git to run projects from repositories."
        ) from None
    if check and proc.returncode != 0:
        raise InvalidParameter(f"git {args[0]} failed: {_last_lines(proc.stderr)}")
    return proc


def _last_lines(text: str, count: int = 3) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " ".join(lines[-count:]) or "no message from git"
