"""The audit log's record of deletions: which experiment, run, model or artifact, by whom.

:class:`DeletionAudit` watches the few deleting requests (:data:`DELETIONS`) of an
authenticating server and, when one succeeds, appends an event to the audit log with the
signed-in user, the client's address and what was deleted (read from the request itself: the
same fields its handler read). Other requests pass straight through, untouched.

It sits inside the authentication middleware, so the principal is known, and outside the app,
so the route handlers stay as they are.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runlab.server.auth import principal_of_scope
from runlab.server.auth.authentication import CredentialStore, current_client_address

__all__ = ["DELETIONS", "Deletion", "DeletionAudit"]

logger = logging.getLogger("runlab.server.auth")

#: Longest request body kept to read the deleted object's name from (deletions send a few
#: fields; a longer body is not one of them and is not recorded in detail).
_BODY_MAX = 64 * 1024
_MLFLOW = r"/(?:api|ajax-api)/2\.0/mlflow"
_ARTIFACTS = r"/(?:api|ajax-api)/2\.0/mlflow-artifacts/artifacts"


@dataclass(frozen=True, slots=True)
class Deletion:
    """A deleting request: ``method`` on a path matching ``path`` (a full-match regex).

    ``target`` names what was deleted from the request's JSON body and the path's groups.
    """

    method: str
    path: re.Pattern[str]
    action: str
    target: Callable[[Mapping[str, Any], Mapping[str, str]], str]


def _field(body: Mapping[str, Any], *names: str) -> str:
    for name in names:
        value = body.get(name)
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return str(value)
    return "?"


#: Every deletion the audit log records.
DELETIONS: tuple[Deletion, ...] = (
    Deletion(
        "POST",
        re.compile(_MLFLOW + r"/experiments/delete"),
        "experiment.delete",
        lambda body, _: f"experiment {_field(body, 'experiment_id', 'experimentId')}",
    ),
    Deletion(
        "POST",
        re.compile(_MLFLOW + r"/runs/delete"),
        "run.delete",
        lambda body, _: f"run {_field(body, 'run_id', 'runId', 'run_uuid')}",
    ),
    Deletion(
        "DELETE",
        re.compile(_MLFLOW + r"/registered-models/delete"),
        "registered_model.delete",
        lambda body, _: f"registered model {_field(body, 'name')}",
    ),
    Deletion(
        "DELETE",
        re.compile(_MLFLOW + r"/model-versions/delete"),
        "model_version.delete",
        lambda body, _: (
            f"registered model {_field(body, 'name')} version {_field(body, 'version')}"
        ),
    ),
    Deletion(
        "DELETE",
        re.compile(_MLFLOW + r"/logged-models/(?P<model_id>[^/]+)"),
        "logged_model.delete",
        lambda _, path: f"logged model {unquote(path['model_id'])}",
    ),
    Deletion(
        "DELETE",
        re.compile(_ARTIFACTS + r"/(?P<artifact_path>.+)"),
        "artifact.delete",
        lambda _, path: f"artifact {unquote(path['artifact_path'])}",
    ),
)


def _match(method: str, path: str) -> tuple[Deletion, Mapping[str, str]] | None:
    for deletion in DELETIONS:
        if deletion.method == method:
            found = deletion.path.fullmatch(path)
            if found is not None:
                return deletion, found.groupdict()
    return None


class DeletionAudit:
    """ASGI middleware recording each successful deletion in the audit log (see the module)."""

    def __init__(self, app: ASGIApp, store: CredentialStore) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        matched = (
            _match(scope.get("method", ""), scope.get("path", ""))
            if scope["type"] == "http"
            else None
        )
        if matched is None:
            await self.app(scope, receive, send)
            return
        deletion, path_groups = matched
        chunks: list[bytes] = []
        size = 0
        held: Message | None = None

        async def receive_copy() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request" and size <= _BODY_MAX:
                body = message.get("body", b"")
                size += len(body)
                if size <= _BODY_MAX:
                    chunks.append(body)
            return message

        async def send_after_record(message: Message) -> None:
            # A successful deletion's answer waits until its event is in the log: a client that
            # lists the log right after the answer finds it there, and a server that dies
            # between the two has not told anyone the deletion succeeded unrecorded.
            nonlocal held
            if message["type"] == "http.response.start" and 200 <= message["status"] < 300:
                held = message
                return
            if held is not None and message["type"] == "http.response.body":
                start, held = held, None
                await self._record_deletion(scope, deletion, path_groups, chunks, size)
                await send(start)
            await send(message)

        await self.app(scope, receive_copy, send_after_record)

    async def _record_deletion(
        self,
        scope: Scope,
        deletion: Deletion,
        path_groups: Mapping[str, str],
        chunks: list[bytes],
        size: int,
    ) -> None:
        body: Mapping[str, Any] = {}
        if size <= _BODY_MAX and chunks:
            try:
                parsed = orjson.loads(b"".join(chunks))
            except orjson.JSONDecodeError:
                parsed = None
            if isinstance(parsed, dict):
                body = parsed
        principal = principal_of_scope(scope)
        await run_in_threadpool(
            self._record,
            deletion.action,
            deletion.target(body, path_groups),
            principal.username if principal else None,
            current_client_address(),
        )

    def _record(self, action: str, target: str, actor: str | None, address: str | None) -> None:
        try:
            self.store.record_event(action, target, "", actor=actor, address=address)
        except Exception:  # the deletion is done; a failing audit write must not hide that
            logger.exception("Could not record the audit event %s for %r", action, target)
