"""MLflow's ``mlflow.exceptions`` names, so ``except mlflow.exceptions.MlflowException`` keeps
working after ``import runlab as mlflow``.

``MlflowException`` is :class:`runlab.errors.RunlabError`, the root of every error runlab raises;
the specific classes (``RunNotFound``, ``InvalidParameter``…) live in :mod:`runlab.errors`.
"""

from __future__ import annotations

from runlab.errors import RunlabError

__all__ = [
    "ExecutionException",
    "InvalidUrlException",
    "MissingConfigException",
    "MlflowException",
    "RestException",
]

MlflowException = RunlabError


class RestException(RunlabError):
    """An error a tracking server answered with; built from its ``error_code`` and ``message``."""

    def __init__(self, json: dict[str, object]) -> None:
        error_code = str(json.get("error_code", "INTERNAL_ERROR"))
        message = f"{error_code}: {json.get('message', '')}"
        super().__init__(message, error_code)
        self.json = json

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.json,))


class ExecutionException(RunlabError):
    """A project run failed to execute."""


class MissingConfigException(RunlabError):
    """A required configuration file or setting is missing."""


class InvalidUrlException(RunlabError):
    """A URL could not be parsed or is not supported."""
