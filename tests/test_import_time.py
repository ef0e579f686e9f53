"""``import runlab`` stays light: no heavy dependency is loaded until a function needs it."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = {
    "sqlalchemy",
    "alembic",
    "pandas",
    "numpy",
    "yaml",
    "boto3",
    "botocore",
    "matplotlib",
    "plotly",
    "PIL",
    "fastapi",
    "starlette",
    "httpx",
    "click",
    "rich",
}


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def _top_level(modules: set[str]) -> set[str]:
    return {m.split(".", 1)[0] for m in modules}


def test_import_runlab_loads_no_heavy_module() -> None:
    loaded = _top_level(_modules_after("import runlab"))
    assert not (loaded & HEAVY), sorted(loaded & HEAVY)
    # Not even our own tracking code: the fluent API is loaded on first use.
    assert "runlab.tracking" not in _modules_after("import runlab")


def test_mlflow_style_imports_stay_light() -> None:
    modules = _modules_after(
        "import runlab as mlflow\n"
        "from runlab.tracking import MlflowClient\n"
        "mlflow.log_metric, mlflow.start_run, mlflow.MlflowClient, mlflow.exceptions"
    )
    # The client and fluent API are loaded now, but the database driver waits for a store.
    assert "runlab.tracking.fluent" in modules
    assert not (_top_level(modules) & HEAVY), sorted(_top_level(modules) & HEAVY)
