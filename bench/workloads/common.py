"""Small helpers shared by the workloads (stdlib only: they run under both interpreters)."""

from __future__ import annotations

import os
import random
import statistics
from collections.abc import Iterator
from typing import Any


def sqlite_uri(workdir: str, name: str = "bench.db") -> str:
    """A ``sqlite:///`` URI for a fresh file in the workload's temporary folder."""
    return "sqlite:///" + os.path.join(os.path.abspath(workdir), name)


def sqlite_files_size(db_path: str) -> int:
    """Bytes on disk of a SQLite database: the main file plus its WAL, SHM and journal."""
    total = 0
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = db_path + suffix
        if os.path.exists(path):
            total += os.path.getsize(path)
    return total


def median(values: list[float]) -> float:
    """The median of a non-empty list."""
    return statistics.median(values)


def metric_points(
    api: Any, keys: list[str], n_points: int, base_ms: int, seed: int = 7
) -> Iterator[Any]:
    """Training-like points: steps 0.. for every key in turn, noisy decreasing values.

    Values carry full float64 entropy (noise), and timestamps advance irregularly, as in a real
    training loop, so neither tool gets an unrealistically compressible series.
    """
    rng = random.Random(seed)
    ts = base_ms
    step = 0
    produced = 0
    while produced < n_points:
        ts += rng.randint(1, 40)
        for key in keys:
            if produced >= n_points:
                break
            value = 1.0 / (1.0 + step / 1000.0) + rng.gauss(0.0, 0.01)
            yield api.Metric(key, value, ts, step)
            produced += 1
        step += 1


def batched(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of ``size`` items (the last may be shorter)."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
