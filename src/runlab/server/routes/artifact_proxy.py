"""The artifact proxy: MLflow's ``/api/2.0/mlflow-artifacts`` API over the server's artifact store.

Clients whose runs have ``mlflow-artifacts:/`` roots read and write artifacts through these
routes, so they need no credentials of their own for the storage behind ``--artifacts-destination``
(a local folder or an S3 bucket).

Every path a request names is read from the *raw* request target (``scope["raw_path"]``), since
the ASGI server has already percent-decoded ``scope["path"]`` and would hide an encoded ``/`` or
``..`` from us. The raw text goes through :func:`runlab.artifacts.validate_artifact_path` (which
also checks every decoding of it) before any storage is touched. Bodies stream both ways: a
download never reads a whole file into memory, and an upload holds at most one chunk (local
disk) or one S3 part.
"""

from __future__ import annotations

import contextlib
import errno
import mimetypes
import os
import re
import stat
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, unquote

import anyio
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from runlab.artifacts import LocalArtifactRepository, S3ArtifactRepository, safe_join
from runlab.artifacts.local import _PARTIAL_PREFIX
from runlab.artifacts.multipart import UploadedPart, check_num_parts
from runlab.artifacts.path_safety import join_artifact_path, validate_artifact_path
from runlab.artifacts.s3 import ObjectInfo
from runlab.errors import (
    ArtifactNotFound,
    InvalidParameter,
    PermissionDenied,
    RunlabError,
    Unavailable,
)
from runlab.server.auth.rules import PROXIED_ARTIFACT_PATH, Need, experiment, guarded
from runlab.server.context import ServerContext
from runlab.server.errors import error_response
from runlab.server.json_response import json_response
from runlab.server.request_fields import RequestFields

__all__ = [
    "PREFIXES",
    "Download",
    "attachment_disposition",
    "download_response",
    "open_download",
    "routes",
]

#: The proxy is served under both API prefixes, as MLflow's server does.
PREFIXES = ("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts")

#: MLflow's client falls back to a plain PUT when ``mpu/create`` fails with a message that starts
#: with exactly this sentence, so the 501 answer must keep it.
MULTIPART_UNSUPPORTED = "Multipart upload is not supported for the current artifact repository"

_CHUNK = 1024 * 1024  # disk reads/writes per worker-thread hop; big enough to amortize the hop
_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows opens in text mode without it
_NAME_MAX = 255  # bytes in one file name on the common file systems (ext4, XFS, APFS, NTFS)
# Types a browser would run as active content; served as text so an artifact cannot script the UI.
_ACTIVE_TYPES = frozenset(
    {"text/html", "application/xhtml+xml", "image/svg+xml", "text/javascript", "application/xml"}
)

Handler = Callable[[Request], Awaitable[Response]]


class ArtifactTooLarge(InvalidParameter):
    """An uploaded artifact over the server's size limit (HTTP 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"The artifact is larger than the server's limit of {limit} bytes "
            "(--max-artifact-bytes).",
            "REQUEST_LIMIT_EXCEEDED",
        )

    def get_http_status_code(self) -> int:
        return 413


class NotImplementedByStore(RunlabError):
    """The artifact store cannot do this (HTTP 501), e.g. multipart uploads to a local disk."""

    default_error_code = "NOT_IMPLEMENTED"


# -- paths -----------------------------------------------------------------------------------------


def _requested_path(request: Request, route_prefix: str) -> tuple[str, str]:
    """The artifact path a request names after ``route_prefix``: (text as sent, validated path).

    The text as sent is checked first, with all its decodings; then it is decoded once (URL
    transport encoding, e.g. ``%20`` for a space) and normalized.
    """
    raw = request.scope.get("raw_path")
    if raw is None:
        # An ASGI server that does not pass the raw target: only the decoded path is known.
        text = str(request.path_params.get("artifact_path", ""))
        return text, validate_artifact_path(text)
    root = request.scope.get("root_path", "").encode("latin-1")
    prefix = route_prefix.encode("ascii")
    for start in (root + prefix, prefix):
        if raw.startswith(start) and raw[len(start) : len(start) + 1] in (b"", b"/"):
            rest = raw[len(start) + 1 :]
            break
    else:
        raise InvalidParameter(
            f"Invalid path {raw.decode('latin-1')!r}: the part before the artifact path must not "
            "be percent-encoded."
        )
    try:
        text = rest.decode("ascii")
    except UnicodeDecodeError:
        shown = rest.decode("latin-1")
        raise InvalidParameter(
            f"Invalid path {shown!r}: percent-encode the non-ASCII characters of an artifact path."
        ) from None
    if request.url.query:
        raise InvalidParameter(
            f"Invalid path {text + '?' + request.url.query!r}: this route takes no query string, "
            "and '?' cannot be part of an artifact name."
        )
    validate_artifact_path(text)
    try:
        decoded = unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise InvalidParameter(
            f"Invalid path {text!r}: it encodes bytes that are not UTF-8."
        ) from None
    return text, validate_artifact_path(decoded)


def _file_path(request: Request, route_prefix: str) -> str:
    """A path that must name a file (not the root, no trailing slash)."""
    text, path = _requested_path(request, route_prefix)
    if not path or text.endswith("/"):
        raise InvalidParameter(f"Invalid path {text!r}: it must end in a file name.")
    return path


# -- storage access ----------------------------------------------------------------------------------


def _repository(ctx: ServerContext) -> Any:
    """The repository behind the proxy, or 503 when the server does not serve artifacts."""
    if not ctx.settings.serve_artifacts:
        raise Unavailable(
            "This server does not serve artifacts (it was started with --no-serve-artifacts); "
            "read and write the artifact store directly."
        )
    if ctx.artifact_repo is None:
        raise Unavailable(
            "This server has no artifact destination; start it with --artifacts-destination."
        )
    return ctx.artifact_repo


def _s3_or_501(repo: Any, what: str) -> S3ArtifactRepository:
    if not isinstance(repo, S3ArtifactRepository):
        raise NotImplementedByStore(
            f"{MULTIPART_UNSUPPORTED}: {what} needs an S3 artifact destination, and this "
            f"server stores artifacts in {type(repo).__name__}."
        )
    return repo


def os_error(error: OSError, path: str) -> RunlabError:
    """The runlab error for a local filesystem failure on ``path``."""
    if isinstance(error, FileNotFoundError):
        return ArtifactNotFound(f"No artifact at {path!r}.")
    if isinstance(error, PermissionError):
        return PermissionDenied(f"Permission denied for artifact {path!r}.")
    if isinstance(error, (NotADirectoryError, FileExistsError, IsADirectoryError)):
        return InvalidParameter(
            f"Cannot write artifact {path!r}: a file and a folder would share a name."
        )
    if error.errno == errno.ENAMETOOLONG:
        # The request's fault, not the server's: a name the file system cannot hold.
        return InvalidParameter(
            f"Invalid artifact path {path!r}: a part of it is longer than the artifact store's "
            "file system allows (usually 255 bytes); use shorter names."
        )
    return RunlabError(f"Cannot access artifact {path!r}: {error.strerror or error}.")


@dataclass(frozen=True)
class Download:
    """What a download needs before its first byte: size, validator, and how to read a range."""

    size: int
    etag: str
    last_modified: float | None
    open_range: Callable[[int, int], AsyncIterator[bytes]]


def stat_local_file(repo: LocalArtifactRepository, path: str) -> tuple[Path, os.stat_result]:
    """Where the file ``path`` of a local repository is, and its stat (blocking).

    Raises ArtifactNotFound for a missing file and InvalidParameter for a folder.
    """
    target = safe_join(repo.root, path)
    try:
        info = target.stat()
    except OSError as error:
        raise os_error(error, path) from error
    if stat.S_ISDIR(info.st_mode):
        raise InvalidParameter(f"Invalid path {path!r}: it is a folder, not a file.")
    return target, info


def stat_s3_file(repo: S3ArtifactRepository, path: str) -> ObjectInfo:
    """The stat of the object ``path`` of an S3 repository (blocking); a "folder" is refused."""
    try:
        return repo.stat_file(path)
    except ArtifactNotFound:
        if repo.list_artifacts(path):
            raise InvalidParameter(f"Invalid path {path!r}: it is a folder, not a file.") from None
        raise


async def _local_download(repo: LocalArtifactRepository, path: str) -> Download:
    target, info = await run_in_threadpool(stat_local_file, repo, path)
    identity = (info.st_ino, info.st_size, info.st_mtime_ns)

    async def open_range(first: int, last: int) -> AsyncIterator[bytes]:
        # Opened only once the body is being sent, so no early answer (304, 416, a client that
        # went away) can leave a file open.
        handle = await run_in_threadpool(open, target, "rb")
        try:
            now = os.fstat(handle.fileno())
            if (now.st_ino, now.st_size, now.st_mtime_ns) != identity:
                # Replaced since the headers were computed: better a broken download than bytes
                # that do not match the announced length and ETag.
                raise ArtifactNotFound(f"The artifact {path!r} changed while it was being sent.")
            await run_in_threadpool(handle.seek, first)
            remaining = last - first + 1
            while remaining > 0:
                chunk = await run_in_threadpool(handle.read, min(_CHUNK, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                yield chunk
        finally:
            handle.close()

    # mtime in nanoseconds plus size: changes whenever the file is replaced or rewritten.
    etag = f'"{info.st_mtime_ns:x}-{info.st_size:x}"'
    return Download(info.st_size, etag, info.st_mtime, open_range)


async def _s3_download(repo: S3ArtifactRepository, path: str) -> Download:
    info = await run_in_threadpool(stat_s3_file, repo, path)

    async def open_range(first: int, last: int) -> AsyncIterator[bytes]:
        if last < first:
            return  # an empty object: nothing to fetch (and "bytes=0--1" is no valid range)
        chunks = repo.iter_file(path, first, last, _CHUNK)
        async for chunk in iterate_in_threadpool(chunks):
            yield chunk

    return Download(info.size, info.etag or f'"{info.size:x}"', None, open_range)


async def open_download(repo: Any, path: str) -> Download:
    """Everything needed to stream the file ``path`` of a local or S3 repository.

    Raises ArtifactNotFound for a missing file, InvalidParameter for a folder, and 501 for a
    repository that cannot stream.
    """
    if isinstance(repo, S3ArtifactRepository):
        return await _s3_download(repo, path)
    if isinstance(repo, LocalArtifactRepository):
        return await _local_download(repo, path)
    raise NotImplementedByStore(f"Cannot stream from {type(repo).__name__}.")


async def _limited_body(request: Request, limit: int | None) -> AsyncIterator[bytes]:
    """The request body chunk by chunk, refusing (413) more than ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if limit is not None and declared.isdigit() and int(declared) > limit:
        raise ArtifactTooLarge(limit)
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if limit is not None and received > limit:
                raise ArtifactTooLarge(limit)
            if chunk:
                yield chunk
    except ClientDisconnect:
        raise InvalidParameter("The client disconnected before sending the whole body.") from None


async def _put_local(repo: LocalArtifactRepository, path: str, body: AsyncIterator[bytes]) -> None:
    """Write the body to a temporary file beside the target, then rename it into place."""

    def prepare() -> tuple[BinaryIO, Path, Path]:
        # Before any folder is made: a name the file system cannot hold fails only at the end.
        if any(len(os.fsencode(part)) > _NAME_MAX for part in path.split("/")):
            raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), path)
        target = safe_join(repo.root, path)
        if target.is_dir():
            raise InvalidParameter(
                f"Cannot write artifact {path!r}: a folder with that name exists."
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        # Check again: the folders just created did not exist when their links were resolved.
        target = safe_join(repo.root, path)
        partial = target.parent / f"{_PARTIAL_PREFIX}{uuid.uuid4().hex}"
        # O_EXCL: never write through something that appeared under this name meanwhile.
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
        return os.fdopen(fd, "wb"), partial, target

    try:
        handle, partial, target = await run_in_threadpool(prepare)
    except OSError as error:
        raise os_error(error, path) from error
    try:
        with handle:
            pending = bytearray()
            async for chunk in body:
                pending += chunk
                if len(pending) >= _CHUNK:
                    data, pending = bytes(pending), bytearray()
                    await run_in_threadpool(handle.write, data)
            if pending:
                await run_in_threadpool(handle.write, bytes(pending))
        await run_in_threadpool(os.replace, partial, target)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        if isinstance(error, OSError):
            raise os_error(error, path) from error
        raise


async def _put_s3(repo: S3ArtifactRepository, path: str, body: AsyncIterator[bytes]) -> None:
    """Pass the body on to S3 part by part (one PUT if it fits in one part)."""
    upload = repo.streaming_upload(path, _guess_type(path, active_as_text=False))
    pending = bytearray()
    try:
        async for chunk in body:
            pending += chunk
            while len(pending) >= upload.next_part_size:
                if upload.upload_id is None:
                    await run_in_threadpool(upload.start)
                size = upload.next_part_size
                part, pending = bytes(pending[:size]), pending[size:]
                await run_in_threadpool(upload.send_part, part)
        if upload.upload_id is None:
            await run_in_threadpool(upload.put_whole, bytes(pending))
            return
        if pending:
            await run_in_threadpool(upload.send_part, bytes(pending))
        await run_in_threadpool(upload.complete)
    except BaseException:
        # Shielded: a cancelled request must still drop the parts it left in the bucket.
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            await run_in_threadpool(upload.abort)
        raise


# -- responses -------------------------------------------------------------------------------------


#: Names MLflow's server sends as ``text/plain`` whatever ``mimetypes`` says: these extensions,
#: and the extension-less ``MLmodel`` and ``MLproject`` (compared without case). Its UI and
#: clients show such files as text.
_TEXT_EXTENSIONS = frozenset(
    {
        *("txt", "log", "err", "cfg", "conf", "cnf", "cf", "ini", "properties", "prop"),
        *("hocon", "toml", "yaml", "yml", "xml", "json", "js", "py", "py3", "csv", "tsv"),
        *("md", "rst", "ipynb", "mlmodel", "mlproject"),
    }
)


def _is_text_name(name: str) -> bool:
    """True for a file MLflow serves as text: by extension, or by its whole extension-less name."""
    stem, dot, extension = name.rpartition(".")
    return (extension if dot and stem else name).lower() in _TEXT_EXTENSIONS


def _guess_type(path: str, *, active_as_text: bool = True) -> str:
    name = path.rpartition("/")[2]
    if _is_text_name(name):
        return "text/plain"
    guessed, _ = mimetypes.guess_type(name)
    if not guessed:
        return "application/octet-stream"
    if active_as_text and guessed in _ACTIVE_TYPES:
        return "text/plain; charset=utf-8"
    return guessed


def attachment_disposition(path: str) -> str:
    name = path.rpartition("/")[2]
    if name.isascii():
        return 'attachment; filename="{}"'.format(name.replace('"', '\\"'))
    # RFC 6266: an ASCII fallback for old clients plus the exact UTF-8 name.
    fallback = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


class _Unsatisfiable(Exception):
    """A Range header no byte of the file can answer (HTTP 416)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range (first, last) a ``Range`` header asks for, or None for all.

    Only a single ``bytes=`` range is honoured; other units, several ranges and malformed
    headers are ignored (the whole file is sent, as RFC 9110 allows). Raises
    :class:`_Unsatisfiable` when the range lies wholly outside the file.
    """
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_text, dash, last_text = spec.strip().partition("-")
    first_text, last_text = first_text.strip(), last_text.strip()
    if (
        not dash
        or not (first_text.isdigit() or first_text == "")
        or not (last_text.isdigit() or last_text == "")
    ):
        return None
    if not first_text:  # suffix range: the last N bytes
        if not last_text:
            return None
        length = int(last_text)
        if length == 0 or size == 0:
            raise _Unsatisfiable
        return max(0, size - length), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None
    last = int(last_text) if last_text else size - 1
    if first >= size:
        raise _Unsatisfiable
    return first, min(last, size - 1)


async def download_response(request: Request, path: str, download: Download) -> Response:
    headers = {
        "Content-Disposition": attachment_disposition(path),
        "X-Content-Type-Options": "nosniff",
        "Accept-Ranges": "bytes",
        "ETag": download.etag,
    }
    if download.last_modified is not None:
        headers["Last-Modified"] = formatdate(download.last_modified, usegmt=True)
    media_type = _guess_type(path)
    etags = request.headers.get("if-none-match")
    if etags and (etags.strip() == "*" or download.etag in (t.strip() for t in etags.split(","))):
        return Response(status_code=304, headers=headers)
    if_range = request.headers.get("if-range")
    range_header = (
        request.headers.get("range") if not if_range or if_range == download.etag else None
    )
    try:
        wanted = parse_range(range_header, download.size)
    except _Unsatisfiable:
        response = error_response(
            "INVALID_PARAMETER_VALUE",
            f"Range {range_header!r} is outside the artifact {path!r} ({download.size} bytes).",
            416,
        )
        response.headers["Content-Range"] = f"bytes */{download.size}"
        return response
    status = 200
    first, last = 0, download.size - 1
    if wanted is not None:
        first, last = wanted
        status = 206
        headers["Content-Range"] = f"bytes {first}-{last}/{download.size}"
    headers["Content-Length"] = str(last - first + 1)
    return StreamingResponse(
        download.open_range(first, last), status_code=status, headers=headers, media_type=media_type
    )


# -- routes ------------------------------------------------------------------------------------------


class _AnyPathRoute(Route):
    """A route whose ``{artifact_path:path}`` also matches control characters such as newlines.

    Starlette's path pattern stops at a newline, so ``a/%0a.txt`` would fall through to a bare
    404; matching it lets the path check answer with a 400 that explains the refusal.
    """

    def __init__(self, path: str, endpoint: Handler, *, methods: list[str]) -> None:
        super().__init__(path, endpoint, methods=methods)
        self.path_regex = re.compile(self.path_regex.pattern, re.DOTALL)


def _upload_target(folder: str, fields: RequestFields) -> str:
    """The file a multipart request is about: its ``path`` field's file name inside ``folder``.

    MLflow's client sends the uploading machine's full local path here, so only its last part
    (after ``/`` or ``\\``) is used; that part is then checked like any artifact path.
    """
    name = fields.required_string("path").replace("\\", "/").rpartition("/")[2]
    if not name:
        raise InvalidParameter("Field 'path' must end in a file name.")
    return join_artifact_path(folder, name)


def _listed_folder(request: Request) -> str:
    """The folder a listing names (query ``path``, once at most), validated."""
    values = request.query_params.getlist("path")
    if len(values) > 1:
        raise InvalidParameter(f"Field 'path' must be given once, got {len(values)} values.")
    return validate_artifact_path(values[0] if values else "")


def _path_fields(path: str) -> RequestFields:
    """The fields the proxy's permission rule reads: only the path, parsed as the handler
    parses it (from the raw request target), so both always mean the same place."""
    return RequestFields({"artifact_path": path})


def _rule(need: Need, route: Route, path_of: Callable[[Request], str]) -> Route:
    """``route`` with the rule "``need`` on the experiments owning the path it names"."""
    rule = experiment(need, PROXIED_ARTIFACT_PATH)
    return guarded(route, rule, lambda request: _path_fields(path_of(request)))


def routes(ctx: ServerContext) -> list[Route]:
    """The artifact proxy's routes under both prefixes (``PREFIXES``).

    Each declares its rule: reading (list, download, presigned URL) needs READ on the
    experiment(s) whose artifact folder holds the path, writing (upload, multipart) EDIT,
    deleting MANAGE. A path that lies in no experiment's folder (the destination's root) is
    for administrators only.
    """
    from runlab.server.endpoint import read_fields

    def handlers(prefix: str) -> list[Route]:
        files = f"{prefix}/artifacts"

        async def list_artifacts(request: Request) -> Response:
            """List the direct children of a folder (query ``path``; file names only)."""
            repo = _repository(ctx)
            folder = _listed_folder(request)
            infos = await run_in_threadpool(repo.list_artifacts, folder)
            entries: list[dict[str, Any]] = []
            for info in infos:
                entry: dict[str, Any] = {
                    "path": info.path.rpartition("/")[2],
                    "is_dir": info.is_dir,
                }
                if not info.is_dir and info.file_size is not None:
                    entry["file_size"] = info.file_size
                entries.append(entry)
            return json_response({"files": entries} if entries else {})

        async def download(request: Request) -> Response:
            """Download one artifact file, streamed; honours Range, If-Range and If-None-Match."""
            repo = _repository(ctx)
            path = _file_path(request, files)
            return await download_response(request, path, await open_download(repo, path))

        async def upload(request: Request) -> Response:
            """Upload one artifact file; the raw request body is its content, streamed."""
            repo = _repository(ctx)
            path = _file_path(request, files)
            body = _limited_body(request, ctx.settings.max_artifact_bytes)
            if isinstance(repo, S3ArtifactRepository):
                await _put_s3(repo, path, body)
            elif isinstance(repo, LocalArtifactRepository):
                await _put_local(repo, path, body)
            else:
                raise NotImplementedByStore(f"Cannot stream to {type(repo).__name__}.")
            return Response(status_code=200)

        async def delete(request: Request) -> Response:
            """Delete an artifact file, or a folder with everything in it."""
            repo = _repository(ctx)
            text, path = _requested_path(request, files)
            if not path:
                raise InvalidParameter(
                    f"Invalid path {text!r}: refusing to delete the whole artifact destination; "
                    "name a folder or a file."
                )
            await run_in_threadpool(repo.delete_artifacts, path)
            return json_response({})

        async def mpu_create(request: Request) -> Response:
            """Start a multipart upload (S3 only): one presigned URL per part."""
            repo = _repository(ctx)
            _, folder = _requested_path(request, f"{prefix}/mpu/create")
            fields = await read_fields(request, ctx)
            target = _upload_target(folder, fields)
            num_parts = check_num_parts(fields.int64("num_parts", default=1) or 0)
            s3 = _s3_or_501(repo, "a multipart upload")
            content_type = _guess_type(target, active_as_text=False)
            started = await run_in_threadpool(
                s3.create_multipart_upload, target, num_parts, content_type
            )
            return json_response(started.to_dict())

        async def mpu_complete(request: Request) -> Response:
            """Complete a multipart upload from the ETags of its parts."""
            repo = _repository(ctx)
            _, folder = _requested_path(request, f"{prefix}/mpu/complete")
            fields = await read_fields(request, ctx)
            target = _upload_target(folder, fields)
            upload_id = fields.required_string("upload_id")
            parts = [
                UploadedPart(
                    part_number=part.int64("part_number", required=True) or 0,
                    etag=part.required_string("etag"),
                    url=part.string("url") or "",
                )
                for part in fields.object_list("parts", required=True)
            ]
            s3 = _s3_or_501(repo, "a multipart upload")
            await run_in_threadpool(s3.complete_multipart_upload, target, upload_id, parts)
            return json_response({})

        async def mpu_abort(request: Request) -> Response:
            """Abort a multipart upload, dropping the parts sent so far."""
            repo = _repository(ctx)
            _, folder = _requested_path(request, f"{prefix}/mpu/abort")
            fields = await read_fields(request, ctx)
            target = _upload_target(folder, fields)
            upload_id = fields.required_string("upload_id")
            s3 = _s3_or_501(repo, "a multipart upload")
            await run_in_threadpool(s3.abort_multipart_upload, target, upload_id)
            return json_response({})

        async def presigned(request: Request) -> Response:
            """A presigned download URL for one artifact file (S3 only)."""
            repo = _repository(ctx)
            path = _file_path(request, f"{prefix}/presigned")
            s3 = _s3_or_501(repo, "a presigned download")
            url = await run_in_threadpool(s3.presigned_download_url, path)
            info = await run_in_threadpool(s3.stat_file, path)
            return json_response({"url": url, "headers": {}, "file_size": info.size})

        def under(route_prefix: str) -> Callable[[Request], str]:
            return lambda request: _requested_path(request, route_prefix)[1]

        in_files = under(files)
        out = [
            _rule("read", Route(files, list_artifacts, methods=["GET"]), _listed_folder),
            _rule(
                "read",
                _AnyPathRoute(f"{files}/{{artifact_path:path}}", download, methods=["GET"]),
                in_files,
            ),
            _rule(
                "update",
                _AnyPathRoute(f"{files}/{{artifact_path:path}}", upload, methods=["PUT"]),
                in_files,
            ),
            _rule(
                "delete",
                _AnyPathRoute(f"{files}/{{artifact_path:path}}", delete, methods=["DELETE"]),
                in_files,
            ),
            _rule(
                "read",
                _AnyPathRoute(
                    f"{prefix}/presigned/{{artifact_path:path}}", presigned, methods=["GET"]
                ),
                under(f"{prefix}/presigned"),
            ),
        ]
        for kind, handler in (
            ("create", mpu_create),
            ("complete", mpu_complete),
            ("abort", mpu_abort),
        ):
            # With and without a folder: the client posts to ".../mpu/create/" for the root.
            # The file uploaded is named inside that folder, so the folder's owners decide.
            in_folder = under(f"{prefix}/mpu/{kind}")
            out.append(
                _rule("update", Route(f"{prefix}/mpu/{kind}", handler, methods=["POST"]), in_folder)
            )
            out.append(
                _rule(
                    "update",
                    _AnyPathRoute(
                        f"{prefix}/mpu/{kind}/{{artifact_path:path}}", handler, methods=["POST"]
                    ),
                    in_folder,
                )
            )
        return out

    return [route for prefix in PREFIXES for route in handlers(prefix)]
