"""The fluent API against a real runlab server process that dies and comes back mid-run.

Each test starts ``uvicorn`` over ``build_app`` on a SQLite file in a subprocess (see
support/servers.py), logs through ``set_tracking_uri("http://127.0.0.1:<port>")``, SIGKILLs the
server, keeps logging, restarts it on the same port and file, and then checks what the server
stored: every point exactly once, in order, nothing lost, and the training loop never blocked.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest
from click.testing import CliRunner

import runlab
from runlab.cli.main import cli
from runlab.entities import Metric, Param, RunTag
from runlab.errors import InvalidParameter
from runlab.tracking import Client, batch_writer, remote_writer, spool
from runlab.tracking.batch_writer import Batch
from runlab.tracking.spool import SpoolFile, UnsentRecords, deliver
from support.servers import REPO_ROOT, ServerProcess, runlab_server, running

pytestmark = pytest.mark.slow


@pytest.fixture
def spool_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Spool files go to a folder of this test."""
    folder = tmp_path / "spool"
    monkeypatch.setenv("RUNLAB_SPOOL_DIR", str(folder))
    return folder


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A running runlab server over a fresh SQLite file, stopped after the test."""
    with running(runlab_server(tmp_path)) as proc:
        yield proc


def _steps(client: Client, run_id: str, key: str) -> np.ndarray:
    return np.sort(client.get_metric_history(run_id, key).steps)


def test_server_killed_and_restarted_mid_run_every_point_arrives_once(
    server: ServerProcess, spool_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A small memory bound, so that the outage also goes through the spool file.
    monkeypatch.setattr(remote_writer, "MEMORY_BOUND", 2_000)
    runlab.set_tracking_uri(server.url)
    run_id = runlab.start_run().info.run_id
    runlab.log_param("lr", 0.01)
    step = 0
    slow_calls: list[float] = []

    def log_for(seconds: float) -> None:
        nonlocal step
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for _ in range(200):
                started = time.perf_counter()
                runlab.log_metric("loss", 1.0 / (step + 1), step=step)
                runlab.log_metric("acc", step * 1e-6, step=step)
                took = time.perf_counter() - started
                if took > 0.5:
                    slow_calls.append(took)
                step += 1
            runlab.set_tag("progress", str(step))
            time.sleep(0.02)  # a training step's worth of work

    log_for(1.0)
    server.kill()
    killed_at = step
    down_started = time.monotonic()
    log_for(3.0)
    down_elapsed = time.monotonic() - down_started
    spooled = list(spool_dir.glob("*.spool"))
    server.start()
    log_for(1.0)
    runlab.end_run()

    # The loop never waited on the dead server: 3 s of logging took about 3 s, and calls were
    # not slowed. Waiting on the server would slow call after call for as long as it is down; a
    # busy machine may pause this process once or twice, which is not what this looks for.
    assert down_elapsed < 6.0
    assert len(slow_calls) <= 2 and max(slow_calls, default=0.0) < 5.0, slow_calls
    assert step - killed_at > 2_000  # it really kept logging while the server was away
    assert spooled, "past the memory bound the records should have gone to a spool file"
    assert list(spool_dir.glob("*.spool")) == []  # delivered, then removed

    client = Client(server.url)
    for key in ("loss", "acc"):
        steps = _steps(client, run_id, key)
        assert len(steps) == step, f"{key}: {len(steps)} points stored, {step} logged"
        assert np.array_equal(steps, np.arange(step))
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"lr": "0.01"}
    assert run.data.tags["progress"] == str(step)
    assert run.data.metrics["loss"] == pytest.approx(1.0 / step)


def test_end_run_with_the_server_down_reports_what_is_unsent_and_where(
    server: ServerProcess, spool_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNLAB_FLUSH_TIMEOUT", "1")
    runlab.set_tracking_uri(server.url)
    run_id = runlab.start_run().info.run_id
    runlab.log_metric("before", 1.0)
    runlab.flush()
    server.kill()
    for i in range(1500):
        runlab.log_metric("loss", float(i), step=i)
    runlab.log_metric("loss", float("nan"), step=1500)
    runlab.log_params({"a": 1, "b": 2})
    runlab.set_tags({"t1": "x", "t2": "y", "t3": "z"})

    started = time.monotonic()
    with pytest.raises(UnsentRecords) as caught:
        runlab.end_run()
    assert time.monotonic() - started < 10  # bounded: about RUNLAB_FLUSH_TIMEOUT
    error = caught.value
    assert runlab.active_run() is None  # the run is ended locally all the same
    assert (error.counts.metrics, error.counts.params, error.counts.tags) == (1501, 2, 3)
    assert error.counts.run_ends == 1
    assert error.path is not None and error.path.parent == spool_dir and error.path.exists()
    message = str(error)
    assert "1,501 metric points, 2 params and 3 tags" in message
    assert str(error.path) in message
    assert "deliver(" in message

    # The server stays away: a second flush reports at once instead of waiting again. With a
    # 30 s timeout now, waiting would take 30 s; "at once" leaves room for a busy machine.
    monkeypatch.setenv("RUNLAB_FLUSH_TIMEOUT", "30")
    started = time.monotonic()
    with pytest.raises(UnsentRecords):
        runlab.flush()
    assert time.monotonic() - started < 10

    server.start()
    delivery = deliver(error.path)  # the writer of this process owns the file: it finishes it
    # The writer's own retry may send some or all of it between the restart and this call;
    # deliver counts only what was still unsent when it began waiting. The history and the
    # run below say whether anything was lost.
    assert delivery.sent.metrics <= 1501 and not delivery.rejected
    assert not error.path.exists()
    client = Client(server.url)
    history = client.get_metric_history(run_id, "loss")
    assert np.array_equal(np.sort(history.steps), np.arange(1501))
    assert np.isnan(history.values[history.steps == 1500][0])
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"a": "1", "b": "2"}
    assert {k: run.data.tags[k] for k in ("t1", "t2", "t3")} == {"t1": "x", "t2": "y", "t3": "z"}
    assert len(client.get_metric_history(run_id, "before")) == 1


def test_a_hung_server_does_not_hang_end_run(
    server: ServerProcess, spool_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNLAB_FLUSH_TIMEOUT", "1")
    runlab.set_tracking_uri(server.url)
    run_id = runlab.start_run().info.run_id
    runlab.log_metric("m", 0.0, step=0)
    runlab.flush()
    server.pause()  # requests now hang (the writer's HTTP timeout is minutes away)
    for i in range(1, 3000):
        runlab.log_metric("m", float(i), step=i)
    started = time.monotonic()
    with pytest.raises(UnsentRecords) as caught:
        runlab.end_run()
    assert time.monotonic() - started < 5
    assert caught.value.counts.metrics == 2999
    assert caught.value.path is not None
    server.resume()
    # The request that hung completes now; the writer then sends the rest from the spool file.
    # RUNLAB_FLUSH_TIMEOUT=1 was for end_run above; on a busy machine the resumed server may
    # need longer than that to catch up, so the delivery gets a generous wait of its own.
    deliver(caught.value.path, timeout=60)
    client = Client(server.url)
    assert np.array_equal(_steps(client, run_id, "m"), np.arange(3000))
    assert client.get_run(run_id).info.status == "FINISHED"


@pytest.mark.parametrize("how", ["api", "cli"])
def test_a_later_process_delivers_the_spool_file(
    server: ServerProcess, spool_dir: Path, tmp_path: Path, how: str
) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            import runlab
            from runlab.tracking.spool import UnsentRecords

            runlab.start_run()
            runlab.log_param("p", "v")
            for i in range(100):
                runlab.log_metric("m", float(i), step=i)
            runlab.flush()
            print(runlab.active_run().info.run_id, flush=True)
            sys.stdin.readline()  # the test kills the server now
            for i in range(100, 700):
                runlab.log_metric("m", float(i), step=i)
            runlab.set_tag("phase", "offline")
            try:
                runlab.end_run()
            except UnsentRecords as err:
                print(err.path, flush=True)
            """
        )
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RUNLAB_")},
        "RUNLAB_TRACKING_URI": server.url,
        "RUNLAB_FLUSH_TIMEOUT": "0.5",
        "RUNLAB_SPOOL_DIR": str(spool_dir),
        "PYTHONPATH": str(REPO_ROOT / "src"),
    }
    with subprocess.Popen(
        [sys.executable, str(script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    ) as proc:
        assert proc.stdout is not None and proc.stdin is not None
        run_id = proc.stdout.readline().strip()
        server.kill()
        out, err = proc.communicate("go\n", timeout=60)
    assert proc.returncode == 0, err
    path = Path(out.strip().splitlines()[-1])
    assert path.exists()
    assert "were not delivered" in err  # the exit handler says so too, on stderr

    server.start()
    if how == "api":
        delivery = deliver(path)
        assert (delivery.sent.metrics, delivery.sent.tags, delivery.sent.run_ends) == (600, 1, 1)
        assert delivery.rejected == []
    else:
        listed = CliRunner().invoke(cli, ["spool", "list"])
        assert str(path) in listed.output
        result = CliRunner().invoke(cli, ["spool", "deliver"])
        assert result.exit_code == 0, result.output
        assert "sent 600 metric points, 0 params, 1 tags and 1 run ends" in result.output
    assert not path.exists()
    client = Client(server.url)
    assert np.array_equal(_steps(client, run_id, "m"), np.arange(700))
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["phase"] == "offline"


def test_resent_batches_and_redelivered_spool_lines_are_stored_once(
    server: ServerProcess, spool_dir: Path
) -> None:
    client = Client(server.url)
    run_id = client.create_run("0").info.run_id
    points = [Metric("m", float(i), 1000 + i, i) for i in range(500)]
    for _ in range(3):  # as if each response had been lost and the batch sent again
        client.store.log_batch(
            run_id, metrics=points, params=[Param("p", "1")], tags=[RunTag("t", "x")]
        )
    assert len(client.get_metric_history(run_id, "m")) == 500

    # A spool file whose delivery stopped half-way (the sidecar lags behind) is resumed; lines
    # sent twice are stored once.
    sp = SpoolFile.create(spool_dir, server.url)
    batches = [Batch(run_id, [Metric("s", float(i), 5000 + i, i)], [], [], seq=i) for i in range(5)]
    sp.append(batches)
    sp.close(remove=False)
    first = deliver(sp.path)
    assert first.sent.metrics == 5
    again = SpoolFile.create(spool_dir, server.url)
    again.append(batches)
    again.close(remove=False)
    deliver(again.path)
    assert np.array_equal(_steps(client, run_id, "s"), np.arange(5))


def test_deliver_resumes_after_a_torn_line_and_reports_refused_records(
    server: ServerProcess, spool_dir: Path
) -> None:
    client = Client(server.url)
    run_id = client.create_run("0").info.run_id
    sp = SpoolFile.create(spool_dir, server.url)
    sp.append(
        [
            Batch(run_id, [Metric("m", 1.0, 1, 0)], [Param("p", "old")], [], seq=1),
            Batch("0" * 32, [Metric("m", 1.0, 1, 0)], [], [], seq=2),  # no such run: 404
            Batch(run_id, [Metric("m", 2.0, 2, 1)], [Param("p", "new")], [], seq=3),  # 400
        ]
    )
    path = sp.path
    sp.close(remove=False)
    with path.open("ab") as handle:  # a crash in the middle of an append
        handle.write(orjson.dumps({"run_id": run_id})[:10])
    delivery = deliver(path)
    assert len(delivery.rejected) == 2
    assert "run with id=00000000000000000000000000000000 not found" in delivery.rejected[0].lower()
    assert "'p'" in delivery.rejected[1]
    assert not path.exists()
    # The refused param did not take the metric of its batch down with it.
    assert np.array_equal(_steps(client, run_id, "m"), np.arange(2))
    assert client.get_run(run_id).data.params == {"p": "old"}


def test_server_side_validation_errors_are_not_retried_and_surface(
    server: ServerProcess, spool_dir: Path
) -> None:
    runlab.set_tracking_uri(server.url)
    run_id = runlab.start_run().info.run_id
    Client(server.url).log_param(run_id, "p", "from elsewhere")
    runlab.log_param("p", "mine")  # the server refuses it: params cannot change
    runlab.log_metric("m", 1.0)
    started = time.monotonic()
    with pytest.raises(InvalidParameter, match="'p'"):
        runlab.end_run()
    assert time.monotonic() - started < 5  # no backoff loop on a 400
    assert len(Client(server.url).get_metric_history(run_id, "m")) == 1
    assert list(spool_dir.glob("*.spool")) == []


def test_writer_for_a_rest_store_is_the_remote_one(server: ServerProcess) -> None:
    client = Client(server.url)
    writer = batch_writer.writer_for(client.store)
    assert isinstance(writer, remote_writer.RemoteWriter)
    assert writer.remote


def test_flush_timeout_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLAB_FLUSH_TIMEOUT", "soon")
    with pytest.raises(InvalidParameter, match="RUNLAB_FLUSH_TIMEOUT"):
        spool.flush_timeout()
    monkeypatch.setenv("RUNLAB_FLUSH_TIMEOUT", "2.5")
    assert spool.flush_timeout() == 2.5
    monkeypatch.delenv("RUNLAB_FLUSH_TIMEOUT")
    assert spool.flush_timeout() == spool.DEFAULT_FLUSH_TIMEOUT
