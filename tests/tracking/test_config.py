"""Tracking URI resolution and the environment variables the client reads."""

from __future__ import annotations

from pathlib import Path

import pytest

import runlab
from runlab.errors import InvalidParameter
from runlab.tracking import config


def test_default_is_runlab_db_in_working_directory(tmp_path: Path) -> None:
    assert runlab.get_tracking_uri() == f"sqlite:///{tmp_path.resolve() / 'runlab.db'}"
    assert not runlab.is_tracking_uri_set()


def test_default_store_creates_db_and_artifacts_beside_it(tmp_path: Path) -> None:
    with runlab.start_run() as run:
        runlab.log_text("hello", "a.txt")
    assert (tmp_path / "runlab.db").is_file()
    assert run.info.artifact_uri.startswith((tmp_path / "runlab-artifacts").resolve().as_uri())
    assert (tmp_path / "runlab-artifacts").is_dir()


def test_runlab_env_wins_over_mlflow_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///from-mlflow.db")
    assert runlab.get_tracking_uri() == "sqlite:///from-mlflow.db"
    assert runlab.is_tracking_uri_set()
    monkeypatch.setenv("RUNLAB_TRACKING_URI", "sqlite:///from-runlab.db")
    assert runlab.get_tracking_uri() == "sqlite:///from-runlab.db"


def test_set_tracking_uri_wins_over_env_and_none_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLAB_TRACKING_URI", "sqlite:///env.db")
    runlab.set_tracking_uri("sqlite:///code.db")
    assert runlab.get_tracking_uri() == "sqlite:///code.db"
    runlab.set_tracking_uri(None)
    assert runlab.get_tracking_uri() == "sqlite:///env.db"


def test_folder_paths_become_absolute_file_uris(tmp_path: Path) -> None:
    runlab.set_tracking_uri("runs")
    assert runlab.get_tracking_uri() == (tmp_path / "runs").resolve().as_uri()
    runlab.set_tracking_uri(tmp_path / "other")
    assert runlab.get_tracking_uri() == (tmp_path / "other").resolve().as_uri()
    with runlab.start_run():
        runlab.log_metric("m", 1.0)
    assert (tmp_path / "other" / "runlab.db").is_file()


@pytest.mark.parametrize("bad", ["", "  ", 42])
def test_bad_tracking_uris_are_refused(bad: object) -> None:
    with pytest.raises(InvalidParameter):
        runlab.set_tracking_uri(bad)  # type: ignore[arg-type]


def test_flush_interval_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert config.flush_interval() == 0.1
    monkeypatch.setenv("RUNLAB_FLUSH_INTERVAL", "0.5")
    assert config.flush_interval() == 0.5
    monkeypatch.setenv("RUNLAB_FLUSH_INTERVAL", "30")
    assert config.flush_interval() == 1.0  # capped: a killed process loses at most ~1 s
    for bad in ("soon", "0", "-1"):
        monkeypatch.setenv("RUNLAB_FLUSH_INTERVAL", bad)
        with pytest.raises(InvalidParameter, match="RUNLAB_FLUSH_INTERVAL"):
            config.flush_interval()


def test_env_run_id_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_RUN_ID", "abc")
    assert config.pop_env_run_id() == "abc"
    assert config.pop_env_run_id() is None
