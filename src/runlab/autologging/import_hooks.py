"""Run a callback when a module is imported: how autologging patches a framework lazily.

``runlab.autolog()`` must not import scikit-learn, torch or transformers itself (each costs
seconds); it registers a callback per framework here instead. One finder at the front of
``sys.meta_path`` notices the import of a watched module, lets the normal machinery find and load
it, and calls the callbacks once the module has finished executing. A module imported already
gets its callbacks at once.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

__all__ = ["cancel", "on_import"]

_logger = logging.getLogger("runlab")
Callback = Callable[[ModuleType], None]

_lock = threading.RLock()
#: Module name -> callbacks waiting for its import, by key (one per integration).
_waiting: dict[str, dict[str, Callback]] = {}


def _ready(name: str) -> ModuleType | None:
    """The module if it is imported and done executing, else None."""
    module = sys.modules.get(name)
    if module is None:
        return None
    spec = getattr(module, "__spec__", None)
    if spec is not None and getattr(spec, "_initializing", False):
        return None
    return module


def on_import(name: str, key: str, callback: Callback) -> None:
    """Call ``callback(module)`` once ``name`` is imported (now, if it is already).

    ``key`` names the caller; registering the same key again for a module replaces the callback.
    """
    module = _ready(name)
    if module is not None:
        callback(module)
        return
    with _lock:
        _waiting.setdefault(name, {})[key] = callback
        _install()


def cancel(key: str) -> None:
    """Forget every callback registered under ``key`` that has not run yet."""
    with _lock:
        for name in list(_waiting):
            _waiting[name].pop(key, None)
            if not _waiting[name]:
                del _waiting[name]


def _install() -> None:
    if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


def _fire(name: str, module: ModuleType) -> None:
    with _lock:
        callbacks = list(_waiting.pop(name, {}).values())
    for callback in callbacks:
        try:
            callback(module)
        except Exception as err:  # a failed patch must never break the user's import
            _logger.warning("runlab: autologging could not set up for %s: %s", name, err)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loader of a watched module so that callbacks follow it."""

    def __init__(self) -> None:
        self._busy = threading.local()

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _waiting or getattr(self._busy, "name", None) == fullname:
            return None
        self._busy.name = fullname
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
            else:
                return None
        finally:
            self._busy.name = None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _Loader(spec.loader, fullname)
        return spec


class _Loader(importlib.abc.Loader):
    """Delegates to the real loader, then puts it back on the module and fires the callbacks."""

    def __init__(self, loader: Any, name: str) -> None:
        self._loader = loader
        self._name = name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        create: Callable[[importlib.machinery.ModuleSpec], ModuleType | None] | None = getattr(
            self._loader, "create_module", None
        )
        return create(spec) if create is not None else None

    def exec_module(self, module: ModuleType) -> None:
        # The real loader goes back on the module first: packages read resources through it.
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        _fire(self._name, sys.modules.get(self._name, module))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)
