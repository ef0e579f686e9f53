"""MLflow's experiment endpoints (protocol reference §2.1)."""

from __future__ import annotations

from typing import Any

from runlab.entities import ViewType
from runlab.errors import ExperimentNotFound
from runlab.server import wire
from runlab.server.artifact_locations import experiment_location
from runlab.server.auth import filtering
from runlab.server.auth.rules import (
    AUTHENTICATED,
    EXPERIMENT_NAME,
    Effect,
    experiment,
    filtered_search,
)
from runlab.server.context import ServerContext
from runlab.server.endpoint import Endpoint
from runlab.server.request_fields import RequestFields

VIEW_TYPES = {
    "ACTIVE_ONLY": ViewType.ACTIVE_ONLY,
    "DELETED_ONLY": ViewType.DELETED_ONLY,
    "ALL": ViewType.ALL,
}


def tag_pairs(fields: RequestFields, name: str = "tags") -> list[tuple[str, str]]:
    """A repeated ``{key, value}`` field as pairs; a missing key is refused, a missing value is ""."""
    return [
        (tag.required_string("key"), tag.string("value") or "") for tag in fields.object_list(name)
    ]


def create(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    name = f.required_string("name")
    requested = f.string("artifact_location") or None
    tags = tag_pairs(f)
    # A location the client chose is one the server will read later: only configured roots.
    location = experiment_location(ctx, requested) if requested is not None else None
    exp_id = ctx.tracking_store.create_experiment(name, location, tags)
    return {"experiment_id": exp_id}


def get(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    exp = ctx.tracking_store.get_experiment(f.required_string("experiment_id"))
    return {"experiment": wire.experiment(exp)}


def get_by_name(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    name = f.required_string("experiment_name")
    exp = ctx.tracking_store.get_experiment_by_name(name)
    if exp is None:
        raise ExperimentNotFound(f"No experiment named {name!r}.")
    return {"experiment": wire.experiment(exp)}


def search(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    max_results = f.int64("max_results", default=1000)
    assert max_results is not None
    page = filtering.search_experiments(
        ctx.tracking_store,
        # Only the experiments the caller may read, in the SELECT itself (paging stays right).
        filtering.search_restriction(ctx.auth, f.principal, "experiment"),
        view_type=f.enum("view_type", VIEW_TYPES, default=ViewType.ACTIVE_ONLY)
        or ViewType.ACTIVE_ONLY,
        max_results=max_results,
        filter_string=f.string("filter") or None,
        order_by=f.string_list("order_by") or None,
        page_token=f.string("page_token") or None,
    )
    out: dict[str, Any] = {}
    if page:
        out["experiments"] = [wire.experiment(e) for e in page]
    if page.token:
        out["next_page_token"] = page.token
    return out


def delete(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    ctx.tracking_store.delete_experiment(f.required_string("experiment_id"))
    return {}


def restore(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    ctx.tracking_store.restore_experiment(f.required_string("experiment_id"))
    return {}


def update(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    ctx.tracking_store.rename_experiment(
        f.required_string("experiment_id"), f.required_string("new_name")
    )
    return {}


def set_tag(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    ctx.tracking_store.set_experiment_tag(
        f.required_string("experiment_id"), f.required_string("key"), f.string("value") or ""
    )
    return {}


def delete_tag(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    ctx.tracking_store.delete_experiment_tag(
        f.required_string("experiment_id"), f.required_string("key")
    )
    return {}


ENDPOINTS = [
    Endpoint(
        "POST",
        "experiments/create",
        create,
        "Create an experiment",
        {"name": "string", "artifact_location": "string", "tags": "array"},
        ("name",),
        rule=AUTHENTICATED.with_effects(Effect.GRANT_EXPERIMENT_TO_CREATOR),
    ),
    Endpoint(
        "GET",
        "experiments/get",
        get,
        "Get an experiment by id",
        {"experiment_id": "string"},
        ("experiment_id",),
        rule=experiment("read"),
    ),
    Endpoint(
        "GET",
        "experiments/get-by-name",
        get_by_name,
        "Get an experiment by name",
        {"experiment_name": "string"},
        ("experiment_name",),
        rule=experiment("read", EXPERIMENT_NAME),
    ),
    Endpoint(
        "POST",
        "experiments/search",
        search,
        "Search experiments",
        {
            "max_results": "integer",
            "page_token": "string",
            "filter": "string",
            "order_by": "array",
            "view_type": "string",
        },
        rule=filtered_search("experiments"),
    ),
    Endpoint(
        "GET",
        "experiments/search",
        search,
        "Search experiments (GET form)",
        {
            "max_results": "integer",
            "page_token": "string",
            "filter": "string",
            "order_by": "array",
            "view_type": "string",
        },
        rule=filtered_search("experiments"),
    ),
    Endpoint(
        "POST",
        "experiments/delete",
        delete,
        "Delete an experiment and its runs",
        {"experiment_id": "string"},
        ("experiment_id",),
        rule=experiment("delete"),
    ),
    Endpoint(
        "POST",
        "experiments/restore",
        restore,
        "Restore an experiment and its runs",
        {"experiment_id": "string"},
        ("experiment_id",),
        rule=experiment("delete"),
    ),
    Endpoint(
        "POST",
        "experiments/update",
        update,
        "Rename an experiment",
        {"experiment_id": "string", "new_name": "string"},
        ("experiment_id", "new_name"),
        rule=experiment("update"),
    ),
    Endpoint(
        "POST",
        "experiments/set-experiment-tag",
        set_tag,
        "Set an experiment tag",
        {"experiment_id": "string", "key": "string", "value": "string"},
        ("experiment_id", "key"),
        rule=experiment("update"),
    ),
    Endpoint(
        "POST",
        "experiments/delete-experiment-tag",
        delete_tag,
        "Delete an experiment tag",
        {"experiment_id": "string", "key": "string"},
        ("experiment_id", "key"),
        rule=experiment("update"),
    ),
]
