"""NVIDIA GPU readings for system metrics, through NVIDIA's management library (``nvidia-ml-py``).

Without the library, its driver or any GPU, :meth:`GpuSampler.open` returns None and system
metrics carry on without GPU keys: most machines have no GPU, so that is not worth a warning.
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType
from typing import Any

__all__ = ["GpuSampler"]

_logger = logging.getLogger("runlab")
_MB = 1e6


class GpuSampler:
    """Utilization, memory and power of every NVIDIA GPU of this machine."""

    def __init__(self, nvml: ModuleType, handles: list[Any]) -> None:
        self._nvml = nvml
        self._handles = handles

    @classmethod
    def open(cls) -> GpuSampler | None:
        """A sampler for this machine's GPUs, or None without the library, a driver or a GPU."""
        try:
            nvml = importlib.import_module("pynvml")
        except ImportError:
            return None
        try:
            nvml.nvmlInit()
        except Exception as err:  # no driver: the library raises its own error classes
            _logger.debug("runlab: no GPU metrics, NVML did not start: %s", err)
            return None
        try:
            count = nvml.nvmlDeviceGetCount()
            handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        except Exception as err:
            _logger.debug("runlab: no GPU metrics, NVML lists no GPU: %s", err)
            handles = []
        if not handles:
            _shutdown(nvml)
            return None
        return cls(nvml, handles)

    def sample(self) -> dict[str, float]:
        """One reading per GPU, keyed ``gpu_<index>_<name>``."""
        nvml = self._nvml
        values: dict[str, float] = {}
        for index, handle in enumerate(self._handles):
            prefix = f"gpu_{index}_"
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            values[prefix + "memory_usage_megabytes"] = memory.used / _MB
            if memory.total:
                values[prefix + "memory_usage_percentage"] = 100.0 * memory.used / memory.total
            rates = nvml.nvmlDeviceGetUtilizationRates(handle)
            values[prefix + "utilization_percentage"] = float(rates.gpu)
            # Power readings are missing on some boards; the other readings are still useful.
            try:
                milliwatts = nvml.nvmlDeviceGetPowerUsage(handle)
                limit = nvml.nvmlDeviceGetEnforcedPowerLimit(handle)
            except Exception:
                continue
            values[prefix + "power_usage_watts"] = milliwatts / 1000.0
            if limit:
                values[prefix + "power_usage_percentage"] = 100.0 * milliwatts / limit
        return values

    def close(self) -> None:
        """Release the library."""
        _shutdown(self._nvml)


def _shutdown(nvml: ModuleType) -> None:
    try:
        nvml.nvmlShutdown()
    except Exception as err:
        _logger.debug("runlab: NVML shutdown failed: %s", err)
