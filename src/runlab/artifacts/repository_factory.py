"""Choosing the artifact repository for a URI."""

from __future__ import annotations

import re

from runlab.artifacts.base import ArtifactRepository
from runlab.errors import InvalidParameter

__all__ = ["SUPPORTED_SCHEMES", "get_artifact_repository"]

#: The URI schemes :func:`get_artifact_repository` understands; a plain path means ``file``.
SUPPORTED_SCHEMES: tuple[str, ...] = ("file", "s3")

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")

# Schemes we know and will support, with what to do meanwhile; more helpful than "unknown scheme".
_PLANNED = {
    "http": "the HTTP artifact proxy is not implemented yet",
    "https": "the HTTP artifact proxy is not implemented yet",
    "mlflow-artifacts": "the mlflow-artifacts: proxy is not implemented yet",
    "runs": "a runs:/ URI must first be resolved to its run's artifact location by the tracking "
    "client",
    "models": "a models:/ URI must first be resolved to the model's artifact location by the "
    "tracking client",
}


def get_artifact_repository(uri: str) -> ArtifactRepository:
    """The artifact repository for ``uri``: a ``file:`` URI or plain path, or ``s3://bucket/prefix``.

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
    supported = ", ".join(f"{name}:" for name in SUPPORTED_SCHEMES)
    reason = _PLANNED.get(scheme, f"the scheme {scheme}: is not supported")
    raise InvalidParameter(
        f"Cannot store artifacts at {uri!r}: {reason}. Supported: {supported} and plain paths."
    )
