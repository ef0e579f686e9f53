"""The model registry in the fluent API: ``register_model`` and the two registry searches."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from runlab.entities import ModelVersion, PagedList, RegisteredModel
from runlab.errors import AlreadyExists, InvalidParameter
from runlab.model_uris import ModelsUri, RunsUri, is_model_uri, parse_model_uri
from runlab.tracking.client import Client
from runlab.tracking.client_registry import DEFAULT_AWAIT_MAX_SLEEP_SECONDS
from runlab.tracking.fluent_experiments import default_client
from runlab.tracking.model_uris import locate_runs_uri

__all__ = ["register_model", "search_model_versions", "search_registered_models"]

_logger = logging.getLogger("runlab")

T = TypeVar("T")

# Page size for the searches that return everything: the registered-model search's maximum.
_PAGE_SIZE = 1000


def register_model(
    model_uri: str,
    name: str,
    await_registration_for: int = DEFAULT_AWAIT_MAX_SLEEP_SECONDS,
    *,
    tags: Mapping[str, Any] | None = None,
) -> ModelVersion:
    """Register the model at ``model_uri`` as a new version of ``name`` and return it.

    The registered model is created when it does not exist yet. ``model_uri`` is usually
    ``runs:/<run_id>/<path>`` (the version's source is then that folder of the run's
    artifacts, and its run id is set); ``models:/<model_id>`` registers a logged model;
    ``models:/<name>/<version>`` (or a stage, alias or ``latest``) copies an existing version's
    source under the new name. ``tags`` are set on the new version.
    """
    client = default_client()
    if _names_a_registered_version(model_uri):
        version = client.copy_model_version(model_uri, name)
        for key, value in (tags or {}).items():
            client.set_model_version_tag(name, version.version, key, value)
        return client.get_model_version(name, version.version) if tags else version
    source, run_id, model_id = _registration_source(model_uri, client)
    try:
        client.create_registered_model(name)
        _logger.info("Registered model %r created.", name)
    except AlreadyExists:
        # The usual case after the first registration: add a version to the existing model.
        pass
    version = client.create_model_version(
        name,
        source,
        run_id=run_id,
        tags=tags,
        await_creation_for=await_registration_for,
        model_id=model_id,
    )
    _logger.info("Created version %s of registered model %r.", version.version, name)
    return version


def _registration_source(model_uri: str, client: Client) -> tuple[str, str | None, str | None]:
    """(source, run_id, model_id) for a version registered from ``model_uri``."""
    if not isinstance(model_uri, str) or not model_uri:
        raise InvalidParameter(
            f"model_uri must be a URI such as runs:/<run_id>/model, got {model_uri!r}."
        )
    if not is_model_uri(model_uri):
        # A location already (s3://…, mlflow-artifacts:/…); the registry checks it is allowed.
        return model_uri, None, None
    parsed = parse_model_uri(model_uri)
    if isinstance(parsed, RunsUri):
        target = locate_runs_uri(parsed, client)
        # A logged model standing in for the run's folder is registered as MLflow 3 does it.
        if target.model_uri is not None:
            return target.model_uri, parsed.run_id, target.model_id
        return target.location, parsed.run_id, None
    # A logged model: the registry reads models:/m-<id>[/path] under that model's artifacts.
    return str(parsed), None, parsed.model_id


def _names_a_registered_version(model_uri: object) -> bool:
    """True for models:/ URIs that name a registered version (not a logged model)."""
    if not isinstance(model_uri, str) or not is_model_uri(model_uri):
        return False
    parsed = parse_model_uri(model_uri)
    return isinstance(parsed, ModelsUri) and parsed.kind != "logged_model"


def _all_pages(
    fetch: Callable[[int, str | None], PagedList[T]], max_results: int | None
) -> list[T]:
    found: list[T] = []
    token: str | None = None
    while max_results is None or len(found) < max_results:
        want = _PAGE_SIZE if max_results is None else min(_PAGE_SIZE, max_results - len(found))
        page = fetch(want, token)
        found.extend(page)
        token = page.token
        if not token:
            break
    return found


def search_registered_models(
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: Sequence[str] | None = None,
) -> list[RegisteredModel]:
    """Every registered model matching ``filter_string`` (up to ``max_results``), in order.

    Filters: ``name = 'x'``, ``name LIKE 'fraud%'``, ``tags.team = 'risk'``, joined by AND.
    """
    client = default_client()
    return _all_pages(
        lambda size, token: client.search_registered_models(
            filter_string=filter_string, max_results=size, order_by=order_by, page_token=token
        ),
        max_results,
    )


def search_model_versions(
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: Sequence[str] | None = None,
) -> list[ModelVersion]:
    """Every model version matching ``filter_string`` (up to ``max_results``), in order.

    Filters: ``name = 'clf'``, ``run_id = '…'``, ``version_number > 2``, ``tags.k = 'v'``.
    """
    client = default_client()
    return _all_pages(
        lambda size, token: client.search_model_versions(
            filter_string=filter_string, max_results=size, order_by=order_by, page_token=token
        ),
        max_results,
    )
