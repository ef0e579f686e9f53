"""Choosing the artifact repository for a URI."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from runlab import uris
from runlab.artifacts.base import ArtifactRepository
from runlab.artifacts.path_safety import validate_artifact_path
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


def _proxied_on_this_disk(uri: str, tracking_uri: str | None) -> ArtifactRepository:
    """The local folder a SQLite store's own server keeps ``mlflow-artifacts:/<path>`` in.

    Why a convention rather than asking the server: the script may run while no server does,
    and ``runlab server`` with no ``--artifacts-destination`` always writes the proxy's files to
    ``runlab-artifacts/`` beside its SQLite file (:func:`runlab.uris.local_proxy_destination`).
    A server started with another destination cannot be followed this way; its clients must
    log through it (documented in docs/server.md).
    """
    from runlab.artifacts.local import LocalArtifactRepository

    destination = uris.local_proxy_destination(tracking_uri)
    assert destination is not None
    parts = urlsplit(uri)
    if parts.netloc:
        raise InvalidParameter(
            f"Cannot reach {uri!r} from the SQLite store {tracking_uri!r}: it names the server "
            f"{parts.netloc!r}; set the tracking URI to that server (http://host:port)."
        )
    if parts.query or parts.fragment:
        raise InvalidParameter(
            f"Invalid artifact URI {uri!r}: it cannot have a query or a fragment."
        )
    # The path as the server's proxy would read it: checked as sent, then decoded once.
    validate_artifact_path(parts.path.lstrip("/"))
    try:
        path = validate_artifact_path(unquote(parts.path.lstrip("/"), errors="strict"))
    except UnicodeDecodeError:
        raise InvalidParameter(
            f"Invalid artifact URI {uri!r}: it encodes non-UTF-8 bytes."
        ) from None
    return LocalArtifactRepository(uris.append_to_uri_path(destination, path))


def get_artifact_repository(uri: str, tracking_uri: str | None = None) -> ArtifactRepository:
    """The artifact repository for ``uri``.

    ``uri`` is a ``file:`` URI or plain path, ``s3://bucket/prefix``, a tracking server's artifact
    proxy (``http(s)://host/api/2.0/mlflow-artifacts/artifacts/<path>``), or
    ``mlflow-artifacts:/<path>``, which is served by the tracking server at ``tracking_uri``;
    when ``tracking_uri`` is a SQLite file instead, ``mlflow-artifacts:/<path>`` is the folder
    ``runlab-artifacts/<path>`` beside it, where that store's ``runlab server`` keeps it.
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
    if scheme == "mlflow-artifacts" and uris.local_proxy_destination(tracking_uri) is not None:
        return _proxied_on_this_disk(uri, tracking_uri)
    if scheme in ("mlflow-artifacts", "http", "https"):
        from runlab.artifacts.http_proxy import HttpArtifactRepository

        return HttpArtifactRepository(uri, tracking_uri)
    supported = ", ".join(f"{name}:" for name in SUPPORTED_SCHEMES)
    reason = _PLANNED.get(scheme, f"the scheme {scheme}: is not supported")
    raise InvalidParameter(
        f"Cannot store artifacts at {uri!r}: {reason}. Supported: {supported} and plain paths."
    )
