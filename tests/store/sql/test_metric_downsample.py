"""Downsampled metric series: the chunk-summary shortcut agrees with a point-by-point reference."""

from __future__ import annotations

import math
import random

import pytest

from runlab.entities import Metric, RunTag
from runlab.errors import InvalidParameter, RunNotFound
from runlab.store.sql.metric_downsample import MetricBucket
from runlab.store.sql.tracking import SqlTrackingStore


@pytest.fixture
def run_id(store: SqlTrackingStore) -> str:
    return store.create_run("0", "u", 0, [RunTag("t", "v")], "r").info.run_id


def reference(
    points: list[tuple[int, int, float]],
    buckets: int,
    start: int | None = None,
    end: int | None = None,
) -> list[MetricBucket]:
    """Bucket (step, timestamp, value) points the slow, obvious way."""
    lo = start if start is not None else min(p[0] for p in points)
    hi = end if end is not None else max(p[0] for p in points)
    span = hi - lo + 1
    grouped: dict[int, list[tuple[int, int, float]]] = {}
    for p in points:
        if lo <= p[0] <= hi:
            grouped.setdefault((p[0] - lo) * buckets // span, []).append(p)
    out = []
    for index in sorted(grouped):
        group = sorted(grouped[index], key=lambda p: (p[0], p[1]))
        real = [p[2] for p in group if not math.isnan(p[2])]
        out.append(
            MetricBucket(
                first_step=group[0][0],
                last_step=group[-1][0],
                min_value=min(real) if real else math.nan,
                max_value=max(real) if real else math.nan,
                last_value=group[-1][2],
                count=len(group),
                last_timestamp=group[-1][1],
            )
        )
    return out


def same(a: list[MetricBucket], b: list[MetricBucket]) -> bool:
    def key(x: MetricBucket) -> tuple[object, ...]:
        return tuple(
            "nan" if isinstance(v, float) and math.isnan(v) else v
            for v in (
                x.first_step,
                x.last_step,
                x.min_value,
                x.max_value,
                x.last_value,
                x.count,
                x.last_timestamp,
            )
        )

    return [key(x) for x in a] == [key(x) for x in b]


def log(store: SqlTrackingStore, run_id: str, points: list[tuple[int, int, float]]) -> None:
    for i in range(0, len(points), 1000):
        store.log_batch(run_id, [Metric("m", v, t, s) for s, t, v in points[i : i + 1000]])


def test_matches_reference_on_a_long_series_with_spikes(
    store: SqlTrackingStore, run_id: str
) -> None:
    rng = random.Random(7)
    points = [(s, 1000 + s, rng.random()) for s in range(5000)]
    points[1234] = (1234, 2234, 99.0)  # a spike must survive downsampling
    points[4321] = (4321, 5321, math.nan)
    points[10] = (10, 1010, math.inf)
    log(store, run_id, points)
    for n in (1, 3, 7, 50, 500, 6000):
        got = store.get_metric_downsampled(run_id, "m", n)
        assert same(got, reference(points, n)), n
    wide = store.get_metric_downsampled(run_id, "m", 3)
    assert max(b.max_value for b in wide) == math.inf
    assert sum(b.count for b in wide) == 5000


def test_step_range_and_out_of_order_and_repeated_steps(
    store: SqlTrackingStore, run_id: str
) -> None:
    rng = random.Random(3)
    points = [(rng.randrange(0, 300), rng.randrange(0, 10**6), rng.random()) for _ in range(3000)]
    points.append((299, 10**7, -5.0))  # newest point at the last step decides the last value
    log(store, run_id, points)
    for n, start, end in ((10, 50, 250), (4, 0, 299), (1000, 100, 100), (5, -20, 1000)):
        got = store.get_metric_downsampled(run_id, "m", n, start, end)
        assert same(got, reference(points, n, start, end)), (n, start, end)
    assert store.get_metric_downsampled(run_id, "m", 2)[-1].last_value == -5.0
    assert store.get_metric_downsampled(run_id, "m", 2)[-1].last_timestamp == 10**7


def test_last_timestamp_of_summed_up_and_decoded_chunks(
    store: SqlTrackingStore, run_id: str
) -> None:
    # Wall time runs backwards against steps here, so a bucket's timestamp must come from its
    # last step's point (the newest at that step), not from the newest point in the bucket.
    points = [(s, 10**6 - s * 10, float(s)) for s in range(4000)]
    points.append((3999, 10**6 + 5, 7.0))
    log(store, run_id, points)
    for n in (1, 2, 4, 13, 4000):
        got = store.get_metric_downsampled(run_id, "m", n)
        assert [b.last_timestamp for b in got] == [
            b.last_timestamp for b in reference(points, n)
        ], n
    (whole,) = store.get_metric_downsampled(run_id, "m", 1)
    assert (whole.last_value, whole.last_timestamp) == (7.0, 10**6 + 5)


def test_all_nan_bucket_and_empty_and_errors(store: SqlTrackingStore, run_id: str) -> None:
    log(store, run_id, [(s, s, math.nan) for s in range(10)])
    (bucket,) = store.get_metric_downsampled(run_id, "m", 1)
    assert bucket.count == 10 and math.isnan(bucket.min_value) and math.isnan(bucket.max_value)
    assert store.get_metric_downsampled(run_id, "nope", 10) == []
    assert store.get_metric_downsampled(run_id, "m", 10, 100, 200) == []
    with pytest.raises(InvalidParameter, match="buckets"):
        store.get_metric_downsampled(run_id, "m", 0)
    with pytest.raises(InvalidParameter, match="start_step"):
        store.get_metric_downsampled(run_id, "m", 5, 9, 1)
    with pytest.raises(RunNotFound):
        store.get_metric_downsampled("f" * 32, "m", 5)
