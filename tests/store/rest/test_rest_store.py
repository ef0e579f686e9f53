"""RestTrackingStore against a real runlab server process, plus tiny test apps for HTTP behaviour.

The CRUD tests talk to ``uvicorn`` over ``build_app`` on a SQLite file (a subprocess shared by the
module). Auth headers, retries and timeouts are checked against small Starlette apps defined here
and served on a real socket: they stand in for a misbehaving server, not for runlab code.
"""

from __future__ import annotations

import base64
import math
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from runlab.entities import Metric, Param, RunTag, ViewType
from runlab.errors import (
    AlreadyExists,
    ExperimentNotFound,
    InvalidParameter,
    NotFound,
    RunlabError,
    RunNotFound,
    Unavailable,
)
from runlab.store.rest.http import HttpSession, RestConfig, http_status, is_transient
from runlab.store.rest.tracking import RestTrackingStore
from runlab.tracking.store_factory import rest_config
from support.servers import ServerProcess, runlab_server, serve_in_thread

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One runlab server process for the module."""
    proc = runlab_server(tmp_path_factory.mktemp("rest-store")).start()
    yield proc
    proc.stop()


@pytest.fixture
def store(server: ServerProcess) -> Iterator[RestTrackingStore]:
    """A REST store of the server."""
    rest = RestTrackingStore(RestConfig(server.url, max_retries=1, backoff_factor=0.01))
    yield rest
    rest.close()


def _name(prefix: str = "exp") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _run(store: RestTrackingStore, exp_id: str = "0", name: str | None = None) -> str:
    return store.create_run(exp_id, "tester", 1_000, [RunTag("k", "v")], name).info.run_id


# -- experiments ---------------------------------------------------------------------------------
def test_experiment_lifecycle(store: RestTrackingStore) -> None:
    name = _name()
    exp_id = store.create_experiment(name, tags=[("team", "a")])
    exp = store.get_experiment(exp_id)
    assert (exp.name, exp.lifecycle_stage, exp.tags) == (name, "active", {"team": "a"})
    assert store.get_experiment_by_name(name) == exp
    assert store.get_experiment_by_name(_name("missing")) is None

    store.rename_experiment(exp_id, name + "-renamed")
    store.set_experiment_tag(exp_id, "stage", "dev")
    store.delete_experiment_tag(exp_id, "team")
    exp = store.get_experiment(exp_id)
    assert exp.name == name + "-renamed"
    assert exp.tags == {"stage": "dev"}

    store.delete_experiment(exp_id)
    assert store.get_experiment(exp_id).lifecycle_stage == "deleted"
    deleted = store.search_experiments(view_type=ViewType.DELETED_ONLY)
    assert exp_id in {e.experiment_id for e in deleted}
    store.restore_experiment(exp_id)
    assert store.get_experiment(exp_id).lifecycle_stage == "active"


def test_experiment_errors_map_to_runlab_errors(store: RestTrackingStore) -> None:
    name = _name()
    store.create_experiment(name)
    with pytest.raises(AlreadyExists) as exists:
        store.create_experiment(name)
    assert exists.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(ExperimentNotFound) as missing:
        store.get_experiment("987654321")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(InvalidParameter) as bad:
        store.create_experiment("")
    assert bad.value.error_code == "INVALID_PARAMETER_VALUE"
    assert http_status(bad.value) == 400


def test_search_experiments_pages(store: RestTrackingStore) -> None:
    prefix = _name("page")
    ids = [store.create_experiment(f"{prefix}-{i}") for i in range(5)]
    seen: list[str] = []
    token = None
    while True:
        page = store.search_experiments(
            max_results=2,
            filter_string=f"name LIKE '{prefix}-%'",
            order_by=["name ASC"],
            page_token=token,
        )
        assert len(page) <= 2
        seen.extend(e.experiment_id for e in page)
        token = page.token
        if not token:
            break
    assert seen == ids


# -- runs ----------------------------------------------------------------------------------------
def test_run_lifecycle(store: RestTrackingStore) -> None:
    exp_id = store.create_experiment(_name())
    run = store.create_run(exp_id, "tester", 1_000, [RunTag("k", "v")], "my-run")
    run_id = run.info.run_id
    assert run.info.run_name == "my-run"
    assert run.info.status == "RUNNING"
    assert run.data.tags["k"] == "v"

    info = store.update_run_info(run_id, run_status="FINISHED", end_time=2_000)
    assert (info.status, info.end_time) == ("FINISHED", 2_000)
    store.delete_run(run_id)
    assert store.get_run(run_id).info.lifecycle_stage == "deleted"
    store.restore_run(run_id)
    assert store.get_run(run_id).info.lifecycle_stage == "active"
    store.delete_tag(run_id, "k")
    assert "k" not in store.get_run(run_id).data.tags


def test_missing_run_raises_run_not_found(store: RestTrackingStore) -> None:
    missing = uuid.uuid4().hex
    for call in (
        lambda: store.get_run(missing),
        lambda: store.log_batch(missing, metrics=[Metric("m", 1.0, 1, 0)]),
        lambda: store.update_run_info(missing, run_status="FINISHED"),
        lambda: store.get_metric_history(missing, "m"),
    ):
        with pytest.raises(RunNotFound) as caught:
            call()
        assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"
        assert not is_transient(caught.value)
    with pytest.raises(ExperimentNotFound):
        store.create_run("987654321", "tester", 1, [], None)


def test_log_batch_round_trips_values_including_nan_and_infinities(
    store: RestTrackingStore,
) -> None:
    run_id = _run(store)
    values = [1.5, math.nan, math.inf, -math.inf, -0.25]
    store.log_batch(
        run_id,
        metrics=[Metric("m", v, 100 + i, i) for i, v in enumerate(values)],
        params=[Param("lr", "0.1"), Param("layers", "3")],
        tags=[RunTag("t", "x")],
    )
    run = store.get_run(run_id)
    assert run.data.params == {"lr": "0.1", "layers": "3"}
    assert run.data.tags["t"] == "x"
    assert run.data.metrics["m"] == -0.25
    history = store.get_metric_history(run_id, "m")
    assert list(history.steps) == [0, 1, 2, 3, 4]
    got = list(history.values)
    assert got[0] == 1.5 and math.isnan(got[1]) and got[2:] == [math.inf, -math.inf, -0.25]

    # A param logged again with the same value is fine; a new value is refused, not retried.
    store.log_batch(run_id, params=[Param("lr", "0.1")])
    with pytest.raises(InvalidParameter, match="lr") as changed:
        store.log_batch(run_id, params=[Param("lr", "0.2")])
    assert http_status(changed.value) == 400


def test_metric_history_pages(store: RestTrackingStore) -> None:
    run_id = _run(store)
    for start in range(0, 2_500, 1_000):
        store.log_batch(
            run_id,
            metrics=[Metric("loss", float(i), 10_000 + i, i) for i in range(start, start + 1_000)],
        )
    whole = store.get_metric_history(run_id, "loss")
    assert list(whole.steps) == list(range(3_000)) and whole.token is None

    steps: list[int] = []
    token = None
    while True:
        page = store.get_metric_history(run_id, "loss", max_results=700, page_token=token)
        assert len(page.steps) <= 700
        steps.extend(int(s) for s in page.steps)
        token = page.token
        if not token:
            break
    assert steps == list(range(3_000))


def test_search_runs_filters_orders_and_pages(store: RestTrackingStore) -> None:
    exp_id = store.create_experiment(_name())
    ids = []
    for i in range(7):
        run_id = _run(store, exp_id)
        store.log_batch(
            run_id,
            metrics=[Metric("acc", i / 10, 1, 0)],
            params=[Param("parity", "even" if i % 2 == 0 else "odd")],
        )
        ids.append(run_id)
    found: list[str] = []
    token = None
    while True:
        page = store.search_runs(
            [exp_id],
            filter_string="params.parity = 'even' and metrics.acc >= 0.2",
            order_by=["metrics.acc DESC"],
            max_results=2,
            page_token=token,
        )
        found.extend(r.info.run_id for r in page)
        token = page.token
        if not token:
            break
    assert found == [ids[6], ids[4], ids[2]]
    with pytest.raises(InvalidParameter):
        store.search_runs([exp_id], filter_string="metrics.acc >>> 1")


# -- HTTP behaviour, against small apps of this test ------------------------------------------------
def _echo_headers_app() -> Starlette:
    async def echo(request: Request) -> Response:
        return JSONResponse({k.lower(): v for k, v in request.headers.items()})

    return Starlette(routes=[Route("/echo", echo, methods=["GET", "POST"])])


def _headers(config: RestConfig) -> dict[str, str]:
    session = HttpSession(config)
    try:
        return session.call("GET", "/echo")
    finally:
        session.close()


def test_token_and_basic_auth_headers_are_sent() -> None:
    with serve_in_thread(_echo_headers_app()) as url:
        bearer = _headers(RestConfig(url, token="s3cret", user_agent="ua/1"))
        basic = _headers(RestConfig(url, token="ignored", username="ann", password="pw"))
        anonymous = _headers(RestConfig(url))
    assert bearer["authorization"] == "Bearer s3cret"
    assert bearer["user-agent"] == "ua/1"
    # Basic auth wins over a token when both are configured.
    assert basic["authorization"] == "Basic " + base64.b64encode(b"ann:pw").decode()
    assert "authorization" not in anonymous


def test_credentials_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TOKEN", "USERNAME", "PASSWORD"):
        monkeypatch.delenv(f"RUNLAB_TRACKING_{name}", raising=False)
        monkeypatch.delenv(f"MLFLOW_TRACKING_{name}", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "from-mlflow")
    assert rest_config("http://127.0.0.1:1").token == "from-mlflow"
    monkeypatch.setenv("RUNLAB_TRACKING_TOKEN", "from-runlab")
    assert rest_config("http://127.0.0.1:1").token == "from-runlab"
    with serve_in_thread(_echo_headers_app()) as url:
        assert _headers(rest_config(url))["authorization"] == "Bearer from-runlab"


_CODES = {
    400: "INVALID_PARAMETER_VALUE",
    429: "REQUEST_LIMIT_EXCEEDED",
    503: "TEMPORARILY_UNAVAILABLE",
}


class _Flaky:
    """An app that answers each path with a scripted list of statuses, then 200."""

    def __init__(self, script: dict[str, list[int]], delay: float = 0.0) -> None:
        self.script = script
        self.delay = delay
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def app(self) -> Starlette:
        async def handle(request: Request) -> Response:
            path = request.url.path
            with self._lock:
                n = self.calls.get(path, 0)
                self.calls[path] = n + 1
            if self.delay:
                import anyio

                await anyio.sleep(self.delay)
            statuses = self.script.get(path, [])
            if n < len(statuses):
                status = statuses[n]
                if status == 599:  # not JSON at all
                    return PlainTextResponse("<html>oops</html>", status_code=502)
                code = _CODES.get(status, "INTERNAL_ERROR")
                return JSONResponse(
                    {"error_code": code, "message": f"answer {n}: {status}"}, status_code=status
                )
            return JSONResponse({"experiment_id": "7", "run_id": "r"})

        return Starlette(routes=[Route("/{path:path}", handle, methods=["GET", "POST"])])


def _config(url: str, **overrides: float | int) -> RestConfig:
    fields: dict = {"max_retries": 3, "backoff_factor": 0.01, "timeout": 5.0, **overrides}
    return RestConfig(url, **fields)


def test_503_twice_then_200_succeeds() -> None:
    flaky = _Flaky({"/api/2.0/mlflow/runs/log-batch": [503, 503]})
    with serve_in_thread(flaky.app()) as url:
        store = RestTrackingStore(_config(url))
        try:
            store.log_batch("r", metrics=[Metric("m", 1.0, 1, 0)])
        finally:
            store.close()
    assert flaky.calls["/api/2.0/mlflow/runs/log-batch"] == 3


def test_a_per_call_retry_budget_of_zero_fails_fast_with_a_transient_error() -> None:
    flaky = _Flaky({"/api/2.0/mlflow/runs/log-batch": [500, 500, 500]})
    with serve_in_thread(flaky.app()) as url:
        store = RestTrackingStore(_config(url, backoff_factor=10.0))
        try:
            started = time.monotonic()
            with pytest.raises(RunlabError) as caught:
                store.log_batch("r", metrics=[Metric("m", 1.0, 1, 0)], max_retries=0)
            assert time.monotonic() - started < 2.0  # no backoff sleep at all
        finally:
            store.close()
    assert flaky.calls["/api/2.0/mlflow/runs/log-batch"] == 1
    assert http_status(caught.value) == 500
    assert is_transient(caught.value)


def test_client_errors_are_not_retried() -> None:
    flaky = _Flaky({"/api/2.0/mlflow/runs/log-batch": [400]})
    with serve_in_thread(flaky.app()) as url:
        store = RestTrackingStore(_config(url))
        try:
            with pytest.raises(InvalidParameter):
                store.log_batch("r", metrics=[Metric("m", 1.0, 1, 0)])
        finally:
            store.close()
    assert flaky.calls["/api/2.0/mlflow/runs/log-batch"] == 1


def test_a_create_is_retried_on_429_but_not_on_503() -> None:
    flaky = _Flaky(
        {"/api/2.0/mlflow/experiments/create": [429], "/api/2.0/mlflow/runs/create": [503]}
    )
    with serve_in_thread(flaky.app()) as url:
        store = RestTrackingStore(_config(url))
        try:
            assert store.create_experiment("e") == "7"  # 429: the server did not act on it
            with pytest.raises(Unavailable):
                store.create_run("7", "u", 1, [], None)  # 503: it may have, so no blind repeat
        finally:
            store.close()
    assert flaky.calls["/api/2.0/mlflow/experiments/create"] == 2
    assert flaky.calls["/api/2.0/mlflow/runs/create"] == 1


def test_a_create_that_times_out_is_not_repeated() -> None:
    slow = _Flaky({}, delay=1.0)
    with serve_in_thread(slow.app()) as url:
        store = RestTrackingStore(_config(url, timeout=0.2))
        try:
            with pytest.raises(Unavailable):
                store.create_experiment("e")
            time.sleep(1.2)  # let any repeat (there should be none) arrive
        finally:
            store.close()
    assert slow.calls["/api/2.0/mlflow/experiments/create"] == 1


def test_a_read_that_times_out_is_retried() -> None:
    slow = _Flaky({}, delay=0.5)
    with serve_in_thread(slow.app()) as url:
        store = RestTrackingStore(_config(url, timeout=0.1, max_retries=2))
        try:
            with pytest.raises(Unavailable, match="Cannot reach"):
                store.get_experiment("7")
        finally:
            store.close()
    assert slow.calls["/api/2.0/mlflow/experiments/get"] == 3


def test_a_non_json_error_body_maps_by_status() -> None:
    flaky = _Flaky({"/api/2.0/mlflow/runs/get": [599]})
    with serve_in_thread(flaky.app()) as url:
        store = RestTrackingStore(_config(url, max_retries=0))
        try:
            with pytest.raises(RunlabError) as caught:
                store.get_run("r")
        finally:
            store.close()
    assert caught.value.error_code == "INTERNAL_ERROR"
    assert http_status(caught.value) == 502 and is_transient(caught.value)


def test_an_unknown_endpoint_is_not_found(server: ServerProcess) -> None:
    session = HttpSession(RestConfig(server.url, max_retries=0))
    try:
        with pytest.raises(NotFound):
            session.call("GET", "/api/2.0/mlflow/no-such-endpoint")
    finally:
        session.close()


def test_nothing_listening_is_unavailable(tmp_path: Path) -> None:
    from support.servers import free_port

    store = RestTrackingStore(_config(f"http://127.0.0.1:{free_port()}", max_retries=1))
    try:
        with pytest.raises(Unavailable, match="Cannot reach") as caught:
            store.get_run("r")
        assert is_transient(caught.value)
    finally:
        store.close()
