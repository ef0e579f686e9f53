"""docs/autolog.md stays true: its example runs, and its option tables name real parameters."""

from __future__ import annotations

import importlib
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import runlab

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "autolog.md").read_text(encoding="utf-8")
FRAMEWORK_MODULES = {
    "sklearn": "runlab.sklearn",
    "xgboost": "runlab.xgboost",
    "lightgbm": "runlab.lightgbm",
    "pytorch": "runlab.pytorch",
    "keras": "runlab.keras",
    "transformers": "runlab.transformers",
}


def _common_options() -> list[str]:
    section = PAGE.split("## Options", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `(\w+)` \|", section, re.M)


def test_the_first_example_runs(tmp_path: Path) -> None:
    code = re.search(r"```python\n(.*?)```", PAGE, re.S)
    assert code is not None
    script = tmp_path / "example.py"
    uri = f"sqlite:///{tmp_path / 'doc.db'}"
    script.write_text(
        f"import runlab\nrunlab.set_tracking_uri({uri!r})\n{code.group(1)}", encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNLAB_", "MLFLOW_"))}
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    max_depth, accuracy = proc.stdout.split()
    assert max_depth == "5"
    assert 0.9 <= float(accuracy) <= 1.0


@pytest.mark.parametrize("framework", sorted(FRAMEWORK_MODULES))
def test_every_documented_option_is_a_parameter(framework: str) -> None:
    options = _common_options()
    assert "log_models" in options and "extra_tags" in options
    autolog = importlib.import_module(FRAMEWORK_MODULES[framework]).autolog
    parameters = inspect.signature(autolog).parameters
    assert set(options) <= set(parameters), sorted(set(options) - set(parameters))


def test_runlab_autolog_takes_the_common_options_but_registered_model_name() -> None:
    parameters = inspect.signature(runlab.autolog).parameters
    expected = set(_common_options()) - {"registered_model_name"}
    assert expected <= set(parameters)
    assert "exclude_flavors" in parameters
