"""Models for the scoring-server tests, saved once per session in a temporary folder.

- ``iris_model``: a small RandomForest on iris with a column signature (from an input example);
- ``outputs_model``: a custom PythonModel whose ``kind`` parameter (declared in a ParamSchema)
  picks what it returns — a DataFrame, Series, ndarray, dict, string, list or scalar — or makes
  it raise;
- ``echo_model``: a custom PythonModel without a signature that describes the input it got.

The custom models are cloudpickles, which load only from a trusted source: while these tests
run, this session's own temporary folder, where every model they serve was written, is one (as an
operator lists their model store in ``RUNLAB_TRUSTED_MODEL_SOURCES``). The trust gate itself is
tested in test_factory.py and tests/models/test_trust.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from anyio.from_thread import start_blocking_portal

import runlab.pyfunc
from runlab.models.trust import TRUSTED_SOURCES_ENV
from serving.scoring_support import (
    Echo,
    iris_features,
    save_iris_model,
    save_outputs_model,
    scoring_api,
)
from support.asgi_api import Api


@contextlib.contextmanager
def trusting_session_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Within the block, trust the models this session pickled: all under its temporary folder."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(TRUSTED_SOURCES_ENV, str(tmp_path_factory.getbasetemp()))
        yield


@pytest.fixture(autouse=True)
def trusted_session_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every scoring-server test may load the custom models the session wrote."""
    with trusting_session_models(tmp_path_factory):
        yield


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
def outputs_api(portal: Any, outputs_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Api:
    # Loaded before any test's own fixtures are set up: trusted here, for the load alone.
    with trusting_session_models(tmp_path_factory):
        return scoring_api(portal, outputs_model)


@pytest.fixture(scope="session")
def echo_api(portal: Any, echo_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Api:
    with trusting_session_models(tmp_path_factory):
        return scoring_api(portal, echo_model)
