"""Paths inside a loaded model folder, checked so a crafted ``MLmodel`` cannot reach outside it.

Every flavor reads its payload through :func:`inside`: a file name taken from ``MLmodel`` is
joined to the model folder and refused when, after resolving ``..`` and symlinks, it leaves it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runlab.errors import InvalidParameter

__all__ = ["add_code_path", "inside"]


def inside(model_dir: Path, relative: str, what: str) -> Path:
    """``model_dir / relative``, refusing a path that leaves the model folder."""
    root = model_dir.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise InvalidParameter(f"The model's {what} path {relative!r} leaves the model folder.")
    return path


def add_code_path(model_dir: Path, conf: Mapping[str, Any]) -> None:
    """Put the model's ``code/`` folder on ``sys.path`` so its pickles can import it."""
    code = conf.get("code")
    if isinstance(code, str) and code:
        folder = str(inside(model_dir, code, "code"))
        if folder not in sys.path:
            sys.path.insert(0, folder)
