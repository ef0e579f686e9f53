"""The version compare page: ``/models/<name>/compare?versions=1&versions=3…``.

Sets 2 to 20 versions of one registered model side by side: each version's number, aliases,
stage and source run, then a table of metrics — what each version's logged model was evaluated
to on each dataset, and its source run's latest metrics — marking the rows that differ and the
best value where the metric's name says which way is better (:mod:`runlab.server.ui.version_metrics`).

Reading is bounded by the number of versions, not by their histories: one search for the
versions, then per version one read of its logged model (which carries all its metric points)
and one of its source run. A version without a logged model, or whose run or logged model is
gone, deleted or in an experiment the viewer may not read, shows "—" and a note saying why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runlab.entities import Run
from runlab.entities.logged_model import LoggedModel
from runlab.entities.registry import ModelVersion
from runlab.errors import InvalidParameter, NotFound, RunlabError
from runlab.server.auth import principal_of
from runlab.server.auth.filtering import search_restriction
from runlab.server.auth.rules import guarded, model
from runlab.server.ui.version_metrics import DatasetKey, Group, build_groups, latest_per_dataset
from runlab.store.base import LoggedModelStore, ReadableSet, RegistryStore, TrackingStore

if TYPE_CHECKING:
    from runlab.server.ui.pages import Pages

#: Fewest versions a comparison makes sense for.
MIN_VERSIONS = 2
#: Most versions one page compares: past this the columns no longer fit a screen.
MAX_VERSIONS = 20
#: Versions read per search call while collecting the ones asked for.
SEARCH_PAGE_SIZE = 1000

#: Why a version's evaluation metrics (its logged model's) are not shown.
NO_LOGGED_MODEL = "Registered without a logged model: no evaluation metrics."
LOGGED_MODEL_GONE = "Its logged model is deleted or not in this tracking store."
LOGGED_MODEL_HIDDEN = "You may not read the experiment of its logged model."
#: Why a version's training-run metrics are not shown.
NO_RUN = "Registered without a source run."
RUN_GONE = "Its source run is not in this tracking store."
RUN_DELETED = "Its source run was deleted."
RUN_HIDDEN = "You may not read the experiment of its source run."


@dataclass(frozen=True)
class ComparedVersion:
    """One version's column head, and why some of its cells are empty."""

    version: int
    stage: str
    aliases: list[str]
    run_id: str
    #: The source run's name when the viewer may open it (then it is linked), else None.
    run_name: str | None
    model_id: str | None
    notes: list[str]


@dataclass(frozen=True)
class _Loaded:
    """What was read for one version: the metrics to show (None: none) and the notes."""

    evaluation: dict[DatasetKey, dict[str, float]] | None
    training: dict[str, float] | None
    run_name: str | None
    notes: list[str]


def parse_versions(values: Iterable[str]) -> list[int]:
    """The distinct version numbers among ``versions`` parameters, in the order given.

    InvalidParameter (a 400 page) for a value that is not a positive whole number, or for
    fewer than :data:`MIN_VERSIONS` or more than :data:`MAX_VERSIONS` distinct versions.
    """
    numbers: list[int] = []
    for raw in values:
        text = raw.strip()
        if not text:
            continue
        # isdecimal() refuses "-1", "1.5", "1e3" and " ", which int() would partly accept.
        if not text.isascii() or not text.isdecimal() or int(text) < 1:
            raise InvalidParameter(
                f"{text!r} is not a version number: give each version as a whole number from "
                "1 up, e.g. ?versions=1&versions=3."
            )
        if int(text) not in numbers:
            numbers.append(int(text))
    if len(numbers) < MIN_VERSIONS:
        raise InvalidParameter(
            f"Choose at least {MIN_VERSIONS} different versions to compare (got {len(numbers)}): "
            "?versions=<number>&versions=<number>."
        )
    if len(numbers) > MAX_VERSIONS:
        raise InvalidParameter(
            f"At most {MAX_VERSIONS} versions can be compared at once (got {len(numbers)}); "
            "choose fewer versions."
        )
    return numbers


def find_versions(registry: RegistryStore, name: str, numbers: list[int]) -> list[ModelVersion]:
    """The versions ``numbers`` of model ``name``, in that order, read with one search (per
    1000 versions in the range asked for). ModelNotFound names the model or the versions
    that do not exist."""
    registry.get_registered_model(name)  # an unknown model is named as such, not its versions
    # The grammar reads a quote inside a string when it is doubled.
    query = "name = '{}' AND version_number >= {} AND version_number <= {}".format(
        name.replace("'", "''"), min(numbers), max(numbers)
    )
    found: dict[int, ModelVersion] = {}
    token: str | None = None
    while True:
        page = registry.search_model_versions(
            query, SEARCH_PAGE_SIZE, ["version_number ASC"], token
        )
        found.update((v.version, v) for v in page if v.version in numbers)
        token = page.token
        if not token or len(found) == len(numbers):
            break
    missing = [n for n in numbers if n not in found]
    if missing:
        listed = ", ".join(str(n) for n in missing)
        raise NotFound(
            f"Registered model {name!r} has no version {listed}: choose among the versions "
            "listed on the model's page."
        )
    return [found[n] for n in numbers]


def _evaluation(
    tracking: TrackingStore, version: ModelVersion, readable: ReadableSet | None
) -> tuple[dict[DatasetKey, dict[str, float]] | None, str | None]:
    if not version.model_id:
        return None, NO_LOGGED_MODEL
    if not isinstance(tracking, LoggedModelStore):
        return None, LOGGED_MODEL_GONE
    try:
        logged: LoggedModel = tracking.get_logged_model(version.model_id)
    except RunlabError:
        return None, LOGGED_MODEL_GONE
    if readable is not None and logged.experiment_id not in readable:
        return None, LOGGED_MODEL_HIDDEN
    return latest_per_dataset(logged.metrics), None


def _training(
    tracking: TrackingStore, version: ModelVersion, readable: ReadableSet | None
) -> tuple[Run | None, str | None]:
    if not version.run_id:
        return None, NO_RUN
    try:
        run = tracking.get_run(version.run_id)
    except RunlabError:
        return None, RUN_GONE
    if readable is not None and run.info.experiment_id not in readable:
        return None, RUN_HIDDEN
    if run.info.lifecycle_stage == "deleted":
        return None, RUN_DELETED
    return run, None


def load_version(
    tracking: TrackingStore, version: ModelVersion, readable: ReadableSet | None
) -> _Loaded:
    """One version's metrics: two reads, its logged model and its source run."""
    evaluation, model_note = _evaluation(tracking, version, readable)
    run, run_note = _training(tracking, version, readable)
    return _Loaded(
        evaluation=evaluation,
        training=dict(run.data.metrics) if run is not None else None,
        run_name=(run.info.run_name or run.info.run_id[:8]) if run is not None else None,
        notes=[note for note in (model_note, run_note) if note],
    )


def build_context(
    tracking: TrackingStore,
    registry: RegistryStore,
    name: str,
    numbers: list[int],
    readable: ReadableSet | None,
) -> dict[str, Any]:
    """Everything the template shows (blocking: call in a thread)."""
    versions = find_versions(registry, name, numbers)
    loaded = [load_version(tracking, v, readable) for v in versions]
    columns = [
        ComparedVersion(
            version=v.version,
            stage=v.current_stage,
            aliases=sorted(v.aliases),
            run_id=v.run_id,
            run_name=found.run_name,
            model_id=v.model_id,
            notes=found.notes,
        )
        for v, found in zip(versions, loaded, strict=True)
    ]
    groups: list[Group] = build_groups(
        [found.evaluation for found in loaded], [found.training for found in loaded]
    )
    return {
        "versions": columns,
        "groups": groups,
        "differing": sum(row.differs for group in groups for row in group.rows),
        "row_count": sum(len(group.rows) for group in groups),
    }


def routes(pages: Pages) -> list[Route]:
    """The version compare page's route."""

    async def compare_versions(request: Request) -> Response:
        """Versions of one registered model side by side, with their metrics."""
        name: str = request.path_params["name"]
        principal = principal_of(request)

        def load() -> dict[str, Any]:
            # Bad input is refused before any version is read.
            numbers = parse_versions(request.query_params.getlist("versions"))
            readable = search_restriction(pages.ctx.auth, principal, "experiment")
            return build_context(
                pages.ctx.tracking_store, pages.registry(), name, numbers, readable
            )

        context: dict[str, Any] = {"nav": "models", "name": name}
        try:
            context.update(await run_in_threadpool(load))
        except RunlabError as exc:
            # Too few or too many versions, one that is not a number or does not exist, an
            # unknown model: the error page says which, with the error's status.
            status = exc.get_http_status_code()
            return pages.render(
                "error.html", {"nav": "models", "status": status, "message": exc.message}, status
            )
        return pages.render("version_compare.html", context)

    # READ on the registered model; the versions' runs and logged models are shown only when
    # their experiments are readable too (checked in the handler, as the model page does).
    route = Route(
        "/models/{name}/compare", compare_versions, methods=["GET"], name="ui:version_compare"
    )
    return [guarded(route, model("read"))]
