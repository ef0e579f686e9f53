"""The cache of built project environments: one folder per environment spec, made atomically.

Layout under :func:`cache_root`::

    uv-3f2a…                     a symlink to the finished build (the name is the cache key)
    .builds/uv-3f2a…-k2j4x/      the build itself: the environment and runlab-env.json
    .uv-3f2a….lock               held while that key is being built

An environment is built in a fresh folder under ``.builds`` and published by creating the
symlink, which is atomic: a reader sees either no environment or a finished one, never half an
install, and a build that dies leaves only a folder that the next build of that key removes.
The build itself is never moved: virtual environments write their absolute path into the
scripts they install, so renaming the folder would break them; renaming a symlink does not.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from runlab.projects.environments_base import ProjectEnvironmentError

__all__ = ["MARKER_FILE", "cache_key", "cache_root", "get_or_build", "read_marker"]

#: Written last into a finished build: what it holds. Its absence means "not finished".
MARKER_FILE = "runlab-env.json"
# Bump when the layout of a build changes, so older builds are not reused.
_LAYOUT_VERSION = 1


def cache_root() -> Path:
    """Where built environments live: ``RUNLAB_PROJECTS_CACHE``, else
    ``$XDG_CACHE_HOME/runlab/projects/envs`` (``~/.cache/runlab/projects/envs``)."""
    explicit = os.environ.get("RUNLAB_PROJECTS_CACHE")
    if explicit:
        return Path(explicit).expanduser().absolute()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base).expanduser().absolute() / "runlab" / "projects" / "envs"


def cache_key(manager: str, payload: Mapping[str, Any]) -> str:
    """``<manager>-<hash>``: the hash of everything that decides the environment's contents,
    and of the platform (an environment is not portable between machines' kinds)."""
    document = {
        "layout": _LAYOUT_VERSION,
        "manager": manager,
        "platform": sys.platform,
        "machine": platform.machine(),
        **payload,
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return f"{manager}-{hashlib.sha256(canonical.encode()).hexdigest()[:24]}"


def read_marker(build: Path) -> dict[str, Any] | None:
    """The marker of a finished build, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads((build / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def get_or_build(
    key: str,
    build: Callable[[Path], dict[str, Any]],
    usable: Callable[[Path], bool],
) -> tuple[Path, dict[str, Any], bool]:
    """The finished build for ``key``: ``(folder, marker, reused)``.

    A finished build that ``usable`` accepts is returned at once, without a lock. Otherwise,
    holding the key's lock (so concurrent runs of one project build it once), ``build(folder)``
    fills a fresh folder and returns the marker's contents; the marker is written and the build
    published. A build that raises leaves nothing behind.
    """
    root = cache_root()
    link = root / key
    found = _finished(link, usable)
    if found is not None:
        return found[0], found[1], True
    root.mkdir(parents=True, exist_ok=True)
    builds = root / ".builds"
    builds.mkdir(exist_ok=True)
    with _key_lock(root / f".{key}.lock"):
        found = _finished(link, usable)
        if found is not None:
            return found[0], found[1], True
        # Whatever is here now is unfinished or unusable (a base interpreter that went away):
        # it is replaced, and builds of this key that died half-way go with it.
        _remove_link(link)
        for stale in builds.glob(f"{key}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        target = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=builds))
        try:
            # mkdtemp makes the folder private (0700); an environment is read like any other.
            target.chmod(0o755)
            marker = {"key": key, "created": time.time(), **build(target)}
            _write_atomically(target / MARKER_FILE, json.dumps(marker, indent=2, sort_keys=True))
            temporary_link = root / f".{key}.{os.getpid()}.link"
            _remove_link(temporary_link)
            os.symlink(target, temporary_link)
            os.replace(temporary_link, link)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
    return target, marker, False


def _finished(link: Path, usable: Callable[[Path], bool]) -> tuple[Path, dict[str, Any]] | None:
    if not link.is_symlink():
        return None
    target = Path(os.path.realpath(link))
    marker = read_marker(target)
    if marker is None or not usable(target):
        return None
    return target, marker


def _remove_link(link: Path) -> None:
    if link.is_symlink():
        old = Path(os.path.realpath(link))
        link.unlink()
        shutil.rmtree(old, ignore_errors=True)
    elif link.exists():
        # Not ours (a folder someone made by hand): left alone, but out of the way.
        raise ProjectEnvironmentError(
            f"{link} is in the runlab environment cache but is not a runlab build; remove it."
        )


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


@contextmanager
def _key_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` for the duration of a build."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: the symlink alone keeps builds atomic
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
