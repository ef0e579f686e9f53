"""The generic model interface: custom Python models, and loading any model as pyfunc.

Public as ``runlab.pyfunc`` (MLflow's ``mlflow.pyfunc``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from runlab.models.flavor_registry import load_pyfunc_implementation
from runlab.models.model import Model
from runlab.models.model_location import fetch_model
from runlab.models.model_logging import ModelInfo, log_flavor_model
from runlab.models.pyfunc.pyfunc_model import PyFuncModel
from runlab.models.pyfunc.python_model import (
    FLAVOR_NAME,
    PythonModel,
    PythonModelContext,
    save_model,
)
from runlab.models.pyfunc.spark_scoring import SparkModelUDF, spark_udf
from runlab.models.signature import ModelSignature
from runlab.models.trust import ModelTrust

__all__ = [
    "FLAVOR_NAME",
    "ModelInfo",
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "SparkModelUDF",
    "load_model",
    "log_model",
    "save_model",
    "spark_udf",
]


def load_model(
    model_uri: str | os.PathLike[str],
    suppress_warnings: bool = False,
    dst_path: str | None = None,
    model_config: Mapping[str, Any] | None = None,
    *,
    trusted: bool = False,
) -> PyFuncModel:
    """Load any model with a ``python_function`` flavor as a :class:`PyFuncModel`.

    ``model_uri`` is ``runs:/<run_id>/<path>``, ``models:/<name>/<version>`` (or a stage,
    ``@alias`` or ``latest``), ``models:/<model_id>``, a local path or ``file:`` URI, or a
    remote artifact location (downloaded to ``dst_path`` or a temporary folder).

    A model in a format that runs code when loaded (a custom ``PythonModel``, a pickled
    estimator or module) loads only with ``trusted=True`` or when ``RUNLAB_TRUSTED_MODEL_SOURCES``
    lists a prefix of its URI; otherwise :class:`runlab.models.trust.UntrustedModelError` is
    raised before the file is read. Safe formats (skops, safetensors, XGBoost's and LightGBM's
    own files, ``.keras``, ``torch.export``) need neither. See docs/models.md.
    """
    fetched = fetch_model(model_uri, dst_path)
    return load_local_model(fetched.path, fetched.trust(trusted), model_config)


def load_local_model(
    folder: str | os.PathLike[str],
    trust: ModelTrust,
    model_config: Mapping[str, Any] | None = None,
) -> PyFuncModel:
    """Load the model in the local ``folder`` as pyfunc, with a trust decision already made.

    For callers that fetched the model themselves (the scoring server's CLI downloads it once
    for all its workers) and know the names it was fetched by.
    """
    meta = Model.load(folder)
    if model_config:
        conf = meta.flavors.get(FLAVOR_NAME)
        if conf is not None:
            conf["config"] = {**(conf.get("config") or {}), **dict(model_config)}
    return PyFuncModel(meta, load_pyfunc_implementation(folder, meta, trust))


def log_model(
    name: str | None = None,
    python_model: Any = None,
    artifacts: Mapping[str, str] | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    registered_model_name: str | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    await_registration_for: int | None = None,
    pip_requirements: Iterable[str] | str | None = None,
    extra_pip_requirements: Iterable[str] | str | None = None,
    metadata: Mapping[str, Any] | None = None,
    model_config: Mapping[str, Any] | None = None,
    *,
    artifact_path: str | None = None,
    run_id: str | None = None,
) -> ModelInfo:
    """Save a custom model and log it to the active run (see :func:`save_model`).

    With ``registered_model_name`` the logged model is also registered as a new version.
    """

    return log_flavor_model(
        save_model,
        name=name,
        artifact_path=artifact_path,
        registered_model_name=registered_model_name,
        await_registration_for=await_registration_for,
        run_id=run_id,
        python_model=python_model,
        artifacts=artifacts,
        code_paths=code_paths,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        model_config=model_config,
    )
