"""Resolution of model URIs: from ``models:/…`` or ``runs:/…`` to the location to download.

The one place that decides which registry call a URI form needs (see
:mod:`runlab.model_uris` for the forms), so model loading, the CLI and tests agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runlab import uris
from runlab.entities import ModelVersion
from runlab.errors import InvalidParameter, ModelNotFound
from runlab.model_uris import ModelsUri, RunsUri, is_model_uri, parse_model_uri

if TYPE_CHECKING:
    from runlab.tracking.client import Client
    from runlab.tracking.client_registry import RegistryClientMethods

__all__ = ["get_model_version_for_uri", "resolve_model_uri"]

# A version's download URI may itself be a runs:/ or models:/m-<id> URI (MLflow stores
# log_model registrations that way); following more than this many hops means a loop.
_MAX_HOPS = 4


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
    - ``runs:/<run_id>/path``: the run's artifact root joined with the path.

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


def _resolve_once(parsed: ModelsUri | RunsUri, client: Client) -> str:
    if isinstance(parsed, RunsUri):
        root = client.artifact_uri(parsed.run_id)
        return uris.append_to_uri_path(root, parsed.path) if parsed.path else root
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
