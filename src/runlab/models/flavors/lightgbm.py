"""LightGBM models (``runlab.lightgbm``), in MLflow's ``lightgbm`` flavor format.

Both LightGBM APIs are saved: a ``Booster`` and the scikit-learn API (``LGBMClassifier``,
``LGBMRegressor``, ``LGBMRanker``).

Serialization:

- A **Booster** is written in LightGBM's own **text model format** (``model.lgb``, from
  ``Booster.save_model``) and read back by LightGBM's parser (``Booster(model_file=…)``). The file
  is data — trees, parameters, feature names — and loading it runs no code from it.
- A **scikit-learn-API estimator** has no native format of its own (LightGBM's text file holds
  only its booster, not the estimator's parameters and fitted attributes), and MLflow saves it
  as a whole object; runlab does the same so the models load in both directions. By default that
  is **skops** (``model.skops``), the safe format MLflow also defaults to: loading builds only the
  types the file lists and refuses any nobody vouched for. The types a LightGBM estimator needs
  (its class, ``Booster`` and ``collections.OrderedDict``) are recorded in
  ``skops_trusted_types`` when it is saved and trusted again on load; any other type a file asks
  for (a subclass of your own, a custom objective) must be passed to ``load_model`` as
  ``skops_trusted_types``. ``serialization_format="cloudpickle"`` (or ``"pickle"``) writes
  ``model.pkl`` as MLflow 2 did, and such files — also the ones MLflow 2 saved — are still read,
  but only when the ``MLmodel`` says that is what the file is: **loading a pickle runs its
  author's code**, so it loads only when the caller trusts the model (``trusted=True`` or a
  trusted source, see :mod:`runlab.models.trust`).

A model whose ``model_class`` is ``lightgbm.basic.Booster`` (or that records none, as MLflow's
oldest did) is always read as a text model, whatever else its ``MLmodel`` says.
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
    model_data_path,
    save_boosting_model,
)
from runlab.models.flavors.framework_import import import_framework
from runlab.models.flavors.skops_format import (
    PICKLE_FORMATS,
    dump_pickle,
    dump_skops,
    load_pickle,
    load_skops,
)
from runlab.models.model import Model
from runlab.models.model_location import open_model
from runlab.models.model_logging import ModelInfo, log_flavor_model
from runlab.models.model_paths import add_code_path
from runlab.models.signature import ModelSignature
from runlab.models.trust import ModelTrust

__all__ = [
    "FLAVOR_NAME",
    "SERIALIZATION_FORMATS",
    "load_model",
    "load_pyfunc",
    "log_model",
    "save_model",
]

FLAVOR_NAME = "lightgbm"
LOADER_MODULE = "mlflow.lightgbm"
#: How a scikit-learn-API estimator is written (a Booster is always LightGBM's text format).
SERIALIZATION_FORMATS = ("skops", *PICKLE_FORMATS)
_FLAVOR = FlavorSpec(FLAVOR_NAME, LOADER_MODULE, "lgb_version")
_BOOSTER_FILE = "model.lgb"
_ESTIMATOR_FILES = {"skops": "model.skops", "cloudpickle": "model.pkl", "pickle": "model.pkl"}
# What MLflow records for a Booster, and assumes when model_class is missing (older models).
_BOOSTER_CLASS = "lightgbm.basic.Booster"


def _lightgbm() -> Any:
    return import_framework("lightgbm", "lightgbm")


def _estimator_classes(lgb: Any) -> list[type]:
    return [lgb.LGBMClassifier, lgb.LGBMRegressor, lgb.LGBMRanker, lgb.LGBMModel]


def _vouched_types(lgb: Any) -> set[str]:
    """The skops types a LightGBM estimator is made of, trusted on load when a file lists them."""
    names = {class_name(cls) for cls in _estimator_classes(lgb)}
    return names | {class_name(lgb.Booster), "collections.OrderedDict"}


def save_model(
    lgb_model: Any,
    path: str | os.PathLike[str],
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: Iterable[str] | str | None = None,
    extra_pip_requirements: Iterable[str] | str | None = None,
    metadata: Mapping[str, Any] | None = None,
    serialization_format: str | None = None,
    skops_trusted_types: Sequence[str] | None = None,
    mlflow_model: Model | None = None,
) -> Model:
    """Save a trained LightGBM ``Booster`` or scikit-learn-API estimator to the new folder ``path``.

    A Booster is written in LightGBM's text format. An estimator is written with skops unless
    ``serialization_format`` is ``"cloudpickle"`` or ``"pickle"``; ``skops_trusted_types`` are
    extra types to record as trusted for it (see the module's documentation).
    """
    lgb = _lightgbm()
    fmt = serialization_format or "skops"
    if fmt not in SERIALIZATION_FORMATS:
        raise InvalidParameter(
            f"serialization_format must be one of {', '.join(SERIALIZATION_FORMATS)}, got {fmt!r}."
        )
    if isinstance(lgb_model, lgb.Booster):
        data_file, model_class = _BOOSTER_FILE, _BOOSTER_CLASS
        requirements = ["lightgbm"]

        def write_data(target: Path) -> dict[str, Any]:
            lgb_model.save_model(target)
            return {}

    else:
        _check_estimator(lgb, lgb_model)
        data_file, model_class = _ESTIMATOR_FILES[fmt], class_name(type(lgb_model))
        requirements = ["lightgbm", "scikit-learn", "skops" if fmt == "skops" else "cloudpickle"]

        def write_data(target: Path) -> dict[str, Any]:
            entries: dict[str, Any] = {"serialization_format": fmt}
            if fmt == "skops":
                entries["skops_trusted_types"] = dump_skops(lgb_model, target, skops_trusted_types)
            else:
                dump_pickle(lgb_model, target, fmt)
            return entries

    return save_boosting_model(
        path,
        _FLAVOR,
        data_file=data_file,
        model_class=model_class,
        framework_version=lgb.__version__,
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


def _check_estimator(lgb: Any, estimator: Any) -> None:
    if not isinstance(estimator, lgb.LGBMModel):
        raise InvalidParameter(
            "runlab.lightgbm.save_model takes a lightgbm.Booster or a scikit-learn-API model "
            f"(LGBMClassifier, LGBMRegressor, …), got {type(estimator).__name__}."
        )
    if not estimator.__sklearn_is_fitted__():
        raise InvalidParameter(
            f"The {type(estimator).__name__} is not fitted; call fit() before saving it."
        )


def log_model(
    lgb_model: Any,
    name: str | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    registered_model_name: str | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    await_registration_for: int | None = None,
    pip_requirements: Iterable[str] | str | None = None,
    extra_pip_requirements: Iterable[str] | str | None = None,
    metadata: Mapping[str, Any] | None = None,
    serialization_format: str | None = None,
    skops_trusted_types: Sequence[str] | None = None,
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
        lgb_model=lgb_model,
        code_paths=code_paths,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        serialization_format=serialization_format,
        skops_trusted_types=skops_trusted_types,
    )


def _load(
    model_dir: Path, model: Model, trust: ModelTrust, extra_trusted: Sequence[str] | None = None
) -> Any:
    lgb = _lightgbm()
    conf, data = model_data_path(model_dir, model, _FLAVOR)
    # Only the Booster class matters here (as in MLflow): an estimator's class is in its file.
    if conf.get("model_class", _BOOSTER_CLASS) == _BOOSTER_CLASS:
        return lgb.Booster(model_file=data)
    fmt = conf.get("serialization_format") or (
        "skops" if data.suffix == ".skops" else "cloudpickle"
    )
    if fmt == "skops":
        if extra_trusted:
            # The caller vouches for types beyond LightGBM's: they live in the model's code.
            add_code_path(model_dir, conf)
        vouched = _vouched_types(lgb)
        recorded_types = conf.get("skops_trusted_types")
        loaded = load_skops(data, recorded_types, extra_trusted, vouched.__contains__)
    elif fmt in PICKLE_FORMATS:
        # The MLmodel says the file is a pickle: it loads only if the model is trusted.
        loaded = load_pickle(data, fmt, trust, model_dir, conf)
    else:
        raise InvalidParameter(f"Unknown lightgbm serialization_format {fmt!r} in {model_dir}.")
    if not isinstance(loaded, (lgb.LGBMModel, lgb.Booster)):
        raise InvalidParameter(
            f"The lightgbm model at {model_dir} holds a {type(loaded).__name__}, not a LightGBM model."
        )
    return loaded


def load_model(
    model_uri: str | os.PathLike[str],
    dst_path: str | None = None,
    skops_trusted_types: Sequence[str] | None = None,
    *,
    trusted: bool = False,
) -> Any:
    """Load the LightGBM model itself (a ``Booster`` or the estimator saved) from any model URI.

    ``skops_trusted_types`` trusts further types a skops file needs, beyond LightGBM's own. A
    pickled estimator (``model.pkl``) loads only with ``trusted=True`` or from a trusted source.
    """
    opened = open_model(model_uri, dst_path, trusted)
    return _load(opened.path, opened.mlmodel, opened.trust, skops_trusted_types)


def load_pyfunc(model_dir: Path, model: Model, trust: ModelTrust | None = None) -> BoostingPyfunc:
    """The pyfunc implementation of a saved LightGBM model: the model's own ``predict``.

    As in MLflow, ``params`` are not passed on to LightGBM. A pickled estimator loads only if
    ``trust`` allows it.
    """
    raw = _load(model_dir, model, trust or ModelTrust.of(model_dir))
    return BoostingPyfunc(raw, lambda model_input, params: raw.predict(model_input))
