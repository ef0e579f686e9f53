"""Reading one artifact file of a run from the browser: ``/get-artifact`` and the preview API.

``GET /get-artifact?run_uuid=<id>&path=<p>`` (``run_id`` works too) is the download address
MLflow's UI uses. The file is streamed (Range requests included) from wherever the run's artifacts
live: a local folder, S3, or the server's artifact proxy for ``mlflow-artifacts:`` roots.

An artifact is someone's data, served from the UI's own origin, so it must never run as part of
the UI: every answer carries ``Content-Security-Policy: sandbox`` and ``nosniff``; HTML, XML and
JavaScript are sent as plain text, and SVG (which may hold scripts) is sent as an attachment,
which an ``<img>`` still shows (without running scripts) but a visit downloads.

``GET /ajax-api/2.0/runlab/artifacts/preview?run_id=&path=`` answers what the artifact browser
shows for a file (see :mod:`runlab.server.artifact_preview`).

The path is checked by :func:`runlab.artifacts.validate_artifact_path` before any storage is
touched; a refused path is a 400 that names the reason.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import PurePosixPath
from typing import Any, BinaryIO

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runlab.artifacts import LocalArtifactRepository, S3ArtifactRepository
from runlab.artifacts.base import ArtifactRepository
from runlab.artifacts.path_safety import join_artifact_path, validate_artifact_path
from runlab.errors import ArtifactNotFound, InvalidParameter
from runlab.server.artifact_preview import TEXT_KINDS, kind_from_name, preview
from runlab.server.auth.rules import RUN_ID, experiment, guarded
from runlab.server.context import ServerContext
from runlab.server.endpoint import Endpoint, read_fields
from runlab.server.request_fields import RequestFields, run_id_of

# The artifact proxy's streaming download (Range, ETag, local and S3) is reused as it is; only
# the headers that make a download safe to open in the browser differ.
from runlab.server.routes.artifact_proxy import (
    NotImplementedByStore,
    attachment_disposition,
    download_response,
    open_download,
    os_error,
    stat_local_file,
    stat_s3_file,
)
from runlab.server.routes.run_artifacts import artifact_root, close_repository
from runlab.server.routes.runs import RUN_ID_FIELDS, named

__all__ = ["RUNLAB_ENDPOINTS", "routes"]

#: Sent with every artifact: the file may be viewed, but never runs script in our origin.
ARTIFACT_CSP = "sandbox"
_TEXT_PLAIN = "text/plain; charset=utf-8"


def _requested_file(fields: RequestFields) -> str:
    """The ``path`` field, validated, naming a file (not the root)."""
    path = named("path", lambda: validate_artifact_path(fields.required_string("path")))
    if not path:
        raise InvalidParameter("Field 'path' must name an artifact file, not the root folder.")
    return path


def _locate(ctx: ServerContext, fields: RequestFields) -> tuple[ArtifactRepository, str, str]:
    """(repository, path inside it, path under the run's root) of the requested file."""
    run = ctx.tracking_store.get_run(run_id_of(fields))
    path = _requested_file(fields)
    repo, root_path = artifact_root(ctx, run.info.artifact_uri)
    if not isinstance(repo, (LocalArtifactRepository, S3ArtifactRepository)):
        # Streaming and previews read local or S3 storage; anything else (an artifact root on
        # another server's proxy) is read with a client.
        close_repository(repo)
        raise NotImplementedByStore(
            f"Cannot read artifacts from {type(repo).__name__} here; download them with the client."
        )
    return repo, join_artifact_path(root_path, path), path


@contextmanager
def _named_as_requested(location: str, path: str) -> Iterator[None]:
    """Name the file in errors as the request did, not by its place in the proxy's storage."""
    try:
        yield
    except (ArtifactNotFound, InvalidParameter) as exc:
        if location == path or repr(location) not in exc.message:
            raise
        message = exc.message.replace(repr(location), repr(path))
        raise type(exc)(message, exc.error_code) from None


# -- reading a file for a preview --------------------------------------------------------------


class _S3RangeReader(io.RawIOBase):
    """A seekable read-only file over one S3 object, fetching only the byte ranges read."""

    def __init__(self, repo: S3ArtifactRepository, path: str, size: int) -> None:
        super().__init__()
        self._repo = repo
        self._path = path
        self._size = size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        if self._position >= self._size or not len(buffer):
            return 0
        last = min(self._position + len(buffer), self._size) - 1
        data = b"".join(self._repo.iter_file(self._path, self._position, last))
        view = memoryview(buffer).cast("B")
        view[: len(data)] = data
        self._position += len(data)
        return len(data)


def _open_for_reading(repo: ArtifactRepository, path: str) -> tuple[int, BinaryIO]:
    """The size of the artifact file ``path`` and a seekable binary stream of it."""
    if isinstance(repo, LocalArtifactRepository):
        target, info = stat_local_file(repo, path)
        try:
            return info.st_size, target.open("rb")
        except OSError as error:
            raise os_error(error, path) from error
    if isinstance(repo, S3ArtifactRepository):
        size = stat_s3_file(repo, path).size
        # Buffered, so that small reads (a parquet footer's) do not each become a request.
        return size, io.BufferedReader(_S3RangeReader(repo, path, size), 256 * 1024)
    raise NotImplementedByStore(
        f"Cannot read artifacts from {type(repo).__name__} here; download them with the client."
    )


def artifact_preview(ctx: ServerContext, fields: RequestFields) -> dict[str, Any]:
    """What the artifact browser shows for one file of a run (see artifact_preview.preview)."""
    repo, location, path = _locate(ctx, fields)
    with _named_as_requested(location, path):
        size, stream = _open_for_reading(repo, location)
    with stream:
        result = preview(path, size, stream)
    return {"path": path, **result}


RUNLAB_ENDPOINTS = [
    Endpoint(
        "GET",
        "artifacts/preview",
        artifact_preview,
        "Preview one artifact file of a run: its kind, and the first part of text or a table",
        {**RUN_ID_FIELDS, "path": "string"},
        ("run_id", "path"),
        rule=experiment("read", RUN_ID),
    ),
]


# -- downloading ------------------------------------------------------------------------------


def _disposition(path: str, forced: bool) -> tuple[str, str | None]:
    """(Content-Disposition, Content-Type override or None) for serving ``path`` to a browser."""
    attachment = attachment_disposition(path)
    inline = "inline" + attachment[len("attachment") :]  # the same file name parameters
    kind = kind_from_name(path)
    if forced:
        return attachment, None
    if kind == "image":
        # SVG can carry scripts: an <img> ignores the attachment header and shows it script-free,
        # while opening its address downloads it rather than rendering it in our origin.
        # (The proxy's type guess sends SVG as text, which an <img> would not show.)
        if PurePosixPath(path).suffix.lower() == ".svg":
            return attachment, "image/svg+xml"
        return inline, None
    if kind in TEXT_KINDS or (kind == "table" and not path.lower().endswith(".parquet")):
        # Shown as text whatever its real type (HTML, YAML, MLmodel): a browser renders text/plain
        # and runs nothing in it.
        return inline, _TEXT_PLAIN
    return attachment, None


def _download_flag(fields: RequestFields) -> bool:
    """``download``: ``1``/``true`` force an attachment; absent, ``0`` or ``false`` do not."""
    value = (fields.string("download") or "").lower()
    if value not in ("", "0", "1", "true", "false"):
        raise InvalidParameter(f"Field 'download' must be 1, 0, true or false, got {value!r}.")
    return value in ("1", "true")


def routes(ctx: ServerContext) -> list[Route]:
    """``GET /get-artifact``, MLflow's artifact download address for the UI."""

    async def get_artifact(request: Request) -> Response:
        """Stream one artifact file of a run; ``download=1`` forces an attachment."""
        fields = await read_fields(request, ctx)
        forced = _download_flag(fields)
        repo, location, path = await run_in_threadpool(_locate, ctx, fields)
        with _named_as_requested(location, path):
            prepared = await open_download(repo, location)
        response = await download_response(request, location, prepared)
        disposition, media_type = _disposition(path, forced)
        response.headers["Content-Disposition"] = disposition
        if media_type is not None and response.status_code in (200, 206):
            response.headers["Content-Type"] = media_type
        response.headers["Content-Security-Policy"] = ARTIFACT_CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    return [
        guarded(Route("/get-artifact", get_artifact, methods=["GET"]), experiment("read", RUN_ID))
    ]
