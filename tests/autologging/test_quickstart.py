"""MLflow's quick start, run as a script a new user would write: nothing but ``autolog()``.

The script ends right after ``fit()``; the background work (training metrics, plots, the model)
and the end of the autologged run must still be complete once the interpreter has exited.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import runlab

SCRIPT = """
import runlab as mlflow
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier

mlflow.set_tracking_uri({uri!r})
mlflow.autolog()
X, y = make_classification(n_samples=300, n_features=6, random_state=0)
RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0).fit(X, y)
"""


def test_quick_start_script_records_everything_by_exit(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'quick.db'}"
    script = tmp_path / "train.py"
    script.write_text(SCRIPT.format(uri=uri), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNLAB_", "MLFLOW_"))}
    env["RUNLAB_AUTOLOG_STRICT"] = "1"
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    runlab.set_tracking_uri(uri)
    client = runlab.MlflowClient(uri)
    [run] = client.search_runs(["0"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.autologging"] == "sklearn"
    assert run.data.params["n_estimators"] == "10"
    assert run.data.params["max_depth"] == "5"
    assert 0.5 < run.data.metrics["training_accuracy_score"] <= 1.0
    artifacts = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert {"model", "estimator.html", "training_confusion_matrix.png"} <= artifacts
    model = runlab.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    assert model.metadata.flavors.keys() >= {"sklearn", "python_function"}
