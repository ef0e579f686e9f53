"""System metrics: CPU, memory, disk, network and GPU use, logged as ``system/*`` metrics of a run.

A run started with ``start_run(log_system_metrics=True)`` (or while
:func:`enable_system_metrics_logging` or ``RUNLAB_ENABLE_SYSTEM_METRICS_LOGGING`` is on) gets a
:class:`SystemMetricsMonitor`: a daemon thread that samples every ``sampling_interval`` seconds
and, after ``samples_before_logging`` samples, queues their averages on the run's background
writer with step 0, 1, 2, ... (one step per logging round). The training loop never waits on it,
and it stops when the run ends.

Settings made in code win over ``RUNLAB_*`` variables, which win over their ``MLFLOW_*`` twins.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import psutil

from runlab.entities import Metric
from runlab.errors import InvalidParameter
from runlab.tracking import config
from runlab.tracking.batch_writer import METRIC, BatchWriter
from runlab.tracking.system_metrics_gpu import GpuSampler

__all__ = [
    "DEFAULT_SAMPLES_BEFORE_LOGGING",
    "DEFAULT_SAMPLING_INTERVAL",
    "SystemMetricsMonitor",
    "disable_system_metrics_logging",
    "enable_system_metrics_logging",
    "is_enabled",
    "samples_before_logging",
    "sampling_interval",
    "set_system_metrics_samples_before_logging",
    "set_system_metrics_sampling_interval",
]

#: Seconds between two samples unless set otherwise.
DEFAULT_SAMPLING_INTERVAL = 10.0
#: Samples averaged into one logged point unless set otherwise.
DEFAULT_SAMPLES_BEFORE_LOGGING = 1
#: Every metric key this module logs starts with it.
PREFIX = "system/"

_logger = logging.getLogger("runlab")
_MB = 1e6  # MLflow reports megabytes as 10**6 bytes; keep the same unit so charts compare

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})

# Values set in code; None means "read the environment, else the default".
_enabled: bool | None = None
_interval: float | None = None
_samples: int | None = None


# -- settings ------------------------------------------------------------------------------------
def enable_system_metrics_logging() -> None:
    """Log system metrics for every run started from now on in this process.

    A run can still opt out with ``start_run(log_system_metrics=False)``.
    """
    global _enabled
    _enabled = True


def disable_system_metrics_logging() -> None:
    """Stop logging system metrics for runs started from now on (the default).

    A run can still opt in with ``start_run(log_system_metrics=True)``.
    """
    global _enabled
    _enabled = False


def set_system_metrics_sampling_interval(interval: float | None) -> None:
    """Sample system metrics every ``interval`` seconds (default 10) in runs started from now on.

    ``None`` goes back to ``RUNLAB_SYSTEM_METRICS_SAMPLING_INTERVAL`` or the default.
    """
    global _interval
    _interval = None if interval is None else _check_interval(interval, "interval")


def set_system_metrics_samples_before_logging(samples: int | None) -> None:
    """Log the average of every ``samples`` samples (default 1) in runs started from now on.

    ``None`` goes back to ``RUNLAB_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING`` or the default.
    """
    global _samples
    _samples = None if samples is None else _check_samples(samples, "samples")


def is_enabled() -> bool:
    """Whether runs log system metrics unless ``start_run`` says otherwise."""
    if _enabled is not None:
        return _enabled
    raw = config.env("ENABLE_SYSTEM_METRICS_LOGGING")
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidParameter(
        f"ENABLE_SYSTEM_METRICS_LOGGING is {raw!r}; set RUNLAB_ENABLE_SYSTEM_METRICS_LOGGING "
        "(or MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING) to true or false."
    )


def sampling_interval() -> float:
    """Seconds between samples: the value set in code, else the environment, else 10."""
    if _interval is not None:
        return _interval
    raw = config.env("SYSTEM_METRICS_SAMPLING_INTERVAL")
    if raw is None:
        return DEFAULT_SAMPLING_INTERVAL
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    return _check_interval(value, "RUNLAB_SYSTEM_METRICS_SAMPLING_INTERVAL", raw)


def samples_before_logging() -> int:
    """Samples averaged per logged point: the value set in code, else the environment, else 1."""
    if _samples is not None:
        return _samples
    raw = config.env("SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING")
    if raw is None:
        return DEFAULT_SAMPLES_BEFORE_LOGGING
    try:
        value = int(raw)
    except ValueError:
        value = 0
    return _check_samples(value, "RUNLAB_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING", raw)


def _check_interval(value: object, name: str, shown: object = None) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and value > 0 and value != float("inf"):  # type: ignore[operator]
        return float(value)  # type: ignore[arg-type]
    raise InvalidParameter(
        f"System metrics sampling interval {name} is {shown if shown is not None else value!r}; "
        "it must be a positive number of seconds, such as 10."
    )


def _check_samples(value: object, name: str, shown: object = None) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise InvalidParameter(
        f"System metrics samples before logging {name} is "
        f"{shown if shown is not None else value!r}; it must be a whole number of at least 1."
    )


# -- sampling ------------------------------------------------------------------------------------
class _HostSampler:
    """CPU, memory, disk and network readings of this machine through psutil."""

    def __init__(self) -> None:
        # psutil's CPU percentage is measured since its previous call; the first call only
        # starts the measurement.
        psutil.cpu_percent(interval=None)
        net = psutil.net_io_counters()
        # Network traffic is reported since the run started, not since the machine booted.
        self._rx0 = net.bytes_recv if net is not None else 0
        self._tx0 = net.bytes_sent if net is not None else 0

    def sample(self) -> dict[str, float]:
        memory = psutil.virtual_memory()
        disk = psutil.disk_usage("/")
        values = {
            "cpu_utilization_percentage": float(psutil.cpu_percent(interval=None)),
            "system_memory_usage_megabytes": (memory.total - memory.available) / _MB,
            "system_memory_usage_percentage": float(memory.percent),
            "disk_usage_percentage": float(disk.percent),
            "disk_usage_megabytes": disk.used / _MB,
            "disk_available_megabytes": disk.free / _MB,
        }
        net = psutil.net_io_counters()
        if net is not None:  # None on a machine without network interfaces
            values["network_receive_megabytes"] = max(net.bytes_recv - self._rx0, 0) / _MB
            values["network_transmit_megabytes"] = max(net.bytes_sent - self._tx0, 0) / _MB
        return values


class SystemMetricsMonitor:
    """Samples system metrics on a daemon thread and logs them to one run until stopped.

    Records go through ``writer`` (the run's background writer), so logging never blocks the
    training loop. A failure while sampling is reported once as a warning and stops the monitor;
    it never reaches the user's code.
    """

    def __init__(
        self,
        run_id: str,
        writer: BatchWriter,
        interval: float | None = None,
        samples: int | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.run_id = run_id
        self.interval = sampling_interval() if interval is None else interval
        self.samples = samples_before_logging() if samples is None else samples
        self._writer = writer
        self._clock = clock
        self._wake = threading.Event()
        # Held while queueing a round and while stopping: once stop() returns, nothing more is
        # logged to the run, even if the thread is still finishing a sample.
        self._lock = threading.Lock()
        self._stopped = False
        self._thread = threading.Thread(
            target=self._loop, name=f"runlab-system-metrics-{run_id}", daemon=True
        )

    @property
    def thread(self) -> threading.Thread:
        """The sampling thread."""
        return self._thread

    def start(self) -> None:
        """Start sampling."""
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop sampling; nothing is logged after this returns. Waits at most ``timeout`` s."""
        with self._lock:
            self._stopped = True
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _loop(self) -> None:
        gpu: GpuSampler | None = None
        try:
            host = _HostSampler()
            gpu = GpuSampler.open()
            totals: dict[str, float] = {}
            count = 0
            step = 0
            while not self._wake.wait(self.interval):
                values = host.sample()
                if gpu is not None:
                    values.update(gpu.sample())
                for key, value in values.items():
                    totals[key] = totals.get(key, 0.0) + value
                count += 1
                if count < self.samples:
                    continue
                self._log({k: v / count for k, v in totals.items()}, step)
                totals.clear()
                count = 0
                step += 1
        except Exception as err:
            _logger.warning(
                "runlab: system metrics for run %s stopped after an error: %s: %s",
                self.run_id,
                type(err).__name__,
                err,
            )
        finally:
            if gpu is not None:
                gpu.close()

    def _log(self, averages: dict[str, float], step: int) -> None:
        timestamp = self._clock() // 1_000_000
        with self._lock:
            if self._stopped:
                return
            for key, value in averages.items():
                self._writer.add(self.run_id, METRIC, Metric(PREFIX + key, value, timestamp, step))
