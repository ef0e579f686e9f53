"""scikit-learn autologging never breaks training: the user's errors propagate unchanged, runlab's
are warned about while training goes on, patches come out exactly, and runs are the right ones."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest
import sklearn.metrics
from sklearn.ensemble import RandomForestClassifier
from sklearn.ensemble._forest import BaseForest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import runlab
import runlab.sklearn
from runlab.autologging.options import STRICT_ENV
from support.servers import free_port


def binary_data(rows: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 3))
    y = (X[:, 0] + 0.8 * rng.normal(size=rows) > 0).astype(int)
    return X, y


def all_runs() -> list[Any]:
    return runlab.search_runs(output_format="list")


def test_the_users_error_propagates_unchanged_and_the_run_fails(tracking: str) -> None:
    X, y = binary_data()
    error = ValueError("a column the user's transformer cannot handle")

    def explode(data: Any) -> Any:
        raise error

    runlab.sklearn.autolog()
    pipeline = Pipeline([("prepare", FunctionTransformer(explode)), ("clf", LogisticRegression())])
    with pytest.raises(ValueError) as caught:
        pipeline.fit(X, y)
    assert caught.value is error
    assert caught.traceback[-1].name == "explode"
    run = runlab.last_active_run()
    assert run is not None
    assert run.info.status == "FAILED"
    assert run.data.params["clf__C"] == "1.0"  # logged before training started
    assert runlab.active_run() is None


def test_runlab_failing_mid_training_leaves_the_training_alone(
    tracking: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(STRICT_ENV)
    X, y = binary_data()
    deleted: list[str] = []

    def delete_the_run(data: Any) -> Any:
        # Halfway through fit(), the run autologging writes to disappears.
        active = runlab.active_run()
        if active is not None and not deleted:
            runlab.MlflowClient().delete_run(active.info.run_id)
            deleted.append(active.info.run_id)
        return data

    def steps(first: Any) -> list[tuple[str, Any]]:
        return [("prepare", FunctionTransformer(first)), ("clf", LogisticRegression())]

    runlab.sklearn.autolog()
    with caplog.at_level(logging.WARNING, logger="runlab"):
        logged = Pipeline(steps(delete_the_run)).fit(X, y)
        runlab.flush()
    runlab.sklearn.autolog(disable=True)
    bare = Pipeline(steps(None)).fit(X, y)

    assert deleted
    np.testing.assert_array_equal(logged.predict(X), bare.predict(X))
    np.testing.assert_allclose(logged[-1].coef_, bare[-1].coef_)
    assert "sklearn autologging failed" in caplog.text
    assert deleted[0] in caplog.text


def test_an_unreachable_tracking_server_leaves_the_training_alone(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(STRICT_ENV)
    monkeypatch.setenv("RUNLAB_HTTP_REQUEST_MAX_RETRIES", "0")
    runlab.set_tracking_uri(f"http://127.0.0.1:{free_port()}")  # a server that has stopped
    X, y = binary_data()
    runlab.sklearn.autolog()
    with caplog.at_level(logging.WARNING, logger="runlab"):
        model = LogisticRegression().fit(X, y)
    reference = LogisticRegression().fit(X, y)  # logs nothing either: the server is away
    np.testing.assert_allclose(model.coef_, reference.coef_)
    assert "sklearn autologging failed" in caplog.text
    assert "Cannot reach the tracking server" in caplog.text


def test_disable_restores_every_original_and_enabling_again_logs_again(sqlite_url: str) -> None:
    runlab.set_tracking_uri(sqlite_url)
    X, y = binary_data()
    own_fit = LogisticRegression.__dict__["fit"]
    pipeline_predict = Pipeline.__dict__["predict"].fn  # an available_if descriptor's function
    accuracy = sklearn.metrics.accuracy_score
    assert "fit" not in RandomForestClassifier.__dict__  # inherited from BaseForest
    assert "fit_transform" not in StandardScaler.__dict__  # inherited from TransformerMixin

    runlab.sklearn.autolog()
    runlab.sklearn.autolog()  # enabling twice changes nothing
    assert LogisticRegression.__dict__["fit"] is not own_fit
    assert Pipeline.__dict__["predict"].fn is not pipeline_predict
    assert sklearn.metrics.accuracy_score is not accuracy
    assert RandomForestClassifier.fit is not BaseForest.fit
    assert not hasattr(Pipeline([("scale", StandardScaler())]), "predict")  # still conditional
    with runlab.start_run() as run:
        LogisticRegression().fit(X, y)
    client = runlab.MlflowClient()
    assert len(client.get_metric_history(run.info.run_id, "training_score")) == 1  # logged once

    runlab.sklearn.autolog(disable=True)
    assert LogisticRegression.__dict__["fit"] is own_fit
    assert Pipeline.__dict__["predict"].fn is pipeline_predict
    assert sklearn.metrics.accuracy_score is accuracy
    assert RandomForestClassifier.fit is BaseForest.fit
    assert "fit" not in RandomForestClassifier.__dict__
    assert "fit_transform" not in StandardScaler.__dict__
    LogisticRegression().fit(X, y)
    assert len(all_runs()) == 1

    runlab.sklearn.autolog()
    LogisticRegression().fit(X, y)
    assert len(all_runs()) == 2


def test_every_estimator_of_all_estimators_is_patched_and_restored(sqlite_url: str) -> None:
    from sklearn.utils.discovery import all_estimators

    estimators = [cls for _, cls in all_estimators()]  # imports all of scikit-learn
    before = {cls: {m: _resolve(cls, m) for m in ("fit", "predict")} for cls in estimators}
    runlab.sklearn.autolog()
    unpatched = [
        cls.__name__
        for cls in estimators
        if hasattr(cls, "fit") and not _patched(_resolve(cls, "fit"))
    ]
    assert unpatched == []
    runlab.sklearn.autolog(disable=True)
    after = {cls: {m: _resolve(cls, m) for m in ("fit", "predict")} for cls in estimators}
    assert all(after[cls][m] is before[cls][m] for cls in estimators for m in ("fit", "predict"))


def _resolve(cls: type, name: str) -> Any:
    """The function behind ``cls.name``: available_if's inner function, or the plain one."""
    for klass in cls.__mro__:
        if name in vars(klass):
            value = vars(klass)[name]
            return getattr(value, "fn", value)
    return None


def _patched(function: Any) -> bool:
    return getattr(function, "__runlab_autolog__", None) == "sklearn"


def test_exclusive_logs_nothing_into_the_users_run(tracking: str) -> None:
    X, y = binary_data()
    runlab.sklearn.autolog(exclusive=True)
    with runlab.start_run() as run:
        LogisticRegression().fit(X, y)
    user_run = runlab.MlflowClient().get_run(run.info.run_id)
    assert user_run.data.params == {} and user_run.data.metrics == {}
    assert "mlflow.autologging" not in user_run.data.tags
    assert len(all_runs()) == 1
    LogisticRegression().fit(X, y)  # with no run of the user's, it logs
    managed = runlab.last_active_run()
    assert managed is not None and managed.info.run_id != run.info.run_id
    assert managed.data.params["C"] == "1.0"


def test_the_users_run_is_left_open(tracking: str) -> None:
    X, y = binary_data()
    runlab.sklearn.autolog()
    client = runlab.MlflowClient()
    with runlab.start_run() as run:
        LogisticRegression().fit(X, y)
        active = runlab.active_run()
        assert active is not None and active.info.run_id == run.info.run_id
        during = client.get_run(run.info.run_id)
        assert during.info.status == "RUNNING"
        assert "training_accuracy_score" in during.data.metrics
        assert "model" in {f.path for f in client.list_artifacts(run.info.run_id)}
    assert client.get_run(run.info.run_id).info.status == "FINISHED"
    assert len(all_runs()) == 1


def test_autolog_imports_no_scikit_learn_and_patches_it_as_it_is_imported() -> None:
    script = textwrap.dedent(
        """
        import sys
        import runlab.sklearn
        runlab.sklearn.autolog()
        assert "sklearn" not in sys.modules
        from sklearn.linear_model import LogisticRegression
        assert LogisticRegression.fit.__runlab_autolog__ == "sklearn"
        assert "sklearn.ensemble" not in sys.modules  # not all of scikit-learn at once
        from sklearn.ensemble import RandomForestClassifier
        assert RandomForestClassifier.fit.__runlab_autolog__ == "sklearn"
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
