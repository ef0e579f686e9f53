"""Quick repeats skip the worker thread; everything else still runs on the thread pool."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from anyio.from_thread import start_blocking_portal
from starlette.applications import Starlette
from starlette.middleware import Middleware

from runlab.server.auth.rules import PUBLIC
from runlab.server.context import ServerContext
from runlab.server.endpoint import Endpoint, make_route
from runlab.server.quick_calls import MAX_KEY_BYTES, CountRequests, QuickCalls, request_key
from runlab.server.request_fields import RequestFields
from runlab.server.settings import ServerSettings
from runlab.store.sql.tracking import SqlTrackingStore
from support.asgi_api import Api


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class _Calls:
    """What the test endpoints saw: where each call ran, and the requests being served."""

    def __init__(self) -> None:
        self.on_loop: list[bool] = []
        self.in_flight: list[int] = []


@pytest.fixture
def served(sqlite_store: SqlTrackingStore) -> Iterator[tuple[Api, ServerContext, _Calls]]:
    ctx = ServerContext(tracking_store=sqlite_store, settings=ServerSettings())
    calls = _Calls()

    def handler(context: ServerContext, fields: RequestFields) -> dict[str, Any]:
        calls.on_loop.append(_on_event_loop())
        calls.in_flight.append(context.quick_calls.in_flight)
        seconds = fields.raw().get("sleep", 0)
        if seconds:
            time.sleep(seconds)
        if fields.raw().get("fail"):
            raise ValueError("refused")
        return {"echo": dict(fields.raw())}

    routes = [make_route(Endpoint("POST", "probe", handler, "A probe.", rule=PUBLIC), "/api", ctx)]
    app = Starlette(routes=routes, middleware=[Middleware(CountRequests, calls=ctx.quick_calls)])
    with start_blocking_portal() as portal:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://localhost"
        )
        try:
            yield Api(portal, client), ctx, calls
        finally:
            portal.call(client.aclose)


def _post(api: Api, body: dict[str, Any]) -> httpx.Response:
    return api.request("POST", "/api/probe", json=body)


def test_a_quick_repeat_runs_on_the_event_loop(served: tuple[Api, ServerContext, _Calls]) -> None:
    api, _, calls = served
    for _ in range(3):
        assert _post(api, {"q": 1}).json() == {"echo": {"q": 1}}
    assert _post(api, {"q": 2}).json() == {"echo": {"q": 2}}  # another request: not a repeat
    assert calls.on_loop == [False, True, True, False]
    assert calls.in_flight == [1, 1, 1, 1]


def test_slow_calls_and_failures_stay_on_the_thread_pool(
    served: tuple[Api, ServerContext, _Calls],
) -> None:
    api, ctx, calls = served
    slow = {"sleep": ctx.quick_calls.quick_s * 2}
    for _ in range(3):
        _post(api, slow)
    with pytest.raises(ValueError, match="refused"):
        _post(api, {"fail": True})
    with pytest.raises(ValueError, match="refused"):
        _post(api, {"fail": True})  # a failure is not remembered as quick
    assert calls.on_loop == [False] * 5


def test_a_repeat_waits_for_the_thread_pool_while_another_request_is_served(
    served: tuple[Api, ServerContext, _Calls],
) -> None:
    api, ctx, calls = served
    _post(api, {"q": 1})
    ctx.quick_calls.in_flight += 1  # as if another client's request were being served
    try:
        _post(api, {"q": 1})
    finally:
        ctx.quick_calls.in_flight -= 1
    _post(api, {"q": 1})
    assert calls.on_loop == [False, False, True]
    assert ctx.quick_calls.in_flight == 0


def test_a_repeat_that_turned_slow_goes_back_to_the_thread_pool() -> None:
    calls = QuickCalls(quick_s=0.01)
    key = request_key("/api/x", b"", b'{"a":1}')
    assert not calls.may_run_inline(key)
    calls.record(key, 0.002)
    assert calls.may_run_inline(key)
    calls.record(key, 0.5)  # the data grew
    assert not calls.may_run_inline(key)


def test_only_recent_small_requests_are_remembered() -> None:
    calls = QuickCalls(size=2)
    keys = [request_key("/api/x", b"", f'{{"a":{i}}}'.encode()) for i in range(3)]
    for key in keys:
        calls.record(key, 0.001)
    assert [calls.may_run_inline(k) for k in keys] == [False, True, True]
    assert request_key("/api/x", b"", b"x" * (MAX_KEY_BYTES + 1)) is None
    assert request_key("/api/x", b"q" * (MAX_KEY_BYTES + 1), b"") is None
    calls.record(None, 0.001)
    assert not calls.may_run_inline(None)


def test_a_repeated_search_answers_the_same_through_the_real_app(api: Api) -> None:
    exp = api.mlflow("POST", "experiments/create", {"name": "quick"}).json()["experiment_id"]
    for i in range(3):
        run = api.mlflow("POST", "runs/create", {"experiment_id": exp, "start_time": i})
        point = {"key": "m", "value": i, "timestamp": 1, "step": 0}
        run_id = run.json()["run"]["info"]["run_id"]
        api.mlflow("POST", "runs/log-batch", {"run_id": run_id, "metrics": [point]})
    body = {"experiment_ids": [exp], "filter": "metrics.m > 0", "order_by": ["metrics.m DESC"]}
    answers = [api.mlflow("POST", "runs/search", body).json() for _ in range(3)]
    assert answers[0] == answers[1] == answers[2]
    assert [r["data"]["metrics"][0]["value"] for r in answers[0]["runs"]] == [2.0, 1.0]
    bad = {"experiment_ids": [exp], "filter": "metrics.m >"}
    for _ in range(2):  # a refused search is never remembered as quick, and stays a 400
        assert api.mlflow("POST", "runs/search", bad).status_code == 400
