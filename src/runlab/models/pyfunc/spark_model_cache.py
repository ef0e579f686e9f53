"""The model inside Spark's Python workers: unpacked once per machine, loaded once per process.

:func:`runlab.pyfunc.spark_udf` ships the model as a zip archive through
``SparkContext.addFile``; a worker finds it with ``SparkFiles.get``. This module keeps, per
Python worker process, the models already loaded, keyed by the archive's content id (and the
``model_config``), so that every batch and every task after the first in that process reuses
the loaded model. Spark reuses its Python workers between tasks (``spark.python.worker.reuse``,
on by default), which is what makes a process-level cache pay.

The state lives at module level on purpose: Spark unpickles the UDF's closure again for every
task, but imports a module only once per process.

Each load adds ``(host, pid)`` to a Spark accumulator the driver reads (``udf.model_loads``),
and logs one line, so a run can show how many times the model was loaded and where.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import threading
import time
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runlab.models.pyfunc.pyfunc_model import PyFuncModel

__all__ = ["LoadEvents", "ShippedModel", "cached_model", "loads_in_this_process"]

_log = logging.getLogger(__name__)

#: How many different models one worker process keeps loaded (least recently used goes first).
MAX_CACHED_MODELS = 4

_lock = threading.Lock()
_models: OrderedDict[tuple[str, str], PyFuncModel] = OrderedDict()
_loads = 0


@dataclass(frozen=True)
class ShippedModel:
    """What a worker needs to find and load the model the driver shipped.

    ``archive`` is the file name given to ``SparkContext.addFile``; ``content_id`` a digest of
    the model's files; ``trusted`` the driver's trust decision (made on the model's URI before
    shipping, see :mod:`runlab.models.trust`); ``model_config`` overrides the flavor's config;
    ``extra_env`` is set in the worker's environment while the model loads and predicts.
    """

    archive: str
    content_id: str
    trusted: bool
    model_config: Mapping[str, Any] | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)

    @property
    def cache_key(self) -> tuple[str, str]:
        """The model's identity in a worker's cache: its content and its config."""
        config = repr(sorted(self.model_config.items())) if self.model_config else ""
        return (self.content_id, config)


class LoadEvents:
    """A Spark ``AccumulatorParam``: a list of ``(host, pid)``, one entry per model load."""

    def zero(self, value: list[tuple[str, int]]) -> list[tuple[str, int]]:
        """An empty list."""
        return []

    def addInPlace(  # the name pyspark calls
        self, first: list[tuple[str, int]], second: list[tuple[str, int]]
    ) -> list[tuple[str, int]]:
        """Both lists, in order."""
        first.extend(second)
        return first


def loads_in_this_process() -> int:
    """How many models this process has loaded through :func:`cached_model`."""
    return _loads


def cached_model(shipped: ShippedModel, events: Any = None) -> PyFuncModel:
    """The shipped model, loaded at most once per process; ``events`` records a load."""
    key = shipped.cache_key
    with _lock:
        model = _models.get(key)
        if model is not None:
            _models.move_to_end(key)
            return model
        # Loading under the lock: two threads of one worker never load the same model twice.
        model = _load(shipped)
        _models[key] = model
        while len(_models) > MAX_CACHED_MODELS:
            _models.popitem(last=False)
    if events is not None:
        events.add([(socket.gethostname(), os.getpid())])
    return model


def _load(shipped: ShippedModel) -> PyFuncModel:
    global _loads
    from runlab.models.pyfunc import load_local_model
    from runlab.models.trust import ModelTrust

    started = time.perf_counter()
    folder = _unpacked(shipped)
    model = load_local_model(
        folder, ModelTrust.of(folder, trusted=shipped.trusted), shipped.model_config
    )
    _loads += 1
    _log.info(
        "runlab spark_udf: loaded model %s in worker pid %d (%.2f s)",
        shipped.content_id,
        os.getpid(),
        time.perf_counter() - started,
    )
    return model


def _unpacked(shipped: ShippedModel) -> Path:
    """The model's folder on this machine, unpacked from the shipped archive once.

    Workers of one executor share the folder: each unpacks into a private temporary folder
    and renames it into place, so a worker never sees a half-written model.
    """
    from pyspark import SparkFiles

    archive = Path(SparkFiles.get(shipped.archive))
    root = Path(SparkFiles.getRootDirectory()) / "runlab-models"
    target = root / shipped.content_id
    if (target / "MLmodel").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{shipped.content_id}-", dir=root))
    try:
        with zipfile.ZipFile(archive) as zipped:
            # zipfile drops absolute paths and '..' parts, so nothing lands outside scratch.
            zipped.extractall(scratch)
        try:
            scratch.rename(target)
        except OSError:
            if not (target / "MLmodel").is_file():  # not another worker's finished copy
                raise
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    return target
