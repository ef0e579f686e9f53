"""XGBoost models (``runlab.xgboost``), in MLflow's ``xgboost`` flavor format.

Both XGBoost APIs are saved: a ``Booster`` and the scikit-learn API (``XGBClassifier``,
``XGBRegressor``, ``XGBRanker``, ``XGBRFClassifier``, ``XGBRFRegressor``).

Serialization: XGBoost's own model format, never a pickle. The model is written with
``save_model`` as **UBJSON** (``model.ubj``, the default) or **JSON** (``model_format="json"``,
``model.json``): the trees, the learner's parameters and, for the scikit-learn API, the
estimator's attributes XGBoost keeps with them. ``model_class`` records which XGBoost class the
model is loaded as; loading builds an empty object of that class and lets XGBoost parse the file
into it. The class is looked up among XGBoost's own model classes — it is never imported by the
name the file gives — so loading a model trusts only XGBoost's parser with the file's contents:
no code from the file runs. A subclass of an XGBoost estimator is saved as its nearest XGBoost
class (XGBoost's file holds no more than that class's state). Models MLflow saved in these
formats load the same way; its older binary ``.xgb`` files load only where the installed
XGBoost still reads them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from runlab.errors import InvalidParameter
from runlab.models.flavors.boosting import (
    BoostingPyfunc,
    FlavorSpec,
    class_name,
    known_class,
    model_data_path,
    nearest_known,
    save_boosting_model,
    supported_kwargs,
)
from runlab.models.flavors.framework_import import import_framework
from runlab.models.model import Model
from runlab.models.model_location import open_model
from runlab.models.model_logging import ModelInfo, log_flavor_model
from runlab.models.signature import ModelSignature
from runlab.models.trust import ModelTrust

__all__ = ["FLAVOR_NAME", "MODEL_FORMATS", "load_model", "load_pyfunc", "log_model", "save_model"]

FLAVOR_NAME = "xgboost"
LOADER_MODULE = "mlflow.xgboost"
#: The formats ``save_model`` writes: XGBoost's UBJSON and JSON model files.
MODEL_FORMATS = ("ubj", "json")
_FLAVOR = FlavorSpec(FLAVOR_NAME, LOADER_MODULE, "xgb_version")


def _xgboost() -> Any:
    return import_framework("xgboost", "xgboost")


def _model_classes(xgb: Any) -> list[type]:
    # Most specific first, so a subclass is saved as its nearest XGBoost class.
    return [
        xgb.XGBRFClassifier,
        xgb.XGBRFRegressor,
        xgb.XGBClassifier,
        xgb.XGBRegressor,
        xgb.XGBRanker,
        xgb.XGBModel,
        xgb.Booster,
    ]


def save_model(
    xgb_model: Any,
    path: str | os.PathLike[str],
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: Iterable[str] | str | None = None,
    extra_pip_requirements: Iterable[str] | str | None = None,
    model_format: str = "ubj",
    metadata: Mapping[str, Any] | None = None,
    mlflow_model: Model | None = None,
) -> Model:
    """Save a trained XGBoost ``Booster`` or scikit-learn-API estimator to the new folder ``path``.

    ``model_format`` is ``"ubj"`` (XGBoost's binary JSON, the default) or ``"json"``.
    """
    xgb = _xgboost()
    if model_format not in MODEL_FORMATS:
        raise InvalidParameter(
            f"model_format must be one of {', '.join(MODEL_FORMATS)}, got {model_format!r}."
        )
    cls = nearest_known(type(xgb_model), _model_classes(xgb))
    if cls is None:
        raise InvalidParameter(
            "runlab.xgboost.save_model takes an xgboost.Booster or a scikit-learn-API model "
            f"(XGBClassifier, XGBRegressor, …), got {type(xgb_model).__name__}."
        )
    if cls is not xgb.Booster:
        _check_fitted(xgb_model)

    def write_data(target: Path) -> dict[str, Any]:
        # The file name's extension tells XGBoost which of its formats to write.
        xgb_model.save_model(os.fspath(target))
        return {"model_format": model_format}

    requirements = ["xgboost"] if cls is xgb.Booster else ["xgboost", "scikit-learn"]
    return save_boosting_model(
        path,
        _FLAVOR,
        data_file=f"model.{model_format}",
        model_class=class_name(cls),
        framework_version=xgb.__version__,
        write_data=write_data,
        requirements=requirements,
        code_paths=code_paths,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        mlflow_model=mlflow_model,
    )


def _check_fitted(estimator: Any) -> None:
    try:
        estimator.get_booster()
    except Exception as err:  # XGBoost raises sklearn's NotFittedError, or its own error
        raise InvalidParameter(
            f"The {type(estimator).__name__} is not fitted; call fit() before saving it."
        ) from err


def log_model(
    xgb_model: Any,
    name: str | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    registered_model_name: str | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    await_registration_for: int | None = None,
    pip_requirements: Iterable[str] | str | None = None,
    extra_pip_requirements: Iterable[str] | str | None = None,
    model_format: str = "ubj",
    metadata: Mapping[str, Any] | None = None,
    *,
    artifact_path: str | None = None,
    run_id: str | None = None,
) -> ModelInfo:
    """Save the model and log it to the active run; register it with ``registered_model_name``."""

    return log_flavor_model(
        save_model,
        name=name,
        artifact_path=artifact_path,
        registered_model_name=registered_model_name,
        await_registration_for=await_registration_for,
        run_id=run_id,
        xgb_model=xgb_model,
        code_paths=code_paths,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        model_format=model_format,
        metadata=metadata,
    )


def _load(model_dir: Path, model: Model) -> Any:
    xgb = _xgboost()
    conf, data = model_data_path(model_dir, model, _FLAVOR)
    # MLflow before 1.22 recorded no model_class: those models are Boosters.
    cls = known_class(
        conf.get("model_class", "xgboost.core.Booster"), "xgboost", _model_classes(xgb)
    )
    loaded = cls()
    loaded.load_model(os.fspath(data))
    return loaded


def load_model(
    model_uri: str | os.PathLike[str], dst_path: str | None = None, *, trusted: bool = False
) -> Any:
    """Load the XGBoost model itself (a ``Booster`` or the estimator saved) from any model URI.

    XGBoost's own formats run no code when read, so ``trusted`` changes nothing here; it is
    accepted so that every flavor's ``load_model`` takes the same switch.
    """
    opened = open_model(model_uri, dst_path, trusted)
    return _load(opened.path, opened.mlmodel)


def load_pyfunc(model_dir: Path, model: Model, trust: ModelTrust | None = None) -> BoostingPyfunc:
    """The pyfunc implementation of a saved XGBoost model.

    A ``Booster`` predicts on a ``DMatrix`` made from the input; an estimator calls its
    ``predict``. Parameters the signature allows are passed on as keyword arguments when the
    predict method takes them. No trust is needed: the file is read by XGBoost's parser.
    """
    xgb = _xgboost()
    raw = _load(model_dir, model)
    if isinstance(raw, xgb.Booster):

        def predict_booster(model_input: Any, params: Mapping[str, Any] | None) -> Any:
            matrix = _dmatrix(xgb, raw, model_input)
            return raw.predict(matrix, **supported_kwargs(raw.predict, params))

        return BoostingPyfunc(raw, predict_booster)

    def predict_estimator(model_input: Any, params: Mapping[str, Any] | None) -> Any:
        return raw.predict(model_input, **supported_kwargs(raw.predict, params))

    return BoostingPyfunc(raw, predict_estimator)


def _dmatrix(xgb: Any, booster: Any, model_input: Any) -> Any:
    # A 2-D array has no column names; one with the booster's width gets the names it was trained
    # with, so XGBoost's feature check passes instead of refusing unnamed data.
    names = booster.feature_names
    shape = getattr(model_input, "shape", None)
    unnamed = not hasattr(model_input, "columns")
    if names and unnamed and shape is not None and len(shape) == 2 and shape[1] == len(names):
        return xgb.DMatrix(model_input, feature_names=names)
    return xgb.DMatrix(model_input)
