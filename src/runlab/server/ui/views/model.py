"""The registered model page (``/models/{name}``): versions, stages, aliases, tags, history.

Everything is read on the server at render time; changes are made by ``static/model.js``
through the REST API, and the page reloads on success. Links URL-encode the name (spaces,
``%``, ``?``, ``#`` and ``/`` too), and the route takes the rest of the path as the name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runlab.entities.registry import (
    ALIAS_EVENT,
    STAGES,
    ModelVersion,
    RegisteredModel,
    RegistryEvent,
)
from runlab.errors import RunlabError
from runlab.server.auth import principal_of
from runlab.server.auth.filtering import search_restriction
from runlab.server.auth.rules import guarded, model
from runlab.server.ui.pages import Pages
from runlab.server.ui.views.version_compare import MAX_VERSIONS, MIN_VERSIONS
from runlab.store.base import ReadableSet, RegistryStore, TrackingStore

#: Versions fetched per search call while collecting all of a model's versions.
VERSIONS_PAGE_SIZE = 1000


@dataclass(frozen=True)
class HistoryRow:
    """One line of the history table: when, which version, and what changed, in words."""

    timestamp: int
    version: str
    change: str
    user_id: str


@dataclass(frozen=True)
class ModelPage:
    """What the model page shows, read from the stores in one go."""

    model: RegisteredModel
    #: Every version, newest first.
    versions: list[ModelVersion]
    #: Name of each source run that exists in the tracking store (only those get a link).
    run_names: dict[str, str]
    #: Stage and alias changes, newest first.
    history: list[HistoryRow]


def describe_event(event: RegistryEvent) -> HistoryRow:
    """A history event as the version it concerns and a sentence a person reads."""
    if event.kind == ALIAS_EVENT:
        alias = f"@{event.subject}"
        if event.to_value is None:
            return _row(event, event.from_value, f"Alias {alias} removed")
        if event.from_value is None:
            return _row(event, event.to_value, f"Alias {alias} set")
        return _row(event, event.to_value, f"Alias {alias} moved from v{event.from_value}")
    # A stage event whose target is None records a deleted version (the store's convention).
    if event.to_value is None:
        return _row(event, event.subject, f"Version deleted (was {event.from_value})")
    return _row(event, event.subject, f"Stage {event.from_value} → {event.to_value}")


def _row(event: RegistryEvent, version: str | None, change: str) -> HistoryRow:
    return HistoryRow(event.timestamp, version or "", change, event.user_id)


def all_versions(registry: RegistryStore, name: str) -> list[ModelVersion]:
    """Every version of ``name``, newest first, following the search's pages."""
    # The grammar reads a quote inside a string when it is doubled.
    query = "name = '{}'".format(name.replace("'", "''"))
    found: list[ModelVersion] = []
    token: str | None = None
    while True:
        page = registry.search_model_versions(
            query, VERSIONS_PAGE_SIZE, ["version_number DESC"], token
        )
        found.extend(page)
        token = page.token
        if not token:
            return found


def run_names(
    tracking: TrackingStore, run_ids: set[str], readable: ReadableSet | None = None
) -> dict[str, str]:
    """Run id → run name for the ids the tracking store knows (a source run may be gone).

    With ``readable`` (the experiments the viewer may read, on a server that checks
    permissions), a run in any other experiment is left out like a missing one: the page
    shows its id, which the version itself holds, and neither its name nor a link.
    """
    names: dict[str, str] = {}
    for run_id in run_ids:
        try:
            run = tracking.get_run(run_id)
        except RunlabError:
            continue
        if readable is not None and run.info.experiment_id not in readable:
            continue
        names[run_id] = run.info.run_name or run_id[:8]
    return names


def load_model_page(
    tracking: TrackingStore,
    registry: RegistryStore,
    name: str,
    readable: ReadableSet | None = None,
) -> ModelPage:
    """Read the model, its versions, their runs and its history (blocking: call in a thread).

    ``readable``: the experiments the viewer may read (None: all), for the versions' runs.
    """
    model = registry.get_registered_model(name)
    versions = all_versions(registry, name)
    names = run_names(tracking, {v.run_id for v in versions if v.run_id}, readable)
    events = registry.get_registry_history(name)
    history = [describe_event(e) for e in reversed(events)]
    return ModelPage(model, versions, names, history)


def routes(pages: Pages) -> list[Route]:
    """The model page's route. ``{name:path}`` takes the rest of the path, so a name with a
    ``/`` (raw or encoded) still reaches this page, which then says why it names no model."""

    async def model_page(request: Request) -> Response:
        """A registered model with its versions, aliases, tags and history."""
        name: str = request.path_params["name"]
        context: dict[str, Any] = {
            "nav": "models",
            "name": name,
            "page": None,
            "stages": STAGES,
            "error": None,
            # How many versions the compare button may send (the compare page's own limits).
            "compare_min": MIN_VERSIONS,
            "compare_max": MAX_VERSIONS,
        }
        principal = principal_of(request)

        def load() -> dict[str, Any]:
            readable = search_restriction(pages.ctx.auth, principal, "experiment")
            registry = pages.registry()
            return {"page": load_model_page(pages.ctx.tracking_store, registry, name, readable)}

        # An unknown name is a 404 whose message says which model was asked for.
        return await pages.render_or_error("model.html", context, load)

    route = Route("/models/{name:path}", model_page, methods=["GET"], name="ui:model")
    return [guarded(route, model("read"))]
