"""Search results that hold only what the caller may read.

A search route's rule is AUTHENTICATED with a *filtered* marker
(:func:`runlab.server.auth.rules.filtered_search`): anyone signed in may search, and the handler
leaves out what the caller may not read. It does so before the database cuts a page, never
after, so pages stay full and page tokens stay right:

- experiments, registered models and model versions: the store's search takes the caller's
  :class:`~runlab.store.base.ReadableSet` (``readable=``) and adds it to its own SELECT;
- runs and logged models: their searches name the experiments to search, so the experiments
  the caller may not read are dropped from the request (none left: an empty result, the same
  as for experiments that do not exist).

A caller may read an experiment or model they have a permission on that can read (READ, EDIT,
MANAGE), and, when the server's default permission can read, every one they have no permission
on; administrators read everything. With permissions off (``ctx.auth`` None) nothing here costs
more than that one check, and the stores are called exactly as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from runlab.entities import Experiment, ModelVersion, PagedList, RegisteredModel
from runlab.errors import RunlabError, Unauthenticated
from runlab.server.auth import Principal
from runlab.server.auth.decision import UNAUTHENTICATED_MESSAGE, AuthContext, readable
from runlab.server.auth.rules import Resource
from runlab.store.base import (
    ReadableExperimentSearch,
    ReadableRegistrySearch,
    ReadableSet,
    TrackingStore,
)

__all__ = [
    "StoreCannotFilter",
    "readable_experiment_ids",
    "search_experiments",
    "search_model_versions",
    "search_registered_models",
    "search_restriction",
]


class StoreCannotFilter(RunlabError):
    """The server's store cannot restrict a search to what the caller may read (HTTP 500).

    Raised instead of answering with everything: a store that cannot filter must not be used
    by a server that checks permissions.
    """


def search_restriction(
    auth: AuthContext | None, principal: Principal | None, resource: Resource
) -> ReadableSet | None:
    """What a search of ``resource`` must be kept to for ``principal``; None: no restriction.

    None when the server checks no permissions (``auth`` None), for an administrator, and for a
    caller from whom nothing is hidden (a readable default and no refusals). Raises
    :class:`~runlab.errors.Unauthenticated` for an anonymous caller (the search rules refuse
    them before any handler runs; should one ever get this far, it gets nothing rather than
    everything).
    """
    if auth is None:
        return None
    if principal is None:
        raise Unauthenticated(UNAUTHENTICATED_MESSAGE)
    found = readable(auth, principal, resource)
    return None if found.everything else found


def _store_spelling(experiment_id: str) -> str | None:
    """The id as the store spells it ("03" and "3" are one experiment), None if not an id.

    The SQL store reads a requested id with ``int()``; so does this, so both mean the same
    experiment.
    """
    try:
        return str(int(str(experiment_id)))
    except ValueError:
        return None


def readable_experiment_ids(requested: Iterable[str], restriction: ReadableSet | None) -> list[str]:
    """The requested experiment ids the caller may read, as they were requested.

    An id that is not an integer is kept, so the store refuses it (400) exactly as it does
    without permission checks: that refusal says nothing about any experiment.
    """
    if restriction is None:
        return list(requested)
    kept: list[str] = []
    for experiment_id in requested:
        spelling = _store_spelling(experiment_id)
        if spelling is None or spelling in restriction:
            kept.append(experiment_id)
    return kept


def _cannot_filter(what: str) -> StoreCannotFilter:
    return StoreCannotFilter(
        f"This server's {what} store cannot keep a search to what the caller may read, so it "
        "cannot serve searches with permission checks on. Run the server on a SQL backend "
        "store (SQLite, PostgreSQL, MySQL/MariaDB)."
    )


def search_experiments(
    store: TrackingStore, restriction: ReadableSet | None, **search: Any
) -> PagedList[Experiment]:
    """``store.search_experiments(**search)``, kept to ``restriction`` when there is one."""
    if restriction is None:
        return store.search_experiments(**search)
    if not (isinstance(store, ReadableExperimentSearch) and store.filters_readable):
        raise _cannot_filter("tracking")
    return store.search_experiments(**search, readable=restriction)


def search_registered_models(
    registry: Any, restriction: ReadableSet | None, **search: Any
) -> PagedList[RegisteredModel]:
    """``registry.search_registered_models(**search)``, kept to ``restriction``."""
    if restriction is None:
        page: PagedList[RegisteredModel] = registry.search_registered_models(**search)
        return page
    if not (isinstance(registry, ReadableRegistrySearch) and registry.filters_readable):
        raise _cannot_filter("model registry")
    return registry.search_registered_models(**search, readable=restriction)


def search_model_versions(
    registry: Any, restriction: ReadableSet | None, **search: Any
) -> PagedList[ModelVersion]:
    """``registry.search_model_versions(**search)``, kept to ``restriction``."""
    if restriction is None:
        page: PagedList[ModelVersion] = registry.search_model_versions(**search)
        return page
    if not (isinstance(registry, ReadableRegistrySearch) and registry.filters_readable):
        raise _cannot_filter("model registry")
    return registry.search_model_versions(**search, readable=restriction)
