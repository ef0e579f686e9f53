"""Azure's refusals as runlab errors, each one line naming what was attempted and Azure's reason.

Every call into the Azure ML SDK goes through :func:`azure_errors`. Azure's HTTP errors carry a
code (``ResourceNotFound``, ``QuotaExceeded``, ``AuthorizationFailed`` …) and a message; both
go into the runlab error, with what to do about it when runlab knows. The SDK's own exception
classes are imported only while an error is being translated, so this module is light.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

from runlab.errors import (
    AlreadyExists,
    InvalidParameter,
    NotFound,
    PermissionDenied,
    RunlabError,
    Unavailable,
)

__all__ = ["azure_error_code", "azure_errors", "is_not_found", "translate"]

_CREDENTIAL_HINT = (
    "Sign in with `az login`, or set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET "
    "for a service principal (any source DefaultAzureCredential reads)"
)
_HINTS = {
    "QuotaExceeded": "ask for more quota for this VM size or use a smaller --instance-type",
    "AuthorizationFailed": "the signed-in identity needs a role on the workspace, such as "
    "AzureML Data Scientist",
    "ResourceGroupNotFound": "check --resource-group",
    "SubscriptionNotFound": "check --subscription-id",
}


def azure_error_code(error: BaseException) -> str | None:
    """Azure's error code in an SDK exception (``ResourceNotFound``), if it carries one."""
    detail = getattr(error, "error", None)
    code = getattr(detail, "code", None)
    return str(code) if code else None


def _azure_message(error: BaseException) -> str:
    detail = getattr(error, "error", None)
    message = getattr(detail, "message", None) or getattr(error, "message", None) or str(error)
    # One line: Azure's messages repeat the code and the message on further lines.
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _schema_errors(error: BaseException) -> str | None:
    """The field errors of a schema ``ValidationError`` the SDK raised (its own message spans
    many lines), as compact JSON; None for other errors."""
    for candidate in (error.__cause__, error):
        messages = getattr(candidate, "normalized_messages", None)
        if type(candidate).__module__.startswith("marshmallow") and callable(messages):
            return json.dumps(messages(), sort_keys=True)
    return None


def is_not_found(error: BaseException) -> bool:
    """True when ``error`` is Azure saying the resource does not exist."""
    from azure.core.exceptions import ResourceNotFoundError

    return isinstance(error, ResourceNotFoundError) or getattr(error, "status_code", None) == 404


def translate(error: BaseException, action: str) -> RunlabError:
    """The runlab error for an SDK exception raised while doing ``action``."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceExistsError,
        ServiceRequestError,
    )

    code = azure_error_code(error)
    message = _azure_message(error).rstrip(".")
    said = f"Azure refused to {action}" + (f" ({code})" if code else "") + f": {message}"
    hint = _HINTS.get(code or "")
    if hint:
        said += f"; {hint}"
    if isinstance(error, ClientAuthenticationError) and getattr(error, "response", None) is None:
        # No HTTP response: the credential chain found no token (Azure was never asked).
        reasons = " ".join(str(getattr(error, "message", error)).split()).rstrip(".")
        return PermissionDenied(f"No Azure credentials to {action}: {reasons}. {_CREDENTIAL_HINT}.")
    if isinstance(error, ClientAuthenticationError) or getattr(error, "status_code", 0) in (
        401,
        403,
    ):
        return PermissionDenied(said + ".")
    if is_not_found(error):
        return NotFound(said + ".")
    if isinstance(error, ResourceExistsError):
        return AlreadyExists(said + ".")
    if isinstance(error, ServiceRequestError):
        return Unavailable(f"Could not reach Azure to {action}: {message}.")
    status = getattr(error, "status_code", None)
    if isinstance(error, HttpResponseError) and status is not None:
        if status == 429 or status >= 500:
            return Unavailable(said + ". Try again later.")
        return InvalidParameter(said + ".")
    from azure.ai.ml.exceptions import ValidationException

    if isinstance(error, ValidationException):
        return InvalidParameter(f"Azure ML cannot {action}: {message}.")
    schema_errors = _schema_errors(error)
    if schema_errors is not None:
        return InvalidParameter(f"Azure ML cannot {action}: its schema says {schema_errors}.")
    return RunlabError(f"Could not {action}: {type(error).__name__}: {message}.")


@contextlib.contextmanager
def azure_errors(action: str) -> Iterator[None]:
    """Run a block of SDK calls; an SDK exception leaves it as :func:`translate` says.

    ``action`` completes "Azure refused to …" (``create endpoint 'churn'``).
    """
    try:
        yield
    except RunlabError:
        raise
    except Exception as error:
        # The SDK's own errors, its credentials' (msal) and its schemas' (marshmallow).
        if not type(error).__module__.startswith(("azure.", "msal", "marshmallow")):
            raise
        raise translate(error, action) from error
