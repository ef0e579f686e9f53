"""Real processes: runs ended at interpreter exit, data kept through SIGKILL, MLflow-style scripts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from runlab.tracking import Client
from runlab.tracking.recovery import recover

pytestmark = pytest.mark.slow


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNLAB_", "MLFLOW_"))}
    env.update(extra)
    return env


def _run_script(tmp_path: Path, body: str, **env: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _only_run(tmp_path: Path) -> tuple[Client, str]:
    client = Client(f"sqlite:///{tmp_path / 'runlab.db'}")
    runs = client.search_runs(["0"])
    assert len(runs) == 1
    return client, runs[0].info.run_id


def test_script_without_end_run_is_finished_at_exit(tmp_path: Path) -> None:
    result = _run_script(
        tmp_path,
        """
        import runlab
        runlab.start_run()
        runlab.log_param("p", 1)
        for step in range(500):
            runlab.log_metric("loss", 1.0 / (step + 1), step=step)
        runlab.set_tag("last", "tag")
        # no end_run(): the atexit handler flushes and ends the run
        """,
    )
    assert result.returncode == 0, result.stderr
    client, run_id = _only_run(tmp_path)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.info.end_time is not None
    assert run.data.params == {"p": "1"}
    assert run.data.tags["last"] == "tag"
    assert len(client.get_metric_history(run_id, "loss")) == 500


def test_uncaught_exception_fails_the_run_at_exit(tmp_path: Path) -> None:
    result = _run_script(
        tmp_path,
        """
        import runlab
        runlab.start_run()
        runlab.log_metric("m", 1.0)
        raise SystemError("crash")
        """,
    )
    assert result.returncode != 0
    assert "crash" in result.stderr
    client, run_id = _only_run(tmp_path)
    run = client.get_run(run_id)
    assert run.info.status == "FAILED"
    assert run.data.metrics == {"m": 1.0}


def test_error_at_exit_is_reported_not_swallowed(tmp_path: Path) -> None:
    result = _run_script(
        tmp_path,
        """
        import runlab
        run = runlab.start_run()
        runlab.MlflowClient().log_param(run.info.run_id, "p", "stored")
        runlab.log_param("p", "different")
        """,
    )
    assert "'p'" in result.stderr
    client, run_id = _only_run(tmp_path)
    assert client.get_run(run_id).info.status == "FINISHED"


def test_sigkill_loses_at_most_the_last_flush_interval(tmp_path: Path) -> None:
    script = tmp_path / "killed.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys, time
            import runlab
            run = runlab.start_run()
            runlab.log_param("p", "kept")
            for step in range(2000):
                runlab.log_metric("loss", float(step), step=step)
            runlab.set_tag("t", "kept")
            print(run.info.run_id, flush=True)
            time.sleep(600)
            """
        )
    )
    spool_dir = tmp_path / "spool"
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=_env(RUNLAB_FLUSH_INTERVAL="0.1", RUNLAB_SPOOL_DIR=str(spool_dir)),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        time.sleep(1.0)  # well past the 0.1 s flush interval
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    client = Client(f"sqlite:///{tmp_path / 'runlab.db'}")
    run = client.get_run(run_id)
    assert run.info.status == "RUNNING"  # nobody could end it...
    assert run.data.params == {"p": "kept"}
    assert run.data.tags["t"] == "kept"
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == list(range(2000))
    # ...until `runlab runs recover` finds the dead process's spool file.
    (recovered,) = recover(spool_dir).recovered
    assert recovered.killed == [run_id] and recovered.sent.empty
    assert client.get_run(run_id).info.status == "KILLED"


def test_mlflow_style_script_runs_unchanged(tmp_path: Path) -> None:
    result = _run_script(
        tmp_path,
        """
        import runlab as mlflow
        from runlab.tracking import MlflowClient
        from runlab.entities import ViewType

        mlflow.set_tracking_uri("sqlite:///mlflow_style.db")
        mlflow.set_experiment("Social NLP Experiments")
        with mlflow.start_run(run_name="parent", tags={"version": "v1"}) as parent:
            mlflow.log_params({"lr": 0.01, "epochs": 3})
            for epoch in range(3):
                mlflow.log_metrics({"loss": 1.0 / (epoch + 1), "acc": epoch / 3}, step=epoch)
            with mlflow.start_run(run_name="child", nested=True) as child:
                mlflow.log_param("child", "yes")
            mlflow.log_dict({"layers": [64, 32]}, "config.json")
        try:
            mlflow.log_param("lr", 0.02)  # starts a new run: fine
            mlflow.log_param("lr", 0.03)
        except mlflow.exceptions.MlflowException as err:
            print("refused:", err.error_code)
        mlflow.end_run()

        client = MlflowClient()
        exp = client.get_experiment_by_name("Social NLP Experiments")
        runs = client.search_runs(
            [exp.experiment_id],
            f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
            run_view_type=ViewType.ACTIVE_ONLY,
        )
        print("children:", [r.info.run_name for r in runs])
        df = mlflow.search_runs([exp.experiment_id], order_by=["start_time ASC"])
        print("rows:", len(df), "loss:", df.loc[df["run_id"] == parent.info.run_id, "metrics.loss"].iloc[0])
        print("history:", [m.value for m in client.get_metric_history(parent.info.run_id, "acc")])
        print("artifacts:", [f.path for f in client.list_artifacts(parent.info.run_id)])
        """,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "refused: INVALID_PARAMETER_VALUE" in out
    assert "children: ['child']" in out
    assert "rows: 3 loss: 0.333" in out
    assert "history: [0.0, 0.333" in out
    assert "artifacts: ['config.json']" in out
    assert (tmp_path / "mlflow_style.db").is_file()


def test_git_commit_tag_from_the_scripts_repository(tmp_path: Path) -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "repo"
    (repo / ".git" / "refs" / "heads").mkdir(parents=True)
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (repo / ".git" / "refs" / "heads" / "main").write_text(sha + "\n")
    (repo / "src").mkdir()
    script = repo / "src" / "train.py"
    script.write_text("import runlab\nwith runlab.start_run() as run:\n    print(run.data.tags)\n")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    client, run_id = _only_run(tmp_path)
    tags = client.get_run(run_id).data.tags
    assert tags["mlflow.source.git.commit"] == sha
    assert tags["mlflow.source.name"] == str(script)
    assert tags["mlflow.source.type"] == "LOCAL"
