"""Choosing the artifact repository for a URI."""

from __future__ import annotations

import re

from runlab.artifacts.base import ArtifactRepository
from runlab.errors import InvalidParameter

__all__ = ["SUPPORTED_SCHEMES", "get_artifact_repository"]

#: The URI schemes :func:`get_artifact_repository` understands; a plain path means ``file``.
SUPPORTED_SCHEMES: tuple[str, ...] = ("file", "s3", "mlflow-artifacts", "http", "https")

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")

# Schemes we know and will support, with what to do meanwhile; more helpful than "unknown scheme".
_PLANNED = {
    "runs": "a runs:/ URI must first be resolved to its run's artifact location by the tracking "
    "client",
    "models": "a models:/ URI must first be resolved to the model's artifact location by the "
    "tracking client",
}


def get_artifact_repository(uri: str, tracking_uri: str | None = None) -> ArtifactRepository:
    """The artifact repository for ``uri``.

    ``uri`` is a ``file:`` URI or plain path, ``s3://bucket/prefix``, a tracking server's artifact
    proxy (``http(s)://host/api/2.0/mlflow-artifacts/artifacts/<path>``), or
    ``mlflow-artifacts:/<path>``, which is served by the tracking server at ``tracking_uri``.
    Raises :class:`runlab.errors.InvalidParameter` for any other scheme, naming the supported ones.
    """
    # Local and S3 modules are imported here so that picking one does not load the other.
    match = _SCHEME.match(uri)
    # A one-letter "scheme" is a Windows drive (C:\runs), i.e. a plain path.
    scheme = match.group(1).lower() if match and len(match.group(1)) > 1 else ""
    if scheme in ("", "file"):
        from runlab.artifacts.local import LocalArtifactRepository

        return LocalArtifactRepository(uri)
    if scheme == "s3":
        from runlab.artifacts.s3 import S3ArtifactRepository

        return S3ArtifactRepository(uri)
    if scheme in ("mlflow-artifacts", "http", "https"):
        from runlab.artifacts.http_proxy import HttpArtifactRepository

        return HttpArtifactRepository(uri, tracking_uri)
    supported = ", ".join(f"{name}:" for name in SUPPORTED_SCHEMES)
    reason = _PLANNED.get(scheme, f"the scheme {scheme}: is not supported")
    raise InvalidParameter(
        f"Cannot store artifacts at {uri!r}: {reason}. Supported: {supported} and plain paths."
    )
