"""Artifacts on a local (or mounted) filesystem."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit
from urllib.request import url2pathname

from runlab.artifacts._local_files import plan_upload, walk_tree
from runlab.artifacts.path_safety import join_artifact_path, safe_join, validate_artifact_path
from runlab.entities import FileInfo
from runlab.errors import ArtifactNotFound, InvalidParameter, PermissionDenied

__all__ = ["LocalArtifactRepository", "local_path_from_uri"]

# Files are written under this prefix next to their destination and renamed into place, so that a
# reader never sees half a file and a crash never leaves a truncated artifact under the real name.
# Listings hide leftovers of interrupted writes.
_PARTIAL_PREFIX = ".runlab-partial-"
_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows opens in text mode without it


def local_path_from_uri(uri: str) -> Path:
    """The local folder a ``file:`` URI or a plain path names (made absolute).

    ``file:///data/a``, ``file:/data/a`` and ``file://localhost/data/a`` are accepted;
    ``file://otherhost/...`` is refused because we cannot reach another host's disk.
    """
    if uri.startswith("file:"):
        parts = urlsplit(uri)
        if parts.netloc not in ("", "localhost"):
            raise InvalidParameter(
                f"Invalid artifact URI {uri!r}: a file: URI must name a local path "
                f"(file:///path), not the host {parts.netloc!r}."
            )
        if parts.query or parts.fragment:
            raise InvalidParameter(
                f"Invalid artifact URI {uri!r}: a file: URI cannot have a query or a fragment; "
                "percent-encode '?' and '#' in folder names."
            )
        if not parts.path:
            raise InvalidParameter(f"Invalid artifact URI {uri!r}: it names no path.")
        # url2pathname also undoes percent-encoding (and maps /C:/x to C:\x on Windows).
        return Path(url2pathname(parts.path)).absolute()
    if not uri:
        raise InvalidParameter("Invalid artifact URI '': give a folder path or a file: URI.")
    return Path(uri).absolute()


def _translate_os_error(error: OSError, artifact_path: str) -> Exception:
    """Turn an OS error on the artifact side into the runlab error a caller can act on."""
    if isinstance(error, FileNotFoundError):
        return ArtifactNotFound(f"No artifact at {artifact_path!r}.")
    if isinstance(error, PermissionError):
        return PermissionDenied(
            f"Permission denied for artifact {artifact_path!r}: {error.strerror or error}."
        )
    if isinstance(error, (NotADirectoryError, FileExistsError, IsADirectoryError)):
        return InvalidParameter(
            f"Cannot write artifact {artifact_path!r}: a file and a folder would share a name "
            f"({error.strerror or error})."
        )
    if error.errno == errno.ENAMETOOLONG:
        return InvalidParameter(
            f"Invalid artifact path {artifact_path!r}: a part of it is longer than the file "
            "system allows (usually 255 bytes); use shorter names."
        )
    return error


@contextlib.contextmanager
def _artifact_errors(artifact_path: str) -> Iterator[None]:
    try:
        yield
    except OSError as error:
        translated = _translate_os_error(error, artifact_path)
        if translated is error:
            raise
        raise translated from error


class LocalArtifactRepository:
    """An :class:`~runlab.artifacts.base.ArtifactRepository` over a folder on the local disk.

    ``root_uri`` is a ``file:`` URI or a plain path; the folder is created on the first write.
    No operation reads or writes outside the root, whether through ``..``-style paths or through
    symbolic links inside the root that point elsewhere.
    """

    def __init__(self, root_uri: str) -> None:
        self.root_uri = root_uri
        self.root = local_path_from_uri(root_uri)

    def __repr__(self) -> str:
        return f"LocalArtifactRepository({self.root_uri!r})"

    # -- writing ---------------------------------------------------------------------------------

    def _write_file(self, artifact_file: str, fill: _Filler) -> None:
        """Create ``artifact_file`` atomically from ``fill`` (which writes into an open file)."""
        destination = safe_join(self.root, artifact_file)
        with _artifact_errors(artifact_file):
            if destination.is_dir():
                raise InvalidParameter(
                    f"Cannot write artifact {artifact_file!r}: a folder with that name exists."
                )
            # Recheck after creating the parents: safe_join resolved them when they did not exist.
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination = safe_join(self.root, artifact_file)
            partial = destination.parent / f"{_PARTIAL_PREFIX}{uuid.uuid4().hex}"
            # O_EXCL: never write through something that appeared under this name meanwhile.
            # Mode 0o666 lets the umask decide the permissions, as for any plainly created file.
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
            try:
                with os.fdopen(fd, "wb") as handle:
                    fill(handle)
                os.replace(partial, destination)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(partial)
                raise

    def log_artifact(
        self, local_file: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Copy one local file into the folder ``artifact_path``, keeping its file name."""
        source = Path(local_file)
        target = join_artifact_path(artifact_path, source.name)
        if not source.is_file():
            raise InvalidParameter(f"Cannot log {str(source)!r}: it is not an existing file.")

        def fill(handle: _Writable) -> None:
            with source.open("rb") as reader:
                shutil.copyfileobj(reader, handle, 1024 * 1024)

        self._write_file(target, fill)

    def log_artifacts(
        self, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Copy the contents of a local folder, recursively, into the folder ``artifact_path``.

        Every name is checked before the first file is written, so a refused name writes nothing.
        Empty folders are kept.
        """
        files, folders = plan_upload(local_dir, artifact_path)
        for folder in folders:
            folder_path = safe_join(self.root, folder)
            with _artifact_errors(folder):
                folder_path.mkdir(parents=True, exist_ok=True)
        for source, target in files:
            self.log_artifact(source, target.rpartition("/")[0] or None)

    def log_bytes(self, data: bytes, artifact_file: str) -> None:
        """Write in-memory content as the file ``artifact_file``."""
        target = validate_artifact_path(artifact_file)
        if not target:
            raise InvalidParameter("Cannot write bytes to the artifact root; give a file name.")
        payload = bytes(data)
        self._write_file(target, lambda handle: handle.write(payload))

    # -- reading ---------------------------------------------------------------------------------

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """The direct children of the folder ``path``, sorted, with paths relative to the root."""
        folder_rel = validate_artifact_path(path or "")
        with _artifact_errors(folder_rel):  # e.g. a name too long for the file system
            folder = safe_join(self.root, folder_rel)
            if not folder.is_dir():
                return []
        real_root = self.root.resolve()
        infos = []
        with _artifact_errors(folder_rel):
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        for entry in entries:
            if entry.name.startswith(_PARTIAL_PREFIX):
                continue
            child = f"{folder_rel}/{entry.name}" if folder_rel else entry.name
            if entry.is_symlink():
                # A link to somewhere outside the root is not ours to describe: even its size or
                # whether it is a folder tells something about the rest of the disk.
                target = Path(entry.path).resolve()
                if target != real_root and real_root not in target.parents:
                    continue
            try:
                if entry.is_dir():
                    infos.append(FileInfo(path=child, is_dir=True, file_size=None))
                else:
                    infos.append(FileInfo(path=child, is_dir=False, file_size=entry.stat().st_size))
            except FileNotFoundError:
                continue  # deleted (or a dangling link) while we were listing
        return infos

    def download_artifacts(self, artifact_path: str = "", dst_path: str | None = None) -> str:
        """Copy a file or a folder to ``dst_path`` (a new temporary folder if None)."""
        relative = validate_artifact_path(artifact_path or "")
        source = safe_join(self.root, relative)
        if not source.exists():
            if not relative:
                # An empty repository is a valid, empty tree, not a missing artifact.
                empty = Path(dst_path) if dst_path else Path(tempfile.mkdtemp(prefix="runlab-"))
                empty.mkdir(parents=True, exist_ok=True)
                return str(empty)
            raise ArtifactNotFound(f"No artifact at {relative!r} under {self.root_uri}.")

        # Plan the whole copy first (checking every path) so a refused path copies nothing.
        plan: list[tuple[Path, str]] = []
        folders: list[str] = [relative]
        if source.is_dir():
            for folder, entries in walk_tree(source):
                for name, is_dir in entries:
                    if name.startswith(_PARTIAL_PREFIX):
                        continue  # a write in progress (or an interrupted one)
                    child_rel = join_artifact_path(relative, folder, name)
                    child = safe_join(self.root, child_rel)
                    if is_dir:
                        folders.append(child_rel)
                    else:
                        plan.append((child, child_rel))
        else:
            plan.append((source, relative))
            folders = [relative.rpartition("/")[0]]

        destination_root = Path(dst_path) if dst_path else Path(tempfile.mkdtemp(prefix="runlab-"))
        with _artifact_errors(relative):
            for folder_rel in folders:
                safe_join(destination_root, folder_rel).mkdir(parents=True, exist_ok=True)
            for child, child_rel in plan:
                shutil.copyfile(child, safe_join(destination_root, child_rel))
        return str(safe_join(destination_root, relative))

    # -- deleting --------------------------------------------------------------------------------

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        """Delete a file or a folder (the whole tree when no path is given)."""
        relative = validate_artifact_path(artifact_path or "")
        target = safe_join(self.root, relative)
        with _artifact_errors(relative):
            if not relative:
                # Empty the root but keep it: it may itself be a link to another disk.
                if not target.is_dir():
                    return
                for entry in os.scandir(target):
                    _remove(Path(entry.path))
                return
            if target.is_symlink() or target.exists():
                _remove(target)


class _Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


class _Filler(Protocol):
    def __call__(self, handle: _Writable, /) -> object: ...


def _remove(path: Path) -> None:
    # A link is removed itself, never the tree it points at.
    if path.is_symlink() or not path.is_dir():
        path.unlink()
    else:
        shutil.rmtree(path)
