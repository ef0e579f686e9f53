"""Which code loads a saved model: the Flavor protocol and the loader-module lookup.

An ``MLmodel`` file names the module that loads it as pyfunc (``python_function.loader_module``).
runlab never imports a module just because a file names it — that would let a model file run
any installed code. The name is looked up instead:

- MLflow's built-in loaders (``mlflow.sklearn``, ``mlflow.pyfunc.model``, …) map to runlab's
  flavor of the same format, so MLflow's models load without MLflow;
- ``runlab.…`` names of the built-in flavors map to themselves;
- third-party flavors register an entry point in the ``runlab.flavors`` group whose value is
  their module; the loader modules they handle are that module's name and its
  ``LOADER_MODULES`` (if it declares any).

Anything else is refused with a message that says how to register a flavor.

Each flavor's ``load_pyfunc`` gets the trust decision (:class:`runlab.models.trust.ModelTrust`)
as its ``trust`` keyword and asks it before reading a file that could run code. A third-party
flavor receives it when its ``load_pyfunc`` declares that parameter.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from runlab.errors import InvalidParameter
from runlab.models.model import Model
from runlab.models.trust import ModelTrust

__all__ = [
    "ENTRY_POINT_GROUP",
    "Flavor",
    "PyFuncImplementation",
    "flavor_module_for",
    "load_pyfunc_implementation",
]

ENTRY_POINT_GROUP = "runlab.flavors"

# loader module written in MLmodel files -> runlab module that implements it.
_BUILTIN: dict[str, str] = {
    "mlflow.pyfunc.model": "runlab.models.pyfunc.python_model",
    "mlflow.sklearn": "runlab.models.flavors.sklearn",
    "mlflow.pytorch": "runlab.models.flavors.pytorch",
    "mlflow.xgboost": "runlab.models.flavors.xgboost",
    "mlflow.lightgbm": "runlab.models.flavors.lightgbm",
    "mlflow.keras": "runlab.models.flavors.keras",
    "mlflow.transformers": "runlab.models.flavors.transformers",
}
_BUILTIN.update({module: module for module in set(_BUILTIN.values())})


@runtime_checkable
class PyFuncImplementation(Protocol):
    """What a flavor's ``load_pyfunc`` returns: the model behind a generic ``predict``."""

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        """Predict for an input already checked against the signature."""
        ...


class Flavor(Protocol):
    """What a flavor module provides (module-level names; a module satisfies it structurally).

    ``FLAVOR_NAME`` is its key under ``flavors:`` in ``MLmodel``. ``save_model`` and
    ``log_model`` write a model, ``load_model`` gives the framework's own object back, and
    ``load_pyfunc`` the generic implementation :class:`runlab.pyfunc.PyFuncModel` wraps. A
    flavor whose files can run code when read calls ``trust.require(...)`` first (see
    :mod:`runlab.models.trust`); ``trust`` is None only when a caller gave no decision, which
    :func:`load_pyfunc_implementation` never does.
    """

    FLAVOR_NAME: str

    def save_model(self, *args: Any, **kwargs: Any) -> Any: ...

    def log_model(self, *args: Any, **kwargs: Any) -> Any: ...

    def load_model(self, *args: Any, **kwargs: Any) -> Any: ...

    def load_pyfunc(
        self, model_dir: Path, model: Model, trust: ModelTrust | None = None
    ) -> PyFuncImplementation: ...


def _entry_point_modules() -> dict[str, str]:
    found: dict[str, str] = {}
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        module_name = entry.value.split(":", 1)[0].strip()
        found[module_name] = module_name
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for alias in getattr(module, "LOADER_MODULES", ()):
            found[str(alias)] = module_name
    return found


def flavor_module_for(loader_module: str) -> Any:
    """The module that loads models whose ``loader_module`` is ``loader_module``."""
    module_name = _BUILTIN.get(loader_module)
    if module_name is None:
        module_name = _entry_point_modules().get(loader_module)
    if module_name is None:
        raise InvalidParameter(
            f"No runlab flavor loads models with loader_module {loader_module!r}. Built in: "
            f"{', '.join(sorted(k for k in _BUILTIN if k.startswith('mlflow.')))}. A third-party "
            f"flavor registers its module under the {ENTRY_POINT_GROUP!r} entry-point group."
        )
    return importlib.import_module(module_name)


def load_pyfunc_implementation(
    model_dir: str | os.PathLike[str], model: Model, trust: ModelTrust | None = None
) -> Any:
    """Load the model in ``model_dir`` through its ``python_function`` flavor.

    ``trust`` decides whether a file that runs code when read may be loaded; without one, only
    a trusted-source prefix matching ``model_dir`` itself trusts the model.
    """
    conf = model.flavors.get("python_function")
    if conf is None:
        names = ", ".join(sorted(model.flavors)) or "none"
        raise InvalidParameter(
            f"The model at {os.fspath(model_dir)!r} has no python_function flavor (its flavors: "
            f"{names}), so it cannot be loaded as pyfunc; load it with its own flavor's "
            "load_model."
        )
    loader = conf.get("loader_module")
    if not isinstance(loader, str) or not loader:
        raise InvalidParameter(
            f"The model at {os.fspath(model_dir)!r} names no loader_module in its "
            "python_function flavor."
        )
    module = flavor_module_for(loader)
    if trust is None:
        trust = ModelTrust.of(model_dir)
    if _takes_trust(module.load_pyfunc):
        return module.load_pyfunc(Path(model_dir), model, trust=trust)
    return module.load_pyfunc(Path(model_dir), model)


def _takes_trust(load_pyfunc: Any) -> bool:
    """Whether a flavor's ``load_pyfunc`` accepts the ``trust`` keyword (third-party ones may not)."""
    try:
        parameters = inspect.signature(load_pyfunc).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "trust" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
