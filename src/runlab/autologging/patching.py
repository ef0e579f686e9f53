"""Safe patches: replace a framework function so that our logging can never break training.

:class:`Patcher` installs wrappers and remembers exactly what it replaced, so that
:meth:`Patcher.restore` puts back the original objects (the same objects, checked by identity in
the tests). A wrapper calls the integration's *around* function, which receives a
:class:`PatchedCall` and runs the original through ``call.original(...)``:

* an exception raised by the original (the user's or the framework's code) propagates unchanged:
  the same object, with its traceback;
* an exception raised by the around function itself is runlab's: it is reported (warned once, or
  raised when ``RUNLAB_AUTOLOG_STRICT`` is set) and the caller gets the original's result, or the
  original runs bare if it had not run yet;
* a patched call made while another patched call is running on the same thread (a Pipeline
  fitting its steps, ``XGBClassifier.fit`` calling ``xgboost.train``, a patch installed twice)
  runs the original bare, unless the patch asks to see nested calls: so one training logs once.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runlab.autologging.integration import Integration

__all__ = ["PatchedCall", "Patcher", "current_call"]

_SENTINEL = object()
#: The outermost patched call running in this context, if any.
_current: contextvars.ContextVar[PatchedCall | None] = contextvars.ContextVar(
    "runlab_autolog_call", default=None
)


def current_call() -> PatchedCall | None:
    """The patched call this code runs inside (the outermost), or None."""
    return _current.get()


@dataclass
class PatchedCall:
    """One call of a patched function, as its around function sees it."""

    integration: Integration
    target: Callable[..., Any]
    #: Per-call scratch space shared with nested patches of the same integration.
    state: dict[str, Any] = field(default_factory=dict)
    original_called: bool = False
    original_returned: bool = False
    result: Any = None
    #: The exception the original raised, if it did (it is the caller's, not ours).
    user_error: BaseException | None = None

    @property
    def options(self) -> Any:
        """The integration's current :class:`~runlab.autologging.options.AutologOptions`."""
        return self.integration.options

    def original(self, *args: Any, **kwargs: Any) -> Any:
        """Run the patched function's original; what it raises is the caller's."""
        self.original_called = True
        try:
            result = self.target(*args, **kwargs)
        except BaseException as err:
            self.user_error = err
            raise
        self.original_returned = True
        self.result = result
        return result


Around = Callable[..., Any]  # around(call: PatchedCall, *args, **kwargs) -> result


@dataclass
class _Replaced:
    owner: Any
    name: str
    #: What ``owner.__dict__[name]`` held before, or _SENTINEL if the attribute was inherited.
    before: Any


class Patcher:
    """Installs an integration's wrappers and takes them all out again."""

    def __init__(self, integration: Integration) -> None:
        self._integration = integration
        self._replaced: list[_Replaced] = []

    @property
    def patched(self) -> int:
        """How many attributes are replaced now."""
        return len(self._replaced)

    def is_patched(self, owner: Any, name: str) -> bool:
        """Whether this patcher replaced ``owner.name``."""
        return any(r.owner is owner and r.name == name for r in self._replaced)

    def wrap(self, owner: Any, name: str, around: Around, nested: bool = False) -> None:
        """Replace ``owner.name`` (a method of a class, or a module function) with a safe wrapper.

        ``nested=True`` lets the around function run for calls made inside another patched
        call of the same integration (it sees the outer call through :func:`current_call`).
        Wrapping the same attribute twice does nothing the second time.
        """
        if self.is_patched(owner, name):
            return
        before = owner.__dict__.get(name, _SENTINEL)
        raw = getattr(owner, name)
        kind = type(before) if isinstance(before, (staticmethod, classmethod)) else None
        target = before.__func__ if kind is not None else raw
        wrapper = _safe_wrapper(self._integration, target, around, nested)
        setattr(owner, name, kind(wrapper) if kind is not None else wrapper)
        self._replaced.append(_Replaced(owner, name, before))

    def restore(self) -> None:
        """Put back every original, newest patch first."""
        while self._replaced:
            item = self._replaced.pop()
            if item.before is _SENTINEL:
                if item.name in item.owner.__dict__:
                    delattr(item.owner, item.name)
            else:
                setattr(item.owner, item.name, item.before)


def _safe_wrapper(
    integration: Integration, target: Callable[..., Any], around: Around, nested: bool
) -> Callable[..., Any]:
    @functools.wraps(target)
    def patched(*args: Any, **kwargs: Any) -> Any:
        outer = _current.get()
        if not integration.should_log(outer, nested):
            return target(*args, **kwargs)
        call = PatchedCall(integration, target)
        if outer is not None and outer.integration is integration:
            call.state = outer.state
        token = _current.set(call if outer is None else outer)
        try:
            with integration.quiet():
                return around(call, *args, **kwargs)
        except BaseException as err:
            if err is call.user_error or not isinstance(err, Exception):
                raise  # the caller's exception, or Ctrl-C / exit while we were logging
            integration.report(err)
        finally:
            _current.reset(token)
        # Our code failed. Outside the except block, so the caller's objects carry no trace of it.
        if call.user_error is not None:
            raise call.user_error
        if call.original_returned:
            return call.result
        return target(*args, **kwargs)

    patched.__wrapped__ = target
    patched.__runlab_autolog__ = integration.name  # type: ignore[attr-defined]
    return patched
