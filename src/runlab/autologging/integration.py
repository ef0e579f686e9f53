"""One framework's autologging: its options, its patches, its warnings — the shared core.

A framework module (``runlab.autologging.sklearn`` …) subclasses :class:`Integration`, names the
modules whose import triggers it and implements :meth:`Integration.setup`, which installs its
patches through a :class:`~runlab.autologging.patching.Patcher`. Everything else — lazy patching on
import, version checks, ``disable``/``exclusive``/``silent``, warning once about our own errors,
restoring the originals — happens here, the same way for every framework.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import re
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING

from runlab.autologging import import_hooks
from runlab.autologging.options import AutologOptions, strict
from runlab.autologging.patching import PatchedCall, Patcher
from runlab.autologging.training_run import TrainingRun, training_run

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

__all__ = ["Integration"]

_logger = logging.getLogger("runlab")


class _BelowError(logging.Filter):
    """Drops runlab's own log records below ERROR (``silent=True``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


_SILENCER = _BelowError()


class Integration:
    """Autologging for one framework (subclass it; one instance per framework)."""

    #: The framework's name: the value of the ``mlflow.autologging`` tag.
    name: str = ""
    #: Importing any of these modules patches the framework.
    modules: tuple[str, ...] = ()
    #: The distribution whose version is checked, and the range of versions tested (inclusive,
    #: compared on as many release numbers as given: "1.8" admits 1.8.x).
    distribution: str = ""
    min_version: str = "0"
    max_version: str = ""

    def __init__(self) -> None:
        self.options: AutologOptions | None = None
        self.patcher = Patcher(self)
        self._lock = threading.RLock()
        self._enabled = False
        self._warned: set[str] = set()
        self._silenced = 0

    # -- configuration -------------------------------------------------------------------------
    def configure(self, options: AutologOptions) -> None:
        """Apply an ``autolog()`` call: enable (patching now or on import), update, or disable."""
        with self._lock:
            if options.disable:
                self.options = options
                self.disable()
                return
            self.options = options
            if self._enabled:
                return  # the patches read the options at call time: nothing to re-install
            self._enabled = True
            for module in self.modules:
                import_hooks.on_import(module, self.name, self._on_import)

    def disable(self) -> None:
        """Take out every patch (the original objects go back) and stop waiting for imports."""
        with self._lock:
            import_hooks.cancel(self.name)
            self.patcher.restore()
            self._enabled = False

    @property
    def enabled(self) -> bool:
        """Whether autologging is on for this framework."""
        return self._enabled and self.options is not None and not self.options.disable

    def _on_import(self, module: ModuleType) -> None:
        with self._lock:
            if not self.enabled:
                return
            if not self._version_ok():
                return
            self.setup(self.patcher, module)

    def setup(self, patcher: Patcher, module: ModuleType) -> None:
        """Install the framework's patches; ``module`` is the one whose import triggered it."""
        raise NotImplementedError

    # -- versions ------------------------------------------------------------------------------
    def installed_version(self) -> str | None:
        """The framework's installed version, or None if it cannot be told."""
        try:
            return importlib.metadata.version(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            return None

    def _version_ok(self) -> bool:
        version = self.installed_version()
        if version is None or _within(version, self.min_version, self.max_version):
            return True
        assert self.options is not None
        tested = f"{self.min_version} to {self.max_version or 'newest'}"
        if self.options.disable_for_unsupported_versions:
            if not self.options.silent:
                _logger.warning(
                    "runlab: %s %s is outside the versions autologging is tested with (%s); "
                    "autologging for it stays off (disable_for_unsupported_versions=True).",
                    self.distribution,
                    version,
                    tested,
                )
            return False
        if not self.options.silent:
            _logger.warning(
                "runlab: %s %s is outside the versions autologging is tested with (%s); it is "
                "patched all the same.",
                self.distribution,
                version,
                tested,
            )
        return True

    # -- at call time --------------------------------------------------------------------------
    def should_log(self, outer: PatchedCall | None, nested: bool) -> bool:
        """Whether a patched call logs (True) or runs the original bare (False)."""
        if not self.enabled:
            return False
        if outer is not None:
            return nested and outer.integration is self
        options = self.options
        if options is None or not options.exclusive:
            return True
        from runlab.tracking.fluent import active_run

        return active_run() is None

    def training_run(self) -> AbstractContextManager[TrainingRun]:
        """The run to log a training into (see :mod:`runlab.autologging.training_run`)."""
        return training_run(self)

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """With ``silent=True``, keep runlab's own warnings out of the log while training."""
        if self.options is None or not self.options.silent:
            yield
            return
        with self._lock:
            if self._silenced == 0:
                _logger.addFilter(_SILENCER)
            self._silenced += 1
        try:
            yield
        finally:
            with self._lock:
                self._silenced -= 1
                if self._silenced == 0:
                    _logger.removeFilter(_SILENCER)

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Run one step of our own logging: its error is reported, and training goes on.

        For the framework callbacks and the steps after training, where an escaping error
        would stop the user's training or mark a successful training's run FAILED.
        """
        try:
            yield
        except Exception as err:
            self.report(err)

    def report(self, err: BaseException) -> None:
        """Our own error: raise it under RUNLAB_AUTOLOG_STRICT, else warn about it once."""
        if strict():
            raise err
        key = f"{type(err).__name__}: {err}"
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        if self.options is not None and self.options.silent:
            return
        _logger.warning(
            "runlab: %s autologging failed (%s: %s); training goes on, with less logged. "
            "Set RUNLAB_AUTOLOG_STRICT=1 to raise such errors instead.",
            self.name,
            type(err).__name__,
            err,
            exc_info=err if _logger.isEnabledFor(logging.DEBUG) else None,
        )


def _release(version: str) -> tuple[int, ...]:
    numbers = re.match(r"\d+(?:\.\d+)*", version.strip())
    return tuple(int(n) for n in numbers.group(0).split(".")) if numbers else (0,)


def _within(version: str, low: str, high: str) -> bool:
    release = _release(version)
    if release < _release(low):
        return False
    if not high:
        return True
    top = _release(high)
    return release[: len(top)] <= top
