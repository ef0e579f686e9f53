"""Resolution of model URIs: from ``models:/…`` or ``runs:/…`` to the location to download.

The one place that decides which registry call a URI form needs (see
:mod:`runlab.model_uris` for the forms), so model loading, the CLI and tests agree.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runlab import uris
from runlab.entities import LoggedModel, ModelVersion, Run
from runlab.errors import ArtifactNotFound, InvalidParameter, ModelNotFound
from runlab.model_uris import ModelsUri, RunsUri, is_model_uri, parse_model_uri

if TYPE_CHECKING:
    from runlab.tracking.client import Client
    from runlab.tracking.client_registry import RegistryClientMethods

__all__ = ["RunsUriTarget", "get_model_version_for_uri", "locate_runs_uri", "resolve_model_uri"]

# A version's download URI may itself be a runs:/ or models:/m-<id> URI (MLflow stores
# log_model registrations that way); following more than this many hops means a loop.
_MAX_HOPS = 4

# Characters a logged model's name never holds (both servers refuse them), so a path segment
# with one cannot name a logged model; quotes would also break the search filter.
_NOT_IN_MODEL_NAMES = frozenset("/:.%\"'")


def get_model_version_for_uri(parsed: ModelsUri, client: RegistryClientMethods) -> ModelVersion:
    """The registered model version a ``models:/`` URI names (not for logged-model URIs).

    A stage or ``latest`` picks the highest version number among the newest per stage;
    ModelNotFound when there is none.
    """
    if parsed.name is None:
        raise InvalidParameter(f"{parsed} names a logged model, not a registered model version.")
    if parsed.kind == "version":
        assert parsed.version is not None
        return client.get_model_version(parsed.name, parsed.version)
    if parsed.kind == "alias":
        assert parsed.alias is not None
        return client.get_model_version_by_alias(parsed.name, parsed.alias)
    stages = None if parsed.kind == "latest" else [parsed.stage or ""]
    candidates = client.get_latest_versions(parsed.name, stages)
    if not candidates:
        where = "any stage" if stages is None else f"stage {parsed.stage}"
        raise ModelNotFound(
            f"Registered model {parsed.name!r} has no version in {where}, so {parsed} names "
            "nothing; `runlab models versions NAME` lists its versions."
        )
    return max(candidates, key=lambda mv: int(mv.version))


def resolve_model_uri(uri: str, client: Client) -> str:
    """The artifact location (``file:``, ``s3:``, ``mlflow-artifacts:`` …) that ``uri`` names.

    - ``models:/name/3``: the version's download URI;
    - ``models:/name/Production`` and ``models:/name/latest``: the newest version in that
      stage (or overall), by the highest version number;
    - ``models:/name@alias``: the version the alias points at;
    - ``models:/m-<id>``: the logged model's artifact location;
    - ``runs:/<run_id>/path``: the run's artifact root joined with the path; when the run's
      artifacts have nothing there, the run's logged model named by the path's first segment
      (MLflow 3 keeps a logged model's files in the model's own location), with the rest of
      the path inside it. See :func:`locate_runs_uri`.

    A path after a ``models:/`` form is joined onto the result. Any other URI (a location
    already) is returned unchanged, so callers can pass whatever a user gave them.
    """
    current = uri
    for _ in range(_MAX_HOPS):
        if not is_model_uri(current):
            return current
        current = _resolve_once(parse_model_uri(current), client)
    if is_model_uri(current):
        raise InvalidParameter(
            f"Model URI {uri!r} leads through more than {_MAX_HOPS} model URIs (last "
            f"{current!r}); a version's source should name artifacts, not another model."
        )
    return current


@dataclass(frozen=True, slots=True)
class RunsUriTarget:
    """What a ``runs:/`` URI names: a ``location`` and, when a logged model stands in for the
    run's artifacts, that model's id and the path inside it."""

    location: str
    model_id: str | None = None
    model_path: str = ""

    @property
    def model_uri(self) -> str | None:
        """``models:/<model_id>[/<path>]`` when a logged model stands in, else None."""
        if self.model_id is None:
            return None
        base = f"models:/{self.model_id}"
        return f"{base}/{self.model_path}" if self.model_path else base


def locate_runs_uri(parsed: RunsUri, client: Client) -> RunsUriTarget:
    """Where ``runs:/<run_id>/<path>`` points: in the run's artifacts, else in a logged model.

    MLflow 3's ``log_model`` stores a model's files in the logged model's artifact location,
    not in the run's, yet ``runs:/<run_id>/<name>`` still names the model. So the run's own
    artifacts come first (a folder logged there is what the URI always meant), and when they
    have nothing at ``path``, the newest logged model whose name is ``path``'s first segment
    and whose source run is this run stands in, with the rest of ``path`` inside it.

    Checking the run's artifacts costs a listing request when they are remote. It is skipped
    for a run that recorded no model outputs (MLflow 3's ``log_model`` records every model it
    logs as an output of its run): then no logged model can stand in, and loading a model that
    runlab or MLflow 2 logged costs no request beyond ``get_run``. ArtifactNotFound, naming both
    places looked at, when neither has the path.
    """
    run = client.get_run(parsed.run_id)
    root = run.info.artifact_uri
    if not parsed.path:
        return RunsUriTarget(root)
    location = uris.append_to_uri_path(root, parsed.path)
    checkable = uris.is_local_path_uri(root) or run.outputs.model_outputs
    if not checkable or _run_artifacts_have(client, root, parsed.path):
        return RunsUriTarget(location)
    name, _, rest = parsed.path.partition("/")
    model = _logged_model_of_run(client, run, name)
    if model is None:
        raise ArtifactNotFound(
            f"runs:/{parsed.run_id}/{parsed.path} names nothing: the run's artifacts have "
            f"nothing at {parsed.path!r} ({location}), and the run logged no model named "
            f"{name!r} (no logged model of experiment {run.info.experiment_id} has that name "
            f"and source run {parsed.run_id})."
        )
    inside = uris.append_to_uri_path(model.artifact_location, rest) if rest else None
    return RunsUriTarget(inside or model.artifact_location, model.model_id, rest)


def _run_artifacts_have(client: Client, root: str, path: str) -> bool:
    """True when the run's artifact root holds a file or folder at ``path``.

    Lists ``path``'s parent (one request for a remote root): a listing of ``path`` itself
    could not tell a file from nothing.
    """
    from runlab.tracking.client import _artifact_repository

    parent, _, leaf = path.rstrip("/").rpartition("/")
    with _artifact_repository(root, client.tracking_uri) as repo:
        entries = repo.list_artifacts(parent or None)
    return any(posixpath.basename(info.path.rstrip("/")) == leaf for info in entries)


def _logged_model_of_run(client: Client, run: Run, name: str) -> LoggedModel | None:
    """The newest active logged model called ``name`` whose source run is ``run``, or None."""
    if not name or any(char in _NOT_IN_MODEL_NAMES for char in name):
        return None
    # The run id passed validate_run_id when the URI was parsed: no quote can reach the filter.
    found = client.search_logged_models(
        [run.info.experiment_id],
        filter_string=f"name = '{name}' AND source_run_id = '{run.info.run_id}'",
        max_results=1,
        order_by=[{"field_name": "creation_timestamp", "ascending": False}],
    )
    return found[0] if found else None


def _resolve_once(parsed: ModelsUri | RunsUri, client: Client) -> str:
    if isinstance(parsed, RunsUri):
        return locate_runs_uri(parsed, client).location
    if parsed.kind == "logged_model":
        assert parsed.model_id is not None
        location = client.get_logged_model(parsed.model_id).artifact_location
    else:
        version = get_model_version_for_uri(parsed, client)
        location = client.get_model_version_download_uri(version.name, version.version)
    if not parsed.path:
        return location
    if is_model_uri(location):
        # Keep the path on the URI we follow next, so it is joined (and checked) there.
        return f"{location.rstrip('/')}/{parsed.path}"
    return uris.append_to_uri_path(location, parsed.path)
