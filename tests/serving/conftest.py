"""Models for the scoring-server tests, saved once per session in a temporary folder.

- ``iris_model``: a small RandomForest on iris with a column signature (from an input example);
- ``outputs_model``: a custom PythonModel whose ``kind`` parameter (declared in a ParamSchema)
  picks what it returns — a DataFrame, Series, ndarray, dict, string, list or scalar — or makes
  it raise;
- ``echo_model``: a custom PythonModel without a signature that describes the input it got.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from anyio.from_thread import start_blocking_portal

import runlab.pyfunc
from serving.scoring_support import (
    Echo,
    iris_features,
    save_iris_model,
    save_outputs_model,
    scoring_api,
)
from support.asgi_api import Api


@pytest.fixture(scope="session")
def iris() -> pd.DataFrame:
    """The iris features as a DataFrame (bundled with scikit-learn, nothing downloads)."""
    return iris_features()


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serving-models")


@pytest.fixture(scope="session")
def iris_model(models_dir: Path, iris: pd.DataFrame) -> Path:
    """A saved RandomForest on iris, with a signature inferred from its input example."""
    return save_iris_model(models_dir / "iris")


@pytest.fixture(scope="session")
def outputs_model(models_dir: Path) -> Path:
    return save_outputs_model(models_dir / "outputs")


@pytest.fixture(scope="session")
def echo_model(models_dir: Path) -> Path:
    path = models_dir / "echo"
    runlab.pyfunc.save_model(path, python_model=Echo())
    return path


@pytest.fixture(scope="session")
def portal() -> Iterator[Any]:
    with start_blocking_portal() as running_portal:
        yield running_portal


@pytest.fixture(scope="session")
def iris_api(portal: Any, iris_model: Path) -> Api:
    return scoring_api(portal, iris_model)


@pytest.fixture(scope="session")
def outputs_api(portal: Any, outputs_model: Path) -> Api:
    return scoring_api(portal, outputs_model)


@pytest.fixture(scope="session")
def echo_api(portal: Any, echo_model: Path) -> Api:
    return scoring_api(portal, echo_model)
