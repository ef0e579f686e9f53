"""examples/train_project: the example project runs as a project and records what it promises."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runlab.errors import InvalidParameter
from runlab.projects.runner import run
from runlab.projects.submitted_run import ProjectRunFailed
from runlab.tracking import config
from runlab.tracking.client import Client

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "train_project"


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    """A client on a fresh SQLite file; artifacts land under tmp_path (the working directory)."""
    monkeypatch.chdir(tmp_path)
    for name in ("RUNLAB_TRACKING_URI", "MLFLOW_TRACKING_URI", "RUNLAB_RUN_ID", "MLFLOW_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    config.set_tracking_uri(None)
    yield Client(f"sqlite:///{tmp_path / 'example.db'}")
    config.set_tracking_uri(None)


def test_the_example_runs_as_a_project(client: Client, capfd: pytest.CaptureFixture[str]) -> None:
    submitted = run(
        str(EXAMPLE),
        parameters={"alpha": "0.3", "epochs": "30"},
        env_manager="local",
        experiment_name="example",
        tracking_uri=client.tracking_uri,
    )
    out = capfd.readouterr().out.splitlines()
    # The first line the entry point prints (what the speed benchmark waits for), then its last.
    assert out[0] == "train_project: started"
    assert out[-1].startswith("train_project: done, loss=")
    finished = client.get_run(submitted.run_id)
    assert finished.info.status == "FINISHED"
    # The runner's params and the script's own log_params agree (defaults filled in).
    assert finished.data.params == {"alpha": "0.3", "epochs": "30", "seed": "0"}
    tags = finished.data.tags
    assert tags["mlflow.source.type"] == "PROJECT"
    assert tags["mlflow.project.entryPoint"] == "main"
    assert tags["mlflow.project.env"] == "local"
    history = client.get_metric_history(submitted.run_id, "loss")
    assert [m.step for m in history] == list(range(30))
    assert history[-1].value < history[0].value
    metrics = finished.data.metrics
    assert metrics["final_loss"] < 0.05
    assert abs(metrics["slope"] - 3.0) < 0.2 and abs(metrics["intercept"] + 2.0) < 0.1
    # What the script logged and what the runner records for a re-run.
    model = Path(client.download_artifacts(submitted.run_id, "model/line.json"))
    assert set(json.loads(model.read_text())) == {"slope", "intercept"}
    recorded = Path(client.download_artifacts(submitted.run_id, "project"))
    assert (recorded / "MLproject").read_text() == (EXAMPLE / "MLproject").read_text()
    assert json.loads((recorded / "parameters.json").read_text()) == {
        "entry_point": "main",
        "parameters": {"alpha": "0.3", "epochs": "30", "seed": "0"},
    }
    assert (recorded / "environment.lock").read_text().strip()


def test_bad_values_are_refused_before_or_by_the_run(
    client: Client, capfd: pytest.CaptureFixture[str]
) -> None:
    # The MLproject types alpha as a float: refused before anything is created.
    with pytest.raises(InvalidParameter, match="alpha"):
        run(
            str(EXAMPLE),
            parameters={"alpha": "fast"},
            env_manager="local",
            experiment_name="example",
            tracking_uri=client.tracking_uri,
        )
    assert client.get_experiment_by_name("example") is None
    assert client.search_runs(["0"]) == []
    # A float the script refuses (it must be > 0): the run exists and ends FAILED.
    with pytest.raises(ProjectRunFailed) as failed:
        run(
            str(EXAMPLE),
            parameters={"alpha": "-1"},
            env_manager="local",
            tracking_uri=client.tracking_uri,
        )
    assert "alpha must be > 0" in capfd.readouterr().err
    assert client.get_run(failed.value.run_id).info.status == "FAILED"


def test_the_script_runs_on_its_own(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    env["RUNLAB_TRACKING_URI"] = f"sqlite:///{tmp_path / 'alone.db'}"
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "src")
    done = subprocess.run(
        [sys.executable, str(EXAMPLE / "train.py"), "--epochs", "3"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    runs = Client(env["RUNLAB_TRACKING_URI"]).search_runs(["0"])
    assert len(runs) == 1
    assert runs[0].data.params == {"alpha": "0.1", "epochs": "3", "seed": "0"}
