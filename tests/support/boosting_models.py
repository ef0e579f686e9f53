"""Small trained XGBoost and LightGBM models, and the saved-model file helpers their tests share.

Each ``*_case()`` skips the calling test (``pytest.importorskip``) only when its own framework is
missing, so one flavor's tests still run without the other's framework.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

__all__ = [
    "KINDS",
    "BoostingCase",
    "frame_and_target",
    "lightgbm_case",
    "read_mlmodel",
    "rewrite_flavor",
    "xgboost_case",
]

#: Model kinds every case trains: the low-level Booster and two scikit-learn-API estimators.
KINDS = ("booster", "classifier", "regressor")


@dataclass(frozen=True)
class BoostingCase:
    """One gradient-boosting flavor under test: its runlab module and models to save."""

    flavor: str
    module: Any
    framework: Any
    booster_file: str
    make: dict[str, Callable[[], Any]]
    predict: Callable[[Any, Any], Any]
    unfitted: Callable[[], Any]


def frame_and_target() -> tuple[Any, Any]:
    """Sixty rows of three float columns ``a``, ``b``, ``c`` and a 0/1 target."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    features = pd.DataFrame(rng.random((60, 3)), columns=["a", "b", "c"])
    return features, (features["a"] + features["b"] > 1.0).astype(int)


def xgboost_case() -> BoostingCase:
    """The xgboost flavor's case (skips the test when XGBoost is not installed)."""
    xgb = pytest.importorskip("xgboost")
    import runlab.xgboost

    features, target = frame_and_target()
    small = {"n_estimators": 4, "max_depth": 2, "n_jobs": 1}

    def booster() -> Any:
        params = {"objective": "binary:logistic", "max_depth": 2, "nthread": 1}
        return xgb.train(params, xgb.DMatrix(features, label=target), num_boost_round=4)

    def predict(model: Any, data: Any) -> Any:
        if isinstance(model, xgb.Booster):
            return model.predict(xgb.DMatrix(data))
        return model.predict(data)

    return BoostingCase(
        flavor="xgboost",
        module=runlab.xgboost,
        framework=xgb,
        booster_file="model.ubj",
        make={
            "booster": booster,
            "classifier": lambda: xgb.XGBClassifier(**small).fit(features, target),
            "regressor": lambda: xgb.XGBRegressor(**small).fit(features, target * 2.5),
        },
        predict=predict,
        unfitted=xgb.XGBClassifier,
    )


def lightgbm_case() -> BoostingCase:
    """The lightgbm flavor's case (skips the test when LightGBM or skops is not installed)."""
    lgb = pytest.importorskip("lightgbm")
    pytest.importorskip("skops.io")
    import runlab.lightgbm

    features, target = frame_and_target()
    small = {"n_estimators": 4, "verbose": -1, "n_jobs": 1, "min_child_samples": 5}

    def booster() -> Any:
        params = {"objective": "binary", "verbose": -1, "num_threads": 1, "min_data_in_leaf": 5}
        return lgb.train(params, lgb.Dataset(features, label=target), num_boost_round=4)

    return BoostingCase(
        flavor="lightgbm",
        module=runlab.lightgbm,
        framework=lgb,
        booster_file="model.lgb",
        make={
            "booster": booster,
            "classifier": lambda: lgb.LGBMClassifier(**small).fit(features, target),
            "regressor": lambda: lgb.LGBMRegressor(**small).fit(features, target * 2.5),
        },
        predict=lambda model, data: model.predict(data),
        unfitted=lgb.LGBMClassifier,
    )


def read_mlmodel(path: Path) -> dict[str, Any]:
    """The ``MLmodel`` file of the saved model at ``path``, as YAML data."""
    loaded = yaml.safe_load((path / "MLmodel").read_text())
    assert isinstance(loaded, dict)
    return loaded


def rewrite_flavor(path: Path, flavor: str, **entries: Any) -> None:
    """Change ``entries`` of ``flavor`` and of ``python_function`` in the model's ``MLmodel``
    (``None`` removes an entry), as a tampered or older file would have them."""
    mlmodel = read_mlmodel(path)
    for conf in (mlmodel["flavors"][flavor], mlmodel["flavors"]["python_function"]):
        for key, value in entries.items():
            if value is None:
                conf.pop(key, None)
            else:
                conf[key] = value
    (path / "MLmodel").write_text(yaml.safe_dump(mlmodel))
