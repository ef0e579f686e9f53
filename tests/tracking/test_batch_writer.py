"""The background batch writer: batching, ordering, no loss, and errors that always surface."""

from __future__ import annotations

import sys
import threading
import time

import pytest

import runlab
from runlab.entities import Metric, Param, RunTag
from runlab.errors import InvalidParameter, InvalidState
from runlab.tracking import Client, batch_writer
from runlab.tracking.batch_writer import chunk_batch


def test_chunk_batch_respects_store_limits() -> None:
    metrics = [Metric("m", 1.0, 0, i) for i in range(2500)]
    params = [Param(f"p{i}", "v") for i in range(230)]
    tags = [RunTag(f"t{i}", "v") for i in range(120)]
    chunks = list(chunk_batch(metrics, params, tags))
    for m, p, t in chunks:
        assert len(m) <= 1000
        assert len(p) <= 100
        assert len(t) <= 100
        assert len(m) + len(p) + len(t) <= 1000
    assert sum(len(c[0]) for c in chunks) == 2500
    assert [x for c in chunks for x in c[1]] == params
    assert [x for c in chunks for x in c[2]] == tags
    assert list(chunk_batch([], [], [])) == []


def test_logging_returns_before_the_write_and_background_flush_follows(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNLAB_FLUSH_INTERVAL", "0.05")
    with runlab.start_run() as run:
        writer = batch_writer.writer_for(client.store)
        assert writer.interval == 0.05
        runlab.log_metric("m", 1.0)
        runlab.set_tag("t", "v")
        # Read through the store itself: Client reads would flush the queue first.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            data = client.store.get_run(run.info.run_id).data
            if data.metrics and "t" in data.tags:
                break
            time.sleep(0.01)
        assert data.metrics == {"m": 1.0}
        assert data.tags["t"] == "v"


def test_nothing_is_lost(client: Client) -> None:
    n = 30_000
    with runlab.start_run() as run:
        for i in range(n):
            runlab.log_metric(f"k{i % 3}", float(i), step=i)
        runlab.log_params({f"p{i}": i for i in range(250)})
        runlab.set_tags({f"t{i}": i for i in range(250)})
    run_id = run.info.run_id
    for k in range(3):
        history = client.get_metric_history(run_id, f"k{k}")
        assert [m.step for m in history] == list(range(k, n, 3))
        assert [m.value for m in history] == [float(s) for s in range(k, n, 3)]
    data = client.get_run(run_id).data
    assert len(data.params) == 250
    assert data.params["p249"] == "249"
    assert data.tags["t249"] == "249"


def test_queue_is_bounded(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_writer, "MAX_PENDING", 2000)
    monkeypatch.setenv("RUNLAB_FLUSH_INTERVAL", "1")
    with runlab.start_run() as run:
        writer = batch_writer.writer_for(client.store)
        biggest = 0
        for i in range(10_000):
            runlab.log_metric("m", float(i), step=i)
            biggest = max(biggest, writer.pending)
        assert biggest <= 2000
    assert len(client.get_metric_history(run.info.run_id, "m")) == 10_000


def test_tag_order_is_kept(client: Client) -> None:
    with runlab.start_run() as run:
        for value in ("1", "2", "3"):
            runlab.set_tag("t", value)
        runlab.set_tag("gone", "x")
        runlab.delete_tag("gone")
        runlab.delete_tag("t")
        runlab.set_tag("t", "after-delete")
    tags = client.get_run(run.info.run_id).data.tags
    assert tags["t"] == "after-delete"
    assert "gone" not in tags


def test_store_side_param_conflict_surfaces_at_next_call(client: Client) -> None:
    with runlab.start_run() as run:
        # Another writer (here the client) stores a value the fluent API does not know about.
        client.log_param(run.info.run_id, "p", "from-elsewhere")
        runlab.log_param("p", "mine")  # queued: the conflict is only known at write time
        runlab.log_metric("kept", 1.0)
        with pytest.raises(InvalidParameter, match="'p'"):
            runlab.flush()
        runlab.log_metric("after", 2.0)  # the error was raised once, not again
    data = client.get_run(run.info.run_id).data
    assert data.params == {"p": "from-elsewhere"}
    # The bad param did not take the metrics of its batch down with it.
    assert data.metrics == {"kept": 1.0, "after": 2.0}


def test_store_error_is_raised_by_the_next_logging_call(client: Client) -> None:
    with runlab.start_run() as run:
        client.log_param(run.info.run_id, "p", "a")
        runlab.log_param("p", "b")
        batch_writer.writer_for(client.store).flush(raise_errors=False)
        with pytest.raises(InvalidParameter, match="'p'"):
            runlab.log_metric("m", 1.0)


def test_store_error_is_raised_by_end_run_after_ending(client: Client) -> None:
    run = runlab.start_run()
    client.log_param(run.info.run_id, "p", "a")
    runlab.log_param("p", "b")
    with pytest.raises(InvalidParameter, match="'p'"):
        runlab.end_run()
    assert runlab.active_run() is None
    assert client.get_run(run.info.run_id).info.status == "FINISHED"


def test_store_error_is_raised_when_leaving_the_with_block(client: Client) -> None:
    with pytest.raises(InvalidParameter, match="'p'"), runlab.start_run() as run:
        client.log_param(run.info.run_id, "p", "a")
        runlab.log_param("p", "b")
    assert client.get_run(run.info.run_id).info.status == "FINISHED"


def test_store_error_does_not_hide_the_users_exception(client: Client) -> None:
    with pytest.raises(ZeroDivisionError) as info, runlab.start_run() as run:
        client.log_param(run.info.run_id, "p", "a")
        runlab.log_param("p", "b")
        1 / 0  # noqa: B018
    if sys.version_info >= (3, 11):  # exception notes exist from 3.11 on
        assert any("'p'" in note for note in info.value.__notes__)
    assert client.get_run(run.info.run_id).info.status == "FAILED"


def test_writes_to_a_deleted_run_surface(client: Client) -> None:
    with runlab.start_run() as run:
        runlab.log_metric("m", 1.0)
        client.delete_run(run.info.run_id)
        runlab.log_metric("m", 2.0)
        with pytest.raises(InvalidState, match="metric"):
            runlab.flush()
        client.restore_run(run.info.run_id)
    assert client.get_metric_history(run.info.run_id, "m")[0].value == 1.0


def test_synchronous_calls_raise_immediately(client: Client) -> None:
    with runlab.start_run() as run:
        client.log_param(run.info.run_id, "p", "a")
        with pytest.raises(InvalidParameter):
            runlab.log_param("p", "b", synchronous=True)
        runlab.log_metric("m", 1.0, synchronous=True)
        runlab.set_tag("t", "v", synchronous=True)
        runlab.log_metrics({"x": 1.0}, synchronous=True)
        # Written before returning: visible to the store without any flush.
        data = client.store.get_run(run.info.run_id).data
        assert data.metrics == {"m": 1.0, "x": 1.0}
        assert data.tags["t"] == "v"
    assert client.get_run(run.info.run_id).data.params == {"p": "a"}


def test_closed_writer_writes_synchronously(client: Client) -> None:
    run_id = client.create_run("0").info.run_id
    writer = batch_writer.writer_for(client.store)
    writer.add(run_id, batch_writer.METRIC, Metric("m", 1.0, 1, 0))
    writer.close()
    assert writer.pending == 0
    writer.add(run_id, batch_writer.METRIC, Metric("m", 2.0, 2, 1))
    assert writer.pending == 0
    assert [m.value for m in client.store.get_metric_history(run_id, "m")] == [1.0, 2.0]


def test_flush_waits_for_everything_queued_before_it(client: Client) -> None:
    run_id = client.create_run("0").info.run_id
    per_thread = 5_000

    def produce(key: str) -> None:
        for step in range(per_thread):
            runlab.log_metric(key, float(step), step=step, run_id=run_id)

    threads = [threading.Thread(target=produce, args=(f"k{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for _ in range(20):
        runlab.flush()  # concurrent flushes while producers run: no deadlock, no loss
    for thread in threads:
        thread.join()
    runlab.flush()
    writer = batch_writer.writer_for(client.store)
    assert not writer.has_pending()
    for i in range(3):
        # Straight from the store: nothing left for a Client read to flush.
        assert len(client.store.get_metric_history(run_id, f"k{i}")) == per_thread
