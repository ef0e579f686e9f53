"""Custom Python models: ``PythonModel``, its context, and their MLflow-compatible format.

A model saved with ``python_model=`` is a cloudpickle of the object (``python_model.pkl``) and
a folder of the files it needs (``artifacts/``). The ``loader_module`` written is MLflow's
(``mlflow.pyfunc.model``), so ``mlflow.pyfunc.load_model`` loads runlab's custom models and
runlab loads MLflow's.

Loading such a model unpickles ``python_model.pkl``, which runs code of the model's author, so
it loads only when the caller trusts the model (:mod:`runlab.models.trust`): ``trusted=True``,
``--trust-model`` or a trusted-source prefix.
"""

from __future__ import annotations

import inspect
import os
import shutil
import tempfile
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from runlab.errors import InvalidParameter
from runlab.models.model import Model
from runlab.models.model_paths import add_code_path, inside
from runlab.models.saving import copy_code_paths, pyfunc_flavor_conf, save_model_dir
from runlab.models.signature import ModelSignature
from runlab.models.trust import ModelTrust

__all__ = [
    "FLAVOR_NAME",
    "LOADER_MODULE",
    "PythonModel",
    "PythonModelContext",
    "load_pyfunc",
    "save_model",
]

FLAVOR_NAME = "python_function"
LOADER_MODULE = "mlflow.pyfunc.model"
_PICKLE_FILE = "python_model.pkl"
_ARTIFACTS_DIR = "artifacts"


class PythonModelContext:
    """What :meth:`PythonModel.load_context` and ``predict`` receive.

    ``artifacts`` maps each name given to ``log_model(artifacts=…)`` to the local path of its
    copy inside the loaded model; ``model_config`` is the ``model_config`` given at save time.
    """

    def __init__(
        self, artifacts: Mapping[str, str], model_config: Mapping[str, Any] | None = None
    ) -> None:
        self._artifacts = dict(artifacts)
        self._model_config = dict(model_config or {})

    @property
    def artifacts(self) -> dict[str, str]:
        """Artifact name → local path."""
        return self._artifacts

    @property
    def model_config(self) -> dict[str, Any]:
        """The configuration saved with the model."""
        return self._model_config


class TypeHints(NamedTuple):
    """The annotations of ``predict``'s input and return value (None where there are none)."""

    input: Any
    output: Any


class PythonModel:
    """Base class of a custom model: override ``predict`` (and ``load_context`` if needed)."""

    @property
    def predict_type_hints(self) -> TypeHints:
        """The type hints of ``predict``'s input and output.

        MLflow's loader reads this attribute, so it is part of the saved format: without it a
        custom model saved by runlab would not load with ``mlflow.pyfunc.load_model``.
        """
        parameters = _predict_parameters(self)
        index = 1 if parameters and parameters[0] == "context" else 0
        try:
            hints = typing.get_type_hints(self.predict)
        except Exception:  # unresolvable forward references: behave as if there were none
            hints = {}
        name = parameters[index] if len(parameters) > index else None
        return TypeHints(hints.get(name) if name else None, hints.get("return"))

    def load_context(self, context: PythonModelContext) -> None:
        """Called once after loading, before any ``predict``: open artifacts here."""

    def predict(
        self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None
    ) -> Any:
        """Return predictions for ``model_input`` (already checked against the signature)."""
        raise NotImplementedError(f"{type(self).__name__} must implement predict().")


class _FunctionModel(PythonModel):
    """A plain function given as ``python_model``: ``predict`` calls it with the input."""

    def __init__(self, func: Callable[[Any], Any]) -> None:
        self.func = func

    def predict(
        self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None
    ) -> Any:
        return self.func(model_input)


def _check_python_model(python_model: Any) -> Any:
    if python_model is None:
        raise InvalidParameter("save_model needs python_model= (a PythonModel or a function).")
    if not callable(getattr(python_model, "predict", None)):
        if callable(python_model):
            return _FunctionModel(python_model)
        raise InvalidParameter(
            f"python_model must be a PythonModel (with a predict method) or a function, got "
            f"{type(python_model).__name__}."
        )
    return python_model


def _copy_artifacts(model_dir: Path, artifacts: Mapping[str, str] | None) -> dict[str, Any]:
    """Copy each artifact into ``artifacts/``; the flavor's ``artifacts`` entry."""
    if not artifacts:
        return {}
    if not isinstance(artifacts, Mapping):
        raise InvalidParameter("artifacts must be a dict of name -> path or URI.")
    folder = model_dir / _ARTIFACTS_DIR
    folder.mkdir()
    entries: dict[str, Any] = {}
    for name, uri in artifacts.items():
        if not isinstance(name, str) or not isinstance(uri, (str, os.PathLike)):
            raise InvalidParameter(f"artifacts entry {name!r}: {uri!r} must map a name to a path.")
        uri = os.fspath(uri)
        source = _local_copy_source(uri)
        target = folder / source.name
        if target.exists():
            target = folder / name / source.name
            target.parent.mkdir(parents=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
        entries[name] = {"path": target.relative_to(model_dir).as_posix(), "uri": uri}
    return entries


def _local_copy_source(uri: str) -> Path:
    from runlab import uris

    if uris.is_local_path_uri(uri):
        path = Path(uris.file_uri_to_path(uri))
        if not path.exists():
            raise InvalidParameter(f"Artifact {uri!r} does not exist.")
        return path
    from runlab.models.model_location import local_model_path

    return local_model_path(uri, tempfile.mkdtemp(prefix="runlab-artifact-"))


def save_model(
    path: str | os.PathLike[str],
    python_model: Any = None,
    artifacts: Mapping[str, str] | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: Iterable[str] | str | None = None,
    extra_pip_requirements: Iterable[str] | str | None = None,
    metadata: Mapping[str, Any] | None = None,
    model_config: Mapping[str, Any] | None = None,
    mlflow_model: Model | None = None,
) -> Model:
    """Save a custom model to the new folder ``path``.

    ``python_model`` is a :class:`PythonModel` (or a function of the input); ``artifacts`` maps
    names to files or folders (paths or URIs) copied into the model, which ``load_context``
    finds in ``context.artifacts``.
    """
    import cloudpickle

    model_obj = _check_python_model(python_model)

    def write(folder: Path, model: Model) -> None:
        entries = _copy_artifacts(folder, artifacts)
        code = copy_code_paths(folder, code_paths)
        with open(folder / _PICKLE_FILE, "wb") as out:
            cloudpickle.dump(model_obj, out)
        conf = pyfunc_flavor_conf(
            LOADER_MODULE,
            python_model=_PICKLE_FILE,
            cloudpickle_version=cloudpickle.__version__,
            code=code,
            streamable=False,
        )
        if entries:
            conf["artifacts"] = entries
        if model_config:
            conf["config"] = dict(model_config)
        model.add_flavor(FLAVOR_NAME, **conf)

    return save_model_dir(
        path,
        write,
        default_requirements=["cloudpickle"],
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        mlmodel=mlflow_model,
    )


class _PythonModelImplementation:
    """Calls the user's ``predict`` with the context and params it accepts."""

    def __init__(self, python_model: Any, context: PythonModelContext) -> None:
        self.python_model = python_model
        self.context = context
        self.raw_model = python_model
        parameters = _predict_parameters(python_model)
        self._takes_context = bool(parameters) and parameters[0] == "context"
        self._takes_params = "params" in parameters or "**" in parameters

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        args: list[Any] = [self.context, model_input] if self._takes_context else [model_input]
        if self._takes_params:
            return self.python_model.predict(*args, params=params)
        return self.python_model.predict(*args)


def _predict_parameters(python_model: Any) -> list[str]:
    try:
        signature = inspect.signature(python_model.predict)
    except (TypeError, ValueError):
        return ["context", "model_input", "params"]
    names = []
    for parameter in signature.parameters.values():
        names.append("**" if parameter.kind is parameter.VAR_KEYWORD else parameter.name)
    return names


def load_pyfunc(
    model_dir: Path, model: Model, trust: ModelTrust | None = None
) -> _PythonModelImplementation:
    """Unpickle the custom model, give it its context and return the pyfunc implementation.

    Unpickling runs the model author's code: ``trust`` must allow it (see
    :mod:`runlab.models.trust`), and nothing is read or put on ``sys.path`` before it does.
    """
    import cloudpickle

    conf = model.flavors[FLAVOR_NAME]
    pickle_path = inside(model_dir, str(conf.get("python_model", _PICKLE_FILE)), "python_model")
    (trust or ModelTrust.of(model_dir)).require("cloudpickle", pickle_path)
    add_code_path(model_dir, conf)
    with open(pickle_path, "rb") as source:
        python_model = cloudpickle.load(source)
    artifacts = {
        name: str(inside(model_dir, str(entry["path"]), f"artifact {name!r}"))
        for name, entry in (conf.get("artifacts") or {}).items()
    }
    context = PythonModelContext(artifacts, conf.get("config"))
    python_model.load_context(context)
    return _PythonModelImplementation(python_model, context)
