"""Artifact listing entries."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One artifact: a path relative to the listed root, whether it is a folder, its size."""

    path: str
    is_dir: bool
    file_size: int | None = None
