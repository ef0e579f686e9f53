"""Keras 3 models (``runlab.keras``), in MLflow 3's ``keras`` flavor format.

Serialization: ``data/model.keras``, Keras 3's own zip format (the model's config as JSON and its
weights as HDF5 arrays), with ``data/keras_module.txt`` and the ``keras`` flavor entry
(``keras_version``, ``keras_backend``, ``save_exported_model: false``) as MLflow writes them.
This is Keras' safe format: runlab loads it with ``safe_mode=True``, so the config can only
name Keras' own classes and the custom objects already registered in the process
(``@keras.saving.register_keras_serializable``) or passed as ``custom_objects``; a ``Lambda``
layer's marshalled Python code is refused rather than run, with the trust gate's error
(:mod:`runlab.models.trust`). Loading one trusts Keras and the code you registered, not the
file's author. A model the caller trusts (``trusted=True``, ``--trust-model`` or a trusted
source) is loaded with ``safe_mode=False``, so its ``Lambda`` layers load too; passing
``load_model_kwargs={"safe_mode": False}`` is the same decision for one call. MLflow's other
Keras format, a TensorFlow SavedModel (``save_exported_model: true``), needs TensorFlow and is
not supported.

Backend: Keras picks its backend once, when first imported, from ``KERAS_BACKEND`` or its
``keras.json``, and defaults to TensorFlow. When neither names a backend that is installed —
typically no TensorFlow, but PyTorch present — this flavor sets ``KERAS_BACKEND=torch`` in the
process before importing Keras, so saving and loading work out of the box. A backend you chose
(the variable, a ``keras.json`` naming an installed backend, or Keras already imported) is never
overridden. ``.keras`` files are backend-independent: the backend a model was saved with is
recorded, not required.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from runlab.errors import InvalidParameter
from runlab.models.flavors.framework_import import MissingFramework, import_framework
from runlab.models.flavors.tensor_models import DATA_DIR, as_array, data_dir, like_input
from runlab.models.model import Model
from runlab.models.model_location import open_model
from runlab.models.model_logging import ModelInfo, log_flavor_model
from runlab.models.model_paths import inside
from runlab.models.saving import pyfunc_flavor_conf, save_model_dir
from runlab.models.signature import ModelSignature
from runlab.models.trust import ModelTrust

__all__ = [
    "FLAVOR_NAME",
    "load_model",
    "load_pyfunc",
    "log_model",
    "save_model",
]

_logger = logging.getLogger("runlab")

FLAVOR_NAME = "keras"
LOADER_MODULE = "mlflow.keras"
_MODEL_FILE = "model.keras"
_MODULE_FILE = "keras_module.txt"
# The load_model keyword arguments passed on to keras.saving.load_model.
_LOAD_OPTIONS = ("compile", "safe_mode")
# What the trust gate calls a .keras file that safe mode refused.
_UNSAFE_FORMAT_NAME = "Keras Lambda-layer"
# Keras' backend names -> the module each needs.
_BACKEND_MODULES = {
    "tensorflow": "tensorflow",
    "jax": "jax",
    "torch": "torch",
    "numpy": "numpy",
    "openvino": "openvino",
}


def _configured_backend() -> str:
    """The backend Keras would pick without ``KERAS_BACKEND``: its keras.json's, else TensorFlow."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as source:
            backend = json.load(source).get("backend")
    except (OSError, ValueError, AttributeError):
        backend = None
    return backend if isinstance(backend, str) else "tensorflow"


def _installed(module: str | None) -> bool:
    return module is not None and importlib.util.find_spec(module) is not None


def _default_backend() -> None:
    """Default ``KERAS_BACKEND`` to torch when Keras' own choice is not installed (see above)."""
    if "KERAS_BACKEND" in os.environ or "keras" in sys.modules:
        return
    if _installed(_BACKEND_MODULES.get(_configured_backend())) or not _installed("torch"):
        return
    _logger.info("runlab: KERAS_BACKEND is not set and TensorFlow is absent; using torch.")
    os.environ["KERAS_BACKEND"] = "torch"


def _keras() -> Any:
    _default_backend()
    try:
        return import_framework("keras", "keras", "keras")
    except MissingFramework as err:
        if not _installed("keras"):
            raise
        # Keras is there but its backend is not: say which backend, not "install keras".
        backend = os.environ.get("KERAS_BACKEND") or _configured_backend()
        raise MissingFramework(
            f"Keras is installed but cannot start with its {backend!r} backend ({err.__cause__}). "
            "Install that backend, or choose an installed one, e.g. KERAS_BACKEND=torch "
            "(set before Keras is first imported)."
        ) from err.__cause__


def save_model(
    model: Any,
    path: str | os.PathLike[str],
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: Iterable[str] | str | None = None,
    extra_pip_requirements: Iterable[str] | str | None = None,
    metadata: Mapping[str, Any] | None = None,
    mlflow_model: Model | None = None,
) -> Model:
    """Save a Keras 3 model to the new folder ``path`` in the ``.keras`` format."""
    keras = _keras()
    if not isinstance(model, keras.Model):
        raise InvalidParameter(f"model must be a keras.Model, got {type(model).__name__}.")

    def write(folder: Path, mlmodel: Model) -> None:
        data = folder / DATA_DIR
        data.mkdir()
        (data / _MODULE_FILE).write_text("keras", encoding="utf-8")
        model.save(data / _MODEL_FILE)
        mlmodel.add_flavor("python_function", **pyfunc_flavor_conf(LOADER_MODULE))
        mlmodel.add_flavor(
            FLAVOR_NAME,
            data=DATA_DIR,
            keras_version=keras.__version__,
            keras_backend=keras.backend.backend(),
            save_exported_model=False,
        )

    return save_model_dir(
        path,
        write,
        default_requirements=["keras", *_backend_requirement(keras)],
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        mlmodel=mlflow_model,
    )


def _backend_requirement(keras: Any) -> list[str]:
    module = _BACKEND_MODULES.get(keras.backend.backend())
    return [module] if module not in (None, "numpy") else []


def log_model(
    model: Any,
    name: str | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    registered_model_name: str | None = None,
    await_registration_for: int | None = None,
    pip_requirements: Iterable[str] | str | None = None,
    extra_pip_requirements: Iterable[str] | str | None = None,
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
        model=model,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
    )


def _load_keras_model(
    model_dir: Path,
    model: Model,
    trust: ModelTrust,
    custom_objects: Mapping[str, Any] | None = None,
    load_model_kwargs: Mapping[str, Any] | None = None,
) -> Any:
    keras = _keras()
    conf = model.flavors.get(FLAVOR_NAME) or {}
    if conf.get("save_exported_model"):
        raise InvalidParameter(
            f"The Keras model at {model_dir} is a TensorFlow SavedModel export, which runlab "
            "does not load; save it in the .keras format (save_exported_model=False)."
        )
    options = dict(load_model_kwargs or {})
    unknown = sorted(set(options) - set(_LOAD_OPTIONS))
    if unknown:
        raise InvalidParameter(
            f"load_model_kwargs may hold {', '.join(_LOAD_OPTIONS)}, not {', '.join(unknown)}."
        )
    # Safe mode unless the model is trusted to run code (an explicit safe_mode is the caller's).
    options.setdefault("safe_mode", not trust.allows())
    path = inside(data_dir(model_dir, conf, "data"), _MODEL_FILE, "data")
    try:
        return keras.saving.load_model(
            path, custom_objects=dict(custom_objects) if custom_objects else None, **options
        )
    except ValueError as err:
        if "safe_mode" not in str(err):
            raise
        # Raises the gate's error when the model is not trusted (nothing was run: Keras
        # refused before deserializing the code).
        trust.require(_UNSAFE_FORMAT_NAME, path)
        raise InvalidParameter(
            f"Keras' safe mode refused the model at {model_dir}: it holds Python code (such as "
            "a Lambda layer). The model is trusted, so drop load_model_kwargs={'safe_mode': "
            "True} to load it."
        ) from err


def load_model(
    model_uri: str | os.PathLike[str],
    dst_path: str | None = None,
    custom_objects: Mapping[str, Any] | None = None,
    load_model_kwargs: Mapping[str, Any] | None = None,
    *,
    trusted: bool = False,
) -> Any:
    """Load the Keras model from any model URI, in safe mode unless the model is trusted.

    ``custom_objects`` maps the names of your own layers or functions to them;
    ``load_model_kwargs`` may set ``compile`` and ``safe_mode``. A model whose ``Lambda``
    layers hold Python code loads only with ``trusted=True`` (or ``safe_mode=False``), or from
    a trusted source; see the module docstring.
    """
    opened = open_model(model_uri, dst_path, trusted)
    return _load_keras_model(
        opened.path, opened.mlmodel, opened.trust, custom_objects, load_model_kwargs
    )


class _KerasPyfunc:
    """The model behind pyfunc ``predict``: ``model.predict``, numpy or a DataFrame back."""

    def __init__(self, model: Any) -> None:
        self.raw_model = model

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        keras = _keras()
        if isinstance(model_input, (list, tuple, dict)):
            # A multi-input model takes a list or dict of arrays as it is.
            array, index = model_input, None
        else:
            array, index = as_array(model_input, "keras")
        # verbose=0: no progress bar on stdout for every request a server answers.
        predictions = self.raw_model.predict(array, verbose=0)
        return like_input(keras.ops.convert_to_numpy(predictions), index)


def load_pyfunc(model_dir: Path, model: Model, trust: ModelTrust | None = None) -> _KerasPyfunc:
    """The pyfunc implementation of a saved Keras model (safe mode unless ``trust`` allows
    code)."""
    return _KerasPyfunc(_load_keras_model(model_dir, model, trust or ModelTrust.of(model_dir)))
