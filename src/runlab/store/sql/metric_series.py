"""Writing and reading metric series: chunk rows plus the per-key summary in latest_metrics.

A log-batch appends each key's new points to that key's last chunk while it holds fewer than
``CHUNK_MAX_POINTS`` (so many small batches still end up in few rows), else starts a new chunk.
Points identical to ones already in the last chunk are dropped: a batch resent after a timeout
does not store its points twice.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from runlab.entities import Metric, MetricHistory
from runlab.store.sql import metric_codec
from runlab.store.sql.schema import latest_metrics, metric_chunks

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

#: Points per chunk row before a new row starts. Small enough that rewriting the tail stays cheap.
CHUNK_MAX_POINTS = 1024

_DBL_MAX = sys.float_info.max


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


@dataclass
class _Series:
    steps: list[int]
    timestamps: list[int]
    values: list[float]


def append_metrics(conn: Connection, run_id: str, metrics: Sequence[Metric]) -> None:
    """Append points to their chunks and refresh latest_metrics, inside the caller's transaction."""
    import numpy as np

    if not metrics:
        return
    by_key: dict[str, _Series] = {}
    for m in metrics:
        series = by_key.get(m.key)
        if series is None:
            series = by_key[m.key] = _Series([], [], [])
        series.steps.append(int(m.step))
        series.timestamps.append(int(m.timestamp))
        series.values.append(float(m.value))

    keys = list(by_key)
    tails = _tail_chunks(conn, run_id, keys)
    summaries = _summaries(conn, run_id, keys)
    for key, series in by_key.items():
        steps = np.array(series.steps, dtype=np.int64)
        timestamps = np.array(series.timestamps, dtype=np.int64)
        values = np.array(series.values, dtype=np.float64)
        steps, timestamps, values = _unique_points(steps, timestamps, values)
        tail = tails.get(key)
        if tail is not None:
            old = metric_codec.decode(tail["data"])
            steps, timestamps, values = _drop_known(old, steps, timestamps, values)
            if len(values) == 0:
                continue
            if tail["count"] + len(values) <= CHUNK_MAX_POINTS:
                merged = tuple(
                    np.concatenate((o, n))
                    for o, n in zip(old, (steps, timestamps, values), strict=True)
                )
                _write_chunk(conn, run_id, key, tail["seq"], *merged, update=True)
            else:
                _write_chunk(conn, run_id, key, tail["seq"] + 1, steps, timestamps, values)
        else:
            _write_chunk(conn, run_id, key, 0, steps, timestamps, values)
        _update_summary(conn, run_id, key, summaries.get(key), steps, timestamps, values)


def _unique_points(
    steps: npt.NDArray[np.int64], timestamps: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Drop exact repeats within one batch (MLflow stores each (step, timestamp, value) once)."""
    import numpy as np

    if len(values) < 2:
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
    known = set(
        zip(old_steps.tolist(), old_ts.tolist(), old_values.view(np.int64).tolist(), strict=True)
    )
    new_rows = zip(steps.tolist(), timestamps.tolist(), values.view(np.int64).tolist(), strict=True)
    mask = np.fromiter((row not in known for row in new_rows), dtype=bool, count=len(values))
    if mask.all():
        return steps, timestamps, values
    return steps[mask], timestamps[mask], values[mask]


def _finite_range(values: npt.NDArray[np.float64]) -> tuple[float | None, float | None]:
    import numpy as np

    real = values[~np.isnan(values)]
    if len(real) == 0:
        return None, None
    return to_db_value(float(real.min())), to_db_value(float(real.max()))


def _write_chunk(
    conn: Connection,
    run_id: str,
    key: str,
    seq: int,
    steps: npt.NDArray[np.int64],
    timestamps: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    *,
    update: bool = False,
) -> None:
    low, high = _finite_range(values)
    row = {
        "count": len(values),
        "min_step": int(steps.min()),
        "max_step": int(steps.max()),
        "min_value": low,
        "max_value": high,
        "data": metric_codec.encode(steps, timestamps, values),
    }
    if update:
        conn.execute(
            metric_chunks.update()
            .where(
                metric_chunks.c.run_id == run_id,
                metric_chunks.c.key == key,
                metric_chunks.c.seq == seq,
            )
            .values(**row)
        )
    else:
        conn.execute(metric_chunks.insert().values(run_id=run_id, key=key, seq=seq, **row))


def _tail_chunks(conn: Connection, run_id: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    inner = metric_chunks.alias("inner_chunks")
    last_seq = (
        sa.select(sa.func.max(inner.c.seq))
        .where(inner.c.run_id == metric_chunks.c.run_id, inner.c.key == metric_chunks.c.key)
        .scalar_subquery()
    )
    rows = conn.execute(
        sa.select(
            metric_chunks.c.key, metric_chunks.c.seq, metric_chunks.c["count"], metric_chunks.c.data
        ).where(
            metric_chunks.c.run_id == run_id,
            metric_chunks.c.key.in_(keys),
            metric_chunks.c.seq == last_seq,
        )
    ).mappings()
    return {row["key"]: dict(row) for row in rows}


def _summaries(conn: Connection, run_id: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    rows = conn.execute(
        sa.select(latest_metrics).where(
            latest_metrics.c.run_id == run_id, latest_metrics.c.key.in_(keys)
        )
    ).mappings()
    return {row["key"]: dict(row) for row in rows}


def _newest(
    steps: npt.NDArray[np.int64], timestamps: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
) -> tuple[int, int, float]:
    """The latest point: highest step, then timestamp, then value (NaN counts as lowest)."""
    import numpy as np

    ranking_values = np.where(np.isnan(values), -np.inf, values)
    order = np.lexsort((ranking_values, timestamps, steps))
    i = int(order[-1])
    return int(steps[i]), int(timestamps[i]), float(values[i])


def _update_summary(
    conn: Connection,
    run_id: str,
    key: str,
    summary: dict[str, Any] | None,
    steps: npt.NDArray[np.int64],
    timestamps: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
) -> None:
    step, timestamp, value = _newest(steps, timestamps, values)
    low, high = _finite_range(values)
    if summary is None:
        conn.execute(
            latest_metrics.insert().values(
                run_id=run_id,
                key=key,
                value=to_db_value(value),
                is_nan=math.isnan(value),
                timestamp=timestamp,
                step=step,
                min_value=low,
                max_value=high,
                count=len(values),
            )
        )
        return
    changes: dict[str, Any] = {"count": summary["count"] + len(values)}
    old_value = from_db_value(summary["value"], summary["is_nan"])
    old_rank = (
        summary["step"],
        summary["timestamp"],
        -math.inf if math.isnan(old_value) else old_value,
    )
    new_rank = (step, timestamp, -math.inf if math.isnan(value) else value)
    if new_rank >= old_rank:
        changes.update(
            value=to_db_value(value), is_nan=math.isnan(value), timestamp=timestamp, step=step
        )
    if low is not None:
        old_low, old_high = summary["min_value"], summary["max_value"]
        changes["min_value"] = low if old_low is None else min(low, old_low)
        changes["max_value"] = high if old_high is None else max(high, old_high)
    conn.execute(
        latest_metrics.update()
        .where(latest_metrics.c.run_id == run_id, latest_metrics.c.key == key)
        .values(**changes)
    )


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


def latest_values(rows: Iterable[Any]) -> dict[str, dict[str, float]]:
    """Group latest_metrics rows (run_id, key, value, is_nan) into {run_id: {key: value}}."""
    out: dict[str, dict[str, float]] = {}
    for row in rows:
        out.setdefault(row.run_id, {})[row.key] = from_db_value(row.value, row.is_nan)
    return out
