"""The run page: ``/runs/{run_id}`` shows one run's overview, datasets, data, charts, models and
artifacts.

Everything but the charts and the artifact browser is rendered here, in one trip to the store:
the run, its experiment's name, its parent and children, a min/max/count summary of each metric
(from one downsampled bucket per metric, which the store answers from chunk summaries without
reading the points) and the models it logged. The charts fetch their series from the
downsampled-metrics endpoint once they scroll into view.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runlab.entities import LoggedModel, Run, ViewType
from runlab.errors import RunlabError
from runlab.server.auth import principal_of
from runlab.server.auth.filtering import search_restriction
from runlab.server.auth.rules import RUN_ID, experiment, guarded
from runlab.server.ui.dataset_summaries import dataset_summaries
from runlab.server.ui.formatting import format_number, run_duration
from runlab.store.base import LoggedModelStore, ReadableSet, TrackingStore

if TYPE_CHECKING:
    from runlab.server.ui.pages import Pages

#: Children listed on the page; a run with more links to the runs table for the rest.
MAX_CHILDREN = 100
#: Logged models listed on the page.
MAX_LOGGED_MODELS = 100

PARENT_TAG = "mlflow.parentRunId"
NOTE_TAG = "mlflow.note.content"
HISTORY_TAG = "mlflow.log-model.history"
#: Tags the overview shows by name; every tag is also listed in the tags section.
SOURCE_TAGS = {
    "source": "mlflow.source.name",
    "source_type": "mlflow.source.type",
    "git_commit": "mlflow.source.git.commit",
    "entry_point": "mlflow.project.entryPoint",
}

# Run ids come from the store, but the children's filter is built from one: only ids of these
# characters are put in a filter string, so no id can change the filter's meaning.
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class MetricSummary:
    """One metric of the run: its latest point and its range over every point."""

    key: str
    latest: float
    step: int
    min_value: float | None
    max_value: float | None
    count: int | None


@dataclass(frozen=True)
class LegacyModel:
    """An entry of the run's ``mlflow.log-model.history`` tag (models logged before MLflow 3)."""

    artifact_path: str
    flavors: list[str]
    created: str


def metric_summaries(store: TrackingStore, run: Run) -> list[MetricSummary]:
    """Each metric's latest value and, where the store can tell cheaply, min, max and count."""
    downsample = getattr(store, "get_metric_downsampled", None)
    out = []
    for key in sorted(run.data.metrics):
        point = run.data.latest_points.get(key)
        low = high = None
        count = None
        if downsample is not None:
            # One bucket over the whole series: the store sums chunk summaries, no points read.
            buckets = downsample(run.info.run_id, key, 1)
            if buckets:
                (bucket,) = buckets
                low, high, count = bucket.min_value, bucket.max_value, bucket.count
        out.append(
            MetricSummary(
                key=key,
                latest=run.data.metrics[key],
                step=point.step if point is not None else 0,
                min_value=low,
                max_value=high,
                count=count,
            )
        )
    return out


def legacy_models(tags: dict[str, str]) -> tuple[list[LegacyModel], str | None]:
    """The models of the legacy history tag, and an error text if the tag does not parse."""
    text = tags.get(HISTORY_TAG)
    if not text:
        return [], None
    try:
        # orjson, not json: the tag is user data, and json.loads recurses (a value nested a few
        # thousand levels deep would raise RecursionError); orjson refuses past 1024 levels.
        history = orjson.loads(text)
    except orjson.JSONDecodeError:
        history = None
    if not isinstance(history, list):
        return [], f"The tag {HISTORY_TAG} does not hold a JSON list of models."
    models = []
    for entry in history:
        if not isinstance(entry, dict):
            continue
        flavors = entry.get("flavors")
        models.append(
            LegacyModel(
                artifact_path=str(entry.get("artifact_path", "")),
                flavors=sorted(flavors) if isinstance(flavors, dict) else [],
                created=str(entry.get("utc_time_created", "")),
            )
        )
    return models, None


def logged_models(store: TrackingStore, run: Run) -> list[LoggedModel]:
    """The MLflow 3 logged models this run produced (newest first), if the store keeps them."""
    if not isinstance(store, LoggedModelStore) or not _SAFE_ID.match(run.info.run_id):
        return []
    return list(
        store.search_logged_models(
            [run.info.experiment_id],
            filter_string=f"source_run_id = '{run.info.run_id}'",
            max_results=MAX_LOGGED_MODELS,
        )
    )


def related_runs(
    store: TrackingStore, run: Run, readable: ReadableSet | None = None
) -> tuple[Run | str | None, list[Run]]:
    """The parent (a Run, or its bare id when it is gone) and the first children of ``run``.

    ``readable``: the experiments the viewer may read (None: all). A parent in any other
    experiment (the parent tag is the run's own data, and may name any run) is shown as its
    bare id, like a parent that is gone. Children are searched in the run's own experiment.
    """
    parent: Run | str | None = None
    parent_id = run.data.tags.get(PARENT_TAG)
    if parent_id:
        try:
            parent = store.get_run(parent_id)
        except RunlabError:
            parent = parent_id
        readable_parent = readable is None or (
            isinstance(parent, Run) and parent.info.experiment_id in readable
        )
        if not readable_parent:
            parent = parent_id
    children: list[Run] = []
    if _SAFE_ID.match(run.info.run_id):
        children = list(
            store.search_runs(
                [run.info.experiment_id],
                filter_string=f"tags.`{PARENT_TAG}` = '{run.info.run_id}'",
                run_view_type=ViewType.ALL,
                max_results=MAX_CHILDREN,
                order_by=["attributes.start_time DESC"],
            )
        )
    return parent, children


def compare_url(run_ids: list[str]) -> str | None:
    """The compare page of these runs, or None when there are too few to compare."""
    if len(run_ids) < 2:
        return None
    return "/compare?" + urlencode([("runs", run_id) for run_id in run_ids])


def load_run_page(
    store: TrackingStore, run_id: str, readable: ReadableSet | None = None
) -> dict[str, Any]:
    """Everything the run page shows (blocking: call it from a worker thread).

    ``readable``: the experiments the viewer may read (None: all), for the parent run.
    """
    run = store.get_run(run_id)
    experiment = store.get_experiment(run.info.experiment_id)
    parent, children = related_runs(store, run, readable)
    tags = run.data.tags
    history, history_error = legacy_models(tags)
    duration, running = run_duration(run, int(time.time() * 1000))
    return {
        "run": run,
        "experiment": experiment,
        "parent": parent,
        "parent_name": parent.info.run_name if isinstance(parent, Run) else None,
        "parent_id": parent.info.run_id if isinstance(parent, Run) else parent,
        "children": children,
        "more_children": len(children) >= MAX_CHILDREN,
        "compare_children_url": compare_url([child.info.run_id for child in children]),
        "duration": duration,
        "running": running,
        "source": {name: tags.get(tag) for name, tag in SOURCE_TAGS.items()},
        "description": tags.get(NOTE_TAG, ""),
        "datasets": dataset_summaries(run.inputs.dataset_inputs),
        "params": sorted(run.data.params.items()),
        "metrics": metric_summaries(store, run),
        "user_tags": sorted((k, v) for k, v in tags.items() if not k.startswith("mlflow.")),
        "system_tags": sorted((k, v) for k, v in tags.items() if k.startswith("mlflow.")),
        "logged_models": logged_models(store, run),
        "legacy_models": history,
        "legacy_error": history_error,
    }


def routes(pages: Pages) -> list[Route]:
    """The run page's route."""

    async def run_page(request: Request) -> Response:
        """One run: overview, description, datasets, params, metrics with charts, tags, models,
        artifacts."""
        run_id = request.path_params["run_id"]
        context: dict[str, Any] = {
            "nav": "experiments",
            "run_id": run_id,
            "error": None,
            "format_number": format_number,
        }
        principal = principal_of(request)

        def load() -> dict[str, Any]:
            readable = search_restriction(pages.ctx.auth, principal, "experiment")
            return load_run_page(pages.ctx.tracking_store, run_id, readable)

        # An unknown id (404) or a store failure: the page says which, never a blank screen.
        return await pages.render_or_error("run.html", context, load)

    route = Route("/runs/{run_id}", run_page, methods=["GET"], name="ui:run")
    return [guarded(route, experiment("read", RUN_ID))]
