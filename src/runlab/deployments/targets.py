"""Finding deployment targets: entry points of the ``runlab.deployments`` group.

A target is a module registered under its name (``sagemaker = "runlab.deployments.sagemaker"``
in a package's ``[project.entry-points."runlab.deployments"]``). The built-in targets register
the same way, in runlab's own ``pyproject.toml``. The module provides:

* a subclass of :class:`~runlab.deployments.base.BaseDeploymentClient` (named
  ``DeploymentClient``, or the only such class the module defines);
* ``run_local(target, name, model_uri, flavor=None, config=None)``: serve the model on this
  machine the way the target would;
* ``target_help()``: text saying what the target URI and the ``config`` keys mean.

A target URI is ``<name>`` or ``<name>:/<what the target reads>`` (``sagemaker:/us-west-2``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import re
from types import ModuleType
from typing import Any

from runlab.deployments.base import BaseDeploymentClient
from runlab.errors import InvalidParameter

__all__ = [
    "ENTRY_POINT_GROUP",
    "available_targets",
    "client_class",
    "load_target",
    "target_function",
    "target_name",
]

ENTRY_POINT_GROUP = "runlab.deployments"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.+-]*$")


def target_name(target_uri: str) -> str:
    """The target's registered name: what comes before ``:`` in the URI (all of it if none)."""
    if not isinstance(target_uri, str) or not target_uri.strip():
        raise InvalidParameter(
            f"A deployment target must be a non-empty string, got {target_uri!r}."
        )
    name = target_uri.split(":", 1)[0].strip()
    if not _NAME.match(name):
        raise InvalidParameter(
            f"{target_uri!r} is not a deployment target URI: expected <target> or "
            "<target>:/<details>, e.g. sagemaker:/us-west-2."
        )
    return name


def available_targets() -> dict[str, importlib.metadata.EntryPoint]:
    """Registered targets by name (a later registration of a name does not replace the first)."""
    found: dict[str, importlib.metadata.EntryPoint] = {}
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry.name, entry)
    return found


def load_target(target_uri: str) -> ModuleType:
    """The module of the target ``target_uri`` names; a clear error if none is registered."""
    name = target_name(target_uri)
    entry = available_targets().get(name)
    if entry is None:
        known = ", ".join(sorted(available_targets())) or "none"
        raise InvalidParameter(
            f"No deployment target {name!r} is installed (installed: {known}). A plugin "
            f"registers one as an entry point in the {ENTRY_POINT_GROUP!r} group."
        )
    try:
        module = entry.load()
    except Exception as err:  # a plugin's import may fail any way: report it, with the fix
        raise InvalidParameter(
            f"The deployment target {name!r} could not be loaded ({type(err).__name__}: "
            f"{err}). {_install_hint(name, entry)}"
        ) from err
    if not isinstance(module, ModuleType):
        raise InvalidParameter(
            f"The entry point of deployment target {name!r} must name a module, not {module!r}."
        )
    return module


def _install_hint(name: str, entry: importlib.metadata.EntryPoint) -> str:
    if entry.value.split(":", 1)[0].startswith("runlab."):
        return f"Install what it needs: pip install 'runlab[{name}]'."
    dist = getattr(entry, "dist", None)
    if dist is not None and dist.name:
        # Installing the distribution again brings back whatever requirement went missing.
        return f"Install what the plugin needs: pip install '{dist.name}'."
    return "Install the packages the plugin needs."


def target_function(module: ModuleType, function: str) -> Any:
    """The target module's ``run_local`` or ``target_help``; a clear error if it has none."""
    found = getattr(module, function, None)
    if not callable(found):
        raise InvalidParameter(
            f"The deployment target module {module.__name__} does not provide {function}()."
        )
    return found


def client_class(module: ModuleType) -> type[BaseDeploymentClient]:
    """The target module's client class (see the module docstring for how it is found)."""
    named = getattr(module, "DeploymentClient", None)
    if inspect.isclass(named) and issubclass(named, BaseDeploymentClient):
        _check_concrete(named)
        return named
    defined: list[Any] = [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, BaseDeploymentClient)
        and value is not BaseDeploymentClient
        and value.__module__ == module.__name__
    ]
    if len(defined) != 1:
        raise InvalidParameter(
            f"The deployment target module {module.__name__} must define one subclass of "
            f"runlab.deployments.BaseDeploymentClient (found {len(defined)}); name it "
            "DeploymentClient to choose among several."
        )
    found: type[BaseDeploymentClient] = defined[0]
    _check_concrete(found)
    return found


def _check_concrete(cls: type[BaseDeploymentClient]) -> None:
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    if missing:
        raise InvalidParameter(
            f"The deployment client {cls.__module__}.{cls.__name__} does not implement "
            f"{', '.join(missing)}."
        )
