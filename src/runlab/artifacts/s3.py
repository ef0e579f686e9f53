"""Artifacts in Amazon S3 or an S3-compatible object store (MinIO, Ceph, R2, ...)."""

from __future__ import annotations

import contextlib
import io
import mimetypes
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runlab.artifacts import multipart
from runlab.artifacts._local_files import plan_upload
from runlab.artifacts._optional import require
from runlab.artifacts.path_safety import join_artifact_path, safe_join, validate_artifact_path
from runlab.entities import FileInfo
from runlab.errors import (
    ArtifactNotFound,
    InvalidParameter,
    PermissionDenied,
    RunlabError,
    Unavailable,
)

__all__ = ["ENDPOINT_ENV_VARS", "ObjectInfo", "S3ArtifactRepository", "parse_s3_uri"]

#: Environment variables naming a custom S3 endpoint, first match wins. The MLflow name is read too
#: so that existing deployments keep working after switching to runlab.
ENDPOINT_ENV_VARS = ("RUNLAB_S3_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL")
_IGNORE_TLS_ENV_VARS = ("RUNLAB_S3_IGNORE_TLS", "MLFLOW_S3_IGNORE_TLS")

_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "NotFound", "404"})
_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "ExpiredToken",
        "Forbidden",
        "InvalidAccessKeyId",
        "InvalidToken",
        "SignatureDoesNotMatch",
        "403",
    }
)
_UNAVAILABLE_CODES = frozenset(
    {
        "InternalError",
        "RequestTimeout",
        "ServiceUnavailable",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "500",
        "503",
    }
)
_DELETE_BATCH = 1000  # the most keys one DeleteObjects call accepts


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/some/prefix`` into ``("bucket", "some/prefix")``.

    The prefix goes through the same path check as every artifact path. The URI is split by hand
    rather than with ``urlsplit`` so that a ``#`` or ``?`` in it is refused, not silently dropped
    as a fragment or query.
    """
    if not uri.startswith("s3://"):
        raise InvalidParameter(f"Invalid S3 URI {uri!r}: expected s3://<bucket>/<prefix>.")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not bucket:
        raise InvalidParameter(f"Invalid S3 URI {uri!r}: it names no bucket.")
    return bucket, validate_artifact_path(prefix.rstrip("/"))


@dataclass(frozen=True)
class ObjectInfo:
    """What a HEAD of one object tells: enough to answer a download's headers before its body."""

    size: int
    etag: str
    content_type: str | None


def _boto3() -> Any:
    return require("boto3", "s3", "S3 artifact storage")


def _translate(error: BaseException, what: str) -> RunlabError | None:
    """The runlab error for a boto3/botocore error, or None if it is not one we know."""
    from boto3.exceptions import S3UploadFailedError
    from botocore import exceptions as boto_errors

    if isinstance(error, S3UploadFailedError) and isinstance(
        error.__context__, boto_errors.ClientError
    ):
        # boto3's managed upload wraps the client error it got; the wrapped one has the code.
        error = error.__context__
    if isinstance(error, boto_errors.ClientError):
        details = error.response.get("Error", {})
        code = str(details.get("Code", ""))
        message = details.get("Message") or code
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _NOT_FOUND_CODES or status == 404:
            if code == "NoSuchBucket":
                return ArtifactNotFound(f"{what}: the bucket does not exist ({message}).")
            return ArtifactNotFound(f"{what}: not found.")
        if code in _DENIED_CODES or status == 403:
            return PermissionDenied(
                f"{what}: access denied by the object store ({code}: {message}). Check the AWS "
                "credentials and the bucket policy."
            )
        if code in _UNAVAILABLE_CODES or status in (429, 500, 502, 503, 504):
            return Unavailable(f"{what}: the object store is unavailable ({code}: {message}).")
        return RunlabError(f"{what}: the object store answered {code}: {message}.")
    if isinstance(error, (boto_errors.NoCredentialsError, boto_errors.PartialCredentialsError)):
        return PermissionDenied(
            f"{what}: no usable AWS credentials ({error}). Set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or configure a profile."
        )
    if isinstance(error, (boto_errors.ConnectionError, boto_errors.HTTPClientError)):
        return Unavailable(f"{what}: cannot reach the object store ({error}).")
    return None


@contextlib.contextmanager
def _s3_errors(what: str) -> Iterator[None]:
    """Translate boto errors raised inside the block into runlab errors."""
    try:
        yield
    except RunlabError:
        raise
    except Exception as error:
        translated = _translate(error, what)
        if translated is None:
            raise
        raise translated from error


class S3ArtifactRepository:
    """An :class:`~runlab.artifacts.base.ArtifactRepository` over ``s3://bucket/prefix``.

    Credentials and region come from boto3's usual sources (``AWS_*`` environment variables,
    config files, instance roles). The endpoint is ``endpoint_url`` if given, else the first of
    ``RUNLAB_S3_ENDPOINT_URL`` and ``MLFLOW_S3_ENDPOINT_URL`` that is set, else AWS. Setting
    ``RUNLAB_S3_IGNORE_TLS`` (or ``MLFLOW_S3_IGNORE_TLS``) to ``true`` skips TLS verification.

    Files go through boto3's managed transfer, which switches to parallel multipart uploads and
    ranged downloads for large files. ``client`` lets a caller share a preconfigured boto3 client.
    """

    def __init__(
        self, root_uri: str, *, endpoint_url: str | None = None, client: Any = None
    ) -> None:
        self.root_uri = root_uri
        self.bucket, self.prefix = parse_s3_uri(root_uri)
        self._boto3 = _boto3()  # fail here, with the install hint, rather than on first use
        self.endpoint_url = endpoint_url or next(
            (os.environ[name] for name in ENDPOINT_ENV_VARS if os.environ.get(name)), None
        )
        self._verify_tls = not any(
            os.environ.get(name, "").lower() in ("1", "true", "yes")
            for name in _IGNORE_TLS_ENV_VARS
        )
        self._client = client
        self._client_lock = threading.Lock()
        self._transfer_config: Any = None

    def __repr__(self) -> str:
        return f"S3ArtifactRepository({self.root_uri!r})"

    @property
    def client(self) -> Any:
        """The boto3 S3 client, created on first use (creating one costs tens of milliseconds)."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    # A private session: boto3's default session is not safe to share across threads.
                    session = self._boto3.session.Session()
                    self._client = session.client(
                        "s3", endpoint_url=self.endpoint_url, verify=self._verify_tls
                    )
        return self._client

    def _transfer(self) -> Any:
        if self._transfer_config is None:
            from boto3.s3.transfer import TransferConfig

            self._transfer_config = TransferConfig()
        return self._transfer_config

    # -- keys ------------------------------------------------------------------------------------

    def _key(self, relative: str) -> str:
        """The object key of a validated artifact path."""
        if not self.prefix:
            return relative
        return f"{self.prefix}/{relative}" if relative else self.prefix

    def _folder_prefix(self, relative: str) -> str:
        """The key prefix of everything inside the folder ``relative`` ("" for a bucket root)."""
        key = self._key(relative)
        return f"{key}/" if key else ""

    def _relative(self, key: str) -> str:
        """The artifact path of a key under this repository's root."""
        root = self._folder_prefix("")
        return key[len(root) :]

    def _describe(self, relative: str) -> str:
        return f"S3 artifact {relative!r} under {self.root_uri}" if relative else self.root_uri

    def _iter_keys(self, relative: str) -> Iterator[str]:
        """Every key under the folder ``relative``, recursively."""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._folder_prefix(relative)):
            for item in page.get("Contents", []):
                yield item["Key"]

    # -- writing ---------------------------------------------------------------------------------

    def _upload_file(self, source: Path, target: str) -> None:
        content_type, _ = mimetypes.guess_type(source.name)
        extra = {"ContentType": content_type} if content_type else None
        with _s3_errors(f"Uploading {self._describe(target)}"):
            self.client.upload_file(
                str(source),
                self.bucket,
                self._key(target),
                ExtraArgs=extra,
                Config=self._transfer(),
            )

    def log_artifact(
        self, local_file: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Upload one local file into the folder ``artifact_path``, keeping its file name."""
        source = Path(local_file)
        target = join_artifact_path(artifact_path, source.name)
        if not source.is_file():
            raise InvalidParameter(f"Cannot log {str(source)!r}: it is not an existing file.")
        self._upload_file(source, target)

    def log_artifacts(
        self, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Upload the files of a local folder, recursively, into the folder ``artifact_path``.

        Every name is checked before the first upload. Object stores have no folders, so empty
        local folders leave no trace.
        """
        files, _ = plan_upload(local_dir, artifact_path)
        for source, target in files:
            self._upload_file(source, target)

    def log_bytes(self, data: bytes, artifact_file: str) -> None:
        """Write in-memory content as the object ``artifact_file``."""
        target = validate_artifact_path(artifact_file)
        if not target:
            raise InvalidParameter("Cannot write bytes to the artifact root; give a file name.")
        content_type, _ = mimetypes.guess_type(target)
        extra = {"ContentType": content_type} if content_type else None
        with _s3_errors(f"Uploading {self._describe(target)}"):
            self.client.upload_fileobj(
                io.BytesIO(data),
                self.bucket,
                self._key(target),
                ExtraArgs=extra,
                Config=self._transfer(),
            )

    # -- reading ---------------------------------------------------------------------------------

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """The direct children of the folder ``path``, sorted, with paths relative to the root."""
        folder = validate_artifact_path(path or "")
        list_prefix = self._folder_prefix(folder)
        infos: dict[str, FileInfo] = {}
        with _s3_errors(f"Listing {self._describe(folder)}"):
            paginator = self.client.get_paginator("list_objects_v2")
            pages = paginator.paginate(Bucket=self.bucket, Prefix=list_prefix, Delimiter="/")
            for page in pages:
                for common in page.get("CommonPrefixes", []):
                    child = self._relative(common["Prefix"][:-1])  # drop the delimiter
                    infos[child] = FileInfo(path=child, is_dir=True, file_size=None)
                for item in page.get("Contents", []):
                    if item["Key"] == list_prefix:
                        continue  # a "folder marker" object some tools create for the folder itself
                    child = self._relative(item["Key"])
                    infos.setdefault(
                        child, FileInfo(path=child, is_dir=False, file_size=item["Size"])
                    )
        return [infos[child] for child in sorted(infos)]

    def _is_file(self, relative: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            with _s3_errors(f"Reading {self._describe(relative)}"):
                self.client.head_object(Bucket=self.bucket, Key=self._key(relative))
        except ArtifactNotFound as error:
            # HEAD answers a bare 404 both for a missing key and a missing bucket; the listing that
            # follows tells the two apart.
            if isinstance(error.__cause__, ClientError):
                return False
            raise
        return True

    def download_artifacts(self, artifact_path: str = "", dst_path: str | None = None) -> str:
        """Download a file or a folder to ``dst_path`` (a new temporary folder if None)."""
        relative = validate_artifact_path(artifact_path or "")
        plan: list[tuple[str, str]] = []  # (key, local artifact path)
        folders: list[str] = []
        if relative and self._is_file(relative):
            plan.append((self._key(relative), relative))
            folders.append(relative.rpartition("/")[0])
        else:
            folders.append(relative)
            with _s3_errors(f"Listing {self._describe(relative)}"):
                keys = list(self._iter_keys(relative))
            if not keys and relative:
                raise ArtifactNotFound(f"No artifact at {relative!r} under {self.root_uri}.")
            for key in keys:
                # Keys are whatever someone stored in the bucket; one like "run/../../x" must not
                # steer a write outside dst_path, so each is checked before anything is written.
                child = validate_artifact_path(self._relative(key))
                if key.endswith("/"):
                    folders.append(child)
                else:
                    plan.append((key, child))
                    folders.append(child.rpartition("/")[0])

        destination_root = Path(dst_path) if dst_path else Path(tempfile.mkdtemp(prefix="runlab-"))
        for folder in dict.fromkeys(folders):
            safe_join(destination_root, folder).mkdir(parents=True, exist_ok=True)
        for key, child in plan:
            with _s3_errors(f"Downloading {self._describe(child)}"):
                self.client.download_file(
                    self.bucket,
                    key,
                    str(safe_join(destination_root, child)),
                    Config=self._transfer(),
                )
        return str(safe_join(destination_root, relative))

    # -- streaming and multipart (used by the server's artifact proxy) ----------------------------

    def _file_key(self, artifact_file: str) -> tuple[str, str]:
        relative = validate_artifact_path(artifact_file)
        if not relative:
            raise InvalidParameter("The artifact root is a folder; give a file path.")
        return relative, self._key(relative)

    def stat_file(self, artifact_file: str) -> ObjectInfo:
        """Size, ETag and content type of the object ``artifact_file``; ArtifactNotFound if none."""
        relative, key = self._file_key(artifact_file)
        with _s3_errors(f"Reading {self._describe(relative)}"):
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        return ObjectInfo(
            size=int(head["ContentLength"]),
            etag=str(head.get("ETag", "")),
            content_type=head.get("ContentType"),
        )

    def iter_file(
        self,
        artifact_file: str,
        first: int | None = None,
        last: int | None = None,
        chunk_size: int = 1024 * 1024,
    ) -> Iterator[bytes]:
        """Yield the bytes of ``artifact_file`` (or of the inclusive range first..last) in chunks.

        The object is fetched lazily, as the iterator is consumed, so a large object never sits
        in memory; the connection is released when the iterator is exhausted or closed.
        """
        relative, key = self._file_key(artifact_file)
        extra = (
            {"Range": f"bytes={first}-{'' if last is None else last}"} if first is not None else {}
        )
        with _s3_errors(f"Downloading {self._describe(relative)}"):
            body = self.client.get_object(Bucket=self.bucket, Key=key, **extra)["Body"]
            try:
                yield from body.iter_chunks(chunk_size)
            finally:
                body.close()

    def streaming_upload(
        self, artifact_file: str, content_type: str | None = None
    ) -> multipart.StreamingUpload:
        """An upload of ``artifact_file`` fed part by part, for bodies that arrive as a stream."""
        relative, key = self._file_key(artifact_file)
        return multipart.StreamingUpload(
            self.client,
            self.bucket,
            key,
            content_type,
            guard=lambda: _s3_errors(f"Uploading {self._describe(relative)}"),
        )

    def create_multipart_upload(
        self, artifact_file: str, num_parts: int, content_type: str | None = None
    ) -> multipart.MultipartUpload:
        """Start a multipart upload of ``artifact_file``, with a presigned URL per part."""
        relative, key = self._file_key(artifact_file)
        with _s3_errors(f"Starting a multipart upload of {self._describe(relative)}"):
            return multipart.create_upload(self.client, self.bucket, key, num_parts, content_type)

    def complete_multipart_upload(
        self, artifact_file: str, upload_id: str, parts: Iterable[multipart.UploadedPart]
    ) -> None:
        """Finish a multipart upload of ``artifact_file`` from its parts' ETags."""
        relative, key = self._file_key(artifact_file)
        with _s3_errors(f"Completing the multipart upload of {self._describe(relative)}"):
            multipart.complete_upload(self.client, self.bucket, key, upload_id, parts)

    def abort_multipart_upload(self, artifact_file: str, upload_id: str) -> None:
        """Abort a multipart upload of ``artifact_file`` (an unknown id is not an error)."""
        relative, key = self._file_key(artifact_file)
        with _s3_errors(f"Aborting the multipart upload of {self._describe(relative)}"):
            multipart.abort_upload(self.client, self.bucket, key, upload_id)

    def presigned_download_url(self, artifact_file: str) -> str:
        """A presigned GET URL for ``artifact_file`` (checked to exist first)."""
        relative, key = self._file_key(artifact_file)
        self.stat_file(relative)
        with _s3_errors(f"Presigning {self._describe(relative)}"):
            return multipart.presign_download(self.client, self.bucket, key)

    # -- deleting --------------------------------------------------------------------------------

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        """Delete an object or everything under a folder (the whole root when no path is given)."""
        relative = validate_artifact_path(artifact_path or "")
        with _s3_errors(f"Deleting {self._describe(relative)}"):
            keys = list(self._iter_keys(relative))
            if relative:
                keys.append(self._key(relative))  # the path may name a single object
            for start in range(0, len(keys), _DELETE_BATCH):
                batch = keys[start : start + _DELETE_BATCH]
                answer = self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
                )
                errors = answer.get("Errors", [])
                if errors:
                    first = errors[0]
                    raise _translate_delete_error(first, self._describe(relative))


def _translate_delete_error(error: dict[str, str], what: str) -> RunlabError:
    """DeleteObjects reports per-key failures in its answer instead of raising."""
    code = error.get("Code", "")
    message = f"Deleting {what}: {error.get('Key')!r} failed ({code}: {error.get('Message', '')})."
    if code in _DENIED_CODES:
        return PermissionDenied(message)
    if code in _UNAVAILABLE_CODES:
        return Unavailable(message)
    return RunlabError(message)
