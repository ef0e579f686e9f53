"""Flavor modules import their frameworks only when a model is saved or loaded."""

from __future__ import annotations

import subprocess
import sys

_FLAVORS = ("sklearn", "pytorch", "xgboost", "lightgbm", "keras", "transformers", "pyfunc")
_FRAMEWORKS = ("sklearn", "torch", "xgboost", "lightgbm", "keras", "transformers", "skops")

_PROBE = f"""
import sys
import runlab
for name in {_FLAVORS!r}:
    module = getattr(runlab, name)
    assert callable(module.save_model) and callable(module.load_model), name
loaded = sorted(m for m in {_FRAMEWORKS!r} if m in sys.modules)
print(",".join(loaded))
"""


def test_importing_every_flavor_loads_no_framework() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
