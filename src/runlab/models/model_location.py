"""Where a model's files are on this machine, for any model URI a user can give.

``runs:/…`` and ``models:/…`` URIs are resolved through the tracking and registry client; a
location on the local disk (a path or ``file:`` URI) is used where it is, without a copy; any
other location (``s3://``, ``mlflow-artifacts:/``, …) is downloaded, with the artifact
repository's own checks on every path it writes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from runlab import uris
from runlab.errors import InvalidParameter, NotFound
from runlab.model_uris import is_model_uri

__all__ = ["local_model_path"]


def local_model_path(model_uri: str | os.PathLike[str], dst_path: str | None = None) -> Path:
    """A local folder holding the model ``model_uri`` names (downloaded when it is remote)."""
    if isinstance(model_uri, os.PathLike):
        model_uri = os.fspath(model_uri)
    if not isinstance(model_uri, str) or not model_uri:
        raise InvalidParameter(
            f"A model URI must be a non-empty string such as runs:/<run_id>/model, "
            f"models:/<name>/<version> or a local path, got {model_uri!r}."
        )
    location = model_uri
    tracking_uri = None
    if is_model_uri(model_uri):
        from runlab.tracking.fluent_experiments import default_client
        from runlab.tracking.model_uris import resolve_model_uri

        client = default_client()
        location = resolve_model_uri(model_uri, client)
        tracking_uri = client.tracking_uri
    if uris.is_local_path_uri(location):
        path = Path(uris.file_uri_to_path(location))
        if not path.exists():
            raise NotFound(f"No model at {location!r}" + _named_by(model_uri, location) + ".")
        return path
    from runlab.artifacts.repository_factory import get_artifact_repository

    if tracking_uri is None and uris.scheme_of(location) == "mlflow-artifacts":
        # As in MLflow: an mlflow-artifacts: location is served by the current tracking server.
        from runlab.tracking.config import get_tracking_uri

        tracking_uri = get_tracking_uri()
    repo = get_artifact_repository(location, tracking_uri=tracking_uri)
    try:
        target = dst_path if dst_path is not None else tempfile.mkdtemp(prefix="runlab-model-")
        return Path(repo.download_artifacts("", target))
    finally:
        close = getattr(repo, "close", None)
        if close is not None:
            close()


def _named_by(model_uri: str, location: str) -> str:
    return f" (named by {model_uri!r})" if model_uri != location else ""
