"""Autologging: ``runlab.autolog()`` and each framework's ``autolog()``.

One core (:mod:`~runlab.autologging.integration`, :mod:`~runlab.autologging.patching`,
:mod:`~runlab.autologging.training_run`, :mod:`~runlab.autologging.import_hooks`) and one thin
module per framework. Importing this package imports no framework: a framework is patched when
the user's code imports it.

(The package is ``autologging`` rather than ``autolog`` because ``runlab.autolog`` is the
function MLflow users call; a subpackage of that name would replace it on import.)
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import Any

from runlab.errors import InvalidParameter

__all__ = ["FRAMEWORKS", "autolog"]

#: Framework name (MLflow's flavor name) -> the module of runlab that autologs it.
FRAMEWORKS: dict[str, str] = {
    "sklearn": "runlab.autologging.sklearn",
    "xgboost": "runlab.autologging.xgboost",
    "lightgbm": "runlab.autologging.lightgbm",
    "pytorch": "runlab.autologging.pytorch",
    "keras": "runlab.autologging.keras",
    "transformers": "runlab.autologging.transformers",
}


def autolog(
    log_input_examples: bool | None = None,
    log_model_signatures: bool | None = None,
    log_models: bool | None = None,
    log_datasets: bool | None = None,
    log_traces: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    extra_tags: Mapping[str, Any] | None = None,
    exclude_flavors: Iterable[str] | None = None,
) -> None:
    """Turn autologging on (or off, ``disable=True``) for every framework runlab knows.

    Each framework is patched when your code imports it (at once if it is imported already),
    so this call costs milliseconds and imports none of them. The options are passed to every
    framework's own ``autolog()`` (``runlab.sklearn.autolog`` …), which takes them and more;
    an option left at ``None`` keeps each framework's default (``log_models`` is on everywhere
    but for transformers, whose models are large). ``exclude_flavors`` names frameworks to leave
    alone (``["pytorch"]``). ``log_traces`` is accepted for MLflow's sake: runlab records no
    traces.
    """
    excluded = set(exclude_flavors or ())
    unknown = excluded - set(FRAMEWORKS)
    if unknown:
        raise InvalidParameter(
            f"exclude_flavors names unknown frameworks {sorted(unknown)}; runlab autologs "
            f"{', '.join(FRAMEWORKS)}."
        )
    del log_traces
    chosen = {
        "log_input_examples": log_input_examples,
        "log_model_signatures": log_model_signatures,
        "log_models": log_models,
        "log_datasets": log_datasets,
    }
    options: dict[str, Any] = {k: v for k, v in chosen.items() if v is not None}
    options.update(
        disable=disable,
        exclusive=exclusive,
        disable_for_unsupported_versions=disable_for_unsupported_versions,
        silent=silent,
        extra_tags=extra_tags,
    )
    for name, module_name in FRAMEWORKS.items():
        if name in excluded:
            continue
        importlib.import_module(module_name).autolog(**options)
