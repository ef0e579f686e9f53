"""The deletion audit: a successful deletion's event is in the log before its answer leaves."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import anyio
import pytest

from runlab.server.auth.audit import DeletionAudit
from runlab.store.sql.auth import SqlAuthStore


@pytest.fixture
def auth_store(tmp_path: Path) -> Iterator[SqlAuthStore]:
    store = SqlAuthStore(f"sqlite:///{tmp_path / 'auth.db'}")
    yield store
    store.close()


def deleting_app(status: int) -> Any:
    """An app that answers every request with ``status`` and a small JSON body."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


def delete_experiment(audit: DeletionAudit, store: SqlAuthStore) -> list[tuple[str, int]]:
    """Send one experiment deletion through ``audit``; what the client was sent, each message
    with the number of audit events the log held at that moment."""
    seen: list[tuple[str, int]] = []
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": "/api/2.0/mlflow/experiments/delete",
    }
    messages = iter([{"type": "http.request", "body": b'{"experiment_id": "7"}'}])

    async def receive() -> MutableMapping[str, Any]:
        return next(messages)

    async def send(message: MutableMapping[str, Any]) -> None:
        seen.append((message["type"], len(store.audit_events())))

    anyio.run(audit, scope, receive, send)
    return seen


def test_the_event_is_recorded_before_the_answer_starts(auth_store: SqlAuthStore) -> None:
    seen = delete_experiment(DeletionAudit(deleting_app(200), auth_store), auth_store)
    assert seen == [("http.response.start", 1), ("http.response.body", 1)]
    (event,) = auth_store.audit_events()
    assert (event.action, event.target) == ("experiment.delete", "experiment 7")


def test_a_refused_deletion_is_answered_at_once_and_not_recorded(
    auth_store: SqlAuthStore,
) -> None:
    seen = delete_experiment(DeletionAudit(deleting_app(403), auth_store), auth_store)
    assert seen == [("http.response.start", 0), ("http.response.body", 0)]
