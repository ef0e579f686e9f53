"""Min/max-preserving downsampling of one metric series into N step buckets, for charts.

The step range ``[lo, hi]`` (the requested range, or the series' own) is cut into ``buckets``
buckets of equal width. For each bucket that holds points we report the first and last step, the
smallest and largest value (NaN ignored; both NaN when every value is NaN), the value at the last
step (the newest timestamp wins a tie) with its timestamp, and the number of points. Keeping min and max means a
spike never disappears from a chart, however long the series.

The work follows the storage layout (see :mod:`runlab.store.sql.metric_series`): chunk rows carry
their step range, count and value range, so a chunk that falls entirely inside one bucket is summed
up from those columns without reading its blob. Only chunks that straddle a bucket boundary, or
that hold the last step of a bucket (for its last value), are decoded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from runlab.errors import InvalidParameter
from runlab.store.sql import metric_codec
from runlab.store.sql.metric_series import from_db_value
from runlab.store.sql.schema import metric_chunks

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

#: Most buckets one request may ask for: far more than any chart has pixels.
MAX_BUCKETS = 10_000
DEFAULT_BUCKETS = 500

_NAN = float("nan")


@dataclass(frozen=True, slots=True)
class MetricBucket:
    """One bucket of a downsampled series."""

    first_step: int
    last_step: int
    min_value: float
    max_value: float
    last_value: float
    count: int
    #: Timestamp (ms) of the point that gave ``last_value``: lets a chart put buckets on a time
    #: axis. The first point's timestamp is not kept: a chunk summed up from its columns does not
    #: know it, and reading every such blob would undo the shortcut.
    last_timestamp: int


@dataclass
class _Acc:
    """A bucket being filled. ``last`` is known (timestamp, value) or waits for ``pending`` chunks."""

    first_step: int
    last_step: int
    min_value: float = _NAN
    max_value: float = _NAN
    count: int = 0
    last: tuple[int, float] | None = None
    pending: list[int] = field(default_factory=list)

    def add_range(self, low: float, high: float) -> None:
        # NaN marks "no real value yet"; comparisons with NaN are false, so test explicitly.
        if low == low and (self.min_value != self.min_value or low < self.min_value):
            self.min_value = low
        if high == high and (self.max_value != self.max_value or high > self.max_value):
            self.max_value = high

    def add_last(self, step: int, last: tuple[int, float] | None, seq: int | None) -> None:
        """Offer a candidate for the bucket's last point: known, or to be read from chunk seq."""
        if step > self.last_step:
            self.last_step, self.last, self.pending = step, None, []
        elif step < self.last_step:
            return
        if last is not None:
            if self.last is None or last[0] >= self.last[0]:
                self.last = last
        elif seq is not None:
            self.pending.append(seq)


class _Buckets:
    """Maps steps to bucket indexes over ``[lo, hi]`` and accumulates bucket contents."""

    def __init__(self, lo: int, hi: int, n: int) -> None:
        self.lo, self.hi, self.n = lo, hi, n
        self.span = hi - lo + 1
        self.acc: dict[int, _Acc] = {}

    def index(self, step: int) -> int:
        """The bucket of one step (exact integer arithmetic)."""
        return (step - self.lo) * self.n // self.span

    def indexes(self, steps: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The buckets of many steps; falls back to floats where int64 products could overflow."""
        import numpy as np

        offsets = steps - self.lo
        if self.span <= (2**62) // self.n:
            return (offsets * self.n) // self.span
        scaled = np.floor(offsets.astype(np.float64) / self.span * self.n).astype(np.int64)
        return np.clip(scaled, 0, self.n - 1)

    def get(self, index: int, first_step: int, last_step: int) -> _Acc:
        acc = self.acc.get(index)
        if acc is None:
            acc = self.acc[index] = _Acc(first_step=first_step, last_step=last_step)
        elif first_step < acc.first_step:
            acc.first_step = first_step
        return acc

    def add_chunk_summary(self, row: Any) -> None:
        """A chunk inside one bucket: its columns say everything except the last value."""
        acc = self.get(self.index(row.min_step), row.min_step, row.max_step)
        acc.count += row.count
        if row.min_value is not None:
            acc.add_range(from_db_value(row.min_value, False), from_db_value(row.max_value, False))
        acc.add_last(row.max_step, None, row.seq)

    def add_points(
        self,
        steps: npt.NDArray[np.int64],
        timestamps: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
    ) -> None:
        """Decoded points: clip to the range, then reduce per bucket with vectorized segments."""
        import numpy as np

        inside = (steps >= self.lo) & (steps <= self.hi)
        if not inside.all():
            steps, timestamps, values = steps[inside], timestamps[inside], values[inside]
        if len(steps) == 0:
            return
        # Sorting by (step, timestamp) makes bucket indexes ascending and puts each bucket's last
        # point (highest step, newest timestamp) at the end of its segment.
        order = np.lexsort((timestamps, steps))
        steps, timestamps, values = steps[order], timestamps[order], values[order]
        idx = self.indexes(steps)
        starts = np.concatenate(([0], np.flatnonzero(np.diff(idx)) + 1))
        ends = np.concatenate((starts[1:], [len(steps)]))
        # fmin/fmax skip NaN unless both operands are NaN, which is the rule we want.
        lows = np.fmin.reduceat(values, starts).tolist()
        highs = np.fmax.reduceat(values, starts).tolist()
        for s, e, low, high in zip(starts.tolist(), ends.tolist(), lows, highs, strict=True):
            last = e - 1
            acc = self.get(int(idx[s]), int(steps[s]), int(steps[last]))
            acc.count += e - s
            acc.add_range(low, high)
            acc.add_last(int(steps[last]), (int(timestamps[last]), float(values[last])), None)

    def result(self, resolve: dict[int, tuple[int, float]]) -> list[MetricBucket]:
        out = []
        for index in sorted(self.acc):
            acc = self.acc[index]
            last = acc.last
            for seq in acc.pending:
                candidate = resolve[seq]
                if last is None or candidate[0] >= last[0]:
                    last = candidate
            assert last is not None
            out.append(
                MetricBucket(
                    first_step=acc.first_step,
                    last_step=acc.last_step,
                    min_value=acc.min_value,
                    max_value=acc.max_value,
                    last_value=last[1],
                    count=acc.count,
                    last_timestamp=last[0],
                )
            )
        return out


def check_request(buckets: int, start_step: int | None, end_step: int | None) -> None:
    """Refuse bucket counts and step ranges that make no sense, naming the field."""
    if isinstance(buckets, bool) or not isinstance(buckets, int) or not 1 <= buckets <= MAX_BUCKETS:
        raise InvalidParameter(
            f"Field 'buckets' must be an integer from 1 to {MAX_BUCKETS}, got {buckets!r}."
        )
    if start_step is not None and end_step is not None and start_step > end_step:
        raise InvalidParameter(
            f"Field 'start_step' ({start_step}) must not be greater than 'end_step' ({end_step})."
        )


def downsample(
    conn: Connection,
    run_id: str,
    key: str,
    buckets: int = DEFAULT_BUCKETS,
    start_step: int | None = None,
    end_step: int | None = None,
) -> list[MetricBucket]:
    """The series of ``key`` in ``run_id`` cut into ``buckets`` step buckets (empty ones omitted).

    Runs inside the caller's read transaction; the caller checks that the run exists.
    """
    check_request(buckets, start_step, end_step)
    c = metric_chunks.c
    query = sa.select(c.seq, c["count"], c.min_step, c.max_step, c.min_value, c.max_value).where(
        c.run_id == run_id, c.key == key
    )
    if start_step is not None:
        query = query.where(c.max_step >= start_step)
    if end_step is not None:
        query = query.where(c.min_step <= end_step)
    rows = list(conn.execute(query.order_by(c.seq)))
    if not rows:
        return []
    lo = start_step if start_step is not None else min(r.min_step for r in rows)
    hi = end_step if end_step is not None else max(r.max_step for r in rows)
    plan = _Buckets(lo, hi, buckets)

    straddling: list[int] = []
    for row in rows:
        inside = row.min_step >= lo and row.max_step <= hi
        if inside and plan.index(row.min_step) == plan.index(row.max_step):
            plan.add_chunk_summary(row)
        else:
            straddling.append(row.seq)
    for _seq, (steps, timestamps, values) in _decode(conn, run_id, key, straddling):
        plan.add_points(steps, timestamps, values)

    pending = sorted({seq for acc in plan.acc.values() for seq in acc.pending})
    resolve = {
        seq: _last_point(steps, timestamps, values)
        for seq, (steps, timestamps, values) in _decode(conn, run_id, key, pending)
    }
    return plan.result(resolve)


def _decode(
    conn: Connection, run_id: str, key: str, seqs: list[int]
) -> Iterable[
    tuple[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]]
]:
    """Decode the blobs of the given chunks, a few hundred per query."""
    c = metric_chunks.c
    for i in range(0, len(seqs), 500):
        part = seqs[i : i + 500]
        result = conn.execute(
            sa.select(c.seq, c.data).where(c.run_id == run_id, c.key == key, c.seq.in_(part))
        )
        for seq, blob in result:
            yield seq, metric_codec.decode(blob)


def _last_point(
    steps: npt.NDArray[np.int64], timestamps: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
) -> tuple[int, float]:
    """(timestamp, value) of the chunk's point at its highest step, newest timestamp first."""
    import numpy as np

    i = int(np.lexsort((timestamps, steps))[-1])
    return int(timestamps[i]), float(values[i])
