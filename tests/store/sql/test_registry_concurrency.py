"""Concurrent writes to one model, on each backend.

Four processes register versions of the same model as fast as they can; together they must get
distinct, consecutive numbers (1..N), with no failure and no lost version. Racing creates of
one name and racing promotions (each archiving the others) must leave one consistent result.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from runlab.errors import AlreadyExists
from runlab.store.sql.registry import SqlRegistryStore
from runlab.store.sql.tracking import SqlTrackingStore

PROCESSES = 4
VERSIONS_EACH = 12

WORKER = textwrap.dedent(
    """
    import json, sys, time
    from runlab.store.sql.registry import SqlRegistryStore

    url, run_id, start_at, count = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    store = SqlRegistryStore(url)
    # Every process starts registering at the same moment.
    time.sleep(max(0.0, start_at - time.time()))
    numbers = [
        store.create_model_version("shared", f"runs:/{run_id}/model", run_id).version
        for _ in range(count)
    ]
    store.close()
    print(json.dumps(numbers))
    """
)


@pytest.mark.slow
def test_concurrent_registrations_get_consecutive_numbers(
    db_url: str, store: SqlTrackingStore, registry_store: SqlRegistryStore
) -> None:
    exp_id = store.create_experiment("concurrent")
    run_id = store.create_run(exp_id, "u", 0, [], "r").info.run_id
    registry_store.create_registered_model("shared")
    start_at = time.time() + 3.0  # room for every interpreter to start and connect
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, db_url, run_id, str(start_at), str(VERSIONS_EACH)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    results = [proc.communicate(timeout=240) for proc in procs]
    numbers: list[int] = []
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        mine = json.loads(out)
        assert mine == sorted(mine)  # each process sees its own numbers grow
        numbers += mine
    total = PROCESSES * VERSIONS_EACH
    assert sorted(numbers) == list(range(1, total + 1))
    found = registry_store.search_model_versions("name = 'shared'")
    assert sorted(v.version for v in found) == list(range(1, total + 1))
    assert registry_store.create_model_version(
        "shared", f"runs:/{run_id}/model", run_id
    ).version == (total + 1)


def test_two_stores_in_one_process_share_a_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first, second = SqlRegistryStore(url), SqlRegistryStore(url)
    first.create_registered_model("m")
    versions = [
        (first if i % 2 else second).create_model_version("m", "s3://bucket/m").version
        for i in range(6)
    ]
    assert versions == [1, 2, 3, 4, 5, 6]
    first.close()
    second.close()


def _at_once(
    db_url: str, count: int, work: Callable[[SqlRegistryStore, int], object]
) -> list[object]:
    """Run ``work(store, index)`` in ``count`` threads, each with its own store, together."""
    barrier = threading.Barrier(count)
    stores = [SqlRegistryStore(db_url) for _ in range(count)]

    def run(index: int) -> object:
        barrier.wait()
        try:
            return work(stores[index], index)
        except AlreadyExists as exc:
            return exc

    try:
        with ThreadPoolExecutor(count) as pool:
            return list(pool.map(run, range(count)))
    finally:
        for store in stores:
            store.close()


def test_racing_creates_of_one_name(db_url: str, registry_store: SqlRegistryStore) -> None:
    results = _at_once(
        db_url, 4, lambda store, i: store.create_registered_model("same", {"i": str(i)})
    )
    assert sum(not isinstance(r, AlreadyExists) for r in results) == 1
    assert sum(isinstance(r, AlreadyExists) for r in results) == 3
    assert len(registry_store.get_registered_model("same").tags) == 1


def test_racing_promotions_leave_one_version_in_production(
    db_url: str, registry_store: SqlRegistryStore
) -> None:
    registry_store.create_registered_model("m")
    for _ in range(4):
        registry_store.create_model_version("m", "s3://bucket/m")
    _at_once(
        db_url,
        4,
        lambda store, i: store.transition_model_version_stage(
            "m", i + 1, "Production", archive_existing_versions=True, user_id=f"u{i}"
        ),
    )
    stages = {v.version: v.current_stage for v in registry_store.search_model_versions()}
    assert sorted(stages.values()) == ["Archived", "Archived", "Archived", "Production"]
    # The history, replayed, ends in the same state: no move went unrecorded.
    replayed: dict[int, str | None] = {}
    for event in registry_store.get_registry_history("m"):
        replayed[int(event.subject)] = event.to_value
    assert replayed == stages
