"""Models that MLflow (3.17.2) saved, served by runlab: its own serving example answers."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import runlab.pyfunc
from serving.scoring_support import post_json, scoring_api

mlflow_sklearn = pytest.importorskip("mlflow.sklearn")


@pytest.fixture(scope="module")
def mlflow_model(tmp_path_factory: pytest.TempPathFactory, iris: pd.DataFrame) -> Path:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    _, target = load_iris(return_X_y=True, as_frame=True)
    path = tmp_path_factory.mktemp("mlflow-saved") / "model"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's own deprecation and environment notices
        mlflow_sklearn.save_model(
            LogisticRegression(max_iter=300).fit(iris, target),
            path,
            input_example=iris.iloc[:3],
            pip_requirements=["scikit-learn"],
        )
    return path


def test_mlflows_serving_example_is_answered(portal: Any, mlflow_model: Path) -> None:
    body = json.loads((mlflow_model / "serving_input_example.json").read_text())
    response = post_json(scoring_api(portal, mlflow_model), body)
    assert response.status_code == 200, response.text
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = mlflow_sklearn.load_model(str(mlflow_model)).predict(
            pd.DataFrame(**body["dataframe_split"])
        )
    assert response.json() == {"predictions": expected.tolist()}
    assert runlab.pyfunc.load_model(mlflow_model).metadata.signature is not None
