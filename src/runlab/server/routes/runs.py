"""MLflow's run endpoints: lifecycle, search and logging (protocol reference §2.2 and §3).

Every field is read with its type checked, and every value is validated here, by the same rules
and with the same messages as the store (:mod:`runlab.validation`), naming the field
(``metrics[3].timestamp``) before the store is called; the store checks again and writes a batch
in one transaction, so a refused request never leaves anything half-written. Checks that only the
store makes (run names, end times, dataset field sizes) are left to it, so each rule has one
check and one message.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable
from itertools import repeat
from typing import Any, TypeVar

import orjson

from runlab import validation
from runlab.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    Metric,
    MetricColumns,
    Param,
    RunStatus,
    RunTag,
    ViewType,
)
from runlab.errors import InvalidParameter, InvalidState, RunlabError
from runlab.server import wire
from runlab.server.auth import filtering
from runlab.server.auth.rules import (
    EXPERIMENT_ID_OR_DEFAULT,
    METRIC_LOGGED_MODELS,
    OPTIONAL_LOGGED_MODEL_ID,
    RUN_ID,
    all_of,
    experiment,
    filtered_search,
    logged_models_in,
)
from runlab.server.context import ServerContext
from runlab.server.endpoint import Endpoint
from runlab.server.json_body import MAX_JSON_DEPTH, decode_json, nesting_exceeds
from runlab.server.log_batch_body import decode_plain_log_batch
from runlab.server.request_fields import RequestFields, missing_value, run_id_of
from runlab.server.routes.experiments import VIEW_TYPES
from runlab.store.base import RunRowsSearch

T = TypeVar("T")

RUN_STATUSES = {
    "RUNNING": RunStatus.RUNNING,
    "SCHEDULED": RunStatus.SCHEDULED,
    "FINISHED": RunStatus.FINISHED,
    "FAILED": RunStatus.FAILED,
    "KILLED": RunStatus.KILLED,
}
LOG_MODEL_HISTORY_TAG = "mlflow.log-model.history"
_LOG_MODEL_REQUIRED = ("artifact_path", "flavors", "utc_time_created", "run_id")
# Limits of the dataset fields the store does not check itself (protocol reference §3); the
# store checks name, digest, source type, source and input tags.
_DATASET_TEXT_LIMITS = {"schema": 1048575, "profile": 16777215}


# -- reading fields ---------------------------------------------------------------------------


def named(field: str, check: Callable[[], T]) -> T:
    """Run a validation rule on the request field ``field``, naming the field in its error.

    The rules name the value they check by its own name ("for parameter 'timestamp'"); for a
    field inside the request (``metrics[3].timestamp``) that name becomes the field's, as in
    MLflow's messages. A message that names no parameter gets the field added at its end, so
    the phrase a client matches on still starts the message. The error keeps its class (an
    artifact path refusal stays one).
    """
    try:
        return check()
    except InvalidParameter as exc:
        if f" for parameter '{field}' supplied" in exc.message:
            raise
        own_name = f" for parameter '{field.rpartition('.')[2]}' supplied"
        if own_name in exc.message:
            exc.message = exc.message.replace(own_name, f" for parameter '{field}' supplied", 1)
        else:
            exc.message = f"{exc.message} (request field '{field}')"
        exc.args = (exc.message,)
        raise exc from None


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


_MISSING = object()
_GET_KEY, _GET_VALUE, _GET_TIMESTAMP, _GET_STEP = (
    operator.itemgetter("key"),
    operator.itemgetter("value"),
    operator.itemgetter("timestamp"),
    operator.itemgetter("step"),
)


def plain_metrics(items: list[Any]) -> MetricColumns | None:
    """A log-batch's metrics when every one has the plain shape a client sends, else None.

    A log-batch carries up to 1000 metrics, and checking each through :func:`metric_of` costs
    more than storing it. This checks the common shape (exactly ``key``, ``value``,
    ``timestamp`` and optionally ``step``, of the right types and ranges) column by column, each
    check a pass in C; anything else, including every error, returns None so the caller takes
    the field-by-field path with its precise messages.
    """
    count = len(items)
    if not count:
        return MetricColumns([], [], [], [])
    steps: list[Any] | None
    try:
        # Steps first: the field a batch lacks most often (protobuf's JSON leaves out step 0),
        # and reading it fails on the first item that is not an object.
        steps = list(map(_GET_STEP, items))
    except KeyError:
        steps = _steps_some_missing(items)
        if steps is None:
            return None
    except TypeError:
        return None
    else:
        # Every item is an object with a step; four fields means no field besides these.
        if set(map(len, items)) != {4}:
            return None
    try:
        keys = list(map(_GET_KEY, items))
        values = list(map(_GET_VALUE, items))
        timestamps = list(map(_GET_TIMESTAMP, items))
    except KeyError:
        return None
    value_types = set(map(type, values))
    if (
        set(map(type, keys)) != {str}
        or not value_types <= {float, int}  # bool is refused: type(True) is bool
        or set(map(type, timestamps)) != {int}
        or set(map(type, steps)) != {int}
        or min(timestamps) < 0
        or max(timestamps) > _INT64_MAX
        or min(steps) < _INT64_MIN
        or max(steps) > _INT64_MAX
        or not all(map(validation.is_valid_key, set(keys)))
    ):
        return None
    if int in value_types:
        values = list(map(float, values))
    return MetricColumns(keys, values, timestamps, steps)


def _steps_some_missing(items: list[Any]) -> list[Any] | None:
    """The steps of a batch where some items leave theirs out (0), if every item is an object
    of three or four fields that can only be the plain ones; else None."""
    count = len(items)
    if set(map(type, items)) != {dict} or not set(map(len, items)) <= {3, 4}:
        return None
    steps = list(map(dict.get, items, repeat("step", count), repeat(_MISSING, count)))
    missing_steps = steps.count(_MISSING)
    # Every four-field item must hold a step, so no item has a field besides these four.
    if count - missing_steps != sum(map(len, items)) - 3 * count:
        return None
    return [0 if step is _MISSING else step for step in steps]


def metric_of(item: RequestFields, where: str = "") -> Metric:
    """One Metric message, each part validated under its field name."""
    key = item.required_string("key")
    named(f"{where}key", lambda: validation.validate_key(key, "metric"))
    value = item.double("value", required=True)
    timestamp = item.int64("timestamp", required=True)
    assert value is not None and timestamp is not None
    named(f"{where}timestamp", lambda: validation.validate_metric_timestamp(key, timestamp))
    step = item.int64("step", default=0)
    assert step is not None
    return Metric(
        key,
        value,
        timestamp,
        step,
        dataset_name=item.string("dataset_name") or None,
        dataset_digest=item.string("dataset_digest") or None,
        model_id=item.string("model_id") or None,
    )


def param_of(item: RequestFields, where: str = "") -> Param:
    """One Param message (a missing value is the empty string, as in protobuf)."""
    key = item.required_string("key")
    value = item.string("value") or ""
    named(f"{where}key", lambda: validation.validate_key(key, "param"))
    named(f"{where}value", lambda: validation.validate_param(key, value))
    return Param(key, value)


def tag_of(item: RequestFields, where: str = "") -> RunTag:
    """One RunTag message (a missing value is the empty string, as in protobuf)."""
    key = item.required_string("key")
    value = item.string("value") or ""
    named(f"{where}key", lambda: validation.validate_key(key, "tag"))
    named(f"{where}value", lambda: validation.validate_tag(key, value))
    return RunTag(key, value)


def dataset_input_of(item: RequestFields, where: str) -> DatasetInput:
    """One DatasetInput message: a dataset with its required identity fields, and input tags."""
    ds = item.object("dataset")
    if ds is None:
        raise missing_value(f"{where}dataset")
    parts = {name: ds.required_string(name) for name in ("name", "digest", "source_type", "source")}
    optional = {name: ds.string(name) for name in ("schema", "profile")}
    for name, limit in _DATASET_TEXT_LIMITS.items():
        text = optional[name]
        if text is not None and len(text) > limit:
            raise validation.too_long(
                name,
                limit,
                f"the dataset {name} is {len(text)} characters long (request field "
                f"'{where}dataset.{name}').",
            )
    tags = [
        InputTag(tag.required_string("key"), tag.required_string("value"))
        for tag in item.object_list("tags")
    ]
    return DatasetInput(
        Dataset(
            parts["name"],
            parts["digest"],
            parts["source_type"],
            parts["source"],
            optional["schema"],
            optional["profile"],
        ),
        tags,
    )


# -- lifecycle --------------------------------------------------------------------------------


def create(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    tags = [tag_of(t, f"tags[{i}].") for i, t in enumerate(f.object_list("tags"))]
    # The store checks the start time and the run name.
    start_time = f.int64("start_time")
    run_name = f.string("run_name") or None
    run = ctx.tracking_store.create_run(
        # The MLflow client always sends an experiment; without one, use the Default experiment.
        f.string("experiment_id") or "0",
        f.string("user_id") or "",
        start_time if start_time is not None else int(time.time() * 1000),
        tags,
        run_name,
    )
    return {"run": wire.run_with_models(run)}


def update(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    status = f.enum("status", RUN_STATUSES)
    # The store checks the end time and the run name.
    end_time = f.int64("end_time")
    run_name = f.string("run_name") or None
    info = ctx.tracking_store.update_run_info(
        run_id_of(f),
        RunStatus.to_string(status) if status is not None else None,
        end_time,
        run_name,
    )
    return {"run_info": wire.run_info(info)}


def delete(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    ctx.tracking_store.delete_run(run_id_of(f))
    return {}


def restore(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    ctx.tracking_store.restore_run(run_id_of(f))
    return {}


def get(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    return {"run": wire.run_with_models(ctx.tracking_store.get_run(run_id_of(f)))}


def search(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    experiment_ids = f.string_list("experiment_ids")
    view_type = f.enum("run_view_type", VIEW_TYPES, default=ViewType.ACTIVE_ONLY)
    max_results = f.int64("max_results", default=1000)
    filter_string = f.string("filter") or None
    order_by = f.string_list("order_by") or None
    page_token = f.string("page_token") or None
    if not experiment_ids:
        return {}  # MLflow answers an empty object when no experiment is named
    assert view_type is not None and max_results is not None
    # Experiments the caller may not read are not searched (none left: an empty page, as for
    # experiments that do not exist).
    experiment_ids = filtering.readable_experiment_ids(
        experiment_ids, filtering.search_restriction(ctx.auth, f.principal, "experiment")
    )
    store = ctx.tracking_store
    if isinstance(store, RunRowsSearch):
        # Straight from the rows to the answer's shapes, with no Run objects in between.
        rows, token = store.search_run_rows(
            experiment_ids, filter_string, view_type, max_results, order_by, page_token
        )
        runs = wire.runs_with_models(rows)
    else:
        page = store.search_runs(
            experiment_ids, filter_string, view_type, max_results, order_by, page_token
        )
        runs, token = [wire.run_with_models(r) for r in page], page.token
    out: dict[str, Any] = {}
    if runs:
        out["runs"] = runs
    if token:
        out["next_page_token"] = token
    return out


# -- logging ----------------------------------------------------------------------------------


def log_metric(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    run_id = run_id_of(f)
    metric = metric_of(f)
    # A point that names a logged model is copied to it in the same transaction (store side).
    ctx.tracking_store.log_metric(run_id, metric)
    return {}


def log_param(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    run_id = run_id_of(f)
    ctx.tracking_store.log_param(run_id, param_of(f))
    return {}


def set_tag(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    run_id = run_id_of(f)
    ctx.tracking_store.set_tag(run_id, tag_of(f))
    return {}


def delete_tag(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    run_id = run_id_of(f)
    ctx.tracking_store.delete_tag(run_id, f.required_string("key"))
    return {}


def log_batch(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    run_id = run_id_of(f)
    sent_metrics = f.raw().get("metrics")
    # The usual body comes decoded into columns (log_batch_body) or is checked in bulk here;
    # any other shape is read item by item below.
    if type(sent_metrics) is MetricColumns:
        plain: MetricColumns | None = sent_metrics
    elif type(sent_metrics) is list and len(sent_metrics) <= validation.MAX_METRICS_PER_BATCH:
        plain = plain_metrics(sent_metrics)
    else:
        plain = None
    raw_metrics = f.object_list("metrics") if plain is None else []
    raw_params = f.object_list("params")
    raw_tags = f.object_list("tags")
    n_metrics = len(plain) if plain is not None else len(raw_metrics)
    # Sizes first, so an oversized batch is refused before any item is read: the store's own
    # check. The params' positions stand in for their keys, which are not read yet; duplicate
    # keys are checked once they are.
    positions = [f"params[{i}]" for i in range(len(raw_params))]
    validation.validate_batch(n_metrics, positions, len(raw_tags))
    metrics = (
        plain
        if plain is not None
        else [metric_of(m, f"metrics[{i}].") for i, m in enumerate(raw_metrics)]
    )
    params = [param_of(p, f"params[{i}].") for i, p in enumerate(raw_params)]
    tags = [tag_of(t, f"tags[{i}].") for i, t in enumerate(raw_tags)]
    validation.validate_distinct_param_keys(p.key for p in params)
    # One store call, one transaction: a param conflict or an unknown model_id found there
    # rolls back every metric.
    ctx.tracking_store.log_batch(run_id, metrics, params, tags)
    return {}


def log_inputs(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    run_id = run_id_of(f)
    datasets = [
        dataset_input_of(d, f"datasets[{i}].") for i, d in enumerate(f.object_list("datasets"))
    ]
    model_ids = [m.required_string("model_id") for m in f.object_list("models")]
    if datasets:
        ctx.tracking_store.log_inputs(run_id, datasets)
    if model_ids:
        _store_method(ctx, "log_model_inputs")(run_id, model_ids)
    elif not datasets:
        ctx.tracking_store.get_run(run_id)  # still answer 404 for an unknown run
    return {}


def log_model(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    run_id = run_id_of(f)
    model = decode_json(f.required_string("model_json"), "Field 'model_json'")
    if not isinstance(model, dict):
        raise InvalidParameter("Field 'model_json' must hold a JSON object (an MLmodel dict).")
    missing = [name for name in _LOG_MODEL_REQUIRED if name not in model]
    if missing:
        raise InvalidParameter(
            f"Field 'model_json' lacks {', '.join(missing)}; it must hold "
            f"{', '.join(_LOG_MODEL_REQUIRED)}."
        )
    # Read-modify-write of one tag: two log-model calls racing on one run could drop an entry,
    # which MLflow's own server does too; this endpoint is legacy (MLflow 3 uses logged models).
    current = ctx.tracking_store.get_run(run_id).data.tags.get(LOG_MODEL_HISTORY_TAG)
    history: Any = []
    if current:
        try:
            history = orjson.loads(current)
        except orjson.JSONDecodeError:
            history = None
        if not isinstance(history, list) or nesting_exceeds(history, MAX_JSON_DEPTH):
            # Never overwrite what is there: the user set this tag to something else.
            raise InvalidState(
                f"Run {run_id}'s tag {LOG_MODEL_HISTORY_TAG} does not hold a JSON list, so the "
                "model cannot be appended; delete or fix the tag first."
            )
    history.append(model)
    value = orjson.dumps(history).decode()
    named("model_json", lambda: validation.validate_tag(LOG_MODEL_HISTORY_TAG, value))
    ctx.tracking_store.set_tag(run_id, RunTag(LOG_MODEL_HISTORY_TAG, value))
    return {}


def log_outputs(ctx: ServerContext, f: RequestFields) -> dict[str, Any]:
    from runlab.entities import LoggedModelOutput

    run_id = run_id_of(f)
    outputs = []
    for item in f.object_list("models", required=True):
        model_id = item.required_string("model_id")
        step = item.int64("step", required=True)
        assert step is not None
        outputs.append(LoggedModelOutput(model_id, step))
    _store_method(ctx, "log_outputs")(run_id, outputs)
    return {}


def _store_method(ctx: ServerContext, name: str) -> Callable[..., Any]:
    """A store method that not every TrackingStore has (e.g. one from an older runlab)."""
    method = getattr(ctx.tracking_store, name, None)
    if method is None:
        raise RunlabError(
            f"This server's store cannot {name.replace('_', ' ')}.", "NOT_IMPLEMENTED"
        )
    return method


RUN_ID_FIELDS = {"run_id": "string", "run_uuid": "string"}
#: Writing to a run (logging, tagging, ending it) needs EDIT on its experiment.
_UPDATE = experiment("update", RUN_ID)
#: Metrics that name a logged model are stored on it as well: EDIT on its experiment too.
_LOG_METRIC = all_of(_UPDATE, experiment("update", OPTIONAL_LOGGED_MODEL_ID))
_LOG_BATCH = all_of(_UPDATE, experiment("update", METRIC_LOGGED_MODELS))
#: Recording the models a run used or produced: the run's EDIT, and READ on each model.
_LINK_MODELS = all_of(_UPDATE, experiment("read", logged_models_in("models")))

ENDPOINTS = [
    Endpoint(
        "POST",
        "runs/create",
        create,
        "Create a run",
        {
            "experiment_id": "string",
            "user_id": "string",
            "run_name": "string",
            "start_time": "integer",
            "tags": "array",
        },
        rule=experiment("update", EXPERIMENT_ID_OR_DEFAULT),
    ),
    Endpoint(
        "POST",
        "runs/update",
        update,
        "Update a run's status, end time or name",
        {**RUN_ID_FIELDS, "status": "string", "end_time": "integer", "run_name": "string"},
        ("run_id",),
        rule=_UPDATE,
    ),
    Endpoint(
        "POST",
        "runs/delete",
        delete,
        "Delete a run",
        RUN_ID_FIELDS,
        ("run_id",),
        rule=experiment("delete", RUN_ID),
    ),
    Endpoint(
        "POST",
        "runs/restore",
        restore,
        "Restore a run",
        RUN_ID_FIELDS,
        ("run_id",),
        rule=experiment("delete", RUN_ID),
    ),
    Endpoint(
        "GET",
        "runs/get",
        get,
        "Get a run",
        RUN_ID_FIELDS,
        ("run_id",),
        rule=experiment("read", RUN_ID),
    ),
    Endpoint(
        "POST",
        "runs/search",
        search,
        "Search runs",
        {
            "experiment_ids": "array",
            "filter": "string",
            "run_view_type": "string",
            "max_results": "integer",
            "order_by": "array",
            "page_token": "string",
        },
        rule=filtered_search("runs"),
    ),
    Endpoint(
        "POST",
        "runs/log-metric",
        log_metric,
        "Log one metric point",
        {
            **RUN_ID_FIELDS,
            "key": "string",
            "value": "number",
            "timestamp": "integer",
            "step": "integer",
            "model_id": "string",
            "dataset_name": "string",
            "dataset_digest": "string",
        },
        ("run_id", "key", "value", "timestamp"),
        rule=_LOG_METRIC,
    ),
    Endpoint(
        "POST",
        "runs/log-parameter",
        log_param,
        "Log one param",
        {**RUN_ID_FIELDS, "key": "string", "value": "string"},
        ("run_id", "key"),
        rule=_UPDATE,
    ),
    Endpoint(
        "POST",
        "runs/set-tag",
        set_tag,
        "Set a run tag",
        {**RUN_ID_FIELDS, "key": "string", "value": "string"},
        ("run_id", "key"),
        rule=_UPDATE,
    ),
    Endpoint(
        "POST",
        "runs/delete-tag",
        delete_tag,
        "Delete a run tag",
        {**RUN_ID_FIELDS, "key": "string"},
        ("run_id", "key"),
        rule=_UPDATE,
    ),
    Endpoint(
        "POST",
        "runs/log-batch",
        log_batch,
        "Log metrics, params and tags atomically",
        {**RUN_ID_FIELDS, "metrics": "array", "params": "array", "tags": "array"},
        ("run_id",),
        rule=_LOG_BATCH,
        body_decoder=decode_plain_log_batch,
    ),
    Endpoint(
        "POST",
        "runs/log-inputs",
        log_inputs,
        "Record datasets and models a run used",
        {**RUN_ID_FIELDS, "datasets": "array", "models": "array"},
        ("run_id",),
        rule=_LINK_MODELS,
    ),
    Endpoint(
        "POST",
        "runs/log-model",
        log_model,
        "Record an MLmodel in the run's log-model history (legacy)",
        {**RUN_ID_FIELDS, "model_json": "string"},
        ("run_id", "model_json"),
        rule=_UPDATE,
    ),
    Endpoint(
        "POST",
        "runs/outputs",
        log_outputs,
        "Record models a run produced",
        {**RUN_ID_FIELDS, "models": "array"},
        ("run_id", "models"),
        rule=_LINK_MODELS,
    ),
]
