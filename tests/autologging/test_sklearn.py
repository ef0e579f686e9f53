"""scikit-learn autologging: what one fit() records, read back through the store.

Tiny models on a few dozen rows. Every expected value is computed here with scikit-learn
itself, so a metric logged with the wrong weights, label or data fails its test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk
from sklearn.cluster import KMeans
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import runlab
import runlab.pyfunc
import runlab.sklearn
from runlab.entities import Run

PLOTS = {
    "training_confusion_matrix.png",
    "training_roc_curve.png",
    "training_precision_recall_curve.png",
}


def binary_data(rows: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 3))
    y = (X[:, 0] + 0.8 * rng.normal(size=rows) > 0).astype(int)
    return X, y


def finished_run() -> Run:
    run = runlab.last_active_run()
    assert run is not None
    return run


def artifact_paths(run_id: str, path: str | None = None) -> set[str]:
    return {f.path for f in runlab.MlflowClient().list_artifacts(run_id, path)}


def test_classifier_logs_params_metrics_plots_model_and_dataset(tracking: str) -> None:
    X, y = binary_data()
    runlab.sklearn.autolog()
    model = LogisticRegression(C=0.5).fit(X, y)
    run = finished_run()
    client = runlab.MlflowClient()

    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.autologging"] == "sklearn"
    assert run.data.tags["estimator_name"] == "LogisticRegression"
    assert run.data.tags["estimator_class"] == "sklearn.linear_model._logistic.LogisticRegression"
    assert run.data.params == {k: str(v) for k, v in model.get_params(deep=True).items()}

    y_pred, proba = model.predict(X), model.predict_proba(X)
    expected = {
        "training_accuracy_score": sk.accuracy_score(y, y_pred),
        "training_precision_score": sk.precision_score(y, y_pred, average="weighted"),
        "training_recall_score": sk.recall_score(y, y_pred, average="weighted"),
        "training_f1_score": sk.f1_score(y, y_pred, average="weighted"),
        "training_log_loss": sk.log_loss(y, proba),
        "training_roc_auc": sk.roc_auc_score(y, proba[:, 1]),
        "training_score": model.score(X, y),
    }
    assert run.data.metrics == pytest.approx(expected)
    history = client.get_metric_history(run.info.run_id, "training_accuracy_score")
    assert [(m.step, m.value) for m in history] == [
        (0, pytest.approx(expected["training_accuracy_score"]))
    ]

    assert artifact_paths(run.info.run_id) >= {"estimator.html", "model", *PLOTS}
    assert artifact_paths(run.info.run_id, "model") >= {"model/MLmodel", "model/model.skops"}
    html = runlab.artifacts.load_text(f"runs:/{run.info.run_id}/estimator.html")
    assert "LogisticRegression" in html and 'charset="UTF-8"' in html
    png = client.download_artifacts(run.info.run_id, "training_roc_curve.png")
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"

    loaded = runlab.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_array_equal(loaded.predict(X), y_pred)
    signature = loaded.metadata.signature
    assert signature is not None and signature.inputs is not None
    assert loaded.metadata.saved_input_example_info is None  # log_input_examples is off

    # The training data, and (as MLflow does) the data this test predicted on, as "eval".
    inputs = client.get_run(run.info.run_id).inputs.dataset_inputs
    contexts = {t.value: d.dataset for d in inputs for t in d.tags}
    assert sorted(contexts) == ["eval", "train"]
    assert contexts["train"].name == "dataset"
    assert '"features_shape": [40, 3]' in contexts["train"].profile
    assert '"targets_shape": [40]' in contexts["train"].profile


def test_regressor_metrics_respect_sample_weight(tracking: str) -> None:
    X, _ = binary_data()
    target = X @ np.array([1.0, -2.0, 0.5]) + np.random.default_rng(1).normal(size=len(X))
    weights = np.linspace(0.1, 3.0, len(X))
    runlab.sklearn.autolog()
    model = LinearRegression().fit(X[:, :2], target, sample_weight=weights)
    run = finished_run()

    pred = model.predict(X[:, :2])
    assert run.data.metrics == pytest.approx(
        {
            "training_mean_squared_error": sk.mean_squared_error(
                target, pred, sample_weight=weights
            ),
            "training_root_mean_squared_error": sk.root_mean_squared_error(
                target, pred, sample_weight=weights
            ),
            "training_mean_absolute_error": sk.mean_absolute_error(
                target, pred, sample_weight=weights
            ),
            "training_r2_score": sk.r2_score(target, pred, sample_weight=weights),
            "training_score": model.score(X[:, :2], target, sample_weight=weights),
        }
    )
    # Without the weights the error differs: the test above would notice them being dropped.
    assert sk.mean_squared_error(target, pred) != pytest.approx(
        run.data.metrics["training_mean_squared_error"]
    )
    assert not artifact_paths(run.info.run_id) & PLOTS  # plots are for classifiers


def test_classifier_metrics_respect_sample_weight(sqlite_url: str) -> None:
    runlab.set_tracking_uri(sqlite_url)
    X, y = binary_data()
    weights = np.where(y == 1, 5.0, 0.2)
    runlab.sklearn.autolog()
    model = DecisionTreeClassifier(max_depth=1, random_state=0).fit(X, y, sample_weight=weights)
    run = finished_run()
    y_pred = model.predict(X)
    weighted = sk.accuracy_score(y, y_pred, sample_weight=weights)
    assert weighted != pytest.approx(sk.accuracy_score(y, y_pred))
    assert run.data.metrics["training_accuracy_score"] == pytest.approx(weighted)
    assert run.data.metrics["training_f1_score"] == pytest.approx(
        sk.f1_score(y, y_pred, average="weighted", sample_weight=weights)
    )


def test_pos_label_makes_the_metrics_binary_for_that_label(sqlite_url: str) -> None:
    runlab.set_tracking_uri(sqlite_url)
    X, y01 = binary_data()
    y = np.where(y01 == 1, "spam", "ham")
    runlab.sklearn.autolog(pos_label="ham")
    model = DecisionTreeClassifier(max_depth=1, random_state=0).fit(X, y)
    run = finished_run()
    y_pred = model.predict(X)
    proba = model.predict_proba(X)[:, list(model.classes_).index("ham")]
    assert run.data.metrics["training_precision_score"] == pytest.approx(
        sk.precision_score(y, y_pred, pos_label="ham")
    )
    assert run.data.metrics["training_recall_score"] == pytest.approx(
        sk.recall_score(y, y_pred, pos_label="ham")
    )
    assert run.data.metrics["training_roc_auc"] == pytest.approx(
        sk.roc_auc_score(y == "ham", proba)
    )
    assert sk.precision_score(y, y_pred, pos_label="ham") != pytest.approx(
        sk.precision_score(y, y_pred, average="weighted")
    )


def test_multiclass_has_a_confusion_matrix_but_no_binary_curves(sqlite_url: str) -> None:
    runlab.set_tracking_uri(sqlite_url)
    X, _ = binary_data(45)
    y = np.repeat([0, 1, 2], 15)
    X[:, 0] += y
    runlab.sklearn.autolog()
    model = LogisticRegression().fit(X, y)
    run = finished_run()
    paths = artifact_paths(run.info.run_id)
    assert "training_confusion_matrix.png" in paths
    assert not paths & {"training_roc_curve.png", "training_precision_recall_curve.png"}
    assert run.data.metrics["training_roc_auc"] == pytest.approx(
        sk.roc_auc_score(y, model.predict_proba(X), multi_class="ovr", average="weighted")
    )


def test_pipeline_logs_once_with_its_steps_params(tracking: str) -> None:
    X, y = binary_data()
    runlab.sklearn.autolog()
    pipeline = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y)
    run = finished_run()
    runs = runlab.search_runs(output_format="list")
    assert [r.info.run_id for r in runs] == [run.info.run_id]  # the steps' fits log nothing
    assert run.data.params["clf__C"] == "1.0"
    assert run.data.params["scale__with_mean"] == "True"
    assert run.data.tags["estimator_name"] == "Pipeline"
    loaded = runlab.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_array_equal(loaded.predict(X), pipeline.predict(X))
    assert "training_roc_auc" in run.data.metrics


def test_fit_transform_and_fit_predict_are_trainings_too(sqlite_url: str) -> None:
    runlab.set_tracking_uri(sqlite_url)
    X, _ = binary_data()
    runlab.sklearn.autolog()
    StandardScaler(with_std=False).fit_transform(X)
    scaler_run = finished_run()
    assert scaler_run.data.params == {"copy": "True", "with_mean": "True", "with_std": "False"}
    assert scaler_run.data.metrics == {}  # no labels, no training metrics
    # runlab's sklearn flavor saves estimators that predict; a scaler gets its page only.
    assert artifact_paths(scaler_run.info.run_id) == {"estimator.html"}

    labels = KMeans(n_clusters=2, n_init=1, random_state=0).fit_predict(X)
    kmeans_run = finished_run()
    assert kmeans_run.info.run_id != scaler_run.info.run_id
    assert kmeans_run.data.params["n_clusters"] == "2"
    loaded = runlab.pyfunc.load_model(f"runs:/{kmeans_run.info.run_id}/model")
    np.testing.assert_array_equal(loaded.predict(X), labels)


def test_input_example_serialization_format_and_registration(sqlite_url: str) -> None:
    runlab.set_tracking_uri(sqlite_url)
    X, y = binary_data()
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    runlab.sklearn.autolog(
        log_input_examples=True,
        serialization_format="cloudpickle",
        registered_model_name="churn",
    )
    model = LogisticRegression().fit(frame, pd.Series(y, name="label"))
    run = finished_run()
    assert artifact_paths(run.info.run_id, "model") >= {"model/model.pkl", "model/MLmodel"}
    loaded = runlab.pyfunc.load_model(f"runs:/{run.info.run_id}/model", trusted=True)
    assert loaded.metadata.flavors["sklearn"]["serialization_format"] == "cloudpickle"
    assert loaded.metadata.saved_input_example_info is not None
    assert [spec.name for spec in loaded.metadata.signature.inputs.inputs] == ["a", "b", "c"]
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    (version,) = runlab.search_model_versions(filter_string="name='churn'")
    assert version.run_id == run.info.run_id
    train = [
        d.dataset
        for d in runlab.MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs
        if ("mlflow.data.context", "train") in {(t.key, t.value) for t in d.tags}
    ]
    assert len(train) == 1 and "label" in train[0].schema


def test_log_models_and_log_datasets_off(sqlite_url: str) -> None:
    runlab.set_tracking_uri(sqlite_url)
    X, y = binary_data()
    runlab.sklearn.autolog(log_models=False, log_datasets=False)
    LogisticRegression().fit(X, y)
    run = finished_run()
    assert "model" not in artifact_paths(run.info.run_id)
    assert not runlab.MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs
    assert "training_accuracy_score" in run.data.metrics


def test_refitting_and_changing_the_data_at_once_keep_each_training_apart(sqlite_url: str) -> None:
    runlab.set_tracking_uri(sqlite_url)
    X, y = binary_data()
    original = X.copy()
    runlab.sklearn.autolog()
    model = LogisticRegression(C=0.01)
    model.fit(X, y)
    assert runlab.active_run() is None  # the managed run is over (its end is queued)
    first_predictions = model.predict(original)
    first_proba = model.predict_proba(original)
    # Change the estimator and the data in place before the background is done with them.
    X *= -1.0
    model.set_params(C=100.0).fit(X, y)
    runs = runlab.search_runs(output_format="list", order_by=["attributes.start_time ASC"])
    assert len(runs) == 2
    first_run = runlab.MlflowClient().get_run(runs[0].info.run_id)
    assert first_run.data.params["C"] == "0.01"
    assert first_run.data.metrics["training_log_loss"] == pytest.approx(sk.log_loss(y, first_proba))
    assert first_run.data.metrics["training_accuracy_score"] == pytest.approx(
        sk.accuracy_score(y, first_predictions)
    )
    loaded = runlab.sklearn.load_model(f"runs:/{first_run.info.run_id}/model")
    assert loaded.C == 0.01
    np.testing.assert_array_equal(loaded.predict(original), first_predictions)


def test_sparse_input_gets_a_model_without_signature(sqlite_url: str) -> None:
    from scipy import sparse

    runlab.set_tracking_uri(sqlite_url)
    X, y = binary_data()
    X_sparse = sparse.csr_matrix(np.where(X > 0, X, 0.0))
    runlab.sklearn.autolog()
    model = LogisticRegression().fit(X_sparse, y)
    run = finished_run()
    assert "training_accuracy_score" in run.data.metrics
    loaded = runlab.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_array_equal(loaded.predict(X_sparse), model.predict(X_sparse))
    assert runlab.pyfunc.load_model(f"runs:/{run.info.run_id}/model").metadata.signature is None
    assert not runlab.MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs
