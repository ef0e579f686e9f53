"""What the gradient-boosting flavors (``xgboost``, ``lightgbm``) share.

Both write MLflow's layout: one data file named by ``data`` in the flavor entry and in the
``python_function`` entry, and ``model_class``, the framework class the model is loaded as. The
class name read back from ``MLmodel`` is looked up among the framework's own model classes,
never imported by name, so a crafted file cannot make loading import or build anything else.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runlab.errors import InvalidParameter, NotFound
from runlab.models.model import Model
from runlab.models.model_paths import inside
from runlab.models.saving import copy_code_paths, pyfunc_flavor_conf, save_model_dir
from runlab.models.signature import ModelSignature

__all__ = [
    "BoostingPyfunc",
    "FlavorSpec",
    "class_name",
    "known_class",
    "model_data_path",
    "nearest_known",
    "save_boosting_model",
    "supported_kwargs",
]

_logger = logging.getLogger("runlab")

#: What a flavor's data writer does: write the model to the path, return extra flavor entries.
DataWriter = Callable[[Path], Mapping[str, Any]]


@dataclass(frozen=True)
class FlavorSpec:
    """A flavor's fixed names: its ``MLmodel`` key, its loader module and its version key."""

    name: str
    loader_module: str
    version_key: str


def class_name(cls: type) -> str:
    """The dotted name MLflow records as ``model_class`` (``xgboost.core.Booster``)."""
    return f"{cls.__module__}.{cls.__qualname__}"


def known_class(recorded: Any, framework: str, classes: Iterable[type]) -> type:
    """The class among ``classes`` that the ``model_class`` entry ``recorded`` names.

    A name matches on its last part when it lies in the framework's package, so a class that
    moved between the framework's modules across versions is still found; any other name is
    refused rather than imported.
    """
    by_name = {cls.__name__: cls for cls in classes}
    if isinstance(recorded, str) and recorded.startswith(f"{framework}."):
        found = by_name.get(recorded.rsplit(".", 1)[-1])
        if found is not None:
            return found
    raise InvalidParameter(
        f"The model's model_class {recorded!r} is not one of the {framework} classes runlab "
        f"loads ({', '.join(sorted(by_name))}); runlab never imports a class a model file names."
    )


def nearest_known(cls: type, classes: Sequence[type]) -> type | None:
    """The first of ``classes`` (most specific first) that ``cls`` is or derives from."""
    return next((known for known in classes if issubclass(cls, known)), None)


def model_data_path(
    model_dir: Path, model: Model, flavor: FlavorSpec
) -> tuple[dict[str, Any], Path]:
    """The flavor's entry and the checked path of its data file inside ``model_dir``.

    A model saved with only a ``python_function`` entry naming this flavor's loader is read
    from that entry's ``data``. The model's ``code`` folder is not put on ``sys.path``: the
    frameworks' own formats import nothing, and a flavor that reads a pickle does it only once
    the model is trusted.
    """
    conf = model.flavors.get(flavor.name)
    if conf is None:
        pyfunc_conf = model.flavors.get("python_function", {})
        conf = {"data": pyfunc_conf.get("data"), "code": pyfunc_conf.get("code")}
    data = conf.get("data")
    if not isinstance(data, str) or not data:
        raise InvalidParameter(
            f"The model at {os.fspath(model_dir)!r} names no data file in its {flavor.name} flavor."
        )
    path = inside(model_dir, data, "data")
    if not path.is_file():
        raise NotFound(f"The model's data file {data!r} is missing from {os.fspath(model_dir)!r}.")
    return dict(conf), path


def save_boosting_model(
    path: str | os.PathLike[str],
    flavor: FlavorSpec,
    *,
    data_file: str,
    model_class: str,
    framework_version: str,
    write_data: DataWriter,
    requirements: Sequence[str],
    code_paths: Sequence[str | os.PathLike[str]] | None,
    signature: ModelSignature | None,
    input_example: Any,
    pip_requirements: Iterable[str] | str | None,
    extra_pip_requirements: Iterable[str] | str | None,
    metadata: Mapping[str, Any] | None,
    mlflow_model: Model | None,
) -> Model:
    """Save a model whose payload is the one file ``data_file``, written by ``write_data``."""

    def write(folder: Path, model: Model) -> None:
        code = copy_code_paths(folder, code_paths)
        extra = write_data(folder / data_file)
        model.add_flavor(
            "python_function",
            **pyfunc_flavor_conf(flavor.loader_module, data=data_file, code=code),
        )
        model.add_flavor(
            flavor.name,
            code=code,
            data=data_file,
            model_class=model_class,
            **{flavor.version_key: framework_version},
            **extra,
        )

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


def supported_kwargs(
    function: Callable[..., Any], params: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The ``params`` that ``function`` takes as keywords; the others are dropped with a warning.

    The first parameter is the model input, never a param.
    """
    if not params:
        return {}
    signature = list(inspect.signature(function).parameters.values())
    data, options = signature[:1], signature[1:]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in options):
        return {k: v for k, v in params.items() if k not in {p.name for p in data}}
    accepted = {p.name for p in options if p.kind is not inspect.Parameter.VAR_POSITIONAL}
    dropped = sorted(set(params) - accepted)
    if dropped:
        _logger.warning(
            "runlab: the model's predict takes no parameters named %s; they are ignored.",
            ", ".join(dropped),
        )
    return {k: v for k, v in params.items() if k in accepted}


class BoostingPyfunc:
    """A boosting model behind pyfunc ``predict``: ``predict_fn(model_input, params)``."""

    def __init__(
        self, raw_model: Any, predict_fn: Callable[[Any, Mapping[str, Any] | None], Any]
    ) -> None:
        self.raw_model = raw_model
        self._predict = predict_fn

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        """Predict for an input already checked against the signature."""
        return self._predict(model_input, params)
