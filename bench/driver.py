"""Run one benchmark workload with one tool and print its result as one JSON line.

Usage (run.py does this; the same file runs under both interpreters)::

    python driver.py runlab|mlflow WORKLOAD '{"param": ...}'

The tool is imported as ``mlflow`` either way (``import runlab as mlflow`` or ``import mlflow``),
so every workload runs the same code against both. The last stdout line that starts with
``BENCH_RESULT`` carries the result (or ``{"error": ...}``).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from dataclasses import dataclass
from types import ModuleType
from typing import Any

RESULT_PREFIX = "BENCH_RESULT "

# workload name -> "module:function" inside bench/workloads/
WORKLOADS = {
    "loop": "fluent_loop:run",
    "disk": "disk_bytes:run",
    "history": "metric_history:run",
    "search": "search:run",
    "concurrent": "concurrent:run",
    "concurrent_child": "concurrent:child",
    "durable": "durable_cost:run",
    "autolog-sklearn": "autolog_sklearn:run",
    "autolog-lightning": "autolog_lightning:run",
}


@dataclass
class Api:
    """The handful of names a workload needs, resolved for one tool."""

    tool: str
    mlflow: ModuleType
    MlflowClient: Any
    Metric: Any
    Param: Any
    RunTag: Any
    driver: str

    def client(self, tracking_uri: str) -> Any:
        """A client bound to ``tracking_uri``."""
        return self.MlflowClient(tracking_uri=tracking_uri)


def load_api(tool: str) -> Api:
    """Import the tool under test: runlab or MLflow."""
    package = {"runlab": "runlab", "mlflow": "mlflow"}[tool]
    module = importlib.import_module(package)
    tracking = importlib.import_module(f"{package}.tracking")
    entities = importlib.import_module(f"{package}.entities")
    return Api(
        tool=tool,
        mlflow=module,
        MlflowClient=tracking.MlflowClient,
        Metric=entities.Metric,
        Param=entities.Param,
        RunTag=entities.RunTag,
        driver=os.path.abspath(__file__),
    )


def emit(result: dict[str, Any]) -> None:
    """Print the result line the harness looks for."""
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    tool, workload, raw_params = argv[1], argv[2], argv[3]
    params = json.loads(raw_params)
    try:
        t0 = time.perf_counter()
        api = load_api(tool)
        import_s = time.perf_counter() - t0
        module_name, func_name = WORKLOADS[workload].split(":")
        func = getattr(importlib.import_module(f"workloads.{module_name}"), func_name)
        workdir = params.get("workdir")
        if workdir:
            os.chdir(workdir)
        result = func(api, params)
        result.setdefault("import_s", import_s)
    except BaseException as exc:  # report everything, including SystemExit from a tool
        emit({"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()})
        return 1
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
