"""Where a model's files are on this machine, for any model URI a user can give.

``runs:/…`` and ``models:/…`` URIs are resolved through the tracking and registry client; a
location on the local disk (a path or ``file:`` URI) is used where it is, without a copy; any
other location (``s3://``, ``mlflow-artifacts:/``, …) is downloaded, with the artifact
repository's own checks on every path it writes.

:func:`fetch_model` also says where the model was found, so that the trust decision
(:mod:`runlab.models.trust`) can match the URI the caller gave and the location it resolved to;
:func:`open_model` adds the ``MLmodel`` file and that decision, which is what every
``load_model`` needs.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from runlab import uris
from runlab.errors import InvalidParameter, NotFound
from runlab.model_uris import is_model_uri
from runlab.models.model import Model
from runlab.models.trust import ModelTrust

__all__ = ["FetchedModel", "OpenedModel", "fetch_model", "local_model_path", "open_model"]


@dataclass(frozen=True)
class FetchedModel:
    """A model's files on this machine, and the names it was found by.

    ``uri`` is what the caller gave, ``location`` what it resolved to (the same for a path or a
    plain artifact URI), ``path`` the local folder (a download for a remote location).
    """

    uri: str
    location: str
    path: Path

    def trust(self, trusted: bool = False) -> ModelTrust:
        """The trust decision for this model: ``trusted``, or a trusted source matching it."""
        return ModelTrust.of(self.uri, self.location, trusted=trusted)


@dataclass(frozen=True)
class OpenedModel:
    """What a flavor's ``load_model`` works from: the folder, its ``MLmodel`` and the trust."""

    path: Path
    mlmodel: Model
    trust: ModelTrust


def open_model(
    model_uri: str | os.PathLike[str], dst_path: str | None = None, trusted: bool = False
) -> OpenedModel:
    """Fetch ``model_uri`` (see :func:`fetch_model`) and read its ``MLmodel``."""
    fetched = fetch_model(model_uri, dst_path)
    return OpenedModel(fetched.path, Model.load(fetched.path), fetched.trust(trusted))


def local_model_path(model_uri: str | os.PathLike[str], dst_path: str | None = None) -> Path:
    """A local folder holding the model ``model_uri`` names (downloaded when it is remote)."""
    return fetch_model(model_uri, dst_path).path


def fetch_model(model_uri: str | os.PathLike[str], dst_path: str | None = None) -> FetchedModel:
    """The model ``model_uri`` names, on this machine (downloaded when it is remote)."""
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
        return FetchedModel(model_uri, location, path)
    from runlab.artifacts.repository_factory import get_artifact_repository

    if tracking_uri is None and uris.scheme_of(location) == "mlflow-artifacts":
        # As in MLflow: an mlflow-artifacts: location is served by the current tracking server.
        from runlab.tracking.config import get_tracking_uri

        tracking_uri = get_tracking_uri()
    repo = get_artifact_repository(location, tracking_uri=tracking_uri)
    try:
        target = dst_path if dst_path is not None else tempfile.mkdtemp(prefix="runlab-model-")
        return FetchedModel(model_uri, location, Path(repo.download_artifacts("", target)))
    finally:
        close = getattr(repo, "close", None)
        if close is not None:
            close()


def _named_by(model_uri: str, location: str) -> str:
    return f" (named by {model_uri!r})" if model_uri != location else ""
