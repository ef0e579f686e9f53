"""HTTP for the REST store: auth, TLS, timeouts, retries, and MLflow error bodies to exceptions.

Retries follow what is safe to repeat. Reads and idempotent writes (log-batch is idempotent on a
runlab server: a resent batch is stored once) are retried with exponential backoff on connection
errors, 408, 429 and 5xx. Creates (experiments, runs, logged models) are retried only when the
request certainly never reached the server (connection refused) or the server said 408/429.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson

from runlab.errors import (
    InvalidParameter,
    NotFound,
    PermissionDenied,
    RunlabError,
    Unauthenticated,
    Unavailable,
    error_from_code,
)
from runlab.httpx_lean import httpx
from runlab.uris import tls_verify_for

_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "ENDPOINT_NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    501: "NOT_IMPLEMENTED",
    503: "TEMPORARILY_UNAVAILABLE",
}


@dataclass(frozen=True)
class RestConfig:
    """How to reach a tracking server. Built from the environment by the tracking layer."""

    base_url: str
    token: str | None = None
    username: str | None = None
    password: str | None = None
    #: False skips TLS verification; a string is a CA bundle path.
    verify: bool | str = True
    client_cert: str | None = None
    timeout: float = 120.0
    max_retries: int = 7
    backoff_factor: float = 2.0
    backoff_max: float = 60.0
    user_agent: str = "runlab-python-client"


class HttpSession:
    """A pooled HTTP session for one server."""

    def __init__(self, config: RestConfig) -> None:
        self.config = config
        headers = {"User-Agent": config.user_agent}
        auth: httpx.BasicAuth | None = None
        if config.username is not None and config.password is not None:
            auth = httpx.BasicAuth(config.username, config.password)
        elif config.token:
            headers["Authorization"] = f"Bearer {config.token}"
        self._client = httpx.Client(
            base_url=config.base_url.rstrip("/"),
            headers=headers,
            auth=auth,
            verify=tls_verify_for(config.base_url, config.verify),
            cert=config.client_cert,
            timeout=config.timeout,
        )

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        idempotent: bool = True,
        max_retries: int | None = None,
    ) -> dict[str, Any]:
        """Call an API path (e.g. ``/api/2.0/mlflow/runs/get``) and return the JSON object.

        GET sends the fields as query parameters (repeated keys for lists), other methods a
        JSON body. MLflow error bodies become runlab errors.
        """
        retries = self.config.max_retries if max_retries is None else max_retries
        attempt = 0
        while True:
            try:
                response = self._send(method, path, body)
            except httpx.TransportError as exc:
                never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
                if attempt < retries and (idempotent or never_sent):
                    self._sleep(attempt, None)
                    attempt += 1
                    continue
                raise Unavailable(
                    f"Cannot reach the tracking server at {self.config.base_url}: {exc}"
                ) from exc
            status = response.status_code
            if (
                status in _RETRY_STATUSES
                and attempt < retries
                and (idempotent or status in (408, 429))
            ):
                self._sleep(attempt, response.headers.get("retry-after"))
                attempt += 1
                continue
            return _decode(response)

    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> httpx.Response:
        if method == "GET":
            return self._client.get(path, params=_query_params(body or {}))
        return self._client.request(
            method,
            path,
            content=orjson.dumps(body or {}),
            headers={"Content-Type": "application/json"},
        )

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        delay = min(self.config.backoff_max, self.config.backoff_factor * (2**attempt) * 0.1)
        if retry_after is not None and retry_after.isdigit():
            delay = min(self.config.backoff_max, float(retry_after))
        time.sleep(delay * (0.5 + random.random()))


def _query_params(fields: dict[str, Any]) -> list[tuple[str, str | int | float | bool | None]]:
    out: list[tuple[str, str | int | float | bool | None]] = []
    for key, value in fields.items():
        if value is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, bool):
                out.append((key, "true" if item else "false"))
            else:
                out.append((key, str(item)))
    return out


def _decode(response: httpx.Response) -> dict[str, Any]:
    status = response.status_code
    text = response.content
    data: Any = None
    if text.strip() and text.strip() != b"200 OK":
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            data = None
    if 200 <= status < 300:
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise RunlabError(f"The server answered {response.request.url} with a non-object body.")
        return data
    if isinstance(data, dict) and "error_code" in data:
        code = data["error_code"]
        if isinstance(code, int):
            code = _STATUS_CODES.get(code, "INTERNAL_ERROR")
        return _raise(str(code), str(data.get("message", "")), status)
    return _raise(
        _STATUS_CODES.get(status, "INTERNAL_ERROR"), text.decode(errors="replace")[:500], status
    )


def http_status(error: BaseException) -> int | None:
    """The HTTP status of the response an error came from, or None (e.g. no response at all)."""
    status = getattr(error, "http_status", None)
    return status if isinstance(status, int) else None


def is_transient(error: BaseException) -> bool:
    """True for errors that may go away by themselves: no connection, 408, 429 or any 5xx.

    Callers that keep data while a server is away (the background writer) retry these and give
    up on everything else, which the server would answer the same way again.
    """
    if isinstance(error, Unavailable):
        return True
    status = http_status(error)
    return status is not None and (status in (408, 429) or status >= 500)


@contextmanager
def not_found_as(cls: type[NotFound]) -> Iterator[None]:
    """Raise a NotFound from the block as ``cls`` (e.g. RunNotFound), keeping its message.

    The wire has one code for every missing object; callers catch the specific class.
    """
    try:
        yield
    except NotFound as exc:
        if isinstance(exc, cls):
            raise
        error = cls(exc.message, exc.error_code)
        status = http_status(exc)
        if status is not None:
            vars(error)["http_status"] = status
        raise error from None


#: What a client can do about a 401, added to the server's message when it does not say.
CREDENTIALS_HINT = (
    "Set RUNLAB_TRACKING_USERNAME and RUNLAB_TRACKING_PASSWORD, or RUNLAB_TRACKING_TOKEN "
    "(the MLFLOW_ names work too)."
)


def _with_credentials_hint(message: str) -> str:
    if "TRACKING_" in message:
        return message
    return f"{message.rstrip()} {CREDENTIALS_HINT}"


def _raise(code: str, message: str, status: int) -> dict[str, Any]:
    error = error_from_code(code, message or f"HTTP {status}")
    if status == 401 and not isinstance(error, Unauthenticated):
        # Whatever code a server sends with it (MLflow's says UNAUTHENTICATED or nothing), a 401
        # means "who are you?": the fix is credentials, not a permission.
        error = Unauthenticated(_with_credentials_hint(message or "HTTP 401"), code)
    elif isinstance(error, Unauthenticated):
        error = Unauthenticated(_with_credentials_hint(error.message), code)
    if type(error) is RunlabError:
        # Map codes the tree doesn't name by their HTTP status, so callers can still catch them.
        if status == 404:
            error = NotFound(message, code)
        elif status == 403:
            error = PermissionDenied(message, code)
        elif status == 400:
            error = InvalidParameter(message, code)
        elif status in (503, 504):
            error = Unavailable(message, code)
    # Kept so that callers can tell a server that is struggling (5xx, 429) from one that refuses
    # the request for good (4xx); the error classes alone do not say.
    vars(error)["http_status"] = status
    raise error
