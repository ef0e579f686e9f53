"""Concurrent registrations of one model from several processes, on each backend.

Each process registers versions of the same model as fast as it can; together they must get
distinct, consecutive numbers (1..N), with no failure and no lost version.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

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
