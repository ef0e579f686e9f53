"""Logged models in the SQL store (MLflow 3's log_model path), on all three backends."""

from __future__ import annotations

import math
import re

import pytest
import sqlalchemy as sa

from runlab.entities import (
    LifecycleStage,
    LoggedModel,
    LoggedModelInput,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    Param,
    RunTag,
)
from runlab.errors import (
    ExperimentNotFound,
    InvalidParameter,
    InvalidState,
    ModelNotFound,
    NotFound,
    RunNotFound,
)
from runlab.store.base import LoggedModelStore
from runlab.store.sql import migrations
from runlab.store.sql.engine import create_engine
from runlab.store.sql.logged_model_search import select_logged_model_ids
from runlab.store.sql.tracking import SqlTrackingStore

PENDING, READY, FAILED = (
    "LOGGED_MODEL_PENDING",
    "LOGGED_MODEL_READY",
    "LOGGED_MODEL_UPLOAD_FAILED",
)


@pytest.fixture
def exp_id(store: SqlTrackingStore) -> str:
    return store.create_experiment("models")


@pytest.fixture
def run_id(store: SqlTrackingStore, exp_id: str) -> str:
    return store.create_run(exp_id, "alice", 1000, [], "trainer").info.run_id


def _names(models: list[LoggedModel]) -> list[str]:
    return [m.name for m in models]


def _search(store: SqlTrackingStore, exp_id: str, filter_string: str, **kwargs: object) -> set[str]:
    return set(_names(store.search_logged_models([exp_id], filter_string, **kwargs)))  # type: ignore[arg-type]


# -- create, get, finalize, delete ---------------------------------------------------------------


def test_create_and_get(store: SqlTrackingStore, exp_id: str, run_id: str) -> None:
    assert isinstance(store, LoggedModelStore)
    model = store.create_logged_model(
        exp_id,
        name="clf",
        source_run_id=run_id,
        tags={"mlflow.user": "alice"},
        params=[Param("alpha", "0.5")],
        model_type="classifier",
    )
    assert re.fullmatch(r"m-[0-9a-f]{32}", model.model_id)
    experiment = store.get_experiment(exp_id)
    assert model.artifact_location == (
        f"{experiment.artifact_location}/models/{model.model_id}/artifacts"
    )
    assert model.artifact_uri == model.artifact_location
    assert model.model_uri == f"models:/{model.model_id}"
    assert (model.experiment_id, model.name, model.status) == (exp_id, "clf", PENDING)
    assert (model.source_run_id, model.model_type) == (run_id, "classifier")
    assert model.creation_timestamp == model.last_updated_timestamp > 0
    assert model.lifecycle_stage == LifecycleStage.ACTIVE
    assert model.tags == {"mlflow.user": "alice"} and model.params == {"alpha": "0.5"}
    assert model.metrics == [] and model.status_message is None
    assert store.get_logged_model(model.model_id) == model


def test_name_is_generated_when_missing(store: SqlTrackingStore, exp_id: str) -> None:
    model = store.create_logged_model(exp_id)
    assert model.name and model.source_run_id is None and model.model_type is None


def test_finalize(store: SqlTrackingStore, exp_id: str) -> None:
    model = store.create_logged_model(exp_id, "m")
    ready = store.finalize_logged_model(model.model_id, "LOGGED_MODEL_READY")
    assert ready.status == READY and ready.last_updated_timestamp >= model.creation_timestamp
    assert store.get_logged_model(model.model_id).status == READY
    failed = store.finalize_logged_model(
        model.model_id, LoggedModelStatus.UPLOAD_FAILED, "disk full"
    )
    assert (failed.status, failed.status_message) == (FAILED, "disk full")
    assert store.finalize_logged_model(model.model_id, "ready").status == READY
    with pytest.raises(InvalidParameter, match="finalized as"):
        store.finalize_logged_model(model.model_id, "LOGGED_MODEL_PENDING")
    with pytest.raises(InvalidParameter, match="Unknown logged model status"):
        store.finalize_logged_model(model.model_id, "DONE")
    with pytest.raises(ModelNotFound):
        store.finalize_logged_model("m-" + "0" * 32, READY)


def test_delete_hides_the_model(store: SqlTrackingStore, exp_id: str, run_id: str) -> None:
    model = store.create_logged_model(exp_id, "doomed")
    keep = store.create_logged_model(exp_id, "kept")
    store.delete_logged_model(model.model_id)
    with pytest.raises(ModelNotFound, match="deleted"):
        store.get_logged_model(model.model_id)
    deleted = store.get_logged_model(model.model_id, allow_deleted=True)
    assert deleted.lifecycle_stage == LifecycleStage.DELETED
    assert _names(store.search_logged_models([exp_id])) == ["kept"]
    # A deleted model takes no more writes, and cannot be deleted twice.
    for write in (
        lambda: store.delete_logged_model(model.model_id),
        lambda: store.set_logged_model_tags(model.model_id, {"a": "b"}),
        lambda: store.log_logged_model_params(model.model_id, {"a": "b"}),
        lambda: store.finalize_logged_model(model.model_id, READY),
        lambda: store.log_outputs(run_id, [LoggedModelOutput(model.model_id, 0)]),
    ):
        with pytest.raises(ModelNotFound):
            write()
    assert store.get_logged_model(keep.model_id).lifecycle_stage == LifecycleStage.ACTIVE


def test_missing_model(store: SqlTrackingStore) -> None:
    missing = "m-" + "f" * 32
    with pytest.raises(ModelNotFound, match=f"^Logged model with ID '{missing}' not found.$"):
        store.get_logged_model(missing)
    with pytest.raises(InvalidParameter):
        store.get_logged_model("")


# -- validation and missing parents -----------------------------------------------------------------


@pytest.mark.parametrize("bad", ["a/b", "a:b", "a.b", "50%", 'say "hi"', "it's", "", "   "])
def test_bad_names_write_nothing(store: SqlTrackingStore, exp_id: str, bad: str) -> None:
    with pytest.raises(InvalidParameter, match="logged model name"):
        store.create_logged_model(exp_id, bad, tags={"a": "b"}, params={"p": "1"})
    assert store.search_logged_models([exp_id]) == []


def test_bad_tags_and_params_write_nothing(store: SqlTrackingStore, exp_id: str) -> None:
    with pytest.raises(InvalidParameter, match="key"):
        store.create_logged_model(exp_id, "m", tags={"bad\nkey": "v"})
    with pytest.raises(InvalidParameter, match="must be a string"):
        store.create_logged_model(exp_id, "m", params={"p": 1})  # type: ignore[dict-item]
    with pytest.raises(InvalidParameter, match="twice"):
        store.create_logged_model(exp_id, "m", params=[("p", "1"), ("p", "2")])
    with pytest.raises(InvalidParameter, match="model_type"):
        store.create_logged_model(exp_id, "m", model_type=3)  # type: ignore[arg-type]
    assert store.search_logged_models([exp_id]) == []


def test_missing_or_deleted_parents(store: SqlTrackingStore, exp_id: str) -> None:
    with pytest.raises(ExperimentNotFound):
        store.create_logged_model("12345", "m")
    assert store.search_logged_models([exp_id]) == []
    store.delete_experiment(exp_id)
    with pytest.raises(InvalidState, match="deleted"):
        store.create_logged_model(exp_id, "m")


# -- tags and params --------------------------------------------------------------------------------


def test_tags(store: SqlTrackingStore, exp_id: str) -> None:
    model = store.create_logged_model(exp_id, "m", tags={"a": "1"})
    updated = store.set_logged_model_tags(model.model_id, [RunTag("a", "2"), RunTag("b", "3")])
    assert updated.tags == {"a": "2", "b": "3"}
    store.delete_logged_model_tag(model.model_id, "a")
    assert store.get_logged_model(model.model_id).tags == {"b": "3"}
    with pytest.raises(
        NotFound, match=f"No tag with key 'a' found for model with ID '{model.model_id}'"
    ):
        store.delete_logged_model_tag(model.model_id, "a")
    with pytest.raises(InvalidParameter):
        store.set_logged_model_tags(model.model_id, {"/abs": "x"})
    assert store.get_logged_model(model.model_id).tags == {"b": "3"}


def test_params_are_immutable(store: SqlTrackingStore, exp_id: str) -> None:
    model = store.create_logged_model(exp_id, "m", params={"alpha": "0.5"})
    store.log_logged_model_params(model.model_id, {"alpha": "0.5", "beta": "1"})  # same value: ok
    with pytest.raises(InvalidParameter, match="Changing param values is not allowed"):
        store.log_logged_model_params(model.model_id, [Param("gamma", "2"), Param("alpha", "0.9")])
    # The failed call wrote nothing, not even its new key.
    assert store.get_logged_model(model.model_id).params == {"alpha": "0.5", "beta": "1"}


# -- metrics ---------------------------------------------------------------------------------------


def test_run_metrics_with_model_id_reach_the_model(
    store: SqlTrackingStore, exp_id: str, run_id: str
) -> None:
    model = store.create_logged_model(exp_id, "m", source_run_id=run_id)
    points = [
        Metric("acc", 0.9, 10, 1, "eval", "d1", model.model_id),
        Metric("loss", math.nan, 10, 1, None, None, model.model_id),
        Metric("big", math.inf, 10, 1, None, None, model.model_id),
        Metric("run_only", 1.0, 10, 1),
    ]
    store.log_batch(run_id, metrics=points)
    store.log_model_metrics(run_id, points)
    store.log_model_metrics(run_id, points)  # a resend stores nothing twice
    got = store.get_logged_model(model.model_id).metrics
    assert len(got) == 3
    by_key = {m.key: m for m in got}
    assert by_key["acc"] == Metric("acc", 0.9, 10, 1, "eval", "d1", model.model_id, run_id)
    assert math.isnan(by_key["loss"].value) and by_key["loss"].dataset_name is None
    assert by_key["big"].value == math.inf and by_key["big"].run_id == run_id
    with pytest.raises(ModelNotFound):
        store.log_model_metrics(run_id, [Metric("acc", 1.0, 1, 0, model_id="m-" + "0" * 32)])
    with pytest.raises(RunNotFound):
        store.log_model_metrics("0" * 32, points)
    with pytest.raises(InvalidParameter):
        store.log_model_metrics(run_id, [Metric("acc", "high", 1, 0, model_id=model.model_id)])  # type: ignore[arg-type]


def test_record_metrics_directly(store: SqlTrackingStore, exp_id: str, run_id: str) -> None:
    model = store.create_logged_model(exp_id, "m")
    store.record_logged_model_metrics(
        model.model_id,
        [Metric("acc", 0.5, 1, 0, "train", "t1", run_id=run_id), Metric("acc", 0.6, 2, 1)],
    )
    got = store.get_logged_model(model.model_id).metrics
    assert [(m.value, m.step, m.dataset_name, m.run_id) for m in got] == [
        (0.5, 0, "train", run_id),
        (0.6, 1, None, None),
    ]
    with pytest.raises(InvalidParameter, match="dataset_digest"):
        store.record_logged_model_metrics(
            model.model_id, [Metric("acc", 0.5, 1, 0, "train", "x" * 37)]
        )


# -- run outputs and inputs -----------------------------------------------------------------------


def test_outputs_and_inputs(store: SqlTrackingStore, exp_id: str, run_id: str) -> None:
    produced = store.create_logged_model(exp_id, "produced", source_run_id=run_id)
    used = store.create_logged_model(exp_id, "used")
    store.log_outputs(run_id, [LoggedModelOutput(produced.model_id, 3)])
    store.log_outputs(run_id, [LoggedModelOutput(produced.model_id, 3)])  # repeat: no-op
    store.log_model_inputs(run_id, [used.model_id, LoggedModelInput(used.model_id)])
    run = store.get_run(run_id)
    assert run.outputs.model_outputs == [LoggedModelOutput(produced.model_id, 3)]
    assert run.inputs.model_inputs == [LoggedModelInput(used.model_id)]
    assert run.inputs.dataset_inputs == []
    # Runs without links load with empty lists, and search loads them too.
    other = store.create_run(exp_id, "bob", 2000, [], "other")
    assert other.outputs.model_outputs == [] and other.inputs.model_inputs == []
    found = {r.info.run_id: r for r in store.search_runs([exp_id])}
    assert found[run_id].outputs.model_outputs == [LoggedModelOutput(produced.model_id, 3)]

    with pytest.raises(ModelNotFound):
        store.log_outputs(run_id, [LoggedModelOutput("m-" + "0" * 32, 0)])
    with pytest.raises(ModelNotFound):
        store.log_model_inputs(run_id, ["m-" + "0" * 32])
    with pytest.raises(RunNotFound):
        store.log_outputs("0" * 32, [LoggedModelOutput(produced.model_id, 0)])
    with pytest.raises(InvalidParameter, match="integer"):
        store.log_outputs(run_id, [LoggedModelOutput(produced.model_id, "1")])  # type: ignore[arg-type]
    store.delete_run(run_id)
    with pytest.raises(InvalidState, match="active"):
        store.log_model_inputs(run_id, [used.model_id])


# -- search ----------------------------------------------------------------------------------------


@pytest.fixture
def catalog(store: SqlTrackingStore, exp_id: str, run_id: str) -> dict[str, LoggedModel]:
    """Five models with varied attributes, tags, params and metrics."""
    specs = [
        ("alpha", "classifier", {"team": "nlp"}, {"lr": "0.1"}, 0.91),
        ("beta", "classifier", {"team": "vision"}, {"lr": "0.01"}, 0.75),
        ("gamma", "regressor", {}, {"lr": "0.1"}, math.nan),
        ("Delta", None, {"team": "nlp"}, {}, None),
        ("epsilon", "agent", {"team": ""}, {"lr": "1"}, 0.5),
    ]
    models = {}
    for name, kind, tags, params, acc in specs:
        model = store.create_logged_model(
            exp_id,
            name,
            source_run_id=run_id if name != "Delta" else None,
            tags=tags,
            params=params,
            model_type=kind,
        )
        if acc is not None:
            store.record_logged_model_metrics(
                model.model_id, [Metric("acc", acc, 100, 5, "eval", "e1")]
            )
        models[name] = model
    store.finalize_logged_model(models["alpha"].model_id, READY)
    store.finalize_logged_model(models["beta"].model_id, FAILED)
    return models


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("name = 'alpha'", {"alpha"}),
        ("attributes.name != 'alpha'", {"beta", "gamma", "Delta", "epsilon"}),
        ("name LIKE '%a'", {"alpha", "beta", "gamma", "Delta"}),
        ("name LIKE 'd%'", set()),
        ("name ILIKE 'd%'", {"Delta"}),
        ("name IN ('alpha', 'beta', 'zeta')", {"alpha", "beta"}),
        ("name NOT IN ('alpha', 'beta')", {"gamma", "Delta", "epsilon"}),
        ("model_type = 'classifier'", {"alpha", "beta"}),
        ("model_type != 'classifier'", {"gamma", "epsilon"}),  # NULL model_type: no match
        ("status = 'LOGGED_MODEL_READY'", {"alpha"}),
        ("status = 'READY'", {"alpha"}),
        ("status IN ('UPLOAD_FAILED', 'PENDING')", {"beta", "gamma", "Delta", "epsilon"}),
        ("status LIKE '%FAILED'", {"beta"}),
        ("creation_timestamp > 0 AND last_updated_timestamp >= 0", None),
        ("tags.team = 'nlp'", {"alpha", "Delta"}),
        ("tags.team != 'nlp'", {"beta", "epsilon"}),
        ("tags.team IN ('vision', '')", {"beta", "epsilon"}),
        ("tags.team IS NULL", {"gamma"}),
        ("params.lr = '0.1'", {"alpha", "gamma"}),
        ("params.lr LIKE '0.%'", {"alpha", "beta", "gamma"}),
        ("params.lr NOT IN ('0.1')", {"beta", "epsilon"}),
        ("metrics.acc > 0.8", {"alpha"}),
        ("metrics.acc <= 0.75", {"beta", "epsilon"}),
        ("metrics.acc != 0.5", {"alpha", "beta", "gamma"}),  # NaN differs from every number
        ("metrics.acc = 0.5", {"epsilon"}),
        ("metrics.missing > 0", set()),
        ("metrics.acc > 0.8 OR tags.team = 'vision'", {"alpha", "beta"}),
        ("NOT (model_type = 'classifier') AND params.lr = '0.1'", {"gamma"}),
    ],
)
def test_filters(
    store: SqlTrackingStore,
    exp_id: str,
    catalog: dict[str, LoggedModel],
    filter_string: str,
    expected: set[str] | None,
) -> None:
    if expected is None:
        expected = set(catalog)
    assert _search(store, exp_id, filter_string) == expected


def test_source_run_filter(
    store: SqlTrackingStore, exp_id: str, run_id: str, catalog: dict[str, LoggedModel]
) -> None:
    assert "Delta" not in _search(store, exp_id, f"source_run_id = '{run_id}'")
    assert len(_search(store, exp_id, f"source_run_id = '{run_id}'")) == 4
    model_id = catalog["beta"].model_id
    assert _search(store, exp_id, f"model_id IN ('{model_id}')") == {"beta"}


def test_metric_filter_uses_the_newest_point_per_dataset(
    store: SqlTrackingStore, exp_id: str
) -> None:
    model = store.create_logged_model(exp_id, "m")
    store.record_logged_model_metrics(
        model.model_id,
        [
            Metric("acc", 0.9, 1, 1, "eval", "e1"),
            Metric("acc", 0.2, 1, 2, "eval", "e1"),  # a later step on eval replaces 0.9
            Metric("acc", 0.8, 1, 1, "train", "t1"),
        ],
    )
    assert _search(store, exp_id, "metrics.acc > 0.85") == set()
    assert _search(store, exp_id, "metrics.acc > 0.5") == {"m"}  # train's 0.8 counts
    evals = [{"dataset_name": "eval"}]
    assert _search(store, exp_id, "metrics.acc > 0.5", datasets=evals) == set()
    assert _search(store, exp_id, "metrics.acc < 0.5", datasets=evals) == {"m"}
    train = [{"dataset_name": "train", "dataset_digest": "t1"}]
    assert _search(store, exp_id, "metrics.acc > 0.5", datasets=train) == {"m"}
    wrong_digest = [{"dataset_name": "train", "dataset_digest": "zz"}]
    assert _search(store, exp_id, "metrics.acc > 0.5", datasets=wrong_digest) == set()
    # Without a metric clause, datasets keep the models measured on one of them (as in MLflow).
    assert _search(store, exp_id, "", datasets=wrong_digest) == set()
    assert _search(store, exp_id, "", datasets=train) == {"m"}


def test_datasets_without_a_metric_clause_keep_models_measured_on_them(
    store: SqlTrackingStore, exp_id: str
) -> None:
    for name, dataset, digest in [
        ("on-eval", "eval", "e1"),
        ("on-eval-v2", "eval", "e2"),
        ("on-train", "train", "t1"),
        ("no-dataset", None, None),
    ]:
        model = store.create_logged_model(exp_id, name, tags={"team": "nlp"})
        store.record_logged_model_metrics(
            model.model_id, [Metric("acc", 0.5, 1, 1, dataset, digest)]
        )
    store.create_logged_model(exp_id, "unmeasured", tags={"team": "nlp"})
    evals = [{"dataset_name": "eval"}]
    assert _search(store, exp_id, "", datasets=evals) == {"on-eval", "on-eval-v2"}
    assert _search(
        store, exp_id, "", datasets=[{"dataset_name": "eval", "dataset_digest": "e2"}]
    ) == {"on-eval-v2"}
    both = [{"dataset_name": "eval", "dataset_digest": "e1"}, {"dataset_name": "train"}]
    assert _search(store, exp_id, "tags.team = 'nlp'", datasets=both) == {"on-eval", "on-train"}
    assert _search(store, exp_id, "name LIKE 'on-%'", datasets=[{"dataset_name": "x"}]) == set()
    # A metric clause anywhere (here under OR) decides instead, as above.
    assert _search(store, exp_id, "metrics.acc > 1 OR name = 'unmeasured'", datasets=evals) == {
        "unmeasured"
    }


def test_source_run_may_belong_to_another_store(store: SqlTrackingStore, exp_id: str) -> None:
    # As in MLflow, the source run is recorded as given: it may live in another tracking store.
    elsewhere = "a" * 32
    model = store.create_logged_model(exp_id, "m", source_run_id=elsewhere)
    assert store.get_logged_model(model.model_id).source_run_id == elsewhere
    assert _search(store, exp_id, f"source_run_id = '{elsewhere}'") == {"m"}


@pytest.mark.parametrize("bad", ["", "a" * 33, "has space", 7])
def test_malformed_source_run_ids_write_nothing(
    store: SqlTrackingStore, exp_id: str, bad: object
) -> None:
    with pytest.raises(InvalidParameter, match=r"source_run_id|run id"):
        store.create_logged_model(exp_id, "m", source_run_id=bad)  # type: ignore[arg-type]
    assert store.search_logged_models([exp_id]) == []


def test_order(store: SqlTrackingStore, exp_id: str, catalog: dict[str, LoggedModel]) -> None:
    def order(*items: object) -> list[str]:
        return _names(store.search_logged_models([exp_id], order_by=list(items)))  # type: ignore[arg-type]

    # Code-point order: upper case first, on every backend.
    assert order("name") == ["Delta", "alpha", "beta", "epsilon", "gamma"]
    assert order({"field_name": "name", "ascending": False}) == [
        "gamma",
        "epsilon",
        "beta",
        "alpha",
        "Delta",
    ]
    # NaN and missing values go last in both directions.
    assert order("metrics.acc DESC")[:3] == ["alpha", "beta", "epsilon"]
    assert set(order("metrics.acc DESC")[3:]) == {"gamma", "Delta"}
    assert order({"field_name": "metrics.acc", "dataset_name": "eval"})[:3] == [
        "epsilon",
        "beta",
        "alpha",
    ]
    assert set(order({"field_name": "metrics.acc", "dataset_name": "other"})[:5]) == set(catalog)
    assert order("params.lr DESC", "name")[:2] == ["epsilon", "alpha"]
    assert order("model_type", "name") == ["epsilon", "alpha", "beta", "gamma", "Delta"]
    # Default: newest first, model_id breaking ties.
    default = store.search_logged_models([exp_id])
    keys = [(-m.creation_timestamp, m.model_id) for m in default]
    assert keys == sorted(keys)


def test_paging(store: SqlTrackingStore, exp_id: str, catalog: dict[str, LoggedModel]) -> None:
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = store.search_logged_models(
            [exp_id], order_by=["name"], max_results=2, page_token=token
        )
        seen += _names(page)
        pages += 1
        token = page.token
        if token is None:
            break
    assert pages == 3 and seen == ["Delta", "alpha", "beta", "epsilon", "gamma"]
    first = store.search_logged_models([exp_id], order_by=["name"], max_results=2)
    with pytest.raises(InvalidParameter, match="page_token"):
        store.search_logged_models([exp_id], "name = 'a'", max_results=2, page_token=first.token)
    with pytest.raises(InvalidParameter, match="page_token"):
        store.search_logged_models([exp_id], page_token="not-a-token")
    with pytest.raises(InvalidParameter, match="max_results"):
        store.search_logged_models([exp_id], max_results=0)


def test_search_scope(store: SqlTrackingStore, exp_id: str) -> None:
    other = store.create_experiment("others")
    store.create_logged_model(exp_id, "here")
    store.create_logged_model(other, "there")
    assert store.search_logged_models([]) == []
    assert set(_names(store.search_logged_models([exp_id, other]))) == {"here", "there"}
    assert _names(store.search_logged_models([other])) == ["there"]
    assert _search(store, exp_id, f"experiment_id = '{exp_id}'") == {"here"}
    with pytest.raises(InvalidParameter, match="integer"):
        store.search_logged_models(["abc"])


@pytest.mark.parametrize(
    ("filter_string", "named"),
    [
        ("name > 3", "'>'"),
        ("colour = 'red'", "'colour'"),
        ("metrics.acc LIKE '0.9'", "'LIKE'"),
        ("name = alpha", "'alpha'"),
        ("datasets.name = 'eval'", "'datasets.name'"),
        ("name = 'a' AND", "end of input"),
    ],
)
def test_bad_filter_names_the_token(
    store: SqlTrackingStore, exp_id: str, filter_string: str, named: str
) -> None:
    with pytest.raises(InvalidParameter, match=re.escape(named)):
        store.search_logged_models([exp_id], filter_string)
    # Also when no experiment is searched: the filter is still checked.
    with pytest.raises(InvalidParameter):
        store.search_logged_models([], filter_string)


@pytest.mark.parametrize(
    ("order_by", "message"),
    [
        (["colour"], "colour"),
        ([{"field_name": "name", "ascending": "yes"}], "ascending"),
        ([{"field_name": ""}], "field_name"),
        ([{"field_name": "name", "dataset_name": "eval"}], "only metrics"),
        ([{"field_name": "metrics.acc", "dataset_digest": "d"}], "dataset_name"),
        ([{"field_name": "name", "colour": "red"}], "unknown field"),
        ([3], "order_by item"),
    ],
)
def test_bad_order_by(
    store: SqlTrackingStore, exp_id: str, order_by: list[object], message: str
) -> None:
    with pytest.raises(InvalidParameter, match=message):
        store.search_logged_models([exp_id], order_by=order_by)  # type: ignore[arg-type]


def test_bad_datasets(store: SqlTrackingStore, exp_id: str) -> None:
    with pytest.raises(InvalidParameter, match="dataset_name is required"):
        store.search_logged_models([exp_id], datasets=[{"dataset_digest": "d"}])


def test_search_is_one_statement_with_bound_values(store: SqlTrackingStore) -> None:
    query = select_logged_model_ids(
        [1],
        "name = 'secret-name' AND tags.k IN ('secret-tag') AND metrics.acc > 0.25",
        [{"dataset_name": "secret-ds"}],
        [{"field_name": "metrics.acc", "dataset_name": "secret-sort"}],
        10,
        0,
        store._db.backend,
    )
    sql = str(query.compile(store._db.engine))
    for secret in ("secret-name", "secret-tag", "secret-ds", "secret-sort", "0.25", "acc"):
        assert secret not in sql
    with store._db.read() as conn:
        assert conn.execute(query).all() == []


# -- migrations ------------------------------------------------------------------------------------


def test_upgrade_from_the_first_revision(db_url: str) -> None:
    engine = create_engine(db_url)
    migrations.upgrade(engine, "0001_initial")
    with engine.connect() as conn:
        assert migrations.current_revision(conn) == "0001_initial"
        assert not sa.inspect(conn).has_table("logged_models")
    migrations.upgrade(engine)
    with engine.connect() as conn:
        assert migrations.current_revision(conn) == migrations.HEAD_REVISION
        assert sa.inspect(conn).has_table("logged_models")
    engine.dispose()
    store = SqlTrackingStore(db_url, "file:///artifacts")
    try:
        model = store.create_logged_model("0", "after-upgrade")
        assert model.artifact_location == f"file:///artifacts/0/models/{model.model_id}/artifacts"
    finally:
        store.close()
