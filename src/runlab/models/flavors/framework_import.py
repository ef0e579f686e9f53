"""Importing a flavor's framework on first use, with an install hint when it is missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from runlab.errors import InvalidParameter

__all__ = ["MissingFramework", "import_framework"]


class MissingFramework(InvalidParameter, ImportError):
    """A flavor's framework is not installed; the message says what to install."""


def import_framework(module: str, extra: str, package: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingFramework` naming the runlab extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingFramework(
            f"This model needs {package or module}, which is not installed: "
            f"pip install 'runlab[{extra}]' (or pip install {package or module})."
        ) from err
