"""Multipart uploads: the values both sides exchange, part planning, and the S3 calls behind them.

A large file goes to the object store in parts, straight from the client: the server starts an
S3 multipart upload and hands out one presigned URL per part (``mpu/create``), the client PUTs
each part to its URL and keeps the ETag S3 answers, and the server completes the upload from
those ETags (``mpu/complete``) or aborts it (``mpu/abort``). The server never carries the bytes.

The S3 functions take a boto3 client, a bucket and a key; :class:`~runlab.artifacts.s3.
S3ArtifactRepository` turns artifact paths into keys and calls them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runlab.errors import InvalidParameter, NotFound, RunlabError

__all__ = [
    "MAX_PARTS",
    "MultipartUpload",
    "PartCredential",
    "StreamingUpload",
    "UploadedPart",
    "abort_upload",
    "check_num_parts",
    "complete_upload",
    "create_upload",
    "plan_parts",
    "presign_download",
    "send_parts",
]

#: S3 accepts part numbers 1..10000 in one upload.
MAX_PARTS = 10_000

#: How long a presigned part URL stays valid. A part is sent soon after ``mpu/create``, but the
#: last of thousands of parts on a slow link may start hours later.
PART_URL_EXPIRY_SECONDS = 6 * 3600
#: How long a presigned download URL stays valid.
DOWNLOAD_URL_EXPIRY_SECONDS = 3600

# S3 answers these with HTTP 400 when the parts a client reports do not match the upload; they are
# the client's mistake, so they must not surface as an internal error.
_BAD_PARTS_CODES = frozenset({"InvalidPart", "InvalidPartOrder", "EntityTooSmall", "MalformedXML"})


@dataclass(frozen=True)
class PartCredential:
    """Where to send one part: a presigned URL and the headers to send with it."""

    part_number: int
    url: str
    headers: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The wire form (``credentials[]`` of ``mpu/create``)."""
        return {"url": self.url, "part_number": self.part_number, "headers": dict(self.headers)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PartCredential:
        """Read one ``credentials[]`` entry; raises InvalidParameter if it is malformed."""
        number, url, headers = data.get("part_number"), data.get("url"), data.get("headers") or {}
        if isinstance(number, str) and number.isdigit():
            number = int(number)
        if not isinstance(number, int) or isinstance(number, bool) or not isinstance(url, str):
            raise InvalidParameter(f"Malformed multipart upload credential: {dict(data)!r}.")
        if not isinstance(headers, Mapping):
            raise InvalidParameter(f"Malformed headers in multipart credential: {headers!r}.")
        return cls(number, url, {str(k): str(v) for k, v in headers.items()})


@dataclass(frozen=True)
class UploadedPart:
    """A part the object store accepted: its number and the ETag it answered with."""

    part_number: int
    etag: str
    url: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The wire form (``parts[]`` of ``mpu/complete``)."""
        return {"part_number": self.part_number, "etag": self.etag, "url": self.url}


@dataclass(frozen=True)
class MultipartUpload:
    """A started multipart upload: its id and one credential per part."""

    upload_id: str
    credentials: list[PartCredential]

    def to_dict(self) -> dict[str, Any]:
        """The wire form (the answer of ``mpu/create``)."""
        return {
            "upload_id": self.upload_id,
            "credentials": [credential.to_dict() for credential in self.credentials],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MultipartUpload:
        """Read the answer of ``mpu/create``; raises InvalidParameter if it is malformed."""
        upload_id = data.get("upload_id")
        credentials = data.get("credentials")
        if not isinstance(upload_id, str) or not isinstance(credentials, list):
            raise InvalidParameter(f"Malformed multipart upload answer: {dict(data)!r}.")
        return cls(upload_id, [PartCredential.from_dict(item) for item in credentials])


def plan_parts(file_size: int, chunk_size: int) -> list[tuple[int, int, int]]:
    """Split ``file_size`` bytes into (part number, offset, length) triples of ``chunk_size``.

    The chunk size grows (to a whole multiple of ``chunk_size``) when the file would otherwise need
    more than :data:`MAX_PARTS` parts. An empty file is one empty part.
    """
    if chunk_size <= 0:
        raise InvalidParameter(f"The multipart chunk size must be positive, got {chunk_size}.")
    if file_size > chunk_size * MAX_PARTS:
        # Round up so that MAX_PARTS parts are always enough.
        factor = -(-file_size // (chunk_size * MAX_PARTS))
        chunk_size *= factor
    count = max(1, -(-file_size // chunk_size))
    return [
        (number + 1, number * chunk_size, min(chunk_size, file_size - number * chunk_size))
        for number in range(count)
    ]


def send_parts(
    source: Path,
    upload: MultipartUpload,
    parts: list[tuple[int, int, int]],
    put: Callable[[PartCredential, bytes], str],
    *,
    workers: int = 4,
) -> list[UploadedPart]:
    """Read each planned part of ``source`` and send it with ``put`` (which returns its ETag).

    ``parts`` comes from :func:`plan_parts`; each needs a credential of the same number in
    ``upload``. A few parts travel at once: faster than one at a time, and memory stays at a few
    chunks. The first failure is raised once the parts in flight have finished.
    """
    credentials = {credential.part_number: credential for credential in upload.credentials}
    missing = [number for number, _, _ in parts if number not in credentials]
    if missing or len(credentials) != len(parts):
        raise InvalidParameter(
            f"The multipart upload has {len(credentials)} part URLs for {len(parts)} parts."
        )

    def send(part: tuple[int, int, int]) -> UploadedPart:
        number, offset, length = part
        with source.open("rb") as handle:
            handle.seek(offset)
            data = handle.read(length)
        if len(data) != length:
            raise InvalidParameter(f"{str(source)!r} shrank while it was being uploaded.")
        credential = credentials[number]
        return UploadedPart(number, put(credential, data), credential.url)

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(parts)))) as pool:
        return list(pool.map(send, parts))


def check_num_parts(num_parts: int) -> int:
    """``num_parts`` if S3 can take it, else InvalidParameter naming the field."""
    if not 1 <= num_parts <= MAX_PARTS:
        raise InvalidParameter(
            f"Field 'num_parts' must be between 1 and {MAX_PARTS}, got {num_parts}."
        )
    return num_parts


def _client_error(error: BaseException, what: str) -> RunlabError | None:
    """The runlab error for S3's answers about bad or unknown upload ids and parts."""
    from botocore.exceptions import ClientError

    if not isinstance(error, ClientError):
        return None
    code = str(error.response.get("Error", {}).get("Code", ""))
    message = error.response.get("Error", {}).get("Message") or code
    if code == "NoSuchUpload":
        return NotFound(f"{what}: no multipart upload with that id (finished or aborted?).")
    if code in _BAD_PARTS_CODES:
        return InvalidParameter(f"{what}: the object store refused the parts ({code}: {message}).")
    return None


def create_upload(
    client: Any, bucket: str, key: str, num_parts: int, content_type: str | None = None
) -> MultipartUpload:
    """Start a multipart upload of ``key`` and presign a PUT URL for each of its parts."""
    check_num_parts(num_parts)
    extra = {"ContentType": content_type} if content_type else {}
    answer = client.create_multipart_upload(Bucket=bucket, Key=key, **extra)
    upload_id = str(answer["UploadId"])
    credentials = [
        PartCredential(
            part_number=number,
            url=client.generate_presigned_url(
                "upload_part",
                Params={
                    "Bucket": bucket,
                    "Key": key,
                    "UploadId": upload_id,
                    "PartNumber": number,
                },
                ExpiresIn=PART_URL_EXPIRY_SECONDS,
            ),
        )
        for number in range(1, num_parts + 1)
    ]
    return MultipartUpload(upload_id, credentials)


def complete_upload(
    client: Any, bucket: str, key: str, upload_id: str, parts: Iterable[UploadedPart]
) -> None:
    """Finish a multipart upload from the ETags of its parts (in any order; sorted here)."""
    ordered = sorted(parts, key=lambda part: part.part_number)
    if not ordered:
        raise InvalidParameter("Field 'parts' must list at least one uploaded part.")
    numbers = [part.part_number for part in ordered]
    if len(set(numbers)) != len(numbers):
        raise InvalidParameter(f"Field 'parts' lists a part number twice: {numbers}.")
    try:
        client.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [{"ETag": part.etag, "PartNumber": part.part_number} for part in ordered]
            },
        )
    except Exception as error:
        translated = _client_error(error, f"Completing the upload of {key!r}")
        if translated is None:
            raise
        raise translated from error


def abort_upload(client: Any, bucket: str, key: str, upload_id: str) -> None:
    """Abort a multipart upload so S3 frees its parts; an unknown upload id is not an error."""
    try:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except Exception as error:
        translated = _client_error(error, f"Aborting the upload of {key!r}")
        if isinstance(translated, NotFound):
            return  # already completed or aborted: the goal (no dangling parts) is met
        if translated is None:
            raise
        raise translated from error


def presign_download(client: Any, bucket: str, key: str) -> str:
    """A presigned GET URL for ``key``."""
    return str(
        client.generate_presigned_url(
            "get_object",
            Params={"Bucket": bucket, "Key": key},
            ExpiresIn=DOWNLOAD_URL_EXPIRY_SECONDS,
        )
    )


#: First part size of a streamed upload; S3 wants at least 5 MiB in every part but the last.
STREAM_PART_SIZE = 8 * 1024 * 1024


class StreamingUpload:
    """An upload whose total size is not known in advance, fed one part at a time.

    The server's artifact proxy uses it to pass a request body on to S3 while it arrives, holding
    at most one part in memory. A body smaller than one part is sent with a single PUT
    (:meth:`put_whole`); a larger one becomes a multipart upload (:meth:`start`, then
    :meth:`send_part` for each part, then :meth:`complete`, or :meth:`abort` on failure, so that a
    broken upload leaves no object and no parts behind).

    ``guard`` returns a context manager that translates the object store's errors.
    """

    def __init__(
        self,
        client: Any,
        bucket: str,
        key: str,
        content_type: str | None = None,
        *,
        guard: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.content_type = content_type
        self.upload_id: str | None = None
        self.parts: list[UploadedPart] = []
        self._guard = guard

    @property
    def next_part_size(self) -> int:
        """How many bytes the next part should hold.

        The size grows by one base size every 1000 parts, so the 10,000 parts S3 allows cover
        hundreds of gigabytes without knowing the total up front, while the parts of an ordinary
        upload stay small.
        """
        return STREAM_PART_SIZE * (1 + len(self.parts) // 1000)

    def _extra(self) -> dict[str, Any]:
        return {"ContentType": self.content_type} if self.content_type else {}

    def put_whole(self, data: bytes) -> None:
        """Send a body that fits in one part as a single object."""
        with self._guard():
            self.client.put_object(Bucket=self.bucket, Key=self.key, Body=data, **self._extra())

    def start(self) -> None:
        """Start the multipart upload."""
        with self._guard():
            answer = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, **self._extra()
            )
        self.upload_id = str(answer["UploadId"])

    def send_part(self, data: bytes) -> None:
        """Upload the next part."""
        if self.upload_id is None:
            raise RuntimeError("start() the upload before sending parts")
        number = len(self.parts) + 1
        if number > MAX_PARTS:
            raise InvalidParameter(f"The upload of {self.key!r} needs more than {MAX_PARTS} parts.")
        with self._guard():
            answer = self.client.upload_part(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                PartNumber=number,
                Body=data,
            )
        self.parts.append(UploadedPart(number, str(answer["ETag"])))

    def complete(self) -> None:
        """Assemble the object from the parts sent."""
        if self.upload_id is None:
            raise RuntimeError("start() the upload before completing it")
        with self._guard():
            complete_upload(self.client, self.bucket, self.key, self.upload_id, self.parts)

    def abort(self) -> None:
        """Drop the parts sent so far (nothing to do if the upload never started)."""
        if self.upload_id is not None:
            with self._guard():
                abort_upload(self.client, self.bucket, self.key, self.upload_id)
