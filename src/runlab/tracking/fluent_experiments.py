"""Fluent experiment functions and the choice of the experiment new runs go to."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from runlab.entities import Experiment, LifecycleStage, ViewType
from runlab.errors import AlreadyExists, ExperimentNotFound, InvalidParameter, InvalidState
from runlab.tracking import config
from runlab.tracking.client import Client

__all__ = [
    "create_experiment",
    "current_experiment_id",
    "default_client",
    "delete_experiment",
    "get_experiment",
    "get_experiment_by_name",
    "rename_experiment",
    "restore_experiment",
    "search_experiments",
    "set_experiment",
    "set_experiment_tag",
    "set_experiment_tags",
]

_logger = logging.getLogger("runlab")

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"

_lock = threading.Lock()
_client: Client | None = None
# The experiment chosen with set_experiment, remembered with the tracking URI it belongs to:
# ids are per store, so after set_tracking_uri the old choice no longer applies.
_active_experiment: tuple[str, str] | None = None


def default_client() -> Client:
    """The client of the current tracking and registry URIs (reused while they stay the same)."""
    global _client
    uri = config.resolve_uri(config.get_tracking_uri())
    registry_uri = config.resolve_uri(config.get_registry_uri(uri))
    client = _client
    if client is None or client.tracking_uri != uri or client.registry_uri != registry_uri:
        client = _client = Client(uri, registry_uri)
    return client


def set_experiment(
    experiment_name: str | None = None, experiment_id: str | None = None
) -> Experiment:
    """Make an experiment the one new runs go to, creating it by name if it does not exist.

    Give exactly one of ``experiment_name`` and ``experiment_id``. A deleted experiment is
    refused: restore it first, or pick another name.
    """
    global _active_experiment
    if (experiment_name is None) == (experiment_id is None):
        raise InvalidParameter(
            "Pass exactly one of experiment_name and experiment_id to set_experiment."
        )
    client = default_client()
    if experiment_id is not None:
        experiment = client.get_experiment(str(experiment_id))
    else:
        assert experiment_name is not None
        experiment = _get_or_create_by_name(client, experiment_name)
    if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
        raise InvalidState(
            f"Experiment {experiment.name!r} (id {experiment.experiment_id}) is deleted, so it "
            "cannot be the active experiment. Restore it with "
            "Client().restore_experiment(...) or use another name."
        )
    with _lock:
        _active_experiment = (client.tracking_uri, experiment.experiment_id)
    return experiment


def _get_or_create_by_name(client: Client, name: str) -> Experiment:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment
    _logger.info("Experiment %r does not exist; creating it.", name)
    try:
        return client.get_experiment(client.create_experiment(name))
    except AlreadyExists:
        # Another process created it between our lookup and our create: use theirs.
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment


def current_experiment_id(client: Client) -> str:
    """The experiment a new run goes to when none is named.

    In order: the one chosen with :func:`set_experiment`, ``RUNLAB_EXPERIMENT_NAME`` /
    ``MLFLOW_EXPERIMENT_NAME`` (created if missing), ``RUNLAB_EXPERIMENT_ID`` /
    ``MLFLOW_EXPERIMENT_ID``, else the store's default experiment.
    """
    active = _active_experiment
    if active is not None and active[0] == client.tracking_uri:
        return active[1]
    name = config.env("EXPERIMENT_NAME")
    if name is not None:
        return _get_or_create_by_name(client, name).experiment_id
    experiment_id = config.env("EXPERIMENT_ID")
    if experiment_id is not None:
        return client.get_experiment(experiment_id).experiment_id
    return _default_experiment_id(client)


def _default_experiment_id(client: Client) -> str:
    try:
        return client.get_experiment(DEFAULT_EXPERIMENT_ID).experiment_id
    except ExperimentNotFound:
        # A store that does not seed experiment 0 gets a "Default" experiment on first use.
        return _get_or_create_by_name(client, DEFAULT_EXPERIMENT_NAME).experiment_id


def create_experiment(
    name: str, artifact_location: str | None = None, tags: Mapping[str, Any] | None = None
) -> str:
    """Create an experiment and return its id."""
    return default_client().create_experiment(name, artifact_location, tags)


def get_experiment(experiment_id: str) -> Experiment:
    """The experiment with this id; ExperimentNotFound if absent."""
    return default_client().get_experiment(experiment_id)


def get_experiment_by_name(name: str) -> Experiment | None:
    """The experiment with this name, or None."""
    return default_client().get_experiment_by_name(name)


def search_experiments(
    view_type: int = ViewType.ACTIVE_ONLY,
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: Sequence[str] | None = None,
) -> list[Experiment]:
    """All experiments matching the filter (up to ``max_results``), fetched page by page."""
    client = default_client()
    found: list[Experiment] = []
    token: str | None = None
    while max_results is None or len(found) < max_results:
        page_size = 1000 if max_results is None else min(1000, max_results - len(found))
        page = client.search_experiments(
            view_type=view_type,
            max_results=page_size,
            filter_string=filter_string,
            order_by=order_by,
            page_token=token,
        )
        found.extend(page)
        token = page.token
        if not token:
            break
    return found


def delete_experiment(experiment_id: str) -> None:
    """Soft-delete an experiment and its runs."""
    default_client().delete_experiment(experiment_id)


def restore_experiment(experiment_id: str) -> None:
    """Restore a deleted experiment and its runs."""
    default_client().restore_experiment(experiment_id)


def rename_experiment(experiment_id: str, new_name: str) -> None:
    """Rename an experiment."""
    default_client().rename_experiment(experiment_id, new_name)


def set_experiment_tag(key: str, value: Any) -> None:
    """Set a tag on the current experiment."""
    client = default_client()
    client.set_experiment_tag(current_experiment_id(client), key, value)


def set_experiment_tags(tags: Mapping[str, Any]) -> None:
    """Set several tags on the current experiment."""
    client = default_client()
    experiment_id = current_experiment_id(client)
    for key, value in tags.items():
        client.set_experiment_tag(experiment_id, key, value)
