"""Projects: run the code of an MLproject directory or git repository as a tracked run.

An ``MLproject`` file beside the code names the project, its environment (``python_env``,
``conda_env`` or ``docker_env``) and its entry points with their typed parameters and command
templates — MLflow's format, read by :mod:`runlab.projects.spec`. :func:`run` runs an entry
point in its environment and records the run so that it can be executed again exactly.

Everything is imported on first use (module ``__getattr__``), so ``import runlab.projects``
loads neither YAML nor the tracking client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Public name -> module that defines it; the lazy loader below and __all__ read it.
_EXPORTS: dict[str, str] = {
    "run": "runlab.projects.runner",
    "SubmittedRun": "runlab.projects.submitted_run",
    "load_project": "runlab.projects.spec",
}

__all__ = ["SubmittedRun", "load_project", "run"]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # let type checkers and IDEs see the real objects
    from runlab.projects.spec import load_project
