"""System metrics: a sampler thread per run logs ``system/*`` metrics until the run ends."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

import runlab
from runlab.errors import InvalidParameter
from runlab.tracking import system_metrics
from runlab.tracking.client import Client

HOST_KEYS = {
    "system/cpu_utilization_percentage",
    "system/system_memory_usage_megabytes",
    "system/system_memory_usage_percentage",
    "system/disk_usage_percentage",
    "system/disk_usage_megabytes",
    "system/disk_available_megabytes",
    "system/network_receive_megabytes",
    "system/network_transmit_megabytes",
}
PERCENT_KEYS = {k for k in HOST_KEYS if k.endswith("_percentage")}
SIZE_KEYS = {
    "system/system_memory_usage_megabytes",
    "system/disk_usage_megabytes",
    "system/disk_available_megabytes",
}
INTERVAL = 0.05


@pytest.fixture(autouse=True)
def reset_settings(tracking_uri: str) -> Iterator[None]:
    """Settings made in code are process-wide: none may leak into the next test."""
    runlab.set_system_metrics_sampling_interval(INTERVAL)
    yield
    runlab.set_system_metrics_sampling_interval(None)
    runlab.set_system_metrics_samples_before_logging(None)
    system_metrics._enabled = None


def sampler_threads(run_id: str | None = None) -> list[threading.Thread]:
    return [
        t
        for t in threading.enumerate()
        if t.name.startswith("runlab-system-metrics-") and (run_id is None or run_id in t.name)
    ]


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll until ``condition`` holds; a generous bound only so a broken sampler fails the test."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def logged_rounds(
    client: Client, run_id: str, key: str = "system/cpu_utilization_percentage"
) -> int:
    runlab.flush()
    return len(client.get_metric_history(run_id, key))


def test_log_system_metrics_logs_every_host_metric_with_sane_values(client: Client) -> None:
    with runlab.start_run(log_system_metrics=True) as run:
        run_id = run.info.run_id
        wait_for(lambda: logged_rounds(client, run_id) >= 3)
    metrics = client.get_run(run_id).data.metrics
    assert set(metrics) >= HOST_KEYS
    for key in HOST_KEYS:
        history = client.get_metric_history(run_id, key)
        steps = [m.step for m in history]
        assert steps == list(range(len(steps))), key  # one step per logging round, from 0
        for point in history:
            if key in PERCENT_KEYS:
                assert 0.0 <= point.value <= 100.0, (key, point.value)
            elif key in SIZE_KEYS:
                assert point.value > 0.0, (key, point.value)
            else:  # network traffic since the run started
                assert point.value >= 0.0, (key, point.value)
    assert not sampler_threads(run_id)


def test_without_the_flag_no_system_metrics_are_logged(client: Client) -> None:
    with runlab.start_run() as run:
        assert not sampler_threads()
        runlab.log_metric("loss", 1.0)
    assert set(client.get_run(run.info.run_id).data.metrics) == {"loss"}


@pytest.mark.parametrize(
    "name", ["RUNLAB_ENABLE_SYSTEM_METRICS_LOGGING", "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING"]
)
def test_environment_variable_turns_it_on(
    client: Client, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "true")
    with runlab.start_run() as run:
        wait_for(lambda: logged_rounds(client, run.info.run_id) >= 1)
    # An explicit False wins over the variable.
    with runlab.start_run(log_system_metrics=False) as quiet:
        assert not sampler_threads()
    assert not client.get_run(quiet.info.run_id).data.metrics


def test_runlab_variable_wins_over_mlflow_twin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "true")
    monkeypatch.setenv("RUNLAB_ENABLE_SYSTEM_METRICS_LOGGING", "false")
    with runlab.start_run():
        assert not sampler_threads()


def test_enable_and_disable_functions(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    runlab.enable_system_metrics_logging()
    with runlab.start_run() as run:
        assert sampler_threads(run.info.run_id)
        wait_for(lambda: logged_rounds(client, run.info.run_id) >= 1)
    runlab.disable_system_metrics_logging()
    # Code wins over the environment.
    monkeypatch.setenv("RUNLAB_ENABLE_SYSTEM_METRICS_LOGGING", "true")
    with runlab.start_run() as off:
        assert not sampler_threads()
    assert not client.get_run(off.info.run_id).data.metrics
    # A run can still opt in.
    with runlab.start_run(log_system_metrics=True) as on:
        assert sampler_threads(on.info.run_id)


def test_samples_before_logging_averages_several_samples(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    readings = iter(range(1000))
    taken: list[float] = []

    def counting_cpu_percent(interval: float | None = None) -> float:
        value = float(next(readings) % 100)
        taken.append(value)
        return value

    monkeypatch.setattr(psutil, "cpu_percent", counting_cpu_percent)
    runlab.set_system_metrics_samples_before_logging(3)
    with runlab.start_run(log_system_metrics=True) as run:
        run_id = run.info.run_id
        wait_for(lambda: logged_rounds(client, run_id) >= 3)
    history = client.get_metric_history(run_id, "system/cpu_utilization_percentage")
    samples = taken[1:]  # the first call only starts psutil's measurement
    # The sampler may have taken a few more samples than it logged before end_run stopped it.
    assert 3 * len(history) <= len(samples) <= 3 * len(history) + 3
    for point in history:
        group = samples[3 * point.step : 3 * point.step + 3]
        assert point.value == pytest.approx(sum(group) / 3)


def test_end_run_stops_the_sampler_and_nothing_is_logged_after(client: Client) -> None:
    run = runlab.start_run(log_system_metrics=True)
    run_id = run.info.run_id
    wait_for(lambda: logged_rounds(client, run_id) >= 1)
    runlab.end_run()
    assert not sampler_threads(run_id)
    after_end = {k: len(client.get_metric_history(run_id, k)) for k in HOST_KEYS}
    time.sleep(INTERVAL * 6)  # several intervals: a sampler still running would have logged
    runlab.flush()
    assert {k: len(client.get_metric_history(run_id, k)) for k in HOST_KEYS} == after_end
    assert client.get_run(run_id).info.status == "FINISHED"


def test_context_manager_exit_on_error_stops_the_sampler(client: Client) -> None:
    with pytest.raises(RuntimeError), runlab.start_run(log_system_metrics=True) as run:
        assert sampler_threads(run.info.run_id)
        raise RuntimeError("training failed")
    assert not sampler_threads()
    assert client.get_run(run.info.run_id).info.status == "FAILED"


def test_nested_runs_each_keep_their_own_sampler(client: Client) -> None:
    with runlab.start_run(log_system_metrics=True) as parent:
        with runlab.start_run(nested=True) as child:
            runlab.log_metric("loss", 0.5)
            assert [t.name for t in sampler_threads()] == [
                f"runlab-system-metrics-{parent.info.run_id}"
            ]
        # Ending the child leaves the parent's sampler running.
        assert sampler_threads(parent.info.run_id)
        wait_for(lambda: logged_rounds(client, parent.info.run_id) >= 1)
    assert set(client.get_run(child.info.run_id).data.metrics) == {"loss"}
    assert not sampler_threads()


def test_sampler_error_warns_once_and_the_run_finishes(
    client: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    def broken_cpu_percent(interval: float | None = None) -> float:
        calls.append(1)
        if len(calls) > 1:  # the first call, made when the sampler starts, works
            raise OSError("cannot read /proc/stat")
        return 0.0

    monkeypatch.setattr(psutil, "cpu_percent", broken_cpu_percent)
    caplog.set_level(logging.WARNING, logger="runlab")
    with runlab.start_run(log_system_metrics=True) as run:
        run_id = run.info.run_id
        wait_for(lambda: not sampler_threads(run_id))
        time.sleep(INTERVAL * 4)
        runlab.log_metric("loss", 0.1)
    warnings = [r for r in caplog.records if "system metrics" in r.getMessage()]
    assert len(warnings) == 1
    assert "cannot read /proc/stat" in warnings[0].getMessage()
    stored = client.get_run(run_id)
    assert stored.info.status == "FINISHED"
    assert set(stored.data.metrics) == {"loss"}


def test_without_gpu_library_no_gpu_metrics_and_no_warning(
    client: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` fail
    caplog.set_level(logging.WARNING, logger="runlab")
    with runlab.start_run(log_system_metrics=True) as run:
        wait_for(lambda: logged_rounds(client, run.info.run_id) >= 1)
    keys = set(client.get_run(run.info.run_id).data.metrics)
    assert keys >= HOST_KEYS
    assert not [k for k in keys if k.startswith("system/gpu_")]
    assert not [r for r in caplog.records if r.name.startswith("runlab")]


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "10", True])
def test_bad_sampling_interval_is_refused(bad: object) -> None:
    with pytest.raises(InvalidParameter, match="positive number of seconds"):
        runlab.set_system_metrics_sampling_interval(bad)  # type: ignore[arg-type]
    assert system_metrics.sampling_interval() == INTERVAL  # the previous setting stands


@pytest.mark.parametrize("bad", [0, -3, 1.5, "2", False])
def test_bad_samples_before_logging_is_refused(bad: object) -> None:
    with pytest.raises(InvalidParameter, match="at least 1"):
        runlab.set_system_metrics_samples_before_logging(bad)  # type: ignore[arg-type]
    assert system_metrics.samples_before_logging() == 1


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("RUNLAB_ENABLE_SYSTEM_METRICS_LOGGING", "maybe", "true or false"),
        ("RUNLAB_SYSTEM_METRICS_SAMPLING_INTERVAL", "soon", "positive number of seconds"),
        ("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "-2", "positive number of seconds"),
        ("RUNLAB_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING", "0", "at least 1"),
    ],
)
def test_bad_environment_value_starts_no_run(
    client: Client, monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    runlab.set_system_metrics_sampling_interval(None)  # let the environment count
    monkeypatch.setenv("RUNLAB_ENABLE_SYSTEM_METRICS_LOGGING", "true")
    monkeypatch.setenv(name, value)
    with pytest.raises(InvalidParameter, match=message):
        runlab.start_run()
    assert runlab.active_run() is None
    assert not client.search_runs(["0"])
    assert not sampler_threads()


def test_sampling_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    runlab.set_system_metrics_sampling_interval(None)
    assert system_metrics.sampling_interval() == system_metrics.DEFAULT_SAMPLING_INTERVAL
    assert system_metrics.samples_before_logging() == 1
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "2.5")
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING", "4")
    assert system_metrics.sampling_interval() == 2.5
    assert system_metrics.samples_before_logging() == 4
    monkeypatch.setenv("RUNLAB_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.5")
    assert system_metrics.sampling_interval() == 0.5
    runlab.set_system_metrics_samples_before_logging(2)  # code wins over the environment
    assert system_metrics.samples_before_logging() == 2


def test_process_exit_without_end_run_stops_the_sampler(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            """
            import time
            import runlab

            runlab.set_system_metrics_sampling_interval(0.05)
            run = runlab.start_run(log_system_metrics=True)
            client = runlab.MlflowClient()
            key = "system/cpu_utilization_percentage"
            while True:
                runlab.flush()
                if client.get_metric_history(run.info.run_id, key):
                    break
                time.sleep(0.02)
            print(run.info.run_id)
            # no end_run(): the exit handler stops the sampler and ends the run
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNLAB_", "MLFLOW_"))}
    env["RUNLAB_TRACKING_URI"] = f"sqlite:///{tmp_path / 'exit.db'}"
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    run_id = result.stdout.strip()
    stored = Client(env["RUNLAB_TRACKING_URI"]).get_run(run_id)
    assert stored.info.status == "FINISHED"
    assert set(stored.data.metrics) >= HOST_KEYS
