"""Artifact storage: the repository protocol, its local and S3 implementations, and path safety.

Importing this package is cheap: boto3, numpy, Pillow, matplotlib, plotly and PyYAML are imported
only by the functions that need them.

MLflow's ``mlflow.artifacts`` functions (``download_artifacts``, ``list_artifacts``,
``load_text``, ``load_dict``, ``load_image``) are reachable here too, so ``import runlab as
mlflow`` runs ``mlflow.artifacts.load_dict(...)``. They accept ``runs:/`` and ``models:/`` URIs,
which only the tracking client can resolve, so they live in :mod:`runlab.tracking.artifact_reading`
and this package forwards to them on first access (module ``__getattr__``). The repositories
here never import the tracking layer: importing this package, or any repository, loads nothing of
it; only touching one of those five names does. tests/test_layering.py allows exactly this one
forward and nothing else.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: The module that defines MLflow's artifact-reading functions (see the module docstring).
_READING_MODULE = "runlab.tracking.artifact_reading"
_READING_NAMES = frozenset(
    {"download_artifacts", "list_artifacts", "load_dict", "load_image", "load_text"}
)
#: This package's own names and the modules that define them, imported on first access: code
#: that needs only path_safety (model URIs, the tracking client) does not load the local and S3
#: repositories (urllib.request among them) at startup.
_LAZY_NAMES = {
    "ArtifactRepository": "runlab.artifacts.base",
    "LocalArtifactRepository": "runlab.artifacts.local",
    "S3ArtifactRepository": "runlab.artifacts.s3",
    "SUPPORTED_SCHEMES": "runlab.artifacts.repository_factory",
    "get_artifact_repository": "runlab.artifacts.repository_factory",
    "join_artifact_path": "runlab.artifacts.path_safety",
    "safe_join": "runlab.artifacts.path_safety",
    "validate_artifact_path": "runlab.artifacts.path_safety",
    "log_dict": "runlab.artifacts.rich_content",
    "log_figure": "runlab.artifacts.rich_content",
    "log_image": "runlab.artifacts.rich_content",
    "log_text": "runlab.artifacts.rich_content",
}

__all__ = [
    "SUPPORTED_SCHEMES",
    "ArtifactRepository",
    "LocalArtifactRepository",
    "S3ArtifactRepository",
    "download_artifacts",
    "get_artifact_repository",
    "join_artifact_path",
    "list_artifacts",
    "load_dict",
    "load_image",
    "load_text",
    "log_dict",
    "log_figure",
    "log_image",
    "log_text",
    "safe_join",
    "validate_artifact_path",
]


def __getattr__(name: str) -> Any:
    module = _READING_MODULE if name in _READING_NAMES else _LAZY_NAMES.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # let type checkers and IDEs see the real names
    from runlab.artifacts.base import ArtifactRepository
    from runlab.artifacts.local import LocalArtifactRepository
    from runlab.artifacts.path_safety import join_artifact_path, safe_join, validate_artifact_path
    from runlab.artifacts.repository_factory import SUPPORTED_SCHEMES, get_artifact_repository
    from runlab.artifacts.rich_content import log_dict, log_figure, log_image, log_text
    from runlab.artifacts.s3 import S3ArtifactRepository
    from runlab.tracking.artifact_reading import (
        download_artifacts,
        list_artifacts,
        load_dict,
        load_image,
        load_text,
    )
