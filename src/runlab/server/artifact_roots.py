"""Where a server's experiments put their artifacts, and the repository behind its artifact proxy.

When the server proxies artifacts (``--serve-artifacts``, the default) and no
``--default-artifact-root`` is given, new experiments get ``mlflow-artifacts:/<experiment_id>``
locations: clients then upload and download through the server's ``/api/2.0/mlflow-artifacts``
routes and need no storage credentials of their own. MLflow's client picks the proxy purely from
that scheme, so this default is what makes ``mlflow.log_artifact`` work against ``runlab server``.

Pure functions of their arguments: the CLI (or a test) reads the configuration and calls them.
"""

from __future__ import annotations

from runlab.artifacts import get_artifact_repository
from runlab.artifacts.base import ArtifactRepository
from runlab.errors import InvalidParameter

__all__ = ["PROXIED_ARTIFACT_ROOT", "proxy_artifact_repository", "server_default_artifact_root"]

#: The default artifact root of a server that proxies artifacts.
PROXIED_ARTIFACT_ROOT = "mlflow-artifacts:/"


def server_default_artifact_root(
    default_artifact_root: str | None, *, serve_artifacts: bool, fallback: str
) -> str:
    """The artifact root new experiments are created under.

    An explicit ``default_artifact_root`` wins; otherwise a server that proxies artifacts uses
    :data:`PROXIED_ARTIFACT_ROOT`, and one that does not uses ``fallback`` (e.g. the folder beside
    its SQLite file).
    """
    if default_artifact_root:
        return default_artifact_root
    return PROXIED_ARTIFACT_ROOT if serve_artifacts else fallback


def proxy_artifact_repository(
    artifacts_destination: str | None, *, serve_artifacts: bool
) -> ArtifactRepository | None:
    """The repository the artifact proxy reads and writes, or None when artifacts are not served.

    ``artifacts_destination`` is a local path, a ``file:`` URI or an ``s3://`` URI. A proxy root
    (``mlflow-artifacts:``/``http(s):``) is refused: the server would proxy to itself.
    """
    if not serve_artifacts or not artifacts_destination:
        return None
    if artifacts_destination.split(":", 1)[0].lower() in ("mlflow-artifacts", "http", "https"):
        raise InvalidParameter(
            f"The artifacts destination {artifacts_destination!r} is itself an artifact proxy; "
            "give a local folder, a file: URI or an s3:// URI."
        )
    return get_artifact_repository(artifacts_destination)
