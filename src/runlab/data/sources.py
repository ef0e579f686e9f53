"""Where a dataset came from: a file or URI, a web address, or the code that built it.

A source is recorded with a dataset as a ``source_type`` and a JSON ``source``, in MLflow's
layouts, so MLflow reads runlab's records and the other way round:

=================  =======================================  ===============================
source_type        source JSON                              made from
=================  =======================================  ===============================
``local``          ``{"uri": "/data/train.csv"}``           a path or ``file:`` URI
``s3``, ``gs``, …  ``{"uri": "s3://bucket/train.csv"}``     a URI of a storage service
``http``           ``{"url": "https://host/train.csv"}``    an ``http(s)://`` address
``code``           ``{"tags": {"mlflow.user": …}}``         no source given: the running code
=================  =======================================  ===============================

Reading a record back (:func:`source_from_json`) keeps source types runlab does not know
(``delta_table``, ``hugging_face``, …) as :class:`OtherDatasetSource`.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, ClassVar

from runlab.errors import InvalidParameter

__all__ = [
    "ARTIFACT_SCHEMES",
    "CodeDatasetSource",
    "DatasetSource",
    "HTTPDatasetSource",
    "LocalArtifactDatasetSource",
    "OtherDatasetSource",
    "UriDatasetSource",
    "resolve_source",
    "source_from_json",
]

#: URI schemes of storage services a dataset may come from (``source_type`` is the scheme).
ARTIFACT_SCHEMES = frozenset(
    {"s3", "gs", "wasbs", "abfss", "hdfs", "viewfs", "ftp", "sftp", "r2", "b2"}
)

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")


class DatasetSource:
    """A dataset's origin: a ``source_type`` and the fields of its JSON record."""

    #: The type recorded with the dataset, for subclasses whose type is fixed.
    _TYPE: ClassVar[str] = ""

    @property
    def source_type(self) -> str:
        """The type recorded with the dataset (``local``, ``s3``, ``http``, ``code``, …)."""
        return self._get_source_type()

    def _get_source_type(self) -> str:
        # MLflow's name for it, which code written against MLflow's sources calls.
        return self._TYPE

    def to_dict(self) -> dict[str, Any]:
        """The fields of the source's JSON record."""
        raise NotImplementedError

    def to_json(self) -> str:
        """The source's JSON record, as stored with the dataset."""
        return json.dumps(self.to_dict())

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and isinstance(other, DatasetSource)
            and other._get_source_type() == self._get_source_type()
            and other.to_dict() == self.to_dict()
        )

    def __hash__(self) -> int:
        return hash((self._get_source_type(), self.to_json()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_dict()!r})"


class LocalArtifactDatasetSource(DatasetSource):
    """A file or folder on this machine (a path or ``file:`` URI)."""

    _TYPE = "local"

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def to_dict(self) -> dict[str, Any]:
        """``{"uri": ...}``."""
        return {"uri": self.uri}


class UriDatasetSource(DatasetSource):
    """A location in a storage service (``s3://…``, ``gs://…``); its type is the URI's scheme."""

    def __init__(self, uri: str) -> None:
        match = _SCHEME.match(uri)
        scheme = match.group(1).lower() if match else ""
        if scheme not in ARTIFACT_SCHEMES:
            raise InvalidParameter(
                f"{uri!r} is not a URI of a storage service ({', '.join(sorted(ARTIFACT_SCHEMES))})."
            )
        self.uri = uri
        self._scheme = scheme

    def _get_source_type(self) -> str:
        return self._scheme

    def to_dict(self) -> dict[str, Any]:
        """``{"uri": ...}``."""
        return {"uri": self.uri}


class HTTPDatasetSource(DatasetSource):
    """A web address the data was downloaded from."""

    _TYPE = "http"

    def __init__(self, url: str) -> None:
        self.url = url

    def to_dict(self) -> dict[str, Any]:
        """``{"url": ...}``."""
        return {"url": self.url}


class CodeDatasetSource(DatasetSource):
    """The code that built the data in memory, told by the run's source tags."""

    _TYPE = "code"

    def __init__(self, tags: dict[str, str]) -> None:
        self.tags = dict(tags)

    def to_dict(self) -> dict[str, Any]:
        """``{"tags": {...}}``."""
        return {"tags": self.tags}


class OtherDatasetSource(DatasetSource):
    """A source of a type runlab does not build (``delta_table``, ``hugging_face``, …), kept as
    recorded."""

    def __init__(self, source_type: str, fields: dict[str, Any]) -> None:
        self._type = source_type
        self.fields = dict(fields)

    def _get_source_type(self) -> str:
        return self._type

    def to_dict(self) -> dict[str, Any]:
        """The recorded fields."""
        return dict(self.fields)


def code_source() -> CodeDatasetSource:
    """The source of data built by the running code: its user, script and commit tags."""
    from runlab.tracking.system_tags import default_run_tags

    return CodeDatasetSource(default_run_tags())


def resolve_source(source: Any) -> DatasetSource:
    """The source for what a user passed as ``source=``: a path, a URI, or a DatasetSource.

    ``None`` means the running code. InvalidParameter for a URI scheme that names no place a
    dataset can be read from (``runs:``, ``models:`` and unknown schemes).
    """
    if source is None:
        return code_source()
    if isinstance(source, DatasetSource):
        return source
    if isinstance(source, os.PathLike):
        return LocalArtifactDatasetSource(os.fspath(source))
    if not isinstance(source, str) or not source.strip():
        raise InvalidParameter(
            f"A dataset source must be a path, a URI or a DatasetSource, got {source!r}."
        )
    match = _SCHEME.match(source)
    # A one-letter "scheme" is a Windows drive letter (C:\data), i.e. a path.
    scheme = match.group(1).lower() if match and len(match.group(1)) > 1 else ""
    if scheme in ("", "file"):
        return LocalArtifactDatasetSource(source)
    if scheme in ("http", "https"):
        return HTTPDatasetSource(source)
    if scheme in ARTIFACT_SCHEMES:
        return UriDatasetSource(source)
    known = ", ".join(f"{s}:" for s in sorted({"file", "http", "https", *ARTIFACT_SCHEMES}))
    raise InvalidParameter(
        f"Cannot tell where the dataset source {source!r} is: the scheme {scheme}: is not a "
        f"place data is read from. Use a path or one of {known}, or pass a DatasetSource."
    )


def source_from_json(source_type: str, source_json: str) -> DatasetSource:
    """The source a dataset record names (the inverse of ``to_json``)."""
    try:
        fields = json.loads(source_json)
    except (json.JSONDecodeError, RecursionError) as error:
        raise InvalidParameter(f"A dataset's source is not valid JSON: {error}") from None
    if not isinstance(fields, dict):
        raise InvalidParameter("A dataset's source must be a JSON object.")
    uri = fields.get("uri")
    if source_type == "local" and isinstance(uri, str):
        return LocalArtifactDatasetSource(uri)
    if source_type in ARTIFACT_SCHEMES and isinstance(uri, str) and _scheme_of(uri) == source_type:
        return UriDatasetSource(uri)
    if source_type == "http" and isinstance(fields.get("url"), str):
        return HTTPDatasetSource(fields["url"])
    if source_type == "code" and isinstance(fields.get("tags"), dict):
        return CodeDatasetSource({str(k): str(v) for k, v in fields["tags"].items()})
    return OtherDatasetSource(source_type, fields)


def _scheme_of(uri: str) -> str:
    match = _SCHEME.match(uri)
    return match.group(1).lower() if match else ""
