"""MLflow 3's logged-model endpoints (protocol reference §2.3); ``log_model`` goes through these.

Paths carry the model id (``logged-models/{model_id}``); the route machinery merges path
parameters into the request fields, so handlers read ``model_id`` like any other field.

:func:`routes` adds the one download MLflow's UI uses,
``GET /ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files?artifact_file_path=<p>``:
one file of the model's artifacts, streamed (Range requests included) from wherever they live,
always as an attachment with a sandbox CSP, so it never runs as part of the UI's origin.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runlab.artifacts import join_artifact_path, validate_artifact_path
from runlab.entities import LoggedModelStatus
from runlab.errors import ArtifactNotFound, InvalidParameter, RunlabError
from runlab.server import wire
from runlab.server.auth import filtering
from runlab.server.auth.rules import (
    LOGGED_MODEL_ID,
    all_of,
    experiment,
    filtered_search,
    guarded,
    optional_run,
)
from runlab.server.context import ServerContext
from runlab.server.endpoint import Endpoint, read_fields
from runlab.server.request_fields import RequestFields, missing_value
from runlab.server.routes.artifact_proxy import (
    attachment_disposition,
    download_response,
    open_download,
)
from runlab.server.routes.run_artifacts import artifact_root, list_artifacts_under
from runlab.server.routes.runs import named
from runlab.store.base import LoggedModelStore

#: The status names accepted on the wire (numbers are accepted too).
STATUSES = {
    "LOGGED_MODEL_PENDING": LoggedModelStatus.PENDING,
    "LOGGED_MODEL_READY": LoggedModelStatus.READY,
    "LOGGED_MODEL_UPLOAD_FAILED": LoggedModelStatus.UPLOAD_FAILED,
}
SEARCH_MAX_RESULTS_DEFAULT = 100
#: Where MLflow serves a logged model's artifact files (its UI's address; no /api/ twin).
ARTIFACT_FILES_PATH = "/ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files"


def _store(ctx: ServerContext) -> LoggedModelStore:
    """The tracking store's logged-model side (every SQL store has one)."""
    store = ctx.tracking_store
    if not isinstance(store, LoggedModelStore):
        raise RunlabError("This server's tracking store has no logged models.", "NOT_IMPLEMENTED")
    return store


def _pairs(f: RequestFields, name: str) -> dict[str, str]:
    """A repeated ``{key, value}`` field as a dict; a missing key is refused, a value is ""."""
    out: dict[str, str] = {}
    for item in f.object_list(name):
        out[item.required_string("key")] = item.string("value") or ""
    return out


def create(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    model = _store(ctx).create_logged_model(
        f.required_string("experiment_id"),
        name=f.string("name") or None,
        source_run_id=f.string("source_run_id") or None,
        tags=_pairs(f, "tags"),
        params=_pairs(f, "params"),
        model_type=f.string("model_type") or None,
    )
    return {"model": wire.logged_model(model)}


def get(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    model = _store(ctx).get_logged_model(
        f.required_string("model_id"), allow_deleted=f.boolean("allow_deleted")
    )
    return {"model": wire.logged_model(model)}


def finalize(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    status = f.enum("status", STATUSES)
    if status is None:
        raise missing_value("status")
    model = _store(ctx).finalize_logged_model(f.required_string("model_id"), status)
    return {"model": wire.logged_model(model)}


def delete(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    _store(ctx).delete_logged_model(f.required_string("model_id"))
    return {}


def search(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    if not f.has("experiment_ids"):
        raise missing_value("experiment_ids")
    experiment_ids = f.string_list("experiment_ids")
    datasets = []
    for item in f.object_list("datasets"):
        datasets.append(
            {
                "dataset_name": item.required_string("dataset_name"),
                "dataset_digest": item.string("dataset_digest") or None,
            }
        )
    order_by = []
    for item in f.object_list("order_by"):
        order_by.append(
            {
                "field_name": item.required_string("field_name"),
                "ascending": item.boolean("ascending", default=True),
                "dataset_name": item.string("dataset_name") or None,
                "dataset_digest": item.string("dataset_digest") or None,
            }
        )
    max_results = f.int64("max_results", default=SEARCH_MAX_RESULTS_DEFAULT)
    assert max_results is not None
    # Experiments the caller may not read are not searched (the store still checks the rest
    # of the request when none is left, and answers an empty page).
    experiment_ids = filtering.readable_experiment_ids(
        experiment_ids, filtering.search_restriction(ctx.auth, f.principal, "experiment")
    )
    page = _store(ctx).search_logged_models(
        experiment_ids,
        filter_string=f.string("filter") or None,
        datasets=datasets or None,
        max_results=max_results,
        order_by=order_by or None,
        page_token=f.string("page_token") or None,
    )
    out: dict[str, Any] = {}
    if page:
        out["models"] = [wire.logged_model(m) for m in page]
    if page.token:
        out["next_page_token"] = page.token
    return out


def set_tags(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    model = _store(ctx).set_logged_model_tags(f.required_string("model_id"), _pairs(f, "tags"))
    return {"model": wire.logged_model(model)}


def delete_tag(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    _store(ctx).delete_logged_model_tag(f.required_string("model_id"), f.required_string("tag_key"))
    return {}


def log_params(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    params = _pairs(f, "params")
    if len(params) != len(f.object_list("params")):
        raise InvalidParameter("Field 'params' names a key twice; log each param once.")
    _store(ctx).log_logged_model_params(f.required_string("model_id"), params)
    return {}


def list_artifacts(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    model = _store(ctx).get_logged_model(f.required_string("model_id"))
    path = f.string("artifact_directory_path") or ""
    named("artifact_directory_path", lambda: validate_artifact_path(path))
    f.string("page_token")  # accepted for compatibility; listings are never paged
    out: dict[str, Any] = {"root_uri": model.artifact_location}
    files = [wire.file_info(i) for i in list_artifacts_under(ctx, model.artifact_location, path)]
    if files:
        out["files"] = files
    return out


def _artifact_file(fields: RequestFields) -> str:
    """``artifact_file_path``, validated, naming a file (not the root)."""
    raw = fields.string("artifact_file_path")
    if not raw:
        # MLflow's wording and code (400 BAD_REQUEST).
        raise InvalidParameter(
            'Request must include the "artifact_file_path" query parameter.', "BAD_REQUEST"
        )
    return named("artifact_file_path", lambda: validate_artifact_path(raw))


def _locate_file(ctx: ServerContext, fields: RequestFields) -> tuple[Any, str, str]:
    """(repository, path inside it, requested path) of one file of a logged model."""
    path = _artifact_file(fields)
    model = _store(ctx).get_logged_model(fields.required_string("model_id"))
    repo, root_path = artifact_root(ctx, model.artifact_location)
    return repo, join_artifact_path(root_path, path), path


def routes(ctx: ServerContext) -> list[Route]:
    """The logged-model artifact download of MLflow's UI (see the module docstring)."""

    async def download(request: Request) -> Response:
        """Stream one artifact file of a logged model, as an attachment."""
        fields = (await read_fields(request, ctx)).with_values(request.path_params)
        repo, location, path = await run_in_threadpool(_locate_file, ctx, fields)
        try:
            prepared = await open_download(repo, location)
        except (ArtifactNotFound, InvalidParameter) as exc:
            # Name the file as the request did, not by its place in the server's storage.
            message = exc.message.replace(repr(location), repr(path))
            raise type(exc)(message, exc.error_code) from None
        response = await download_response(request, location, prepared)
        response.headers["Content-Disposition"] = attachment_disposition(path)
        response.headers["Content-Security-Policy"] = "sandbox"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    return [
        guarded(
            Route(ARTIFACT_FILES_PATH, download, methods=["GET"]),
            experiment("read", LOGGED_MODEL_ID),
        )
    ]


_ID = {"model_id": "string"}

ENDPOINTS = [
    Endpoint(
        "POST",
        "logged-models",
        create,
        "Create a logged model (PENDING until finalized)",
        {
            "experiment_id": "string",
            "name": "string",
            "model_type": "string",
            "source_run_id": "string",
            "params": "array",
            "tags": "array",
        },
        ("experiment_id",),
        rule=all_of(experiment("update"), experiment("read", optional_run("source_run_id"))),
    ),
    Endpoint(
        "POST",
        "logged-models/search",
        search,
        "Search logged models",
        {
            "experiment_ids": "array",
            "filter": "string",
            "datasets": "array",
            "max_results": "integer",
            "order_by": "array",
            "page_token": "string",
        },
        ("experiment_ids",),
        rule=filtered_search("logged_models"),
    ),
    Endpoint(
        "GET",
        "logged-models/{model_id}",
        get,
        "Get a logged model",
        {**_ID, "allow_deleted": "boolean"},
        ("model_id",),
        rule=experiment("read", LOGGED_MODEL_ID),
    ),
    Endpoint(
        "PATCH",
        "logged-models/{model_id}",
        finalize,
        "Finalize a logged model's status",
        {**_ID, "status": "string"},
        ("model_id", "status"),
        rule=experiment("update", LOGGED_MODEL_ID),
    ),
    Endpoint(
        "DELETE",
        "logged-models/{model_id}",
        delete,
        "Delete a logged model",
        _ID,
        ("model_id",),
        rule=experiment("delete", LOGGED_MODEL_ID),
    ),
    Endpoint(
        "PATCH",
        "logged-models/{model_id}/tags",
        set_tags,
        "Set logged model tags",
        {**_ID, "tags": "array"},
        ("model_id",),
        rule=experiment("update", LOGGED_MODEL_ID),
    ),
    Endpoint(
        "DELETE",
        "logged-models/{model_id}/tags/{tag_key:path}",
        delete_tag,
        "Delete a logged model tag",
        {**_ID, "tag_key": "string"},
        ("model_id", "tag_key"),
        rule=experiment("update", LOGGED_MODEL_ID),
    ),
    Endpoint(
        "POST",
        "logged-models/{model_id}/params",
        log_params,
        "Log logged model params",
        {**_ID, "params": "array"},
        ("model_id",),
        rule=experiment("update", LOGGED_MODEL_ID),
    ),
    Endpoint(
        "GET",
        "logged-models/{model_id}/artifacts/directories",
        list_artifacts,
        "List a logged model's artifacts",
        {**_ID, "artifact_directory_path": "string", "page_token": "string"},
        ("model_id",),
        rule=experiment("read", LOGGED_MODEL_ID),
    ),
]
