"""Artifacts through a tracking server's artifact proxy (``mlflow-artifacts:`` and ``http(s)`` roots).

A run logged against a server started with ``--serve-artifacts`` has an artifact root such as
``mlflow-artifacts:/1/<run id>/artifacts``; its files live wherever the server keeps them, and the
client reaches them only through the server's ``/api/2.0/mlflow-artifacts`` routes. This module
is that client. It works against ``runlab server`` and against MLflow's server alike.

Bodies stream both ways: an upload reads the local file in chunks, a download writes chunks to a
temporary file beside its destination and renames it into place once complete, so an interrupted
download never leaves a truncated file under the real name. Large files go to S3 directly, in
parts, when the server offers multipart uploads.
"""

from __future__ import annotations

import base64
import contextlib
import mimetypes
import os
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, unquote, urlsplit

from runlab.artifacts._local_files import plan_upload
from runlab.artifacts.multipart import MultipartUpload, PartCredential, plan_parts, send_parts
from runlab.artifacts.path_safety import join_artifact_path, safe_join, validate_artifact_path
from runlab.entities import FileInfo
from runlab.errors import (
    ArtifactNotFound,
    InvalidParameter,
    PermissionDenied,
    RunlabError,
    Unauthenticated,
    Unavailable,
)
from runlab.httpx_lean import httpx
from runlab.uris import tls_verify_for

__all__ = [
    "ARTIFACTS_SERVICE",
    "HttpArtifactRepository",
    "HttpOptions",
    "auth_headers",
    "env_value",
    "resolve_proxy_uri",
]

#: Where the proxy's file routes live on a server (MLflow's path, kept for compatibility).
ARTIFACTS_SERVICE = "/api/2.0/mlflow-artifacts/artifacts"
_MPU_SERVICE = "/api/2.0/mlflow-artifacts/mpu"
_SERVER_INFO = "/api/3.0/mlflow/server-info"

_CHUNK = 1024 * 1024
_PARTIAL_PREFIX = ".runlab-partial-"  # same prefix local repositories hide from listings
#: Transfers at least this large show a progress bar (when stderr is a terminal).
PROGRESS_MIN_BYTES = 32 * 1024 * 1024
#: What to do about a 401 (the REST store says the same).
_CREDENTIALS_HINT = (
    "Set RUNLAB_TRACKING_USERNAME and RUNLAB_TRACKING_PASSWORD, or RUNLAB_TRACKING_TOKEN "
    "(the MLFLOW_ names work too)."
)
_TRUE = ("1", "true", "yes", "on")


def env_value(env: Mapping[str, str], name: str) -> str | None:
    """``RUNLAB_<name>`` if set and non-empty, else ``MLFLOW_<name>``, else None."""
    for prefix in ("RUNLAB_", "MLFLOW_"):
        value = env.get(prefix + name)
        if value:
            return value
    return None


def auth_headers(env: Mapping[str, str]) -> dict[str, str]:
    """The ``Authorization`` header the environment asks for, as a dict (empty if none).

    ``*_TRACKING_USERNAME`` and ``*_TRACKING_PASSWORD`` give Basic auth, which wins over a
    ``*_TRACKING_TOKEN`` (Bearer), as in MLflow. ``RUNLAB_`` names win over ``MLFLOW_`` ones.
    """
    username = env_value(env, "TRACKING_USERNAME")
    password = env_value(env, "TRACKING_PASSWORD")
    if username is not None and password is not None:
        pair = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        return {"Authorization": f"Basic {pair}"}
    token = env_value(env, "TRACKING_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    return {}


@dataclass(frozen=True)
class HttpOptions:
    """Connection and transfer settings, read from the environment by :meth:`from_env`."""

    headers: dict[str, str]
    verify: bool | str = True
    client_cert: str | None = None
    timeout: float = 120.0
    #: Files at least this large use a multipart upload when the server offers one.
    multipart_min_size: int = 500 * 1024 * 1024
    multipart_chunk_size: int = 10 * 1024 * 1024
    #: True/False forces multipart uploads on/off; None lets the server's server-info decide.
    multipart_forced: bool | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HttpOptions:
        """Read ``RUNLAB_*`` (or ``MLFLOW_*``) variables: auth, TLS, timeout, multipart sizes."""
        insecure = (env_value(env, "TRACKING_INSECURE_TLS") or "").lower() in _TRUE
        ca_bundle = env_value(env, "TRACKING_SERVER_CERT_PATH")
        if insecure and ca_bundle:
            raise InvalidParameter(
                "Both TRACKING_INSECURE_TLS and TRACKING_SERVER_CERT_PATH are set; use one of them."
            )
        forced = env_value(env, "ENABLE_PROXY_MULTIPART_UPLOAD")
        return cls(
            headers=auth_headers(env),
            verify=False if insecure else (ca_bundle or True),
            client_cert=env_value(env, "TRACKING_CLIENT_CERT_PATH"),
            timeout=_number(env, "HTTP_REQUEST_TIMEOUT", 120.0),
            multipart_min_size=int(_number(env, "MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", 500 * 2**20)),
            multipart_chunk_size=int(_number(env, "MULTIPART_UPLOAD_CHUNK_SIZE", 10 * 2**20)),
            multipart_forced=None if forced is None else forced.lower() in _TRUE,
        )


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    text = env_value(env, name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise InvalidParameter(f"{name} must be a number, got {text!r}.") from None
    if value <= 0:
        raise InvalidParameter(f"{name} must be positive, got {text!r}.")
    return value


def _split_path(uri: str, path: str) -> str:
    """A URI's path part as a validated artifact path (decoded once, as a server would)."""
    validate_artifact_path(path.strip("/"))
    try:
        return validate_artifact_path(unquote(path.strip("/"), errors="strict"))
    except UnicodeDecodeError:
        raise InvalidParameter(
            f"Invalid artifact URI {uri!r}: it encodes non-UTF-8 bytes."
        ) from None


def resolve_proxy_uri(root_uri: str, tracking_uri: str | None = None) -> tuple[str, str]:
    """Split a proxied artifact root into (server base URL, artifact path on that server).

    ``mlflow-artifacts:/<p>`` is resolved against ``tracking_uri`` (which must be http(s); its
    path prefix is kept); ``mlflow-artifacts://host:port/<p>`` names another host reached with the
    tracking URI's scheme. ``http(s)://host[/prefix]/api/2.0/mlflow-artifacts/artifacts/<p>`` names
    the server directly.
    """
    parts = urlsplit(root_uri)
    if parts.query or parts.fragment:
        raise InvalidParameter(
            f"Invalid artifact URI {root_uri!r}: it cannot have a query or a fragment."
        )
    scheme = parts.scheme.lower()
    if scheme == "mlflow-artifacts":
        if not tracking_uri:
            raise InvalidParameter(
                f"Cannot reach {root_uri!r}: an mlflow-artifacts: URI is served by a tracking "
                "server; set the tracking URI to that server (http://host:port)."
            )
        tracking = urlsplit(tracking_uri)
        if tracking.scheme.lower() not in ("http", "https") or not tracking.netloc:
            raise InvalidParameter(
                f"Cannot reach {root_uri!r} through the tracking URI {tracking_uri!r}: an "
                "mlflow-artifacts: URI is served by a tracking server, so set the tracking URI "
                "to it (http://host:port). Only a SQLite store finds these artifacts on its own "
                "(in runlab-artifacts/ beside the database, where its runlab server keeps them)."
            )
        base = f"{tracking.scheme}://{parts.netloc or tracking.netloc}{tracking.path.rstrip('/')}"
        return base, _split_path(root_uri, parts.path)
    if scheme in ("http", "https"):
        before, marker, after = parts.path.partition(ARTIFACTS_SERVICE)
        if not marker or (after and not after.startswith("/")):
            raise InvalidParameter(
                f"Invalid artifact URI {root_uri!r}: an http(s) artifact root must point into a "
                f"tracking server's artifact proxy ('...{ARTIFACTS_SERVICE}/<path>')."
            )
        return f"{parts.scheme}://{parts.netloc}{before.rstrip('/')}", _split_path(root_uri, after)
    raise InvalidParameter(
        f"Invalid artifact URI {root_uri!r}: expected mlflow-artifacts:/... or http(s)://..."
    )


def _error_for(response: httpx.Response, what: str) -> RunlabError:
    """The runlab error for a failed answer, keeping the server's message and code."""
    status = response.status_code
    code: str | None = None
    message = ""
    with contextlib.suppress(ValueError):
        body = response.json()
        if isinstance(body, dict):
            code = body.get("error_code") if isinstance(body.get("error_code"), str) else None
            message = str(body.get("message") or body.get("detail") or "")
    if not message:
        message = response.text[:500].strip() or response.reason_phrase
    text = f"{what}: {message} (HTTP {status})"
    if status == 404:
        return ArtifactNotFound(text)
    if status == 401:
        return Unauthenticated(text if "TRACKING_" in text else f"{text} {_CREDENTIALS_HINT}")
    if status == 403:
        return PermissionDenied(text)
    if status in (400, 413, 416):
        return InvalidParameter(text, code)
    if status == 501:
        return RunlabError(text, "NOT_IMPLEMENTED")
    if status >= 500 or status in (408, 429):
        return Unavailable(text)
    return RunlabError(text, code)


class _MultipartUnsupported(Exception):
    """The server answered mpu/create with 501: fall back to a plain PUT."""


class HttpArtifactRepository:
    """An :class:`~runlab.artifacts.base.ArtifactRepository` served by a tracking server's proxy.

    ``root_uri`` is ``mlflow-artifacts:/<path>`` (resolved against ``tracking_uri``) or
    ``http(s)://host/api/2.0/mlflow-artifacts/artifacts/<path>``. Credentials, TLS options,
    timeouts and multipart thresholds come from ``env`` (default: the process environment), see
    :class:`HttpOptions`. ``http`` lets a caller share an ``httpx.Client``; otherwise the
    repository opens its own, released by :meth:`close`.
    """

    def __init__(
        self,
        root_uri: str,
        tracking_uri: str | None = None,
        http: httpx.Client | None = None,
        *,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.root_uri = root_uri
        self.server_url, self.root = resolve_proxy_uri(root_uri, tracking_uri)
        self.options = HttpOptions.from_env(os.environ if env is None else env)
        self._owns_http = http is None
        self._http = http or httpx.Client(
            verify=tls_verify_for(self.server_url, self.options.verify),
            cert=self.options.client_cert,
            timeout=httpx.Timeout(self.options.timeout, connect=min(30.0, self.options.timeout)),
        )
        self._storage_http: httpx.Client | None = None
        self._lock = threading.Lock()
        self._multipart_offered: bool | None = None

    def __repr__(self) -> str:
        return f"HttpArtifactRepository({self.root_uri!r})"

    def close(self) -> None:
        """Release the connections this repository opened."""
        if self._owns_http:
            self._http.close()
        if self._storage_http is not None:
            self._storage_http.close()

    def __enter__(self) -> HttpArtifactRepository:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- HTTP ------------------------------------------------------------------------------------

    def _full(self, relative: str) -> str:
        """The server-side path of a validated path relative to this repository's root."""
        return join_artifact_path(self.root, relative)

    def _file_url(self, relative: str) -> str:
        return f"{self.server_url}{ARTIFACTS_SERVICE}/{quote(self._full(relative), safe='/')}"

    def _send(self, method: str, url: str, what: str, **kwargs: Any) -> httpx.Response:
        """One request with auth headers; transport failures become Unavailable, errors raise."""
        headers = {**self.options.headers, **kwargs.pop("headers", {})}
        try:
            response = self._http.request(method, url, headers=headers, **kwargs)
        except httpx.TransportError as error:
            raise Unavailable(f"{what}: cannot reach {self.server_url} ({error}).") from error
        if response.status_code >= 300:
            raise _error_for(response, what)
        return response

    # -- writing ---------------------------------------------------------------------------------

    def log_artifact(
        self, local_file: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Upload one local file into the folder ``artifact_path``, keeping its file name."""
        source = Path(local_file)
        target = join_artifact_path(artifact_path, source.name)
        if not source.is_file():
            raise InvalidParameter(f"Cannot log {str(source)!r}: it is not an existing file.")
        size = source.stat().st_size
        with _progress(f"Uploading {source.name}", size) as advance:
            self._upload(source, target, size, advance)

    def log_artifacts(
        self, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Upload every file of a local folder, recursively, into the folder ``artifact_path``.

        Every name is checked before the first upload. The proxy stores files only, so empty
        local folders leave no trace.
        """
        files, _ = plan_upload(local_dir, artifact_path)
        sizes = [source.stat().st_size for source, _ in files]
        with _progress(f"Uploading {Path(local_dir).name or local_dir}", sum(sizes)) as advance:
            for (source, target), size in zip(files, sizes, strict=True):
                self._upload(source, target, size, advance)

    def log_bytes(self, data: bytes, artifact_file: str) -> None:
        """Write in-memory content as the file ``artifact_file``."""
        target = validate_artifact_path(artifact_file)
        if not target:
            raise InvalidParameter("Cannot write bytes to the artifact root; give a file name.")
        self._send(
            "PUT",
            self._file_url(target),
            f"Uploading {target!r}",
            content=bytes(data),
            headers={"Content-Type": _mime_type(target)},
        )

    def _upload(self, source: Path, target: str, size: int, advance: Callable[[int], None]) -> None:
        if size >= self.options.multipart_min_size and self._multipart_enabled():
            try:
                self._multipart_upload(source, target, size, advance)
                return
            except _MultipartUnsupported:
                pass  # the server's store cannot do it (e.g. local disk): send it whole
        with source.open("rb") as handle:
            self._send(
                "PUT",
                self._file_url(target),
                f"Uploading {str(source)!r} to {target!r}",
                content=_read_chunks(handle, size, advance),
                # Declared so the server can refuse an oversized upload before reading it.
                headers={"Content-Type": _mime_type(target), "Content-Length": str(size)},
            )

    # -- multipart -------------------------------------------------------------------------------

    def _multipart_enabled(self) -> bool:
        """Whether to try a multipart upload: forced by the environment, else server-info says."""
        if self.options.multipart_forced is not None:
            return self.options.multipart_forced
        with self._lock:
            if self._multipart_offered is None:
                self._multipart_offered = False
                # Short timeout and no retry: any failure just means "not offered".
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    response = self._http.get(
                        f"{self.server_url}{_SERVER_INFO}", headers=self.options.headers, timeout=3
                    )
                    info = response.json() if response.status_code == 200 else {}
                    self._multipart_offered = bool(
                        isinstance(info, dict) and info.get("multipart_uploads_enabled")
                    )
            return self._multipart_offered

    def _mpu(self, kind: str, folder: str, body: dict[str, Any], what: str) -> httpx.Response:
        full = self._full(folder)
        url = f"{self.server_url}{_MPU_SERVICE}/{kind}/{quote(full, safe='/')}"
        return self._send("POST", url, what, json=body)

    def _multipart_upload(
        self, source: Path, target: str, size: int, advance: Callable[[int], None]
    ) -> None:
        folder, _, name = target.rpartition("/")
        parts = plan_parts(size, self.options.multipart_chunk_size)
        what = f"Uploading {str(source)!r} to {target!r} in parts"
        try:
            answer = self._mpu("create", folder, {"path": name, "num_parts": len(parts)}, what)
        except RunlabError as error:
            if error.error_code == "NOT_IMPLEMENTED":
                raise _MultipartUnsupported from error
            raise
        upload = MultipartUpload.from_dict(answer.json())

        def put(credential: PartCredential, data: bytes) -> str:
            where = f"{what} (part {credential.part_number})"
            try:
                # Straight to the object store, without the tracking server's credentials.
                response = self._storage().put(
                    credential.url, content=data, headers=credential.headers
                )
            except httpx.TransportError as error:
                raise Unavailable(f"{where}: cannot reach the object store ({error}).") from error
            if response.status_code >= 300:
                raise _error_for(response, where)
            advance(len(data))
            return response.headers.get("ETag", "")

        try:
            uploaded = send_parts(source, upload, parts, put)
            body = {
                "path": name,
                "upload_id": upload.upload_id,
                "parts": [part.to_dict() for part in uploaded],
            }
            self._mpu("complete", folder, body, what)
        except BaseException:
            with contextlib.suppress(RunlabError):
                self._mpu("abort", folder, {"path": name, "upload_id": upload.upload_id}, what)
            raise

    def _storage(self) -> httpx.Client:
        """A client for presigned object-store URLs: it must not send the server's credentials."""
        with self._lock:
            if self._storage_http is None:
                self._storage_http = httpx.Client(timeout=self.options.timeout)
            return self._storage_http

    # -- reading ---------------------------------------------------------------------------------

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """The direct children of the folder ``path``, sorted, with paths relative to the root."""
        folder = validate_artifact_path(path or "")
        response = self._send(
            "GET",
            f"{self.server_url}{ARTIFACTS_SERVICE}",
            f"Listing {folder or 'the artifact root'!r}",
            params={"path": self._full(folder)},
        )
        body = response.json() if response.content.strip() else {}
        infos = []
        entries = body.get("files", []) if isinstance(body, dict) else None
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise RunlabError(f"The server answered the listing of {folder!r} with {body!r}.")
        for entry in entries:
            name = str(entry.get("path", ""))
            # The server sends bare names; anything else must not steer a later download.
            if "/" in name or not validate_artifact_path(name):
                raise InvalidParameter(f"The server listed an invalid artifact name {name!r}.")
            size = entry.get("file_size")
            infos.append(
                FileInfo(
                    path=join_artifact_path(folder, name),
                    is_dir=bool(entry.get("is_dir")),
                    file_size=int(size) if size is not None else None,
                )
            )
        # A server over an object store may list a file as its own only child; a file has none.
        if (
            len(infos) == 1
            and not infos[0].is_dir
            and infos[0].path == join_artifact_path(folder, folder.rpartition("/")[2])
        ):
            return []
        return sorted(infos, key=lambda info: info.path)

    def _walk(self, folder: str) -> list[FileInfo]:
        """Every file under ``folder``, recursively."""
        files: list[FileInfo] = []
        pending = [folder]
        while pending:
            for info in self.list_artifacts(pending.pop()):
                if info.is_dir:
                    pending.append(info.path)
                else:
                    files.append(info)
        return files

    def download_artifacts(self, artifact_path: str = "", dst_path: str | None = None) -> str:
        """Download a file or a folder to ``dst_path`` (a new temporary folder if None)."""
        relative = validate_artifact_path(artifact_path or "")
        files = self._walk(relative)
        destination_root = Path(dst_path) if dst_path else Path(tempfile.mkdtemp(prefix="runlab-"))
        if not files:
            if not relative:  # an empty root is an empty tree, not a missing artifact
                destination_root.mkdir(parents=True, exist_ok=True)
                return str(destination_root)
            # Not a folder with files: a file, or nothing (the GET answers 404 then).
            files = [FileInfo(path=relative, is_dir=False, file_size=None)]
        total = sum(info.file_size or 0 for info in files)
        with _progress(f"Downloading {relative or 'artifacts'}", total) as advance:
            for info in files:
                self._download_file(info.path, safe_join(destination_root, info.path), advance)
        return str(safe_join(destination_root, relative))

    def _download_file(self, relative: str, local: Path, advance: Callable[[int], None]) -> None:
        """Stream one file to a temporary name beside ``local``, then rename it into place."""
        local.parent.mkdir(parents=True, exist_ok=True)
        partial = local.parent / f"{_PARTIAL_PREFIX}{uuid.uuid4().hex}"
        what = f"Downloading {relative!r}"
        try:
            with self._http.stream(
                "GET", self._file_url(relative), headers=self.options.headers
            ) as response:
                if response.status_code >= 300:
                    response.read()
                    raise _error_for(response, what)
                expected = response.headers.get("Content-Length")
                received = 0
                with partial.open("xb") as handle:
                    for chunk in response.iter_bytes(_CHUNK):
                        handle.write(chunk)
                        received += len(chunk)
                        advance(len(chunk))
                if expected is not None and expected.isdigit() and int(expected) != received:
                    raise Unavailable(f"{what}: the connection ended after {received} bytes.")
            os.replace(partial, local)
        except httpx.TransportError as error:
            raise Unavailable(f"{what}: cannot reach {self.server_url} ({error}).") from error
        finally:
            with contextlib.suppress(OSError):
                partial.unlink()

    # -- deleting --------------------------------------------------------------------------------

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        """Delete a file or a folder (this repository's whole root when no path is given)."""
        relative = validate_artifact_path(artifact_path or "")
        self._send("DELETE", self._file_url(relative), f"Deleting {relative or self.root!r}")


def _mime_type(path: str) -> str:
    guessed, _ = mimetypes.guess_type(path.rpartition("/")[2])
    return guessed or "application/octet-stream"


def _read_chunks(handle: IO[bytes], size: int, advance: Callable[[int], None]) -> Iterator[bytes]:
    """The file's bytes in chunks, reporting progress; stops at ``size`` (the declared length)."""
    remaining = size
    while remaining > 0:
        chunk = handle.read(min(_CHUNK, remaining))
        if not chunk:
            raise InvalidParameter(f"{handle.name!r} shrank while it was being uploaded.")
        remaining -= len(chunk)
        advance(len(chunk))
        yield chunk


@contextlib.contextmanager
def _progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A callable that advances a progress bar, or does nothing.

    A bar is shown only for large transfers and only when stderr is a terminal, so logs and
    pipelines stay clean; rich is imported only then.
    """
    import sys

    if total < PROGRESS_MIN_BYTES or not sys.stderr.isatty():
        yield lambda _count: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    from rich.console import Console

    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        lock = threading.Lock()  # parts of a multipart upload advance from several threads

        def advance(count: int) -> None:
            with lock:
                bar.advance(task, count)

        yield advance
