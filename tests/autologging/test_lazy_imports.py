"""``runlab.autolog()`` imports no framework, and patches each one when the user imports it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

FRAMEWORK_MODULES = {
    "sklearn",
    "xgboost",
    "lightgbm",
    "torch",
    "lightning",
    "pytorch_lightning",
    "keras",
    "tensorflow",
    "transformers",
    "tensorboard",
    # Nor what they stand on: enabling autologging must cost milliseconds.
    "numpy",
    "pandas",
    "scipy",
    "matplotlib",
}


def _run(code: str) -> dict[str, object]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(RESULT))"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        timeout=240,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("RUNLAB_", "MLFLOW_"))},
            "KERAS_BACKEND": "torch",
        },
    )
    result: dict[str, object] = json.loads(out.stdout.splitlines()[-1])
    return result


def test_autolog_imports_no_framework() -> None:
    result = _run(
        "import sys, runlab\n"
        "runlab.autolog()\n"
        "RESULT = sorted({m.split('.')[0] for m in sys.modules})"
    )
    loaded = set(result)  # type: ignore[arg-type]
    assert not (loaded & FRAMEWORK_MODULES), sorted(loaded & FRAMEWORK_MODULES)


def test_each_framework_is_patched_when_imported() -> None:
    result = _run(
        "import runlab\n"
        "runlab.autolog()\n"
        "import sklearn.ensemble, xgboost, lightgbm, lightning, pytorch_lightning, keras\n"
        "import torch.utils.tensorboard\n"
        "from transformers import Trainer\n"
        "def patched(obj):\n"
        "    return getattr(obj, '__runlab_autolog__', None)\n"
        "RESULT = {\n"
        "    'sklearn': patched(sklearn.ensemble.RandomForestClassifier.fit),\n"
        "    'xgboost': patched(xgboost.train),\n"
        "    'lightgbm': patched(lightgbm.train),\n"
        "    'lightning': patched(lightning.Trainer.fit),\n"
        "    'pytorch_lightning': patched(pytorch_lightning.Trainer.fit),\n"
        "    'keras': patched(keras.Model.fit),\n"
        "    'tensorboard': patched(torch.utils.tensorboard.SummaryWriter.add_scalar),\n"
        "    'transformers': patched(Trainer.train),\n"
        "}\n"
    )
    assert result == {
        "sklearn": "sklearn",
        "xgboost": "xgboost",
        "lightgbm": "lightgbm",
        "lightning": "pytorch",
        "pytorch_lightning": "pytorch",
        "keras": "keras",
        "tensorboard": "pytorch",
        "transformers": "transformers",
    }
