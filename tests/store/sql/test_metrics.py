"""Metric series in the SQL store: history order, special values, latest value, dedupe, chunks."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from runlab.entities import Metric, MetricColumns
from runlab.errors import InvalidParameter, InvalidState, RunlabError, RunNotFound
from runlab.store.sql import metric_series
from runlab.store.sql.schema import latest_metrics, metric_chunks
from runlab.store.sql.tracking import SqlTrackingStore
from support.pg_trace import traced


@pytest.fixture
def run_id(store: SqlTrackingStore) -> str:
    return store.create_run("0", "u", 0, [], "metrics").info.run_id


def test_history_is_ordered_by_timestamp_step_value(store: SqlTrackingStore, run_id: str) -> None:
    points = [
        Metric("m", 3.0, 30, 2),
        Metric("m", 1.0, 10, 0),
        Metric("m", 2.5, 20, 1),
        Metric("m", 2.0, 20, 1),
        Metric("m", 0.5, 20, 0),
    ]
    store.log_batch(run_id, metrics=points[:2])
    store.log_batch(run_id, metrics=points[2:])
    history = store.get_metric_history(run_id, "m")
    assert [(m.timestamp, m.step, m.value) for m in history] == [
        (10, 0, 1.0),
        (20, 0, 0.5),
        (20, 1, 2.0),
        (20, 1, 2.5),
        (30, 2, 3.0),
    ]
    assert history == list(history)
    assert history[-1] == Metric("m", 3.0, 30, 2)
    assert [m.value for m in history[1:3]] == [0.5, 2.0]


def test_special_values_round_trip(store: SqlTrackingStore, run_id: str) -> None:
    store.log_batch(
        run_id,
        metrics=[
            Metric("s", math.nan, 1, 0),
            Metric("s", math.inf, 2, 1),
            Metric("s", -math.inf, 3, 2),
            Metric("s", 1e-300, 4, 3),
        ],
    )
    values = [m.value for m in store.get_metric_history(run_id, "s")]
    assert math.isnan(values[0]) and values[1:] == [math.inf, -math.inf, 1e-300]
    assert store.get_run(run_id).data.metrics["s"] == 1e-300
    store.log_metric(run_id, Metric("s", math.inf, 5, 4))
    assert store.get_run(run_id).data.metrics["s"] == math.inf
    store.log_metric(run_id, Metric("s", math.nan, 6, 5))
    assert math.isnan(store.get_run(run_id).data.metrics["s"])


def test_latest_value_is_highest_step_then_timestamp(store: SqlTrackingStore, run_id: str) -> None:
    store.log_batch(run_id, metrics=[Metric("m", 5.0, 100, 10), Metric("m", 7.0, 50, 3)])
    store.log_metric(run_id, Metric("m", 9.0, 200, 2))  # newer timestamp, older step
    assert store.get_run(run_id).data.metrics["m"] == 5.0
    store.log_metric(run_id, Metric("m", 4.0, 101, 10))  # same step, newer timestamp
    assert store.get_run(run_id).data.metrics["m"] == 4.0


def test_summary_tracks_min_max_count(store: SqlTrackingStore, run_id: str) -> None:
    store.log_batch(run_id, metrics=[Metric("m", v, i, i) for i, v in enumerate([3.0, -1.0, 8.0])])
    store.log_batch(run_id, metrics=[Metric("m", math.nan, 9, 9), Metric("m", 0.0, 10, 10)])
    with store._db.read() as conn:
        row = conn.execute(sa.select(latest_metrics).where(latest_metrics.c.run_id == run_id)).one()
    assert (row.min_value, row.max_value, row.count) == (-1.0, 8.0, 5)


@pytest.mark.parametrize("size", [3, metric_series.CHUNK_OWN_ROW_MIN])
def test_summary_and_chunk_figures_of_a_batch(
    store: SqlTrackingStore, run_id: str, size: int
) -> None:
    # Rising steps with falling timestamps: the newest point is the highest step, the last.
    rising = [Metric("r", float(i), 10_000 - i, 2 * i) for i in range(size)]
    # Steps out of order, a repeated point, NaN among the values: same figures, found by
    # sorting and scanning.
    shuffled = [Metric("s", float(i), 100 + i, (7 * i) % size) for i in range(size)]
    shuffled += [shuffled[0], Metric("s", math.nan, 1, 0)]
    only_nan = [Metric("n", math.nan, i, i) for i in range(size)]
    store.log_batch(run_id, metrics=rising + shuffled + only_nan)
    with store._db.read() as conn:
        summaries = {
            row.key: row
            for row in conn.execute(
                sa.select(latest_metrics).where(latest_metrics.c.run_id == run_id)
            )
        }
        chunks = {
            row.key: row
            for row in conn.execute(
                sa.select(metric_chunks).where(metric_chunks.c.run_id == run_id)
            )
        }
    top = max(range(size), key=lambda i: ((7 * i) % size, 100 + i))
    expected = {
        "r": (float(size - 1), 10_000 - size + 1, 2 * (size - 1), 0.0, size - 1.0, size),
        "s": (float(top), 100 + top, (7 * top) % size, 0.0, size - 1.0, size + 1),
        "n": (None, size - 1, size - 1, None, None, size),
    }
    for key, (value, timestamp, step, low, high, count) in expected.items():
        row = summaries[key]
        assert (row.value, row.timestamp, row.step) == (value, timestamp, step)
        assert (row.min_value, row.max_value, row.count) == (low, high, count)
        chunk = chunks[key]
        assert (chunk.min_value, chunk.max_value, chunk.count) == (low, high, count)
        steps = [m.step for m in {"r": rising, "s": shuffled, "n": only_nan}[key]]
        assert (chunk.min_step, chunk.max_step) == (min(steps), max(steps))
    assert math.isnan(store.get_run(run_id).data.metrics["n"])


def test_resent_batch_is_stored_once(store: SqlTrackingStore, run_id: str) -> None:
    batch = [Metric("m", float(i), 1000 + i, i) for i in range(50)]
    store.log_batch(run_id, metrics=batch)
    store.log_batch(run_id, metrics=batch)
    store.log_batch(run_id, metrics=batch + batch)
    assert len(store.get_metric_history(run_id, "m")) == 50
    # A point that differs in any field is a new point.
    store.log_metric(run_id, Metric("m", 0.0, 1000, 1))
    assert len(store.get_metric_history(run_id, "m")) == 51


def _chunk_counts(store: SqlTrackingStore, run_id: str) -> list[int]:
    with store._db.read() as conn:
        return list(
            conn.execute(
                sa.select(metric_chunks.c["count"])
                .where(metric_chunks.c.run_id == run_id)
                .order_by(metric_chunks.c.seq)
            ).scalars()
        )


def test_many_small_batches_share_chunks(store: SqlTrackingStore, run_id: str) -> None:
    total = metric_series.CHUNK_MAX_POINTS * 2 + 10
    size = metric_series.CHUNK_OWN_ROW_MIN - 1
    for start in range(0, total, size):
        store.log_batch(
            run_id,
            metrics=[Metric("m", i * 0.5, i, i) for i in range(start, min(total, start + size))],
        )
    counts = _chunk_counts(store, run_id)
    assert sum(counts) == total
    # Batches coalesce until a row holds CHUNK_MERGE_BELOW points; then a new row starts.
    assert all(c >= metric_series.CHUNK_MERGE_BELOW for c in counts[:-1])
    assert len(counts) <= total // metric_series.CHUNK_MERGE_BELOW + 1
    history = store.get_metric_history(run_id, "m")
    assert [m.step for m in history] == list(range(total))
    assert history.values.tolist() == [i * 0.5 for i in range(total)]


def test_large_batches_get_rows_of_their_own(store: SqlTrackingStore, run_id: str) -> None:
    size = metric_series.CHUNK_OWN_ROW_MIN
    store.log_batch(run_id, metrics=[Metric("m", 1.0, i, i) for i in range(3)])
    for start in range(3, 3 + 3 * size, size):
        store.log_batch(
            run_id, metrics=[Metric("m", 1.0, i, i) for i in range(start, start + size)]
        )
    # The small first batch is left alone; each large one is a row, never merged.
    assert _chunk_counts(store, run_id) == [3, size, size, size]
    # A resent large batch is recognised against the newest row and stored once.
    last = [Metric("m", 1.0, i, i) for i in range(3 + 2 * size, 3 + 3 * size)]
    store.log_batch(run_id, metrics=last)
    assert _chunk_counts(store, run_id) == [3, size, size, size]
    assert [m.step for m in store.get_metric_history(run_id, "m")] == list(range(3 + 3 * size))


def test_history_paging(store: SqlTrackingStore, run_id: str) -> None:
    store.log_batch(run_id, metrics=[Metric("m", float(i), i, i) for i in range(25)])
    seen, token = [], None
    while True:
        page = store.get_metric_history(run_id, "m", max_results=10, page_token=token)
        seen.extend(m.step for m in page)
        token = page.token
        if token is None:
            break
    assert seen == list(range(25))
    with pytest.raises(InvalidParameter):
        store.get_metric_history(run_id, "other", max_results=10, page_token=page.token or "x")
    with pytest.raises(InvalidParameter):
        store.get_metric_history(run_id, "m", max_results=0)


def test_history_of_unknown_key_or_run(store: SqlTrackingStore, run_id: str) -> None:
    assert len(store.get_metric_history(run_id, "never")) == 0
    with pytest.raises(RunNotFound):
        store.get_metric_history("a" * 32, "m")


def test_single_points_coalesce_into_few_rows(store: SqlTrackingStore, run_id: str) -> None:
    for i in range(600):
        store.log_metric(run_id, Metric("m", float(i), i, i))
    with store._db.read() as conn:
        rows = conn.execute(
            sa.select(sa.func.count()).where(metric_chunks.c.run_id == run_id)
        ).scalar_one()
    assert rows <= 600 // metric_series.CHUNK_MERGE_BELOW + 1
    assert [m.step for m in store.get_metric_history(run_id, "m")] == list(range(600))


def test_many_keys_append_to_their_own_tails(store: SqlTrackingStore, run_id: str) -> None:
    # More keys than one tail lookup covers, each appended to twice, interleaved as a loop logs.
    keys = [f"k{i:03d}" for i in range(230)]
    for step in range(4):
        store.log_batch(
            run_id, metrics=[Metric(k, step + j, 100 + step, step) for j, k in enumerate(keys)]
        )
    for j in (0, 99, 100, 229):
        history = store.get_metric_history(run_id, keys[j])
        assert [(m.step, m.value) for m in history] == [(s, float(s + j)) for s in range(4)]
    with store._db.read() as conn:
        rows = conn.execute(
            sa.select(sa.func.count()).where(metric_chunks.c.run_id == run_id)
        ).scalar_one()
    assert rows == len(keys)  # every key's points merged into its one chunk


def test_tail_is_the_newest_chunk_of_a_long_series(store: SqlTrackingStore, run_id: str) -> None:
    # Full chunks, then a resent batch: it must be compared with the newest chunk only.
    size = 500
    for start in range(0, size * 3, size):
        store.log_batch(
            run_id, metrics=[Metric("m", float(i), i, i) for i in range(start, start + size)]
        )
    tail_batch = [Metric("m", float(i), i, i) for i in range(size * 3 - 10, size * 3)]
    store.log_batch(run_id, metrics=tail_batch)
    store.log_batch(run_id, metrics=[Metric("m", -1.0, size * 3, size * 3)])
    history = store.get_metric_history(run_id, "m")
    assert [m.step for m in history] == list(range(size * 3 + 1))


def test_sqlite_tails_are_the_general_forms_rows(store: SqlTrackingStore, run_id: str) -> None:
    # SQLite reads the tails with a statement of its own (summaries, then each key's newest
    # chunk by its full primary key); it must give exactly the rows of the UNION ALL form.
    if store._db.backend != "sqlite":
        pytest.skip("the SQLite form of the tails read")
    other = store.create_run("0", "u", 0, [], "other").info.run_id
    for start in range(0, 1500, 500):  # several chunks for "long", one for the others
        store.log_batch(
            run_id, metrics=[Metric("long", float(i), i, i) for i in range(start, start + 500)]
        )
    store.log_batch(run_id, metrics=[Metric("nan", math.nan, 1, 0), Metric("short", 2.0, 1, 3)])
    store.log_batch(other, metrics=[Metric("long", 9.0, 1, 99_999)])
    keys = ["long", "nan", "short", "never-logged"]
    general = metric_series._tails_statement(len(keys))
    sqlite_form = metric_series._sqlite_tails_statement(len(keys))
    values = {"run_id": run_id, **{f"k{i}": key for i, key in enumerate(keys)}}
    with store._db.read() as conn:
        expected = sorted(tuple(row) for row in conn.execute(general, values))
        assert sorted(tuple(row) for row in conn.execute(sqlite_form, values)) == expected
        tails = metric_series._select_tails(conn, None, run_id, keys)
        compiled = sqlite_form.compile(dialect=conn.dialect)
        plan = conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {compiled}", tuple(values[n] for n in compiled.positiontup or ())
        ).all()
    assert [row[0] for row in expected] == ["long", "nan", "short"]
    assert {key: (t.seq, t.max_step, t.count) for key, t in tails.items()} == {
        "long": (max(row[1] for row in expected), 1499, 1500),
        "nan": (0, 0, 1),
        "short": (0, 3, 1),
    }
    assert tails["nan"].is_nan and tails["nan"].value is None
    # Each chunk is found by (run_id, key, seq), not by walking the key's chunks.
    assert any("metric_chunks" in str(row) and "seq=?" in str(row) for row in plan), plan


def test_points_out_of_order_within_a_batch_are_deduplicated(
    store: SqlTrackingStore, run_id: str
) -> None:
    points = [Metric("m", 1.0, 5, 2), Metric("m", 1.0, 5, 1), Metric("m", 1.0, 5, 2)]
    store.log_batch(run_id, metrics=points)
    assert [(m.step, m.timestamp) for m in store.get_metric_history(run_id, "m")] == [
        (1, 5),
        (2, 5),
    ]


@pytest.mark.parametrize(
    "point",
    [
        Metric("m", 10**400, 1, 0),  # type: ignore[arg-type]
        Metric("m", 1.0, 2**63, 0),
        Metric("m", 1.0, 1, -(2**63) - 1),
        Metric("m", 1.0, -1, 0),
        Metric("m", "1.0", 1, 0),  # type: ignore[arg-type]
        Metric("a//b", 1.0, 1, 0),
    ],
)
def test_bad_points_refuse_the_whole_batch(
    store: SqlTrackingStore, run_id: str, point: Metric
) -> None:
    good = [Metric("m", float(i), i, i) for i in range(5)]
    with pytest.raises(InvalidParameter):
        store.log_batch(run_id, metrics=[*good, point])
    assert len(store.get_metric_history(run_id, "m")) == 0


def test_int_and_integral_values_are_stored_as_numbers(
    store: SqlTrackingStore, run_id: str
) -> None:
    store.log_batch(run_id, metrics=[Metric("m", 3, 1, 0), Metric("m", 2.0, 2, True and 1)])  # type: ignore[arg-type]
    assert [m.value for m in store.get_metric_history(run_id, "m")] == [3.0, 2.0]


def test_appends_skip_sqlalchemy_on_sqlite_and_postgresql(
    store: SqlTrackingStore, run_id: str
) -> None:
    """On SQLite and PostgreSQL the append's reads and writes run on the driver's cursor, in
    the same transaction (on PostgreSQL as one tails query and one write statement); on MySQL
    they go through SQLAlchemy. All store the same points: a new key, a merge into the tail
    chunk and a chunk of its own, so every kind of write is made."""
    seen: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    sa.event.listen(store._db.engine, "before_cursor_execute", record)
    try:
        for start in (0, 3, 3 + metric_series.CHUNK_OWN_ROW_MIN):  # insert, merge, own row
            size = 3 if start == 0 else metric_series.CHUNK_OWN_ROW_MIN
            store.log_batch(
                run_id,
                metrics=[
                    Metric(k, float(i), i, i) for i in range(start, start + size) for k in "ab"
                ],
            )
    finally:
        sa.event.remove(store._db.engine, "before_cursor_execute", record)
    through_sqlalchemy = [s for s in seen if "metric_chunks" in s or "latest_metrics" in s]
    if store._db.backend in ("sqlite", "postgresql"):
        assert through_sqlalchemy == []
    else:
        assert through_sqlalchemy
    size = metric_series.CHUNK_OWN_ROW_MIN
    for key in "ab":
        history = store.get_metric_history(run_id, key)
        assert [m.step for m in history] == list(range(3 + 2 * size))
    assert store.get_run(run_id).data.metrics == {"a": 2.0 + 2 * size, "b": 2.0 + 2 * size}


@pytest.mark.parametrize(
    "keys",
    [
        list("abc") * 4,  # every key at every step, in one order
        list("abc") * 3 + list("ab"),  # the last step cut short
        list("abcd"),  # each key once
        list("aabbcc"),  # key by key
        list("abcacb"),  # no fixed order
        list("abab") + list("ba"),
    ],
)
def test_points_are_grouped_by_key_in_their_order(keys: list[str]) -> None:
    points = [Metric(k, float(i), 100 + i, i // 3) for i, k in enumerate(keys)]
    grouped = metric_series._group_by_key(points)
    assert list(grouped) == list(dict.fromkeys(keys))
    for key, (steps, timestamps, values) in grouped.items():
        mine = [p for p in points if p.key == key]
        assert steps.tolist() == [p.step for p in mine]
        assert timestamps.tolist() == [p.timestamp for p in mine]
        assert values.tolist() == [p.value for p in mine]


def _rounds_batch(case: str, rounds: int) -> list[Metric]:
    points = []
    for r in range(rounds):
        for k, key in enumerate("abc"):
            step = {"falling steps": rounds - r, "repeats": r // 2 * 2}.get(case, r)
            value = 1.0 / (r + k + 1)
            if case == "nan" and r % 5 == k:
                value = math.nan
            if case == "all nan" and key == "b":
                value = math.nan
            if case == "inf" and r == 3:
                value = -math.inf if k else math.inf
            points.append(Metric(key, value, 10_000 + r * 7 - k, step))
    if case == "repeats":
        points[3:6] = points[0:3]  # round 1 repeats round 0 exactly
    return points


@pytest.mark.parametrize("rounds", [2, metric_series.CHUNK_OWN_ROW_MIN + 6])
@pytest.mark.parametrize("case", ["rising", "falling steps", "repeats", "nan", "all nan", "inf"])
def test_batches_in_rounds_get_what_key_by_key_work_gives(case: str, rounds: int) -> None:
    """A batch whose keys repeat in one order takes a faster way (every key at once); what it
    computes must be exactly what the key-by-key way computes for the same points."""
    points = _rounds_batch(case, rounds)
    columns = MetricColumns(*map(list, tuple(zip(*points, strict=True))[:4]))
    assert metric_series._in_rounds(columns) is not None
    assert metric_series._in_rounds(columns[:-1]) is None  # the last round cut short
    fast = metric_series.group_points(columns)
    slow = metric_series.group_points(points)  # Metric tuples: the key-by-key way
    assert list(fast) == list(slow) == ["a", "b", "c"]
    for key in fast:
        mine, theirs = fast[key], slow[key]
        for name in ("steps", "timestamps", "values"):
            ours, reference = getattr(mine, name), getattr(theirs, name)
            assert ours.view(np.int64).tolist() == reference.view(np.int64).tolist()
        assert (mine.min_step, mine.max_step) == (theirs.min_step, theirs.max_step)
        assert str(mine.newest) == str(theirs.newest)  # NaN-aware
        assert mine.value_range == theirs.value_range
        assert mine.chunk() == theirs.chunk()  # the same blob, byte for byte


def test_a_failure_after_the_points_are_written_rolls_them_back(
    store: SqlTrackingStore, run_id: str
) -> None:
    """The points go in first (on SQLite through the driver's cursor); a point naming a model
    that does not exist fails the batch afterwards, in the same transaction: nothing stays."""
    points = [Metric(k, float(i), i, i) for i in range(100) for k in "ab"]
    points.append(Metric("c", 1.0, 1, 0, model_id="m-" + "0" * 32))
    with pytest.raises(RunlabError):
        store.log_batch(run_id, metrics=points)
    for key in "abc":
        assert len(store.get_metric_history(run_id, key)) == 0
    assert store.get_run(run_id).data.metrics == {}
    with store._db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(metric_chunks)).scalar() == 0


@pytest.mark.parametrize("key", ["NULL", "null", " spaced out ", "a/b:c.d-e"])
def test_keys_an_array_literal_must_quote_round_trip(
    store: SqlTrackingStore, run_id: str, key: str
) -> None:
    """On PostgreSQL the append sends its rows as array literals: a key's spaces and punctuation
    come back as they went in, and a key spelled NULL stays a key."""
    store.log_batch(run_id, metrics=[Metric(key, float(s), s, s) for s in range(70)])
    store.log_batch(run_id, metrics=[Metric(key, math.nan, 100, 70), Metric("plain", 1.0, 1, 0)])
    history = store.get_metric_history(run_id, key)
    assert [m.step for m in history] == list(range(71))
    assert math.isnan(history[-1].value)
    assert set(store.get_run(run_id).data.metrics) == {key, "plain"}


def _pooled_connection_is_clean(store: SqlTrackingStore) -> None:
    """The connection a refused batch used went back to the pool idle and out of autocommit."""
    with store._db.engine.connect() as conn:
        raw: Any = conn.connection.dbapi_connection
        if store._db.backend == "postgresql":
            assert raw.autocommit is False
            assert raw.info.transaction_status.name == "IDLE"


@pytest.mark.parametrize("refusal", ["no such run", "deleted run"])
def test_a_refused_metrics_batch_writes_nothing_and_leaves_the_connection_clean(
    store: SqlTrackingStore, run_id: str, refusal: str
) -> None:
    store.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 0)])
    target = "f" * 32 if refusal == "no such run" else run_id
    if refusal == "deleted run":
        store.delete_run(run_id)
    with pytest.raises(RunNotFound if refusal == "no such run" else InvalidState):
        store.log_batch(target, metrics=[Metric("m", 2.0, 2, s) for s in range(1, 100)])
    _pooled_connection_is_clean(store)
    if refusal == "deleted run":
        store.restore_run(run_id)
    assert [m.step for m in store.get_metric_history(run_id, "m")] == [0]
    store.log_batch(run_id, metrics=[Metric("m", 3.0, 3, 1)])  # and the next batch goes in
    assert [m.step for m in store.get_metric_history(run_id, "m")] == [0, 1]


def test_a_write_the_database_refuses_rolls_back_the_whole_batch(
    store: SqlTrackingStore, run_id: str
) -> None:
    """The write fails after the lock and the tails were read (on PostgreSQL: in the second
    pipeline, next to COMMIT): nothing of the batch stays, and the connection goes back clean."""
    if store._db.backend != "postgresql":
        pytest.skip("a constraint added to a table, as PostgreSQL allows")
    store.log_batch(run_id, metrics=[Metric(k, 1.0, 1, 0) for k in "ab"])
    with store._db.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE latest_metrics ADD CONSTRAINT few CHECK (count < 50)"))
    try:
        with pytest.raises(sa.exc.IntegrityError):
            store.log_batch(
                run_id, metrics=[Metric(k, 2.0, 2, s) for s in range(1, 80) for k in "ab"]
            )
        _pooled_connection_is_clean(store)
        for key in "ab":
            assert [m.step for m in store.get_metric_history(run_id, key)] == [0]
        assert store.get_run(run_id).data.metrics == {"a": 1.0, "b": 1.0}
    finally:
        with store._db.engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE latest_metrics DROP CONSTRAINT few"))
    store.log_batch(run_id, metrics=[Metric("a", 3.0, 3, 1)])
    assert [m.step for m in store.get_metric_history(run_id, "a")] == [0, 1]


def test_postgresql_later_batches_of_a_run_take_one_round_trip(
    store: SqlTrackingStore, run_id: str
) -> None:
    """The tails the first batch wrote are kept: the next batch checks them with the run's lock
    and writes in the same round trip."""
    if store._db.backend != "postgresql":
        pytest.skip("round trips to PostgreSQL")
    with traced(store._db.engine) as first:
        store.log_batch(run_id, metrics=[Metric(k, 0.5, 1, s) for s in range(3) for k in "ab"])
    with traced(store._db.engine) as later:
        store.log_batch(run_id, metrics=[Metric(k, 1.5, 2, s) for s in range(3, 6) for k in "ab"])
    assert (first.round_trips, later.round_trips) == (2, 1)
    for key in "ab":
        assert [m.step for m in store.get_metric_history(run_id, key)] == list(range(6))


def test_batches_from_two_servers_to_one_run_interleave_without_loss(
    store: SqlTrackingStore, run_id: str, db_url: str, tmp_path: Path
) -> None:
    """Each store keeps the tails it wrote; the other store's writes make them stale, which
    the next batch finds out before writing anything, and it reads the tails again."""
    other = SqlTrackingStore(db_url, (tmp_path / "other").as_uri())
    try:
        rng = np.random.default_rng(3)
        stores = [store, other, other, store, store, other, store, other]
        sizes = [70, 5, 80, 1, 90, 3, 65, 2]  # own chunks and merges into the tail, in turn
        step = 0
        for writer, size in zip(stores, sizes, strict=True):
            values = rng.normal(size=size)
            writer.log_batch(
                run_id,
                metrics=[
                    Metric(k, float(v), 100 + step + i, step + i)
                    for i, v in enumerate(values)
                    for k in "ab"
                ],
            )
            step += size
        for reader in (store, other):
            for key in "ab":
                assert [m.step for m in reader.get_metric_history(run_id, key)] == list(range(step))
            latest = reader.get_run(run_id).data.metrics
            assert set(latest) == {"a", "b"}
        with store._db.read() as conn:
            counts = conn.execute(sa.select(latest_metrics.c["count"])).scalars().all()
        assert counts == [step, step]
    finally:
        other.close()


def test_a_resent_batch_over_a_large_tail_chunk_is_stored_once(
    store: SqlTrackingStore, run_id: str
) -> None:
    """A tail chunk too large to keep in memory is read back when a resent batch needs it."""
    values = np.random.default_rng(5).normal(size=1000)
    batch = [Metric("m", float(v), 10 + s, s) for s, v in enumerate(values)]
    store.log_batch(run_id, metrics=batch)
    store.log_batch(run_id, metrics=batch[-300:])  # resent: every point already there
    store.log_batch(run_id, metrics=[*batch[-2:], Metric("m", 7.0, 2000, 1000)])
    history = store.get_metric_history(run_id, "m")
    assert [m.step for m in history] == list(range(1001))
    assert store.get_run(run_id).data.metrics["m"] == 7.0
