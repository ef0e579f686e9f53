"""Importing optional dependencies with an install hint when they are missing."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise an ``ImportError`` that says which extra to install.

    ``purpose`` completes the sentence "<purpose> needs ..." (e.g. "S3 artifact storage").
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        top_level = module.partition(".")[0]
        raise ImportError(
            f"{purpose} needs the {top_level!r} package, which is not installed. "
            f"Install it with: pip install 'runlab[{extra}]'",
            name=top_level,
        ) from error
