"""Logged models over REST (protocol reference §2.3): the LoggedModelStore half of the REST store.

Works against runlab's server and MLflow's alike. Where the two answer differently the client
takes the narrower answer: MLflow's server wants ``model_id`` in the body as well as the path of
its PATCH and POST calls, and answers a tag update with ``{}`` instead of the model, so the model
is read back then.

Every "not found" of a call that names a model comes back as :class:`ModelNotFound` (the wire
has one code for every missing object). Creates are not retried once the request may have
reached the server: a second copy would make a second model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from runlab.entities import (
    LoggedModel,
    LoggedModelInput,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    PagedList,
)
from runlab.errors import InvalidParameter, ModelNotFound
from runlab.store.rest import decode
from runlab.store.rest.encode import key_values, metric_message
from runlab.store.rest.http import not_found_as

__all__ = ["LOGGED_MODEL_PARAMS_BATCH", "RestLoggedModelMethods"]

#: Params per ``logged-models/{id}/params`` request, as MLflow's client sends them.
LOGGED_MODEL_PARAMS_BATCH = 100

_ENDPOINT = "logged-models"


def _path(model_id: str, *parts: str) -> str:
    if not isinstance(model_id, str) or not model_id:
        raise InvalidParameter(f"model_id must be a non-empty string, got {model_id!r}.")
    # The id goes into the URL path: quote it so an odd id cannot name another endpoint.
    return "/".join((_ENDPOINT, quote(model_id, safe=""), *(quote(p, safe="") for p in parts)))


def _order_by_item(item: str | Mapping[str, Any]) -> dict[str, Any]:
    """``"metrics.acc DESC"`` -> ``{"field_name": "metrics.acc", "ascending": False}``.

    Dicts (MLflow's own form) pass through; the server validates the field names.
    """
    if isinstance(item, Mapping):
        return {k: v for k, v in item.items() if v is not None}
    if not isinstance(item, str) or not item.strip():
        raise InvalidParameter(
            f"Invalid order_by item {item!r}: expected a string like 'name ASC' or a dict "
            "with field_name and ascending."
        )
    head, _, direction = item.strip().rpartition(" ")
    if head and direction.upper() in ("ASC", "DESC"):
        return {"field_name": head.strip(), "ascending": direction.upper() == "ASC"}
    return {"field_name": item.strip(), "ascending": True}


class RestLoggedModelMethods:
    """The LoggedModelStore protocol over REST, mixed into :class:`RestTrackingStore`."""

    if TYPE_CHECKING:

        def _call(
            self,
            method: str,
            endpoint: str,
            body: dict[str, Any] | None = None,
            *,
            idempotent: bool = True,
            max_retries: int | None = None,
        ) -> dict[str, Any]: ...

    def _model_call(
        self,
        method: str,
        endpoint: str,
        body: dict[str, Any] | None = None,
        *,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        """A call about one existing model: a missing object is ModelNotFound."""
        with not_found_as(ModelNotFound):
            return self._call(method, endpoint, body, idempotent=idempotent)

    # -- create, read, finalize, delete ----------------------------------------------------------

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Mapping[str, str] | Iterable[Any] | None = None,
        params: Mapping[str, str] | Iterable[Any] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        """Create a PENDING logged model (the server makes up a missing name).

        NotFound if the experiment is absent. The source run is recorded as given (neither
        runlab's server nor MLflow's looks it up: it may live in another tracking store).
        """
        body: dict[str, Any] = {
            "experiment_id": str(experiment_id),
            "tags": key_values(tags),
            "params": key_values(params),
        }
        for field, value in (
            ("name", name),
            ("source_run_id", source_run_id),
            ("model_type", model_type),
        ):
            if value is not None:
                body[field] = value
        data = self._call("POST", _ENDPOINT, body, idempotent=False)
        return decode.logged_model(data["model"])

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        """The logged model; ModelNotFound if absent (or deleted, unless ``allow_deleted``)."""
        body: dict[str, Any] = {"allow_deleted": True} if allow_deleted else {}
        data = self._model_call("GET", _path(model_id), body)
        return decode.logged_model(data["model"])

    def finalize_logged_model(
        self, model_id: str, status: str | int, status_message: str | None = None
    ) -> LoggedModel:
        """Set the final status (READY or UPLOAD_FAILED, by name or number).

        ``status_message`` is runlab's extension; MLflow's server ignores it.
        """
        final = LoggedModelStatus.normalize(status)
        if not LoggedModelStatus.is_finalized(final):
            raise InvalidParameter(
                "A logged model is finalized as LOGGED_MODEL_READY or "
                f"LOGGED_MODEL_UPLOAD_FAILED, not {final}."
            )
        body: dict[str, Any] = {"model_id": model_id, "status": final}
        if status_message is not None:
            body["status_message"] = status_message
        data = self._model_call("PATCH", _path(model_id), body)
        return decode.logged_model(data["model"])

    def delete_logged_model(self, model_id: str) -> None:
        """Soft-delete a logged model (retried only if it never reached the server: a second
        delete would answer ModelNotFound)."""
        self._model_call("DELETE", _path(model_id), {"model_id": model_id}, idempotent=False)

    # -- tags, params, metrics -------------------------------------------------------------------

    def set_logged_model_tags(
        self, model_id: str, tags: Mapping[str, str] | Iterable[Any]
    ) -> LoggedModel:
        """Set (or overwrite) tags and return the model."""
        body = {"model_id": model_id, "tags": key_values(tags)}
        data = self._model_call("PATCH", _path(model_id, "tags"), body)
        if "model" not in data:
            # MLflow's server answers {}; read the model back so both servers return it.
            return self.get_logged_model(model_id)
        return decode.logged_model(data["model"])

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        """Remove one tag. NotFound when the model has no such tag (the server's message says
        whether the model or the tag is missing)."""
        self._call("DELETE", _path(model_id, "tags", key), {"model_id": model_id})

    def log_logged_model_params(
        self, model_id: str, params: Mapping[str, str] | Iterable[Any]
    ) -> None:
        """Add params, in requests of 100; InvalidParameter if a key has another value."""
        pairs = key_values(params)
        for start in range(0, len(pairs), LOGGED_MODEL_PARAMS_BATCH):
            body = {
                "model_id": model_id,
                "params": pairs[start : start + LOGGED_MODEL_PARAMS_BATCH],
            }
            self._model_call("POST", _path(model_id, "params"), body)

    def record_logged_model_metrics(self, model_id: str, metrics: Sequence[Metric]) -> None:
        """Not available over REST: the protocol records a model's metrics only as run metrics.

        Log the points on their run with ``model_id`` set (``log_batch``); the server stores them
        on the model too.
        """
        if metrics:
            raise InvalidParameter(
                f"Cannot record metrics on logged model {model_id!r} through a tracking server: "
                "the REST protocol stores a model's metrics only as metrics of a run. Log them "
                "on the run with model_id set (log_batch), and the server keeps them on the model."
            )

    def log_model_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None:
        """Send the points that carry a ``model_id`` as a log-batch of ``run_id``: the server
        stores them on the run and on their models (a resent point is not stored twice)."""
        points = [m for m in metrics if m.model_id]
        if points:
            body = {"run_id": run_id, "metrics": [metric_message(m) for m in points]}
            self._call("POST", "runs/log-batch", body)

    # -- run outputs and inputs ------------------------------------------------------------------

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        """Record that the run produced these models (``runs/outputs``)."""
        items = [{"model_id": m.model_id, "step": m.step} for m in models]
        if items:
            self._call("POST", "runs/outputs", {"run_id": run_id, "models": items})

    def log_model_inputs(self, run_id: str, model_ids: Sequence[str | LoggedModelInput]) -> None:
        """Record that the run used these models (``runs/log-inputs`` with ``models``)."""
        ids = [m.model_id if isinstance(m, LoggedModelInput) else m for m in model_ids]
        if ids:
            body = {"run_id": run_id, "datasets": [], "models": [{"model_id": m} for m in ids]}
            self._call("POST", "runs/log-inputs", body)

    # -- search ----------------------------------------------------------------------------------

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Sequence[Mapping[str, Any]] | None = None,
        max_results: int = 100,
        order_by: Sequence[str | Mapping[str, Any]] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        """One page of active logged models; pass ``page.token`` back for the next one.

        ``order_by`` items are strings (``"metrics.acc DESC"``) or MLflow's dicts
        (``{"field_name": ..., "ascending": ...}``).
        """
        if isinstance(experiment_ids, (str, int)):
            experiment_ids = [str(experiment_ids)]
        if isinstance(order_by, (str, Mapping)):
            order_by = [order_by]
        body: dict[str, Any] = {
            "experiment_ids": [str(e) for e in experiment_ids],
            "max_results": max_results,
        }
        if filter_string:
            body["filter"] = filter_string
        if datasets:
            body["datasets"] = [dict(d) for d in datasets]
        if order_by:
            body["order_by"] = [_order_by_item(item) for item in order_by]
        if page_token:
            body["page_token"] = page_token
        data = self._call("POST", f"{_ENDPOINT}/search", body)
        return PagedList(
            [decode.logged_model(m) for m in data.get("models", ())],
            data.get("next_page_token") or None,
        )
