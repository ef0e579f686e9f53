"""scikit-learn, imported when an evaluation first needs it, with an install hint when missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from runlab.errors import InvalidParameter

__all__ = ["sklearn_metrics"]


def sklearn_metrics() -> ModuleType:
    """``sklearn.metrics``; InvalidParameter with an install hint when scikit-learn is missing."""
    try:
        return importlib.import_module("sklearn.metrics")
    except ImportError:
        raise InvalidParameter(
            "runlab.evaluate computes its metrics with scikit-learn, which is not installed; "
            "install it with `pip install 'runlab[sklearn]'` (or `pip install scikit-learn`)."
        ) from None
