"""Fixtures for the evaluation tests: a clean tracking environment on a fresh SQLite store, small
scikit-learn models and the data they were fitted on (made here, never downloaded)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from support.tracking_state import clean_env, client, tracking_uri

__all__ = [
    "binary_data",
    "clean_env",
    "client",
    "multiclass_data",
    "regression_data",
    "tracking_uri",
]

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")


def _features(rows: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(rows, 3)), columns=["a", "b", "c"])


@pytest.fixture
def binary_data() -> tuple[pd.DataFrame, Any]:
    """A frame with features a, b, c and a 0/1 ``label``, and a logistic regression fitted on it."""
    from sklearn.linear_model import LogisticRegression

    frame = _features()
    frame["label"] = ((frame.a + frame.b) > 0).astype(int)
    model = LogisticRegression().fit(frame[["a", "b", "c"]], frame["label"])
    return frame, model


@pytest.fixture
def multiclass_data() -> tuple[pd.DataFrame, Any]:
    """A frame with a three-class ``label`` (0, 1, 2) and a logistic regression fitted on it."""
    from sklearn.linear_model import LogisticRegression

    frame = _features()
    frame["label"] = np.digitize(frame.a, [-0.5, 0.5])
    model = LogisticRegression().fit(frame[["a", "b", "c"]], frame["label"])
    return frame, model


@pytest.fixture
def regression_data() -> tuple[pd.DataFrame, Any]:
    """A frame with a numeric ``label`` and a linear regression fitted on it."""
    from sklearn.linear_model import LinearRegression

    frame = _features()
    noise = np.random.default_rng(1).normal(size=len(frame)) * 0.1
    frame["label"] = frame.a * 2 + 1 + noise
    model = LinearRegression().fit(frame[["a", "b", "c"]], frame["label"])
    return frame, model
