"""Walking local folders, shared by the repositories that upload from and copy out of them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from runlab.artifacts.path_safety import join_artifact_path, validate_artifact_path
from runlab.errors import InvalidParameter


def walk_tree(folder: Path) -> Iterator[tuple[str, list[tuple[str, bool]]]]:
    """Yield (folder path relative to ``folder``, [(name, is_dir)]) top-down, sorted.

    Linked folders are followed (they are the user's data), but each real folder is entered once,
    so a link cycle cannot make the walk endless.
    """
    seen: set[tuple[int, int]] = set()
    pending: list[tuple[Path, str]] = [(folder, "")]
    while pending:
        current, relative = pending.pop()
        stat = current.stat()
        if (stat.st_dev, stat.st_ino) in seen:
            continue
        seen.add((stat.st_dev, stat.st_ino))
        entries = []
        for entry in sorted(os.scandir(current), key=lambda item: item.name):
            is_dir = entry.is_dir()
            entries.append((entry.name, is_dir))
            if is_dir:
                pending.append(
                    (Path(entry.path), f"{relative}/{entry.name}" if relative else entry.name)
                )
        yield relative, entries


def plan_upload(
    local_dir: str | os.PathLike[str], artifact_path: str | None
) -> tuple[list[tuple[Path, str]], list[str]]:
    """List (local file, artifact file) pairs and artifact folders for uploading ``local_dir``.

    Every artifact path is validated here, before anything is written.
    """
    source = Path(local_dir)
    if not source.is_dir():
        raise InvalidParameter(f"Cannot log {str(source)!r}: it is not an existing folder.")
    base = validate_artifact_path(artifact_path or "")
    files: list[tuple[Path, str]] = []
    folders: list[str] = [base] if base else []
    for folder, entries in walk_tree(source):
        for name, is_dir in entries:
            local = source.joinpath(folder, name) if folder else source / name
            target = join_artifact_path(base, folder, name)
            if is_dir:
                folders.append(target)
            else:
                files.append((local, target))
    return files, folders
