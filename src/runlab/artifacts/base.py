"""The interface every artifact store implements."""

from __future__ import annotations

import os
from typing import Protocol, runtime_checkable

from runlab.entities import FileInfo

__all__ = ["ArtifactRepository"]


@runtime_checkable
class ArtifactRepository(Protocol):
    """A tree of files under one root URI (a run's or a model's artifact location).

    Artifact paths are relative POSIX paths under the root (``"plots/loss.png"``); ``None`` and
    ``""`` mean the root. Every implementation passes each path it receives, and each path it
    discovers in its storage before writing it to a local disk, through
    :func:`runlab.artifacts.path_safety.validate_artifact_path`, so a refused path raises
    :class:`runlab.errors.InvalidParameter` and writes nothing.
    """

    root_uri: str

    def log_artifact(
        self, local_file: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Upload one local file into the folder ``artifact_path``, keeping its file name."""
        ...

    def log_artifacts(
        self, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Upload the contents of a local folder (recursively) into the folder ``artifact_path``."""
        ...

    def log_bytes(self, data: bytes, artifact_file: str) -> None:
        """Write in-memory content as the file ``artifact_file``, replacing any file there."""
        ...

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """The direct children of the folder ``path``, sorted by path.

        Each :class:`FileInfo` path is relative to the repository root (``"dir/a.txt"``); folders
        have ``is_dir=True`` and ``file_size=None``. A missing folder, or a file, gives ``[]``.
        """
        ...

    def download_artifacts(self, artifact_path: str = "", dst_path: str | None = None) -> str:
        """Copy a file or a whole folder to the local disk and return its local path.

        The copy keeps its path below ``dst_path`` (``dst_path/dir/a.txt``); with no ``dst_path``
        a new temporary folder is used and left for the caller. Raises
        :class:`runlab.errors.ArtifactNotFound` when nothing exists at ``artifact_path``.
        """
        ...

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        """Delete a file or a folder (recursively); the root when no path is given.

        Deleting something that does not exist is not an error.
        """
        ...
