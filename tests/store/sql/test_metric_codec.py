"""Metric chunk blobs: round trips, values stored as they are unless compressing them pays, and
chunks of the first format still read (and appended to) on every backend."""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np
import pytest
import sqlalchemy as sa

from runlab.entities import Metric
from runlab.errors import RunlabError
from runlab.store.sql import metric_codec
from runlab.store.sql.schema import metric_chunks
from runlab.store.sql.tracking import SqlTrackingStore

_N = 200
_RNG = np.random.default_rng(19)
_NOISY = 1.0 / (1.0 + np.arange(_N) / 1000.0) + _RNG.normal(0.0, 0.01, _N)
_COMPRESSIBLE = {
    "constant": np.full(_N, 1e-3),
    "integers": np.arange(_N, dtype=np.float64),
    "two decimals": np.round(np.linspace(0.5, 0.9, _N), 2),
    "tenths": np.arange(_N) * 0.1,
    "widened float32": _NOISY.astype(np.float32).astype(np.float64),
}


def _steps_and_timestamps(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(n, dtype=np.int64), 1_700_000_000_000 + 7 * np.arange(n, dtype=np.int64)


def _values_stored_compressed(blob: bytes) -> bool:
    version, how, _, _ = struct.unpack_from("<BBII", blob)
    assert version == 2
    return bool(how)


def _version_1_blob(steps: np.ndarray, timestamps: np.ndarray, values: np.ndarray) -> bytes:
    """A chunk as runlab wrote them before format 2: everything in one zlib stream."""
    payload = (
        np.array([len(steps)], dtype="<u4").tobytes()
        + np.diff(steps, prepend=0).astype("<i8").tobytes()
        + np.diff(timestamps, prepend=0).astype("<i8").tobytes()
        + values.astype("<f8").tobytes()
    )
    return bytes([1]) + zlib.compress(payload, 3)


def _assert_round_trip(blob: bytes, steps: np.ndarray, ts: np.ndarray, values: np.ndarray) -> None:
    got_steps, got_ts, got_values = metric_codec.decode(blob)
    assert got_steps.tolist() == steps.tolist() and got_ts.tolist() == ts.tolist()
    assert got_values.view(np.int64).tolist() == values.view(np.int64).tolist()  # bit-exact


def test_noisy_values_are_stored_as_they_are() -> None:
    steps, ts = _steps_and_timestamps(_N)
    blob = metric_codec.encode(steps, ts, _NOISY)
    assert not _values_stored_compressed(blob)
    # The values' 8 bytes each, and little else: steps and timestamps compress to almost nothing.
    assert 8 * _N < len(blob) < 8 * _N + 80
    _assert_round_trip(blob, steps, ts, _NOISY)


@pytest.mark.parametrize("name", sorted(_COMPRESSIBLE))
def test_compressible_values_are_compressed(name: str) -> None:
    values = _COMPRESSIBLE[name]
    steps, ts = _steps_and_timestamps(_N)
    blob = metric_codec.encode(steps, ts, values)
    assert _values_stored_compressed(blob)
    assert len(blob) < 0.7 * 8 * _N
    _assert_round_trip(blob, steps, ts, values)


@pytest.mark.parametrize("n", [0, 1, 5, 64, 1024])
def test_special_values_and_sizes_round_trip(n: int) -> None:
    steps, ts = _steps_and_timestamps(n)
    specials = np.array([math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308])
    values = np.resize(np.concatenate((specials, _NOISY)), n)
    steps = steps * -3 + 2**62  # negative deltas and large numbers too
    _assert_round_trip(metric_codec.encode(steps, ts, values), steps, ts, values)


@pytest.mark.parametrize("values", [_NOISY, _COMPRESSIBLE["integers"]])
def test_chunks_of_format_1_are_read(values: np.ndarray) -> None:
    steps, ts = _steps_and_timestamps(_N)
    _assert_round_trip(_version_1_blob(steps, ts, values), steps, ts, values)
    _assert_round_trip(memoryview(_version_1_blob(steps, ts, values)), steps, ts, values)


def test_unknown_or_damaged_chunks_are_refused() -> None:
    steps, ts = _steps_and_timestamps(10)
    blob = metric_codec.encode(steps, ts, _NOISY[:10])
    with pytest.raises(RunlabError, match="cannot read; upgrade runlab"):
        metric_codec.decode(bytes([3]) + blob[1:])
    with pytest.raises(RunlabError, match="cannot read"):
        metric_codec.decode(b"")
    with pytest.raises(RunlabError, match="damaged"):
        metric_codec.decode(blob[:-8])


def test_a_store_with_format_1_chunks_reads_and_extends_them(store: SqlTrackingStore) -> None:
    run_id = store.create_run("0", "u", 0, [], "old-chunks").info.run_id
    # Written by the current runlab (summary row and all), then its chunk replaced by the same
    # points in the first format, as a database from before format 2 holds them.
    store.log_batch(
        run_id, metrics=[Metric("m", float(v), 100 + i, i) for i, v in enumerate([3.5, 2.5])]
    )
    old_steps, old_ts = np.array([0, 1]), np.array([100, 101])
    old_blob = _version_1_blob(old_steps, old_ts, np.array([3.5, 2.5]))
    store._db.write(
        lambda conn: conn.execute(
            metric_chunks.update().where(metric_chunks.c.run_id == run_id).values(data=old_blob)
        )
    )
    # A small batch is merged into the old chunk (decoded, re-encoded in format 2); a large one
    # gets a row of its own beside it.
    store.log_batch(run_id, metrics=[Metric("m", 1.5, 102, 2)])
    store.log_batch(run_id, metrics=[Metric("m", float(i), 103 + i, 3 + i) for i in range(100)])
    history = store.get_metric_history(run_id, "m")
    assert [m.value for m in history] == [3.5, 2.5, 1.5, *map(float, range(100))]
    assert [m.step for m in history] == list(range(103))
    with store._db.read() as conn:
        blobs = conn.execute(
            sa.select(metric_chunks.c.data)
            .where(metric_chunks.c.run_id == run_id)
            .order_by(metric_chunks.c.seq)
        ).scalars()
        assert [bytes(blob)[0] for blob in blobs] == [2, 2]
