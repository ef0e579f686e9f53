"""scikit-learn models (``runlab.sklearn``), in MLflow's ``sklearn`` flavor format.

Serialization: **skops** by default (``model.skops``), scikit-learn's safe format: loading it
builds only the types the file lists, and refuses types nobody vouched for, instead of running
arbitrary code as a pickle can. The types skops does not trust by default (tree node storage,
for instance) are recorded in ``skops_trusted_types`` when the model is saved — the saver made
the object, so it vouches for them — and those are trusted again on load only when they come
from scikit-learn, numpy or scipy; anything else must be passed to ``load_model`` explicitly.
``serialization_format="cloudpickle"`` (or ``"pickle"``) writes ``model.pkl`` as MLflow 2 did;
loading one of those runs the author's code, so it loads only when the caller trusts the model
(``load_model(..., trusted=True)`` or a trusted source, see :mod:`runlab.models.trust`).

The model's ``code`` folder goes on ``sys.path`` only where loading may need it: for a trusted
pickle, or for a skops file whose caller names extra types to trust (types the model's own code
defines). A skops file that needs only scikit-learn's, numpy's and scipy's types never does.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from runlab.errors import InvalidParameter
from runlab.models.flavors.framework_import import import_framework
from runlab.models.flavors.skops_format import dump_pickle, dump_skops, load_pickle, load_skops
from runlab.models.model import Model
from runlab.models.model_location import open_model
from runlab.models.model_logging import ModelInfo, log_flavor_model
from runlab.models.model_paths import add_code_path, inside
from runlab.models.saving import copy_code_paths, pyfunc_flavor_conf, save_model_dir
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

_logger = logging.getLogger("runlab")

FLAVOR_NAME = "sklearn"
LOADER_MODULE = "mlflow.sklearn"
SERIALIZATION_FORMATS = ("skops", "cloudpickle", "pickle")
_FILES = {"skops": "model.skops", "cloudpickle": "model.pkl", "pickle": "model.pkl"}
# The methods a pyfunc may call (MLflow's list): never an arbitrary attribute named in a file.
_PREDICT_FNS = ("predict", "predict_proba", "predict_log_proba", "predict_joint_log_proba", "score")
# Modules whose types recorded in skops_trusted_types are trusted again on load.
_VOUCHED_MODULES = ("sklearn.", "numpy.", "scipy.")


def _sklearn() -> Any:
    return import_framework("sklearn", "sklearn", "scikit-learn")


def _default_format() -> str:
    try:
        import skops.io  # noqa: F401
    except ImportError:
        _logger.warning(
            "runlab: skops is not installed, so this scikit-learn model is saved as a pickle; "
            "pip install skops for the safe format."
        )
        return "cloudpickle"
    return "skops"


def save_model(
    sk_model: Any,
    path: str | os.PathLike[str],
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    serialization_format: str | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: Iterable[str] | str | None = None,
    extra_pip_requirements: Iterable[str] | str | None = None,
    pyfunc_predict_fn: str = "predict",
    metadata: Mapping[str, Any] | None = None,
    skops_trusted_types: Sequence[str] | None = None,
    mlflow_model: Model | None = None,
) -> Model:
    """Save a fitted scikit-learn estimator to the new folder ``path``."""
    sklearn = _sklearn()
    fmt = serialization_format or _default_format()
    if fmt not in SERIALIZATION_FORMATS:
        raise InvalidParameter(
            f"serialization_format must be one of {', '.join(SERIALIZATION_FORMATS)}, got {fmt!r}."
        )
    if pyfunc_predict_fn not in _PREDICT_FNS:
        raise InvalidParameter(
            f"pyfunc_predict_fn must be one of {', '.join(_PREDICT_FNS)}, got "
            f"{pyfunc_predict_fn!r}."
        )
    if not callable(getattr(sk_model, pyfunc_predict_fn, None)):
        raise InvalidParameter(
            f"The model ({type(sk_model).__name__}) has no {pyfunc_predict_fn}() method."
        )
    file_name = _FILES[fmt]

    def write(folder: Path, model: Model) -> None:
        code = copy_code_paths(folder, code_paths)
        conf: dict[str, Any] = {
            "pickled_model": file_name,
            "sklearn_version": sklearn.__version__,
            "serialization_format": fmt,
            "code": code,
        }
        if fmt == "skops":
            conf["skops_trusted_types"] = (
                dump_skops(sk_model, folder / file_name, skops_trusted_types) or None
            )
        else:
            dump_pickle(sk_model, folder / file_name, fmt)
        model.add_flavor(
            "python_function",
            **pyfunc_flavor_conf(
                LOADER_MODULE, model_path=file_name, predict_fn=pyfunc_predict_fn, code=code
            ),
        )
        model.add_flavor(FLAVOR_NAME, **conf)

    requirements = ["scikit-learn", "skops" if fmt == "skops" else "cloudpickle"]
    return save_model_dir(
        path,
        write,
        default_requirements=requirements,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        mlmodel=mlflow_model,
    )


def log_model(
    sk_model: Any,
    name: str | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    serialization_format: str | None = None,
    registered_model_name: str | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    await_registration_for: int | None = None,
    pip_requirements: Iterable[str] | str | None = None,
    extra_pip_requirements: Iterable[str] | str | None = None,
    pyfunc_predict_fn: str = "predict",
    metadata: Mapping[str, Any] | None = None,
    skops_trusted_types: Sequence[str] | None = None,
    *,
    artifact_path: str | None = None,
    run_id: str | None = None,
) -> ModelInfo:
    """Save the estimator and log it to the active run; register it with ``registered_model_name``."""

    return log_flavor_model(
        save_model,
        name=name,
        artifact_path=artifact_path,
        registered_model_name=registered_model_name,
        await_registration_for=await_registration_for,
        run_id=run_id,
        sk_model=sk_model,
        code_paths=code_paths,
        serialization_format=serialization_format,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        pyfunc_predict_fn=pyfunc_predict_fn,
        metadata=metadata,
        skops_trusted_types=skops_trusted_types,
    )


def _load_estimator(
    model_dir: Path, model: Model, trust: ModelTrust, extra_trusted: Sequence[str] | None = None
) -> Any:
    _sklearn()
    conf = model.flavors.get(FLAVOR_NAME)
    pyfunc_conf = model.flavors.get("python_function", {})
    if conf is None:
        # A model saved with only the pyfunc flavor naming mlflow.sklearn: read its model_path.
        conf = {
            "pickled_model": pyfunc_conf.get("model_path", "model.pkl"),
            "code": pyfunc_conf.get("code"),
        }
    file_name = str(conf.get("pickled_model") or pyfunc_conf.get("model_path") or "model.pkl")
    path = inside(model_dir, file_name, "pickled_model")
    fmt = conf.get("serialization_format") or (
        "skops" if file_name.endswith(".skops") else "cloudpickle"
    )
    if fmt == "skops":
        if extra_trusted:
            # The caller vouches for types beyond scikit-learn's: they live in the model's code.
            add_code_path(model_dir, conf)
        return load_skops(path, conf.get("skops_trusted_types"), extra_trusted, _vouched)
    if fmt not in SERIALIZATION_FORMATS:
        raise InvalidParameter(f"Unknown sklearn serialization_format {fmt!r} in {model_dir}.")
    return load_pickle(path, fmt, trust, model_dir, conf)


def _vouched(type_name: str) -> bool:
    return type_name.startswith(_VOUCHED_MODULES)


def load_model(
    model_uri: str | os.PathLike[str],
    dst_path: str | None = None,
    skops_trusted_types: Sequence[str] | None = None,
    *,
    trusted: bool = False,
) -> Any:
    """Load the scikit-learn estimator itself from any model URI.

    A skops file loads as is (``skops_trusted_types`` names further types to trust). A pickled
    model (``model.pkl``) runs its author's code, so it loads only with ``trusted=True`` or
    from a trusted source (``RUNLAB_TRUSTED_MODEL_SOURCES``); see docs/models.md.
    """
    opened = open_model(model_uri, dst_path, trusted)
    return _load_estimator(opened.path, opened.mlmodel, opened.trust, skops_trusted_types)


class _SklearnPyfunc:
    """The estimator behind pyfunc ``predict``: calls its configured predict method."""

    # scikit-learn's predict methods score each row on its own (score() is excluded below).
    row_independent = True

    def __init__(self, estimator: Any, predict_fn: str) -> None:
        self.raw_model = estimator
        self._predict = getattr(estimator, predict_fn)
        if predict_fn == "score":
            self.row_independent = False

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        return self._predict(model_input)


def load_pyfunc(model_dir: Path, model: Model, trust: ModelTrust | None = None) -> _SklearnPyfunc:
    """The pyfunc implementation of a saved scikit-learn model (a pickle only if ``trust``
    allows it)."""
    predict_fn = model.flavors.get("python_function", {}).get("predict_fn") or "predict"
    if predict_fn not in _PREDICT_FNS:
        raise InvalidParameter(
            f"The model's predict_fn {predict_fn!r} is not one of {', '.join(_PREDICT_FNS)}."
        )
    return _SklearnPyfunc(
        _load_estimator(model_dir, model, trust or ModelTrust.of(model_dir)), predict_fn
    )
