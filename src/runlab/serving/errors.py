"""The scoring server's request errors, each with the HTTP status it answers with.

They are :class:`runlab.errors.InvalidParameter` errors with MLflow's ``BAD_REQUEST`` code, so
the batch command (``runlab models predict``) reports them as one-line messages too.
"""

from __future__ import annotations

from runlab.errors import InvalidParameter, RunlabError

__all__ = ["BadRequest", "ModelFailure", "ShapeLimitExceeded", "UnsupportedContentType"]


class BadRequest(InvalidParameter):
    """A request body the server cannot read as model input (HTTP 400, ``BAD_REQUEST``)."""

    default_error_code = "BAD_REQUEST"
    status = 400

    def get_http_status_code(self) -> int:
        """The status this error answers with (not the code's default)."""
        return self.status


class UnsupportedContentType(BadRequest):
    """A Content-Type the server does not read (HTTP 415)."""

    status = 415


class ShapeLimitExceeded(BadRequest):
    """A request holding more columns or rows than the server takes (HTTP 400).

    ``dimension`` is ``"columns"`` or ``"rows"``, ``limit`` the server's bound and ``option``
    the ``runlab models serve`` option that sets it. Counting stops past the limit, so the
    message says "more than", not how many.
    """

    def __init__(self, dimension: str, limit: int, option: str) -> None:
        super().__init__(
            f"The request holds more than {limit:,} {dimension}; this server takes at most "
            f"{limit:,} per request. Send fewer, or raise the limit with `runlab models serve "
            f"{option} N`."
        )
        self.dimension = dimension
        self.limit = limit


class ModelFailure(RunlabError):
    """The model raised, or returned something that cannot be sent, for an input.

    Answered with 400 and ``BAD_REQUEST``, as MLflow's scoring server does: a model usually fails
    on an input its signature did not rule out.
    """

    default_error_code = "BAD_REQUEST"
