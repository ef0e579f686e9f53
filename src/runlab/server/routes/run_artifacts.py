"""A run's artifact listing and the datasets of experiments (MLflow's artifacts/list and the
UI-only experiments/search-datasets)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from runlab import uris
from runlab.artifacts import get_artifact_repository, join_artifact_path, validate_artifact_path
from runlab.artifacts.base import ArtifactRepository
from runlab.entities import FileInfo, ViewType
from runlab.errors import InvalidParameter, Unavailable
from runlab.server import wire
from runlab.server.artifact_locations import readable_http_root
from runlab.server.auth.rules import EXPERIMENT_IDS, RUN_ID, experiment
from runlab.server.context import ServerContext
from runlab.server.endpoint import Endpoint
from runlab.server.request_fields import RequestFields, run_id_of
from runlab.server.routes.runs import RUN_ID_FIELDS, named


def artifact_root(ctx: ServerContext, root_uri: str) -> tuple[ArtifactRepository, str]:
    """The repository holding a run's artifacts, and the run's root folder inside it.

    A ``mlflow-artifacts:`` root lives in the proxied destination, so it is the server's own
    artifact repository at the matching sub path; a local or S3 root is its own repository (at
    ``""``). An ``http(s)`` root is read only when it lies under a location the operator
    configured, and without the server's credentials (see
    :mod:`runlab.server.artifact_locations`). Any other scheme is refused by the repository
    factory.
    """
    scheme = uris.scheme_of(root_uri)
    if scheme in ("http", "https"):
        readable_http_root(ctx, root_uri)
        from runlab.artifacts.http_proxy import HttpArtifactRepository  # imports httpx

        # An explicit empty environment: never the server's own tracking token or password.
        return HttpArtifactRepository(root_uri, env={}), ""
    if scheme != "mlflow-artifacts":
        return get_artifact_repository(root_uri), ""
    if ctx.artifact_repo is None:
        raise Unavailable(
            f"Artifacts under {root_uri!r} are served by the artifact proxy, which this server "
            "does not run; start it with --serve-artifacts."
        )
    # mlflow-artifacts:/<p> or mlflow-artifacts://host/<p>: only <p> matters here.
    return ctx.artifact_repo, validate_artifact_path(urlsplit(root_uri).path.lstrip("/"))


def close_repository(repo: object) -> None:
    """Release a repository built for one request (an HTTP one holds a connection pool)."""
    close = getattr(repo, "close", None)
    if callable(close):
        close()


def list_artifacts_under(ctx: ServerContext, root_uri: str, path: str | None) -> list[FileInfo]:
    """The direct children of ``path`` under an artifact root, with paths relative to the root."""
    relative = validate_artifact_path(path or "")
    repo, root_path = artifact_root(ctx, root_uri)
    try:
        infos = repo.list_artifacts(join_artifact_path(root_path, relative) or None)
    finally:
        if repo is not ctx.artifact_repo:
            close_repository(repo)
    if not root_path:
        return infos
    prefix = f"{root_path}/"
    return [
        FileInfo(f.path[len(prefix) :], f.is_dir, f.file_size)
        for f in infos
        if f.path.startswith(prefix)
    ]


def list_artifacts(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    run = ctx.tracking_store.get_run(run_id_of(f))
    path = named("path", lambda: validate_artifact_path(f.string("path") or ""))
    f.string("page_token")  # accepted for compatibility; listings are never paged
    root = run.info.artifact_uri
    out: dict[str, Any] = {"root_uri": root}
    files = [wire.file_info(i) for i in list_artifacts_under(ctx, root, path)]
    if files:
        out["files"] = files
    return out


#: Most experiments one search-datasets call may cover (MLflow's limit).
_SEARCH_DATASETS_MAX_EXPERIMENTS = 20
_DATASET_CONTEXT_TAG = "mlflow.data.context"


def search_datasets(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    """Distinct (experiment, dataset, context) triples over the runs of up to 20 experiments."""
    experiment_ids = f.string_list("experiment_ids")
    if not 1 <= len(experiment_ids) <= _SEARCH_DATASETS_MAX_EXPERIMENTS:
        raise InvalidParameter(
            f"Field 'experiment_ids' must name 1 to {_SEARCH_DATASETS_MAX_EXPERIMENTS} "
            f"experiments, got {len(experiment_ids)}."
        )
    # Through the store protocol (no SQL here); this UI-only call reads runs page by page.
    seen: dict[tuple[str, str, str, str | None], None] = {}
    token: str | None = None
    while True:
        page = ctx.tracking_store.search_runs(
            experiment_ids, None, ViewType.ALL, 50_000, None, token
        )
        for run in page:
            for item in run.inputs.dataset_inputs:
                context = next((t.value for t in item.tags if t.key == _DATASET_CONTEXT_TAG), None)
                ds = item.dataset
                seen[(run.info.experiment_id, ds.name, ds.digest, context)] = None
        token = page.token
        if not token:
            break
    summaries = []
    for experiment_id, name, digest, context in seen:
        summary = {"experiment_id": experiment_id, "name": name, "digest": digest}
        if context is not None:
            summary["context"] = context
        summaries.append(summary)
    return {"dataset_summaries": summaries} if summaries else {}


ENDPOINTS = [
    Endpoint(
        "GET",
        "artifacts/list",
        list_artifacts,
        "List a run's artifacts",
        {**RUN_ID_FIELDS, "path": "string", "page_token": "string"},
        ("run_id",),
        rule=experiment("read", RUN_ID),
    )
]

#: Served only under /ajax-api/2.0/mlflow, as in MLflow (its proto path has no /api form).
AJAX_ENDPOINTS = [
    Endpoint(
        "POST",
        "experiments/search-datasets",
        search_datasets,
        "Datasets used by the runs of some experiments (UI only)",
        {"experiment_ids": "array"},
        ("experiment_ids",),
        rule=experiment("read", EXPERIMENT_IDS),
    ),
]
