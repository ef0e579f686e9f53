"""MLflow's model-registry endpoints (protocol reference §2.5) and runlab's registry history.

Handlers check every field they read and answer a wrong or missing one with a 400 that names it,
before the store is called, so a refused request writes nothing. Two places differ from MLflow's
server on purpose:

- ``archive_existing_versions=true`` with a target stage other than Staging or Production is a
  400 naming the field (MLflow answers 500).
- A version number, stage or alias that cannot be right is refused here rather than passed on.

**Who made a change.** The history records a user for every stage transition and alias move.
It is the request's authenticated user when the server runs behind an authentication layer that
sets one (the ASGI scope's ``user``); otherwise the ``user_id`` field of the request if it sent
one (runlab's client does; MLflow's client does not); otherwise empty.
"""

from __future__ import annotations

from functools import partial
from typing import Any, cast

from runlab.entities.registry import STAGES, ModelVersion, canonical_stage, validate_alias
from runlab.errors import InvalidParameter
from runlab.server import registry_wire
from runlab.server.auth import filtering
from runlab.server.auth.rules import (
    AUTHENTICATED,
    OPTIONAL_LOGGED_MODEL_ID,
    OPTIONAL_RUN_ID,
    SOURCE_MODEL,
    Effect,
    all_of,
    experiment,
    filtered_search,
    model,
)
from runlab.server.context import ServerContext
from runlab.server.endpoint import Endpoint
from runlab.server.request_fields import RequestFields
from runlab.server.routes.runs import named
from runlab.store.base import (
    SEARCH_MODEL_VERSIONS_MAX_RESULTS_DEFAULT,
    SEARCH_MODEL_VERSIONS_MAX_RESULTS_THRESHOLD,
    SEARCH_REGISTERED_MODELS_MAX_RESULTS_DEFAULT,
    SEARCH_REGISTERED_MODELS_MAX_RESULTS_THRESHOLD,
    RegistryStore,
)

#: The stages ``archive_existing_versions`` may be combined with.
_ARCHIVING_STAGES = ("Staging", "Production")
#: (default, largest) max_results of each search.
_RM_SEARCH_LIMITS = (
    SEARCH_REGISTERED_MODELS_MAX_RESULTS_DEFAULT,
    SEARCH_REGISTERED_MODELS_MAX_RESULTS_THRESHOLD,
)
_MV_SEARCH_LIMITS = (
    SEARCH_MODEL_VERSIONS_MAX_RESULTS_DEFAULT,
    SEARCH_MODEL_VERSIONS_MAX_RESULTS_THRESHOLD,
)


def _store(ctx: ServerContext) -> RegistryStore:
    # The routes are only mounted when the app was given a registry store.
    return cast(RegistryStore, ctx.registry_store)


def acting_user(f: RequestFields) -> str:
    """Who is making the change, for the history (see the module docstring)."""
    return f.authenticated_user or f.string("user_id") or ""


def _version(f: RequestFields) -> int:
    version = f.int64("version", required=True)
    assert version is not None
    return version


def _stage(f: RequestFields) -> str:
    raw = f.required_string("stage")
    return named("stage", lambda: canonical_stage(raw))


def _alias(f: RequestFields) -> str:
    raw = f.required_string("alias")
    return named("alias", lambda: validate_alias(raw))


def _tags(f: RequestFields, *, value_required: bool) -> dict[str, str]:
    """A repeated ``{key, value}`` field as a dict; ``value_required`` for model-version tags,
    whose value MLflow refuses to be null (a registered model's may be, and reads as "")."""
    out: dict[str, str] = {}
    for tag in f.object_list("tags"):
        key = tag.required_string("key")
        out[key] = tag.required_string("value") if value_required else tag.string("value") or ""
    return out


def _max_results(f: RequestFields, default: int, limit: int) -> int:
    max_results = f.int64("max_results", default=default)
    assert max_results is not None
    if not 1 <= max_results <= limit:
        # MLflow's wording, which its clients and tests match on.
        bound = f"at most {limit}" if max_results > limit else "at least 1"
        raise InvalidParameter(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be {bound}."
        )
    return max_results


def _page(items: list[dict[str, Any]], key: str, token: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if items:
        out[key] = items
    if token:
        out["next_page_token"] = token
    return out


def _version_reply(mv: ModelVersion) -> dict[str, Any]:
    return {"model_version": registry_wire.model_version(mv)}


# -- registered models -----------------------------------------------------------------------------


def create_registered_model(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    # deployment_job_id (Databricks deployment jobs) is accepted and ignored, as unknown fields are.
    model = _store(ctx).create_registered_model(
        f.required_string("name"),
        tags=_tags(f, value_required=False),
        description=f.string("description"),
    )
    return {"registered_model": registry_wire.registered_model(model)}


def get_registered_model(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    model = _store(ctx).get_registered_model(f.required_string("name"))
    return {"registered_model": registry_wire.registered_model(model)}


def rename_registered_model(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    model = _store(ctx).rename_registered_model(
        f.required_string("name"), f.required_string("new_name")
    )
    return {"registered_model": registry_wire.registered_model(model)}


def update_registered_model(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    model = _store(ctx).update_registered_model(f.required_string("name"), f.string("description"))
    return {"registered_model": registry_wire.registered_model(model)}


def delete_registered_model(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    _store(ctx).delete_registered_model(f.required_string("name"))
    return {}


def _search_args(f: RequestFields, default_max: int, limit: int) -> dict[str, Any]:
    """The fields both registry searches take, checked, as the store's keyword arguments."""
    return {
        "filter_string": f.string("filter") or None,
        "max_results": _max_results(f, default_max, limit),
        "order_by": f.string_list("order_by") or None,
        "page_token": f.string("page_token") or None,
    }


def search_registered_models(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    page = filtering.search_registered_models(
        _store(ctx),
        filtering.search_restriction(ctx.auth, f.principal, "registered_model"),
        **_search_args(f, *_RM_SEARCH_LIMITS),
    )
    return _page([registry_wire.registered_model(m) for m in page], "registered_models", page.token)


def get_latest_versions(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    stages = [named("stages", partial(canonical_stage, stage)) for stage in f.string_list("stages")]
    versions = _store(ctx).get_latest_versions(f.required_string("name"), stages or None)
    return _page([registry_wire.model_version(v) for v in versions], "model_versions", None)


def set_registered_model_tag(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    _store(ctx).set_registered_model_tag(
        f.required_string("name"), f.required_string("key"), f.string("value") or ""
    )
    return {}


def delete_registered_model_tag(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    _store(ctx).delete_registered_model_tag(f.required_string("name"), f.required_string("key"))
    return {}


# -- aliases ---------------------------------------------------------------------------------------


def set_alias(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    name, alias, version = f.required_string("name"), _alias(f), _version(f)
    _store(ctx).set_registered_model_alias(name, alias, version, user_id=acting_user(f))
    return {}


def delete_alias(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    name, alias = f.required_string("name"), _alias(f)
    _store(ctx).delete_registered_model_alias(name, alias, user_id=acting_user(f))
    return {}


def get_version_by_alias(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    # Only the shape is checked: a reserved name ("latest") is looked up, not refused, because
    # MLflow's server resolves "latest" to the highest version here.
    name, alias = f.required_string("name"), f.required_string("alias")
    return _version_reply(_store(ctx).get_model_version_by_alias(name, alias))


# -- versions --------------------------------------------------------------------------------------


def create_model_version(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    version = _store(ctx).create_model_version(
        f.required_string("name"),
        f.required_string("source"),
        run_id=f.string("run_id") or None,
        tags=_tags(f, value_required=True),
        run_link=f.string("run_link") or None,
        description=f.string("description"),
        model_id=f.string("model_id") or None,
        user_id=acting_user(f),
    )
    return _version_reply(version)


def get_model_version(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    return _version_reply(_store(ctx).get_model_version(f.required_string("name"), _version(f)))


def update_model_version(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    name, version = f.required_string("name"), _version(f)
    return _version_reply(_store(ctx).update_model_version(name, version, f.string("description")))


def delete_model_version(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    _store(ctx).delete_model_version(f.required_string("name"), _version(f))
    return {}


def transition_stage(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    name, version, stage = f.required_string("name"), _version(f), _stage(f)
    archive = f.boolean("archive_existing_versions")
    if archive and stage not in _ARCHIVING_STAGES:
        raise InvalidParameter(
            "Field 'archive_existing_versions' may be true only when moving to Staging or "
            f"Production, not to {stage!r}."
        )
    version_after = _store(ctx).transition_model_version_stage(
        name, version, stage, archive_existing_versions=archive, user_id=acting_user(f)
    )
    return _version_reply(version_after)


def search_model_versions(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    # A version is readable when its registered model is.
    page = filtering.search_model_versions(
        _store(ctx),
        filtering.search_restriction(ctx.auth, f.principal, "registered_model"),
        **_search_args(f, *_MV_SEARCH_LIMITS),
    )
    return _page([registry_wire.model_version(v) for v in page], "model_versions", page.token)


def get_download_uri(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    uri = _store(ctx).get_model_version_download_uri(f.required_string("name"), _version(f))
    return {"artifact_uri": uri}


def set_model_version_tag(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    name, version = f.required_string("name"), _version(f)
    key, value = f.required_string("key"), f.required_string("value")
    _store(ctx).set_model_version_tag(name, version, key, value)
    return {}


def delete_model_version_tag(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    name, version = f.required_string("name"), _version(f)
    _store(ctx).delete_model_version_tag(name, version, f.required_string("key"))
    return {}


# -- history (runlab's own) ------------------------------------------------------------------------


def history(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    name = f.required_string("name")
    since, until = f.int64("since"), f.int64("until")
    if since is not None and until is not None and since > until:
        raise InvalidParameter(
            f"Field 'since' ({since}) must not be greater than 'until' ({until})."
        )
    events = _store(ctx).get_registry_history(name, since=since, until=until)
    return {"events": [registry_wire.registry_event(e) for e in events]}


_NAME = {"name": "string"}
_VERSION = {"name": "string", "version": "string"}
_SEARCH = {
    "filter": "string",
    "max_results": "integer",
    "order_by": "array",
    "page_token": "string",
}
_STAGE_NAMES = "/".join(STAGES)
#: A new version needs EDIT on its model, and read access to the run, logged model or other
#: registered version it is made from (else anyone could publish, through the registry, what
#: they cannot read).
_CREATE_VERSION = all_of(
    model("update"),
    experiment("read", OPTIONAL_RUN_ID),
    experiment("read", OPTIONAL_LOGGED_MODEL_ID),
    model("read", SOURCE_MODEL),
)

#: Served under both MLflow prefixes.
ENDPOINTS = [
    Endpoint(
        "POST",
        "registered-models/create",
        create_registered_model,
        "Create a registered model",
        {**_NAME, "tags": "array", "description": "string", "deployment_job_id": "string"},
        ("name",),
        rule=AUTHENTICATED.with_effects(Effect.GRANT_MODEL_TO_CREATOR),
    ),
    Endpoint(
        "GET",
        "registered-models/get",
        get_registered_model,
        "Get a registered model with its newest version per stage",
        _NAME,
        ("name",),
        rule=model("read"),
    ),
    Endpoint(
        "POST",
        "registered-models/rename",
        rename_registered_model,
        "Rename a registered model (its versions follow)",
        {**_NAME, "new_name": "string"},
        ("name", "new_name"),
        rule=model("update").with_effects(Effect.MOVE_MODEL_PERMISSIONS),
    ),
    Endpoint(
        "PATCH",
        "registered-models/update",
        update_registered_model,
        "Set a registered model's description",
        {**_NAME, "description": "string", "deployment_job_id": "string"},
        ("name",),
        rule=model("update"),
    ),
    Endpoint(
        "DELETE",
        "registered-models/delete",
        delete_registered_model,
        "Delete a registered model with its versions, tags and aliases",
        _NAME,
        ("name",),
        rule=model("delete").with_effects(Effect.DROP_MODEL_PERMISSIONS),
    ),
    Endpoint(
        "GET",
        "registered-models/search",
        search_registered_models,
        "Search registered models (filter on name and tags.<key>)",
        _SEARCH,
        rule=filtered_search("registered_models"),
    ),
    Endpoint(
        "POST",
        "registered-models/get-latest-versions",
        get_latest_versions,
        f"The newest version in each stage ({_STAGE_NAMES})",
        {**_NAME, "stages": "array"},
        ("name",),
        rule=model("read"),
    ),
    Endpoint(
        "GET",
        "registered-models/get-latest-versions",
        get_latest_versions,
        "The newest version in each stage (GET form)",
        {**_NAME, "stages": "array"},
        ("name",),
        rule=model("read"),
    ),
    Endpoint(
        "POST",
        "registered-models/set-tag",
        set_registered_model_tag,
        "Set a registered-model tag",
        {**_NAME, "key": "string", "value": "string"},
        ("name", "key"),
        rule=model("update"),
    ),
    Endpoint(
        "DELETE",
        "registered-models/delete-tag",
        delete_registered_model_tag,
        "Delete a registered-model tag",
        {**_NAME, "key": "string"},
        ("name", "key"),
        rule=model("update"),
    ),
    Endpoint(
        "POST",
        "registered-models/alias",
        set_alias,
        "Point an alias at a version (recorded in the history)",
        {**_VERSION, "alias": "string", "user_id": "string"},
        ("name", "alias", "version"),
        rule=model("update"),
    ),
    Endpoint(
        "DELETE",
        "registered-models/alias",
        delete_alias,
        "Remove an alias (recorded in the history)",
        {**_NAME, "alias": "string", "user_id": "string"},
        ("name", "alias"),
        rule=model("update"),
    ),
    Endpoint(
        "GET",
        "registered-models/alias",
        get_version_by_alias,
        "The version an alias points at",
        {**_NAME, "alias": "string"},
        ("name", "alias"),
        rule=model("read"),
    ),
    Endpoint(
        "POST",
        "model-versions/create",
        create_model_version,
        "Register a source (runs:/, models:/, or under a run's artifact root) as a new version",
        {
            **_NAME,
            "source": "string",
            "run_id": "string",
            "tags": "array",
            "run_link": "string",
            "description": "string",
            "model_id": "string",
            "user_id": "string",
        },
        ("name", "source"),
        rule=_CREATE_VERSION,
    ),
    Endpoint(
        "GET",
        "model-versions/get",
        get_model_version,
        "Get a model version",
        _VERSION,
        ("name", "version"),
        rule=model("read"),
    ),
    Endpoint(
        "PATCH",
        "model-versions/update",
        update_model_version,
        "Set a model version's description",
        {**_VERSION, "description": "string"},
        ("name", "version"),
        rule=model("update"),
    ),
    Endpoint(
        "DELETE",
        "model-versions/delete",
        delete_model_version,
        "Delete a model version (its number is never reused)",
        _VERSION,
        ("name", "version"),
        rule=model("delete"),
    ),
    Endpoint(
        "POST",
        "model-versions/transition-stage",
        transition_stage,
        f"Move a version to a stage ({_STAGE_NAMES}); recorded in the history",
        {
            **_VERSION,
            "stage": "string",
            "archive_existing_versions": "boolean",
            "user_id": "string",
        },
        ("name", "version", "stage"),
        rule=model("update"),
    ),
    Endpoint(
        "GET",
        "model-versions/search",
        search_model_versions,
        "Search model versions (filter on name, run_id, source_path, version_number, tags.<key>)",
        _SEARCH,
        rule=filtered_search("model_versions"),
    ),
    Endpoint(
        "GET",
        "model-versions/get-download-uri",
        get_download_uri,
        "Where a model version's files are",
        _VERSION,
        ("name", "version"),
        rule=model("read"),
    ),
    Endpoint(
        "POST",
        "model-versions/set-tag",
        set_model_version_tag,
        "Set a model-version tag",
        {**_VERSION, "key": "string", "value": "string"},
        ("name", "version", "key", "value"),
        rule=model("update"),
    ),
    Endpoint(
        "DELETE",
        "model-versions/delete-tag",
        delete_model_version_tag,
        "Delete a model-version tag",
        {**_VERSION, "key": "string"},
        ("name", "version", "key"),
        rule=model("update"),
    ),
]

#: Served under runlab's own prefixes (/api/2.0/runlab, /ajax-api/2.0/runlab).
RUNLAB_ENDPOINTS = [
    Endpoint(
        "GET",
        "registered-models/history",
        history,
        "Every stage transition and alias move of a registered model, oldest first",
        {**_NAME, "since": "integer", "until": "integer"},
        ("name",),
        rule=model("read"),
    ),
]
