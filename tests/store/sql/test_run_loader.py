"""Loading whole runs (info, params, tags, latest metrics, inputs, model links), on all backends."""

from __future__ import annotations

import math
import tempfile

import pytest

from runlab.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelInput,
    LoggedModelOutput,
    Metric,
    Param,
    Run,
    RunTag,
)
from runlab.server import wire
from runlab.store.sql import pg_metric_writes, run_loader
from runlab.store.sql.tracking import SqlTrackingStore


def _fill(store: SqlTrackingStore, n: int) -> list[str]:
    """``n`` runs with params and tags logged out of key order, and metrics incl. NaN and inf."""
    ids = []
    for i in range(n):
        run_id = store.create_run("0", "alice", 1000 + i, [], f"run-{i}").info.run_id
        store.log_batch(
            run_id,
            metrics=[
                Metric("loss", 1.0 / (i + 1), 5, 2),
                Metric("nan", math.nan, 6, 3),
                Metric("inf", -math.inf, 7, 4),
            ],
            params=[Param(k, f"{k}-{i}") for k in ("zeta", "alpha", "mid")],
            tags=[RunTag(k, f"{k}-{i}") for k in ("z", "a")],
        )
        ids.append(run_id)
    return ids


def _check(run: Run, i: int) -> None:
    assert run.info.run_name == f"run-{i}"
    assert run.info.start_time == 1000 + i
    # Each run's params and tags come in key order, whatever order they were logged in.
    assert list(run.data.params.items()) == [(k, f"{k}-{i}") for k in ("alpha", "mid", "zeta")]
    user_tags = [(k, v) for k, v in run.data.tags.items() if not k.startswith("mlflow.")]
    assert user_tags == [("a", f"a-{i}"), ("z", f"z-{i}")]
    assert run.data.metrics["loss"] == 1.0 / (i + 1)
    assert math.isnan(run.data.metrics["nan"])
    assert run.data.metrics["inf"] == -math.inf
    assert run.data.latest_points["loss"] == Metric("loss", 1.0 / (i + 1), 5, 2)


@pytest.mark.parametrize("sqlite_json", [True, False], ids=["json_each", "expanded_in"])
def test_runs_load_whole_in_the_asked_order_across_id_batches(
    store: SqlTrackingStore, monkeypatch: pytest.MonkeyPatch, sqlite_json: bool
) -> None:
    if not sqlite_json:
        if store._db.backend != "sqlite":
            pytest.skip("the expanded IN list is SQLite's fallback for libraries before 3.38")
        # An SQLite library without JSON functions takes SQLAlchemy's expanded IN list.
        monkeypatch.setattr(run_loader, "_SQLITE_HAS_JSON", False)
        run_loader._statements.cache_clear()
    # Small id batches, so that one call spans several (the real batch is 500 ids).
    monkeypatch.setattr(run_loader, "_ID_BATCH", 3)
    ids = _fill(store, 7)
    asked = [ids[5], "0" * 32, ids[0], ids[6], ids[3], ids[1], ids[2], ids[4]]
    try:
        with store._db.read() as conn:
            loaded = run_loader.load_runs(conn, asked)
    finally:
        run_loader._statements.cache_clear()
    # A missing id is left out; the others keep the asked order.
    assert [r.info.run_id for r in loaded] == [i for i in asked if i != "0" * 32]
    for run in loaded:
        _check(run, ids.index(run.info.run_id))


def test_inputs_and_model_links_load_with_their_runs(store: SqlTrackingStore) -> None:
    first, second = _fill(store, 2)
    train = Dataset(name="train", digest="d1", source_type="local", source="s1", schema="{}")
    test = Dataset(name="eval", digest="d2", source_type="local", source="s2", profile="p")
    store.log_inputs(first, [DatasetInput(train, [InputTag("mlflow.data.context", "training")])])
    store.log_inputs(first, [DatasetInput(test, [])])
    model = store.create_logged_model("0", name="m", source_run_id=first)
    used = store.create_logged_model("0", name="u")
    store.log_outputs(first, [LoggedModelOutput(model.model_id, 3)])
    store.log_model_inputs(second, [used.model_id])

    with store._db.read() as conn:
        a, b = run_loader.load_runs(conn, [first, second])
    assert [(d.dataset.name, d.tags) for d in a.inputs.dataset_inputs] == [
        ("eval", []),
        ("train", [InputTag("mlflow.data.context", "training")]),
    ]
    assert a.inputs.dataset_inputs[1].dataset == train
    assert a.outputs.model_outputs == [LoggedModelOutput(model.model_id, 3)]
    assert a.inputs.model_inputs == []
    assert b.inputs.model_inputs == [LoggedModelInput(used.model_id)]
    assert b.inputs.dataset_inputs == [] and b.outputs.model_outputs == []


def test_a_search_answer_made_from_the_rows_is_the_runs_messages(
    store: SqlTrackingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's search answer is made in one pass over the loaded rows (each database
    returns the points in its own order of runs); it is the messages of the same runs made
    one by one, on every backend, across id batches, with datasets and model links."""
    monkeypatch.setattr(run_loader, "_ID_BATCH", 3)
    ids = _fill(store, 7)
    train = Dataset(name="train", digest="d1", source_type="local", source="s1", schema="{}")
    store.log_inputs(ids[2], [DatasetInput(train, [InputTag("mlflow.data.context", "training")])])
    model = store.create_logged_model("0", name="m", source_run_id=ids[4])
    store.log_outputs(ids[4], [LoggedModelOutput(model.model_id, 3)])
    store.log_model_inputs(ids[5], [model.model_id])
    bare = store.create_run("0", "bob", 5, [], "bare").info.run_id
    asked = [ids[6], bare, *ids[:6]]
    with store._db.read() as conn:
        rows = run_loader.load_run_rows(conn, asked)
        runs = run_loader.load_runs(conn, asked)
    answer = wire.runs_with_models(rows)
    assert answer == [wire.run_with_models(r) for r in runs]
    assert [m["info"]["run_id"] for m in answer] == asked
    by_id = {m["info"]["run_id"]: m for m in answer}
    points = {m["key"]: m["value"] for m in by_id[ids[3]]["data"]["metrics"]}
    assert points == {"loss": 0.25, "nan": "NaN", "inf": "-Infinity"}
    assert by_id[ids[2]]["inputs"]["dataset_inputs"][0]["dataset"]["name"] == "train"
    assert by_id[ids[4]]["outputs"] == {"model_outputs": [{"model_id": model.model_id, "step": 3}]}
    assert by_id[ids[5]]["inputs"] == {"model_inputs": [{"model_id": model.model_id}]}
    assert by_id[bare]["inputs"] == {} and set(by_id[bare]["data"]) == {"tags"}


def test_postgresql_loads_a_page_in_one_round_trip(store: SqlTrackingStore) -> None:
    """On PostgreSQL the loader's seven statements go out in one pipeline: libpq's trace of
    the connection shows one answer cycle (one ReadyForQuery) for the whole page."""
    if store._db.backend != "postgresql":
        pytest.skip("pipelines are psycopg's")
    ids = _fill(store, 3)
    with store._db.read() as conn, tempfile.TemporaryFile() as trace:
        conn.exec_driver_sql("SELECT 1")  # the transaction's BEGIN, outside the trace
        pgconn = conn.connection.dbapi_connection.pgconn  # type: ignore[union-attr]
        pgconn.trace(trace.fileno())
        try:
            runs = run_loader.load_runs(conn, ids)
        finally:
            pgconn.untrace()
        trace.seek(0)
        messages = trace.read().decode()
    for i, run in enumerate(runs):
        _check(run, i)
    assert messages.count("\tReadyForQuery") == 1
    assert messages.count("\tExecute\t") == len(run_loader._STATEMENT_NAMES)


def test_postgresql_gets_the_ids_as_one_array_text_that_reads_back_as_given(
    store: SqlTrackingStore,
) -> None:
    """The page's ids go to PostgreSQL as the array's text form, made once for the loader's
    statements. Any string reads back as itself (quotes, backslashes, commas, braces, an empty
    string, the word NULL), and ids that match no run are left out."""
    if store._db.backend != "postgresql":
        pytest.skip("the array's text form is PostgreSQL's")
    odd = ['a"b', "c\\d", "e,f", "{g}", "", "NULL", " h ", "é"]
    text = pg_metric_writes.array_literal(odd, "VARCHAR")
    ids = _fill(store, 2)
    with store._db.read() as conn:
        (back,) = conn.exec_driver_sql("SELECT %(v)s::VARCHAR[]", {"v": text}).one()
        runs = run_loader.load_runs(conn, [odd[0], ids[1], *odd[1:], ids[0]])
    assert back == odd
    assert [r.info.run_id for r in runs] == [ids[1], ids[0]]
    _check(runs[0], 1)
