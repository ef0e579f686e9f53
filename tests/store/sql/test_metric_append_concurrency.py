"""Metric points appended to one run by several stores at once (as by several servers over one
database): each point is stored exactly once, on every backend."""

from __future__ import annotations

import threading
from pathlib import Path

from runlab.entities import Metric
from runlab.store.sql.tracking import SqlTrackingStore

WRITERS = 4
BATCHES = 30


def test_concurrent_appends_to_one_series_lose_nothing(
    db_url: str, store: SqlTrackingStore, tmp_path: Path
) -> None:
    run_id = store.create_run("0", "u", 0, [], "shared").info.run_id
    # One store per writer: its own engine and connections, like a separate server process.
    writers = [SqlTrackingStore(db_url, (tmp_path / "artifacts").as_uri()) for _ in range(WRITERS)]
    start = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def write(index: int) -> None:
        try:
            start.wait()
            for batch in range(BATCHES):
                step = index * 1000 + batch
                # Small batches: each one rewrites the key's tail chunk, the racy path.
                writers[index].log_batch(
                    run_id,
                    metrics=[
                        Metric("loss", float(step), step, step),
                        Metric(f"own{index}", 1.0, 0, batch),
                    ],
                )
        except BaseException as exc:  # reported below, with the failing writer's traceback
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    for writer in writers:
        writer.close()
    assert not errors, errors
    steps = sorted(m.step for m in store.get_metric_history(run_id, "loss"))
    assert steps == sorted(i * 1000 + b for i in range(WRITERS) for b in range(BATCHES))
    # The summary row was updated under the same lock: it names the highest step of all.
    assert store.get_run(run_id).data.metrics["loss"] == float((WRITERS - 1) * 1000 + BATCHES - 1)
    for index in range(WRITERS):
        own = store.get_metric_history(run_id, f"own{index}")
        assert sorted(m.step for m in own) == list(range(BATCHES))
