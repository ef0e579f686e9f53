"""The exceptions runlab raises, each carrying the MLflow error code it maps to.

The tree::

    RunlabError                         INTERNAL_ERROR
    ├── InvalidParameter                INVALID_PARAMETER_VALUE   (HTTP 400)
    │   └── InvalidState                INVALID_PARAMETER_VALUE   (e.g. writing to a deleted run)
    ├── NotFound                        RESOURCE_DOES_NOT_EXIST   (HTTP 404)
    │   ├── ExperimentNotFound
    │   ├── RunNotFound
    │   ├── ModelNotFound
    │   ├── ArtifactNotFound
    │   └── UserNotFound                (a user of an authenticating server)
    ├── AlreadyExists                   RESOURCE_ALREADY_EXISTS   (HTTP 400)
    ├── PermissionDenied                PERMISSION_DENIED         (HTTP 403)
    │   └── UntrustedModelError         (runlab.models.trust: loading would run the model's code)
    ├── Unauthenticated                 UNAUTHENTICATED           (HTTP 401)
    └── Unavailable                     TEMPORARILY_UNAVAILABLE   (HTTP 503)

``MlflowException`` is an alias of :class:`RunlabError` so that code written as
``except mlflow.exceptions.MlflowException`` keeps working after ``import runlab as mlflow``.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ERROR_CODE_TO_HTTP_STATUS",
    "AlreadyExists",
    "ArtifactNotFound",
    "ExperimentNotFound",
    "InvalidParameter",
    "InvalidState",
    "MlflowException",
    "ModelNotFound",
    "NotFound",
    "PermissionDenied",
    "RunNotFound",
    "RunlabError",
    "Unauthenticated",
    "Unavailable",
    "UserNotFound",
    "error_from_code",
]


class RunlabError(Exception):
    """Root of every error runlab raises on purpose.

    ``error_code`` is the MLflow error-code name that the REST protocol uses for this error.
    """

    default_error_code: ClassVar[str] = "INTERNAL_ERROR"

    def __init__(self, message: str, error_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code or self.default_error_code

    def get_http_status_code(self) -> int:
        """The HTTP status a server answers with for this error."""
        return ERROR_CODE_TO_HTTP_STATUS.get(self.error_code, 500)

    def __reduce__(self) -> tuple[object, ...]:
        # Keep the code when the error crosses a process boundary (multiprocessing, pickling).
        return (type(self), (self.message, self.error_code))


MlflowException = RunlabError


class InvalidParameter(RunlabError):
    """A value that breaks a validation rule: bad key, too long, wrong type, malformed filter."""

    default_error_code = "INVALID_PARAMETER_VALUE"


class InvalidState(InvalidParameter):
    """The object exists but is in a state that forbids the operation (e.g. a deleted run)."""


class NotFound(RunlabError):
    """The object asked for does not exist."""

    default_error_code = "RESOURCE_DOES_NOT_EXIST"


class ExperimentNotFound(NotFound):
    """No experiment with that id or name."""


class RunNotFound(NotFound):
    """No run with that id."""


class ModelNotFound(NotFound):
    """No registered model, model version or logged model with that name or id."""


class ArtifactNotFound(NotFound):
    """No artifact at that path."""


class UserNotFound(NotFound):
    """No user with that name (on a server that authenticates its callers)."""


class AlreadyExists(RunlabError):
    """An object with that name already exists."""

    default_error_code = "RESOURCE_ALREADY_EXISTS"


class PermissionDenied(RunlabError):
    """The caller may not do this."""

    default_error_code = "PERMISSION_DENIED"


class Unauthenticated(RunlabError):
    """The request carries no valid credentials: sign in, or send a password or an access token.

    Unlike :class:`PermissionDenied` (403: the caller is known but may not do this), this is
    answered with 401, which tells a client that trying again with credentials may succeed.
    """

    default_error_code = "UNAUTHENTICATED"


class Unavailable(RunlabError):
    """A backend (database, server, object store) cannot be reached right now; retrying may help."""

    default_error_code = "TEMPORARILY_UNAVAILABLE"


ERROR_CODE_TO_HTTP_STATUS: dict[str, int] = {
    "INVALID_PARAMETER_VALUE": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "BAD_REQUEST": 400,
    "MALFORMED_REQUEST": 400,
    "UNAUTHENTICATED": 401,
    "CUSTOMER_UNAUTHORIZED": 401,
    "PERMISSION_DENIED": 403,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "NOT_FOUND": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "ABORTED": 409,
    "RESOURCE_CONFLICT": 409,
    "ALREADY_EXISTS": 409,
    "REQUEST_LIMIT_EXCEEDED": 429,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL_ERROR": 500,
    "NOT_IMPLEMENTED": 501,
    "TEMPORARILY_UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}

_CODE_TO_CLASS: dict[str, type[RunlabError]] = {
    "INVALID_PARAMETER_VALUE": InvalidParameter,
    "BAD_REQUEST": InvalidParameter,
    "MALFORMED_REQUEST": InvalidParameter,
    "RESOURCE_DOES_NOT_EXIST": NotFound,
    "NOT_FOUND": NotFound,
    "RESOURCE_ALREADY_EXISTS": AlreadyExists,
    "ALREADY_EXISTS": AlreadyExists,
    "PERMISSION_DENIED": PermissionDenied,
    "UNAUTHENTICATED": Unauthenticated,
    "TEMPORARILY_UNAVAILABLE": Unavailable,
}


def error_from_code(error_code: str, message: str) -> RunlabError:
    """Build the most specific runlab error for an MLflow error code (used by the REST client)."""
    cls = _CODE_TO_CLASS.get(error_code, RunlabError)
    return cls(message, error_code)
