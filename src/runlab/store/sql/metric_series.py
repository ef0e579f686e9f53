"""Writing and reading metric series: chunk rows plus the per-key summary in latest_metrics.

A log-batch appends each key's new points to that key's last chunk while it holds fewer than
``CHUNK_MERGE_BELOW`` points (so many small batches still end up in few rows), else starts a
new chunk; a key with ``CHUNK_OWN_ROW_MIN`` or more new points starts a new chunk at once.
Points identical to ones already in the last chunk are dropped: a batch resent after a timeout
does not store its points twice.

On SQLite (the standard library's driver) an append's statements are compiled once and run on the
DBAPI cursor of the same connection, in the same transaction: SQLAlchemy's per-call work (cache
keys, parameter processing, a Row per row) cost more than SQLite's own, about 0.4 ms of a
1000-point log-batch. The other backends run them through SQLAlchemy.
"""

from __future__ import annotations

import functools
import math
import sqlite3
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from runlab.entities import LifecycleStage, Metric, MetricColumns, MetricHistory
from runlab.entities.run_rows import PointRow
from runlab.store.sql import metric_codec, pg_metric_writes
from runlab.store.sql.driver_sql import Pipeline, driver_statement, execute, execute_together
from runlab.store.sql.schema import latest_metrics, metric_chunks, runs
from runlab.store.sql.tail_cache import TailCache

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

#: Points per chunk row at most. Small enough that rewriting the tail stays cheap.
CHUNK_MAX_POINTS = 1024
#: A batch is merged into the last chunk only while that chunk holds fewer points than this:
#: small batches still coalesce into rows of hundreds of points (a row costs ~70 bytes of
#: overhead, well under a byte per point), while large batches stop re-encoding a growing tail.
CHUNK_MERGE_BELOW = 256
#: A key with at least this many new points in one batch gets a chunk row of its own instead of
#: being merged into the last one: its chunk is encoded before the write lock is taken, and the
#: stored tail is neither decoded nor rewritten. Rows stay large enough to cost well under a byte
#: per point.
CHUNK_OWN_ROW_MIN = 64

_DBL_MAX = sys.float_info.max
#: How +-inf are stored (see to_db_value).
_DB_INFINITIES = frozenset({_DBL_MAX, -_DBL_MAX})


def to_db_value(value: float) -> float | None:
    """Databases without NaN/Inf (MySQL) get NULL for NaN and +-DBL_MAX for +-Inf, everywhere alike."""
    if math.isnan(value):
        return None
    if math.isinf(value):
        return _DBL_MAX if value > 0 else -_DBL_MAX
    return value


def from_db_value(value: float | None, is_nan: bool) -> float:
    """Undo :func:`to_db_value`."""
    if is_nan or value is None:
        return math.nan
    if value == _DBL_MAX:
        return math.inf
    if value == -_DBL_MAX:
        return -math.inf
    return float(value)


_Columns = tuple["npt.NDArray[np.int64]", "npt.NDArray[np.int64]", "npt.NDArray[np.float64]"]


def _group_by_key(metrics: Sequence[Metric]) -> dict[str, _Columns]:
    """Each key's (steps, timestamps, values) columns, in the order the points were given."""
    import numpy as np

    # Transposing with zip and grouping with a stable argsort keeps the per-point work in C: a
    # log-batch of 1000 points would otherwise spend most of its time in this loop.
    columns = (
        metrics
        if type(metrics) is MetricColumns
        else MetricColumns(*map(list, tuple(zip(*metrics, strict=True))[:4]))
    )
    keys, values, timestamps, steps = (
        columns.keys,
        columns.values,
        columns.timestamps,
        columns.steps,
    )
    all_steps = np.array(steps, dtype=np.int64)
    all_timestamps = np.array(timestamps, dtype=np.int64)
    all_values = np.array(values, dtype=np.float64)
    distinct = dict.fromkeys(keys)
    n_keys = len(distinct)
    if n_keys == 1:
        return {keys[0]: (all_steps, all_timestamps, all_values)}
    if keys[n_keys:] == keys[:-n_keys]:
        # The keys repeat in one order (a client logging all its metrics at each step): key i's
        # points are every n-th from the i-th, read without sorting.
        return {
            key: (all_steps[i::n_keys], all_timestamps[i::n_keys], all_values[i::n_keys])
            for i, key in enumerate(keys[:n_keys])
        }
    code = {key: i for i, key in enumerate(distinct)}
    codes = np.fromiter(map(code.__getitem__, keys), dtype=np.int64, count=len(keys))
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(distinct) + 1))
    out: dict[str, _Columns] = {}
    for key, start, end in zip(distinct, bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        picked = order[start:end]
        out[key] = (all_steps[picked], all_timestamps[picked], all_values[picked])
    return out


#: Keys whose tail chunks one statement looks up (SQLite allows 500 terms in a compound SELECT).
_TAIL_KEYS_PER_STATEMENT = 100


_SUMMARY_FIELDS = ("value", "is_nan", "timestamp", "step", "min_value", "max_value", "count")


@dataclass(slots=True)
class _Tail:
    """A key's last chunk and its summary: a row of the tails query, in its column order."""

    key: str
    seq: int
    chunk_count: int
    max_step: int
    #: The chunk's bytes; None in a kept tail whose chunk was too large to keep (see
    #: :func:`_usable`).
    data: bytes | None
    value: float | None
    is_nan: bool
    timestamp: int
    step: int
    min_value: float | None
    max_value: float | None
    count: int


def _select_tails(conn: Connection, cursor: Any, run_id: str, keys: list[str]) -> dict[str, _Tail]:
    """Each key's last chunk (highest seq) and its latest_metrics summary: {key: tail}.

    One index probe per key, however long the series: each key's newest chunk is read with its
    own ``ORDER BY seq DESC LIMIT 1`` branch of a UNION ALL, joined to the key's summary row.
    Keys never logged before have no row. On psycopg the tails come with the run's lock
    instead (:func:`lock_run`).
    """
    tails: dict[str, _Tail] = {}
    for start in range(0, len(keys), _TAIL_KEYS_PER_STATEMENT):
        part = keys[start : start + _TAIL_KEYS_PER_STATEMENT]
        values: dict[str, Any] = {"run_id": run_id}
        values.update((f"k{i}", key) for i, key in enumerate(part))
        statement = (
            _sqlite_tails_statement(len(part))
            if conn.dialect.name == "sqlite"
            else _tails_statement(len(part))
        )
        rows: Iterable[Any]
        if cursor is None:
            rows = conn.execute(statement, values)
        else:
            driver = driver_statement(conn.dialect, statement)
            rows = execute(conn, cursor, driver.sql, driver.bind(values))
        for row in rows:
            tail = _Tail(*row)
            tails[tail.key] = tail
    return tails


@functools.lru_cache(maxsize=_TAIL_KEYS_PER_STATEMENT)
def _tails_statement(n_keys: int) -> sa.Select[Any] | sa.CompoundSelect[Any]:
    """The tails query for ``n_keys`` keys (bound as ``run_id`` and ``k0`` ... ``k{n-1}``)."""
    selects = []
    for i in range(n_keys):
        tail = (
            sa.select(
                metric_chunks.c.key,
                metric_chunks.c.seq,
                metric_chunks.c["count"].label("chunk_count"),
                metric_chunks.c.max_step,
                metric_chunks.c.data,
            )
            .where(
                metric_chunks.c.run_id == sa.bindparam("run_id"),
                metric_chunks.c.key == sa.bindparam(f"k{i}"),
            )
            .order_by(metric_chunks.c.seq.desc())
            .limit(1)
            .subquery(f"tail_{i}")
        )
        summary = latest_metrics.alias(f"summary_{i}")
        joined = tail.join(
            summary,
            sa.and_(summary.c.run_id == sa.bindparam("run_id"), summary.c.key == tail.c.key),
        )
        selects.append(
            sa.select(tail, *(summary.c[name] for name in _SUMMARY_FIELDS)).select_from(joined)
        )
    if n_keys == 1:
        return selects[0]
    return sa.union_all(*selects)


@functools.lru_cache(maxsize=_TAIL_KEYS_PER_STATEMENT)
def _sqlite_tails_statement(n_keys: int) -> sa.TextualSelect:
    """:func:`_tails_statement` for SQLite: the same rows, read from the summaries.

    SQLite runs each branch of the UNION ALL form by copying its one chunk row into a
    temporary table first. Once a run's series had grown by a few dozen batches, that read
    took 0.35-0.5 ms for 10 keys inside the write transaction, against 0.04 ms for this
    form: each key's summary row, then its chunk found by the full primary key, the
    ``max(seq)`` read from the index's end. ``CROSS JOIN`` is SQLite's way of fixing that
    join order; left free, its planner walked every chunk of each key instead.
    """
    keys = ", ".join(f":k{i}" for i in range(n_keys))
    summary = ", ".join(f"s.{name}" for name in _SUMMARY_FIELDS)
    return sa.text(
        "SELECT c.key, c.seq, c.count AS chunk_count, c.max_step, c.data, "
        f"{summary} "
        "FROM latest_metrics AS s CROSS JOIN metric_chunks AS c "
        "ON c.run_id = s.run_id AND c.key = s.key AND c.seq = ("
        "SELECT max(m.seq) FROM metric_chunks AS m WHERE m.run_id = s.run_id AND m.key = s.key) "
        f"WHERE s.run_id = :run_id AND s.key IN ({keys})"
    ).columns(
        *(sa.column(name, metric_chunks.c[name].type) for name in ("key", "seq")),
        sa.column("chunk_count", metric_chunks.c["count"].type),
        *(sa.column(name, metric_chunks.c[name].type) for name in ("max_step", "data")),
        *(sa.column(name, latest_metrics.c[name].type) for name in _SUMMARY_FIELDS),
    )


class KeyPoints:
    """One key's new points of a batch, with what writing them needs computed ahead.

    Built by :func:`group_points` before the write transaction: the summary figures and, for
    a batch large enough to get its own chunk row, the encoded chunk. Each figure is computed
    once, and from the ends of the arrays when the steps are known to rise (a training loop's
    points, nearly always), not by sorting or scanning them.
    """

    __slots__ = (
        "_chunk",
        "_deltas",
        "max_step",
        "min_step",
        "newest",
        "steps",
        "timestamps",
        "value_range",
        "values",
    )

    def __init__(
        self,
        steps: npt.NDArray[np.int64],
        timestamps: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        steps_rising: bool | None = None,
        value_range: tuple[float | None, float | None] | None = None,
        deltas: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None = None,
    ) -> None:
        """``steps_rising``, ``value_range`` and ``deltas`` (of steps and timestamps) are
        computed here unless the caller already knows them."""
        self.steps, self.timestamps, self.values = steps, timestamps, values
        if _rising(steps) if steps_rising is None else steps_rising:
            # The last point has the highest step: it is the newest, whatever its timestamp.
            self.min_step, self.max_step = int(steps[0]), int(steps[-1])
            self.newest = (self.max_step, int(timestamps[-1]), float(values[-1]))
        else:
            self.min_step, self.max_step = int(steps.min()), int(steps.max())
            self.newest = _newest(steps, timestamps, values)
        self.value_range = _finite_range(values) if value_range is None else value_range
        self._deltas = deltas
        self._chunk: dict[str, Any] | None = None
        if len(values) >= CHUNK_OWN_ROW_MIN:
            self.chunk()

    def __len__(self) -> int:
        return len(self.values)

    def chunk(self) -> dict[str, Any]:
        """The chunk-row fields for exactly these points (encoded once, on first use)."""
        if self._chunk is None:
            low, high = self.value_range
            self._chunk = {
                "count": len(self.values),
                "min_step": self.min_step,
                "max_step": self.max_step,
                "min_value": low,
                "max_value": high,
                "data": metric_codec.encode(
                    self.steps, self.timestamps, self.values, deltas=self._deltas
                ),
            }
        return self._chunk


def _rising(steps: npt.NDArray[np.int64]) -> bool:
    """True if every step is higher than the one before."""
    import numpy as np

    return len(steps) < 2 or bool((np.diff(steps) > 0).all())


def group_points(metrics: Sequence[Metric]) -> dict[str, KeyPoints]:
    """A batch's points per key, exact repeats within the batch dropped.

    Done before the write transaction starts: it needs no database, and SQLite writers hold
    one lock for the whole transaction.
    """
    rounds = _in_rounds(metrics)
    if rounds is not None:
        return _group_rounds(*rounds)
    out: dict[str, KeyPoints] = {}
    for key, (steps, timestamps, values) in _group_by_key(metrics).items():
        if _rising(steps):  # no point can repeat another
            out[key] = KeyPoints(steps, timestamps, values, steps_rising=True)
        else:
            out[key] = KeyPoints(*_unique_points(steps, timestamps, values))
    return out


_Rounds = tuple[
    list[str], "npt.NDArray[np.int64]", "npt.NDArray[np.int64]", "npt.NDArray[np.float64]"
]


def _in_rounds(metrics: Sequence[Metric]) -> _Rounds | None:
    """The batch as rounds, if every round holds each of its keys once in the same order (a
    client logging all its metrics at each step): the keys, and steps, timestamps and values
    as arrays of one row per round and one column per key. None for any other batch."""
    import numpy as np

    if type(metrics) is not MetricColumns or len(metrics) < 2:
        return None
    keys = metrics.keys
    n_keys = len(dict.fromkeys(keys))
    if len(keys) % n_keys or len(keys) == n_keys or keys[n_keys:] != keys[:-n_keys]:
        return None
    shape = (len(keys) // n_keys, n_keys)
    return (
        keys[:n_keys],
        np.array(metrics.steps, dtype=np.int64).reshape(shape),
        np.array(metrics.timestamps, dtype=np.int64).reshape(shape),
        np.array(metrics.values, dtype=np.float64).reshape(shape),
    )


def _group_rounds(
    keys: list[str],
    steps: npt.NDArray[np.int64],
    timestamps: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
) -> dict[str, KeyPoints]:
    """:func:`group_points` for a batch in rounds: what KeyPoints would compute key by key (the
    steps' and timestamps' deltas, whether the steps rise, the value range) is computed for
    every key at once, each a pass over the whole batch instead of a few calls per key."""
    import numpy as np

    step_deltas = np.diff(steps, axis=0, prepend=0)  # the first row: the first steps themselves
    timestamp_deltas = np.diff(timestamps, axis=0, prepend=0)
    rising: list[bool] = np.all(step_deltas[1:] > 0, axis=0).tolist()
    lows: list[float] = values.min(axis=0).tolist()
    highs: list[float] = values.max(axis=0).tolist()
    out: dict[str, KeyPoints] = {}
    for i, key in enumerate(keys):
        columns = (steps[:, i], timestamps[:, i], values[:, i])
        if not rising[i]:
            out[key] = KeyPoints(*_unique_points(*columns))
            continue
        low, high = lows[i], highs[i]
        # NaN among the values makes both NaN: KeyPoints then finds the range without them.
        value_range = None if low != low else (to_db_value(low), to_db_value(high))
        deltas = (step_deltas[:, i], timestamp_deltas[:, i])
        out[key] = KeyPoints(*columns, steps_rising=True, value_range=value_range, deltas=deltas)
    return out


def append_metrics(
    conn: Connection, run_id: str, by_key: dict[str, KeyPoints], *, locked: LockedRun | None = None
) -> None:
    """Append grouped points (see :func:`group_points`) to their chunks and refresh
    latest_metrics, inside the caller's transaction.

    Up to 100 keys, this costs one read and at most four executemany writes (on PostgreSQL one
    statement), plus the run's lock (see :func:`lock_run`) unless the caller already took it
    (``locked``, with the tails it read then, if any).
    """
    if not by_key:
        return
    if locked is None:
        locked = lock_run(conn, run_id, list(by_key))
    cursor = _driver_cursor(conn)
    try:
        _append(conn, cursor, run_id, by_key, locked.tails)
    finally:
        if cursor is not None:
            cursor.close()


def _append(
    conn: Connection,
    cursor: Any,
    run_id: str,
    by_key: dict[str, KeyPoints],
    tails: dict[str, _Tail] | None,
) -> None:
    # A key's summary and its chunks are written together, so one row holds both (or neither).
    if tails is None:
        tails = _select_tails(conn, cursor, run_id, list(by_key))
    _planned_writes(run_id, by_key, tails).flush(conn, cursor, run_id)


def _planned_writes(run_id: str, by_key: dict[str, KeyPoints], tails: dict[str, _Tail]) -> _Writes:
    """The rows that append ``by_key`` to the series whose tails are ``tails``."""
    import numpy as np

    writes = _Writes()
    for key, points in by_key.items():
        tail = tails.get(key)
        if tail is None:
            writes.chunk_inserts.append({"run_id": run_id, "key": key, "seq": 0, **points.chunk()})
            _summarise(writes, run_id, key, None, points)
            continue
        old = None
        if points.min_step <= tail.max_step:
            # Steps overlap what is stored: drop points already there (a resent batch).
            old = metric_codec.decode(_chunk_of(tail))
            kept = _drop_known(old, points.steps, points.timestamps, points.values)
            if len(kept[2]) == 0:
                continue
            if len(kept[2]) != len(points):
                points = KeyPoints(*kept)
        if _merges(points, tail):
            if old is None:
                old = metric_codec.decode(_chunk_of(tail))
            merged = [
                np.concatenate((o, n))
                for o, n in zip(old, (points.steps, points.timestamps, points.values), strict=True)
            ]
            fields = _chunk_fields(merged[0], merged[1], merged[2])
            where = {"w_run_id": run_id, "w_key": key, "w_seq": tail.seq}
            writes.chunk_updates.append({**where, **fields})
        else:
            row = {"run_id": run_id, "key": key, "seq": tail.seq + 1, **points.chunk()}
            writes.chunk_inserts.append(row)
        _summarise(writes, run_id, key, tail, points)
    return writes


def _merges(points: KeyPoints, tail: _Tail) -> bool:
    """Whether ``points`` join the tail chunk rather than start a chunk of their own."""
    return (
        len(points) < CHUNK_OWN_ROW_MIN
        and tail.chunk_count < CHUNK_MERGE_BELOW
        and tail.chunk_count + len(points) <= CHUNK_MAX_POINTS
    )


def _chunk_of(tail: _Tail) -> bytes:
    if tail.data is None:  # _usable() keeps such tails away from _planned_writes
        raise RuntimeError(f"the tail of {tail.key!r} was kept without its chunk")
    return tail.data


def _usable(tail: _Tail, points: KeyPoints) -> bool:
    """Whether a kept tail holds what appending ``points`` to it reads: its chunk's bytes, when
    the points overlap it (a resent batch) or join it."""
    return tail.data is not None or not (points.min_step <= tail.max_step or _merges(points, tail))


# Locks the run's row against other metric writers, but not against foreign-key checks (params,
# tags and chunks inserted for the run only take a key-share lock on it). It reads the run's
# lifecycle stage too, so a log-batch checks and locks its run in one round trip.
_LOCK_RUN = sa.select(runs.c.lifecycle_stage).where(runs.c.run_id == sa.bindparam("run_id"))
# On PostgreSQL the same round trip also tells the planner to keep one plan per statement for
# the rest of this transaction: the append's statements (pg_metric_writes) take their keys and
# rows as arrays, and a plan made for each call's array costs about as much again as running
# it, for the same index probes every time.
_LOCK_RUN_PG = (
    sa.select(
        sa.func.set_config("plan_cache_mode", "force_generic_plan", True),
        runs.c.lifecycle_stage,
    )
    .where(runs.c.run_id == sa.bindparam("run_id"))
    .with_for_update(key_share=True)
)
_LOCK_RUN_MYSQL = _LOCK_RUN.with_for_update()


def locks_runs(conn: Connection) -> bool:
    """Whether :func:`lock_run` takes a lock on this backend (every one but SQLite)."""
    return conn.dialect.name != "sqlite"


@dataclass(frozen=True, slots=True)
class LockedRun:
    """What :func:`lock_run` read while it took the run's lock."""

    #: The run's lifecycle stage; None if there is no such run, and always on SQLite.
    stage: str | None
    #: The keys' tails (see :func:`_select_tails`), when they were read in the same round trip.
    tails: dict[str, _Tail] | None = None


def lock_run(conn: Connection, run_id: str, keys: list[str] | None = None) -> LockedRun:
    """Serialise metric appends to one run across connections, processes and servers; what
    the run's row says, and on PostgreSQL the tails of ``keys`` too.

    An append reads each key's tail chunk and rewrites it; two transactions doing that at once
    on PostgreSQL or MySQL (read committed, no table lock) would each rewrite the tail they
    read, and the points of one would be lost. SQLite needs no lock: its writers already take
    turns on the whole file.

    On PostgreSQL the tails query goes out in the same pipeline as the lock. The database runs
    the two in order, and the tails query takes its snapshot when it starts, after the lock is
    granted, so it sees everything the previous holder of the lock wrote.
    """
    dialect = conn.dialect.name
    if dialect == "sqlite":
        return LockedRun(None)
    # PostgreSQL: FOR NO KEY UPDATE, which does not wait for (or deadlock with) the key-share
    # locks that inserts referencing the run hold. MySQL: FOR UPDATE (deadlocks are retried).
    statement = _LOCK_RUN_PG if dialect == "postgresql" else _LOCK_RUN_MYSQL
    if _driver_cursor_kind(conn) != "postgresql":
        row = conn.execute(statement, {"run_id": run_id}).first()
        return LockedRun(None if row is None else str(row[-1]))
    lock = driver_statement(conn.dialect, statement)
    statements = [(lock.sql, lock.bind({"run_id": run_id}))]
    if keys:
        statements.append(
            (pg_metric_writes.TAILS_SQL, pg_metric_writes.tails_parameters(run_id, keys))
        )
    results = execute_together(conn, statements)
    row = results[0][0] if results[0] else None
    tails = {found[0]: _Tail(*found[:_TAIL_FIELDS]) for found in results[1]} if keys else None
    return LockedRun(None if row is None else str(row[-1]), tails)


def commits_itself(dialect: sa.Dialect) -> bool:
    """Whether :func:`append_and_commit` can run on connections of ``dialect`` (psycopg)."""
    return dialect.name == "postgresql" and dialect.driver == "psycopg"


#: A tail kept between batches (see :mod:`tail_cache`): the tail, and the id of the transaction
#: that wrote its summary row.
KeptTail = tuple[_Tail, str]
_TAIL_FIELDS = 12  # the tails query's columns that make a _Tail; its last is the row's xmin
#: Tail chunks larger than this are kept without their bytes: only a batch that overlaps or
#: joins them reads them, and it then reads the tails from the database.
_KEPT_CHUNK_MAX = 2048


def append_and_commit(
    conn: Connection,
    run_id: str,
    keys: list[str],
    group: Callable[[], dict[str, KeyPoints]],
    check_stage: Callable[[str | None], None],
    kept: TailCache[KeptTail] | None = None,
) -> None:
    """A log-batch of metrics alone, on psycopg, as a whole transaction in one or two round
    trips.

    Through psycopg's own transaction handling the same work waits for the database four
    times: BEGIN goes out alone before the first statement, and COMMIT after the last. Here
    the connection is put in autocommit for the length of the call and sends its own BEGIN,
    in one pipeline with the run's lock, and the write goes out with COMMIT. ``group`` (the
    batch's points per key, :func:`group_points`) runs after the first statements are sent,
    while the database works on them.

    When ``kept`` holds the tails of every key of the batch (this process wrote them last),
    the write is planned from those and goes out in the same pipeline as the lock, behind a
    check that the tails are still current (``pg_metric_writes.GUARD_SQL``): one round trip.
    Otherwise, or if the check refuses, the tails are read after the lock and the write
    follows in a second round trip. ``check_stage`` sees the run's lifecycle stage (None: no
    such run) and raises to refuse the batch, which rolls everything back.

    ``conn`` must not have run anything in its transaction yet. On return the batch is
    committed, and the transaction SQLAlchemy still holds finds nothing left to commit. On an
    error the transaction is rolled back here (or the connection invalidated if it cannot
    be), so the pool never gets a connection back in autocommit or inside a transaction.
    """
    from psycopg.pq import TransactionStatus

    raw: Any = conn.connection.dbapi_connection
    raw.autocommit = True
    try:
        tails = kept.get(run_id, keys) if kept is not None else None
        if tails is not None and kept is not None:
            try:
                if _append_to_kept(conn, run_id, group, tails, kept):
                    return
            except sa.exc.DBAPIError as exc:
                if not _refused_by_guard(exc):
                    raise
            # The kept tails were not current, or lacked a chunk this batch reads: plan again
            # from the tails in the database.
            kept.drop(run_id)
            if raw.info.transaction_status != TransactionStatus.IDLE:
                raw.rollback()
        _append_to_read(conn, run_id, keys, group, check_stage, kept)
    except BaseException:
        if kept is not None:
            kept.drop(run_id)
        raise
    finally:
        _leave_autocommit(conn, raw)


def _append_to_kept(
    conn: Connection,
    run_id: str,
    group: Callable[[], dict[str, KeyPoints]],
    kept_tails: dict[str, KeptTail],
    kept: TailCache[KeptTail],
) -> bool:
    """One round trip: BEGIN, the lock, the check of the kept tails, the write, COMMIT. False
    (nothing written) if a kept tail lacks a chunk the batch reads."""
    guard = pg_metric_writes.guard_parameters(
        run_id,
        LifecycleStage.ACTIVE,
        [(key, xmin, tail.count) for key, (tail, xmin) in kept_tails.items()],
    )
    tails = {key: tail for key, (tail, _) in kept_tails.items()}
    with Pipeline(conn) as pipeline:
        _begin_and_lock(conn, pipeline, run_id, (pg_metric_writes.GUARD_SQL, guard))
        by_key = group()
        if not all(_usable(tails[key], points) for key, points in by_key.items()):
            return False
        writes, wrote = _write_and_commit(pipeline, run_id, by_key, tails)
    written = pipeline.rows()[3][0][0] if wrote else None
    xmins = {key: xmin for key, (_, xmin) in kept_tails.items()}
    kept.put(run_id, _kept_after(by_key, tails, xmins, writes, written))
    return True


def _append_to_read(
    conn: Connection,
    run_id: str,
    keys: list[str],
    group: Callable[[], dict[str, KeyPoints]],
    check_stage: Callable[[str | None], None],
    kept: TailCache[KeptTail] | None,
) -> None:
    """Two round trips: BEGIN, the lock and the tails; then the write and COMMIT."""
    tails_query = (pg_metric_writes.TAILS_SQL, pg_metric_writes.tails_parameters(run_id, keys))
    with Pipeline(conn) as pipeline:
        _begin_and_lock(conn, pipeline, run_id, tails_query)
        by_key = group()
        _, locked, found = pipeline.collect()
        check_stage(str(locked[0][-1]) if locked else None)
        tails = {row[0]: _Tail(*row[:_TAIL_FIELDS]) for row in found}
        writes, wrote = _write_and_commit(pipeline, run_id, by_key, tails)
    if kept is not None:
        written = pipeline.rows()[0][0][0] if wrote else None
        xmins = {row[0]: str(row[_TAIL_FIELDS]) for row in found}
        kept.put(run_id, _kept_after(by_key, tails, xmins, writes, written))


def _begin_and_lock(
    conn: Connection, pipeline: Pipeline, run_id: str, then: tuple[str, Any]
) -> None:
    """Send BEGIN, the run's lock and the statement ``then`` (the guard or the tails query)."""
    lock = driver_statement(conn.dialect, _LOCK_RUN_PG)
    pipeline.send([(_BEGIN, None), (lock.sql, lock.bind({"run_id": run_id})), then])


def _write_and_commit(
    pipeline: Pipeline, run_id: str, by_key: dict[str, KeyPoints], tails: dict[str, _Tail]
) -> tuple[_Writes, bool]:
    """Send the write that appends ``by_key`` to ``tails`` (if anything is new) and COMMIT;
    the writes, and whether a write statement went out (its row comes before COMMIT's)."""
    writes = _planned_writes(run_id, by_key, tails)
    present, values = pg_metric_writes.write_parameters(run_id, writes)
    wrote = any(present)
    if wrote:
        pipeline.send([(pg_metric_writes.write_sql(present), values)])
    pipeline.send([(_COMMIT, None)])
    return writes, wrote


def _refused_by_guard(exc: sa.exc.DBAPIError) -> bool:
    from psycopg import errors

    return isinstance(exc.orig, errors.DivisionByZero)


def _kept_after(
    by_key: dict[str, KeyPoints],
    tails: dict[str, _Tail],
    xmins: dict[str, str],
    writes: _Writes,
    written: str | None,
) -> dict[str, KeptTail]:
    """The tails of ``by_key``'s keys once ``writes`` (by transaction ``written``) committed:
    a written key's new chunk and summary; any other key's tail as it was."""
    chunks = {row["key"]: (row["seq"], row) for row in writes.chunk_inserts}
    chunks.update((row["w_key"], (row["w_seq"], row)) for row in writes.chunk_updates)
    summaries = {row["key"]: row for row in writes.summary_inserts}
    summaries.update((row["w_key"], row) for row in writes.summary_updates)
    out: dict[str, KeptTail] = {}
    for key in by_key:
        summary = summaries.get(key)
        if summary is None or written is None:
            if key in tails:  # nothing new for this key: its tail stands
                out[key] = (tails[key], xmins[key])
            continue
        seq, chunk = chunks[key]
        data = chunk["data"] if len(chunk["data"]) <= _KEPT_CHUNK_MAX else None
        tail = _Tail(
            key,
            seq,
            chunk["count"],
            chunk["max_step"],
            data,
            *(summary[name] for name in _SUMMARY_FIELDS),
        )
        out[key] = (tail, written)
    return out


_BEGIN = "BEGIN"
_COMMIT = "COMMIT"


def _leave_autocommit(conn: Connection, raw: Any) -> None:
    """Roll back what an error left open, and give the connection back out of autocommit."""
    from psycopg.pq import TransactionStatus

    try:
        if raw.info.transaction_status != TransactionStatus.IDLE:
            raw.rollback()
        raw.autocommit = False
    except Exception:
        # A connection that cannot be put back as it was is closed, never reused.
        conn.invalidate()


@dataclass
class _Writes:
    chunk_inserts: list[dict[str, Any]] = field(default_factory=list)
    chunk_updates: list[dict[str, Any]] = field(default_factory=list)
    summary_inserts: list[dict[str, Any]] = field(default_factory=list)
    summary_updates: list[dict[str, Any]] = field(default_factory=list)

    def flush(self, conn: Connection, cursor: Any, run_id: str) -> None:
        if cursor is not None and conn.dialect.name == "postgresql":
            present, values = pg_metric_writes.write_parameters(run_id, self)
            if any(present):
                execute(conn, cursor, pg_metric_writes.write_sql(present), values)
            return
        for statement, rows in (
            (_INSERT_CHUNK, self.chunk_inserts),
            (_UPDATE_CHUNK, self.chunk_updates),
            (_INSERT_SUMMARY, self.summary_inserts),
            (_UPDATE_SUMMARY, self.summary_updates),
        ):
            if not rows:
                continue
            if cursor is None:
                conn.execute(statement, rows)
            else:
                driver = driver_statement(conn.dialect, statement, _INSERT_COLUMNS.get(statement))
                execute(conn, cursor, driver.sql, list(map(driver.bind, rows)), many=True)


def _driver_cursor_kind(conn: Connection) -> str | None:
    """ "sqlite" or "postgresql" where :func:`_driver_cursor` gives a cursor, else None."""
    dialect = conn.dialect
    if dialect.name == "sqlite" and dialect.driver == "pysqlite":
        return "sqlite"
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        return "postgresql"
    return None


def _driver_cursor(conn: Connection) -> Any:
    """A DBAPI cursor of ``conn`` (same transaction) when its driver is the standard library's
    SQLite or psycopg, whose parameter styles the driver statements are compiled for; None on
    any other driver (MySQL/MariaDB keep SQLAlchemy's executemany)."""
    kind = _driver_cursor_kind(conn)
    dbapi_connection: Any = conn.connection.dbapi_connection
    if kind is None or (kind == "sqlite" and not isinstance(dbapi_connection, sqlite3.Connection)):
        return None
    return dbapi_connection.cursor()


# Statements built once: SQLAlchemy then reuses their compiled form on every batch.
_INSERT_CHUNK = metric_chunks.insert()
_INSERT_SUMMARY = latest_metrics.insert()
#: The columns an insert's rows give: all of the table's.
_INSERT_COLUMNS: dict[Any, list[str]] = {
    _INSERT_CHUNK: [column.name for column in metric_chunks.columns],
    _INSERT_SUMMARY: [column.name for column in latest_metrics.columns],
}
_UPDATE_CHUNK = (
    metric_chunks.update()
    .where(
        metric_chunks.c.run_id == sa.bindparam("w_run_id"),
        metric_chunks.c.key == sa.bindparam("w_key"),
        metric_chunks.c.seq == sa.bindparam("w_seq"),
    )
    .values(
        {
            name: sa.bindparam(name)
            for name in ("count", "min_step", "max_step", "min_value", "max_value", "data")
        }
    )
)
_UPDATE_SUMMARY = (
    latest_metrics.update()
    .where(
        latest_metrics.c.run_id == sa.bindparam("w_run_id"),
        latest_metrics.c.key == sa.bindparam("w_key"),
    )
    .values({name: sa.bindparam(name) for name in _SUMMARY_FIELDS})
)


def _unique_points(
    steps: npt.NDArray[np.int64], timestamps: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Drop exact repeats within one batch (MLflow stores each (step, timestamp, value) once)."""
    import numpy as np

    if len(values) < 2:
        return steps, timestamps, values
    # Repeats share their step and timestamp; a loop's strictly rising steps rule them out.
    if (np.diff(steps) > 0).all() or (np.diff(timestamps) > 0).all():
        return steps, timestamps, values
    rows = np.stack((steps, timestamps, values.view(np.int64)), axis=1)
    _, first = np.unique(rows, axis=0, return_index=True)
    if len(first) == len(values):
        return steps, timestamps, values
    keep = np.sort(first)
    return steps[keep], timestamps[keep], values[keep]


def _drop_known(
    old: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]],
    steps: npt.NDArray[np.int64],
    timestamps: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    import numpy as np

    old_steps, old_ts, old_values = old
    # The usual case, a loop moving forward: every new point is later (by timestamp or step)
    # than everything stored, so none can repeat a stored point.
    if len(old_ts) == 0 or timestamps.min() > old_ts.max() or steps.min() > old_steps.max():
        return steps, timestamps, values
    known = set(
        zip(old_steps.tolist(), old_ts.tolist(), old_values.view(np.int64).tolist(), strict=True)
    )
    new_rows = zip(steps.tolist(), timestamps.tolist(), values.view(np.int64).tolist(), strict=True)
    mask = np.fromiter((row not in known for row in new_rows), dtype=bool, count=len(values))
    if mask.all():
        return steps, timestamps, values
    return steps[mask], timestamps[mask], values[mask]


def _finite_range(values: npt.NDArray[np.float64]) -> tuple[float | None, float | None]:
    """The lowest and highest value, NaN left out (None, None if every value is NaN)."""
    import numpy as np

    if len(values) == 0:
        return None, None
    low, high = values.min(), values.max()
    if np.isnan(low):  # min and max are NaN if any value is
        real = values[~np.isnan(values)]
        if len(real) == 0:
            return None, None
        low, high = real.min(), real.max()
    return to_db_value(float(low)), to_db_value(float(high))


def _chunk_fields(
    steps: npt.NDArray[np.int64],
    timestamps: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
) -> dict[str, Any]:
    low, high = _finite_range(values)
    return {
        "count": len(values),
        "min_step": int(steps.min()),
        "max_step": int(steps.max()),
        "min_value": low,
        "max_value": high,
        "data": metric_codec.encode(steps, timestamps, values),
    }


def _newest(
    steps: npt.NDArray[np.int64], timestamps: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
) -> tuple[int, int, float]:
    """The latest point: highest step, then timestamp, then value (NaN counts as lowest)."""
    import numpy as np

    ranking_values = np.where(np.isnan(values), -np.inf, values)
    order = np.lexsort((ranking_values, timestamps, steps))
    i = int(order[-1])
    return int(steps[i]), int(timestamps[i]), float(values[i])


def _summarise(
    writes: _Writes, run_id: str, key: str, summary: _Tail | None, points: KeyPoints
) -> None:
    step, timestamp, value = points.newest
    low, high = points.value_range
    new = {
        "value": to_db_value(value),
        "is_nan": math.isnan(value),
        "timestamp": timestamp,
        "step": step,
        "min_value": low,
        "max_value": high,
        "count": len(points),
    }
    if summary is None:
        writes.summary_inserts.append({"run_id": run_id, "key": key, **new})
        return
    old_value = from_db_value(summary.value, summary.is_nan)
    old_rank = (summary.step, summary.timestamp, -math.inf if math.isnan(old_value) else old_value)
    new_rank = (step, timestamp, -math.inf if math.isnan(value) else value)
    if new_rank < old_rank:
        for name in ("value", "is_nan", "timestamp", "step"):
            new[name] = getattr(summary, name)
    new["count"] = summary.count + len(points)
    if summary.min_value is not None and summary.max_value is not None:  # NULL together
        new["min_value"] = summary.min_value if low is None else min(low, summary.min_value)
        new["max_value"] = summary.max_value if high is None else max(high, summary.max_value)
    writes.summary_updates.append({"w_run_id": run_id, "w_key": key, **new})


def read_history(conn: Connection, run_id: str, key: str) -> MetricHistory:
    """Every point of one metric, ordered by (timestamp, step, value)."""
    import numpy as np

    rows = conn.execute(
        sa.select(metric_chunks.c.data)
        .where(metric_chunks.c.run_id == run_id, metric_chunks.c.key == key)
        .order_by(metric_chunks.c.seq)
    ).scalars()
    parts = [metric_codec.decode(blob) for blob in rows]
    if not parts:
        empty_i = np.empty(0, dtype=np.int64)
        return MetricHistory(key, empty_i, empty_i.copy(), np.empty(0, dtype=np.float64))
    steps = np.concatenate([p[0] for p in parts])
    timestamps = np.concatenate([p[1] for p in parts])
    values = np.concatenate([p[2] for p in parts])
    if not _already_ordered(steps, timestamps, values):
        order = np.lexsort((values, steps, timestamps))
        steps, timestamps, values = steps[order], timestamps[order], values[order]
    return MetricHistory(key, steps, timestamps, values)


def _already_ordered(
    steps: npt.NDArray[np.int64], timestamps: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
) -> bool:
    import numpy as np

    dt = np.diff(timestamps)
    if (dt > 0).all():
        return True
    if (dt < 0).any():
        return False
    ties = dt == 0
    ds = np.diff(steps)
    if (ds[ties] < 0).any():
        return False
    both = ties & (ds == 0)
    return not both.any()


def latest_point_rows(rows: Sequence[Any]) -> Sequence[PointRow]:
    """latest_metrics rows ``(run_id, key, value, is_nan, timestamp, step)`` as
    ``(run_id, key, value, timestamp, step)`` with the value as a float (NaN and the
    infinities decoded from their stored form)."""
    # Nearly every value is a plain finite float; a page's hundreds of points then need no
    # per-point check beyond this one pass.
    return [
        (run_id, key, float(value), timestamp, step)
        if not is_nan and value is not None and value not in _DB_INFINITIES
        else (run_id, key, from_db_value(value, is_nan), timestamp, step)
        for run_id, key, value, is_nan, timestamp, step in rows
    ]
