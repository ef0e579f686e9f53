"""The authentication benchmark (``-w auth``): log-batch ingest with and without auth.

What is asked of runlab (issue 17): log-batch ingest through a server with ``--auth`` stays within
10% of the same server without it. A password hash per request would cost far more than a
log-batch, so this measures whether remembering verified credentials and one permission lookup
per request keep that promise.

- Each tool runs two servers over fresh SQLite files: one without authentication and one with
  it (``runlab server --auth``, its first admin from ``RUNLAB_ADMIN_USERNAME`` /
  ``RUNLAB_ADMIN_PASSWORD``; ``mlflow server --app-name basic-auth`` with MLflow's built-in
  first admin). MLflow 3.17.2 runs in ``bench/.venv-mlflow-frameworks`` (see autolog_run.py).
- On the authenticated servers the admin creates an ordinary user, who creates the experiment
  and its runs and sends every batch: an administrator would skip the permission check, a user
  does not. runlab is measured with the user's password (HTTP Basic) and with an access token
  (Bearer) the user made; MLflow with the password.
- The requests are the server benchmark's (server_workloads.py): raw MLflow REST log-batch
  bodies of 1000 points, encoded before the clock starts, one keep-alive connection per client
  thread, 1 and 4 clients. Every point is read back afterwards.
- All servers run for the whole measure and the rows take turns, round after round, so drift
  in the machine's load hits every row alike; the figure is the median over the rounds.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
import server_harness
import urllib3
from autolog_run import FRAMEWORKS_VENV
from server_workloads import API, INGEST_KEYS, _batch_body

AUTH_WORKLOADS = ["auth"]
ADMIN = ("bench-admin", "bench-admin-password-1")
#: MLflow's basic-auth app creates its administrator "admin" at first start, with the password
#: in MLFLOW_AUTH_ADMIN_PASSWORD (3.17 ships no default password).
MLFLOW_ADMIN = ("admin", "bench-admin-password-1")
USER = ("bench-user", "bench-user-password-1")
#: Rows per tool: how the user's batches are authenticated ("off": a server without auth).
MODES = {"runlab": ("off", "basic", "token"), "mlflow": ("off", "basic")}
CLIENTS = (1, 4)


def params_for(sizes: dict[str, int]) -> dict[str, Any]:
    """Batches per client (per tool: MLflow's slower ingest gets fewer) and rounds."""
    return {
        "batches": {"runlab": sizes["auth_batches"], "mlflow": sizes["mlflow_auth_batches"]},
        "rounds": sizes["auth_rounds"],
    }


def basic(credentials: tuple[str, str]) -> str:
    """An HTTP Basic Authorization header value."""
    return "Basic " + base64.b64encode(":".join(credentials).encode()).decode()


class Rest:
    """Raw REST calls over one keep-alive connection, with an optional Authorization header."""

    def __init__(self, url: str, authorization: str | None) -> None:
        parts = urllib3.util.parse_url(url)
        self.pool = urllib3.HTTPConnectionPool(
            parts.host, parts.port, maxsize=1, block=True, timeout=600.0, retries=False
        )
        self.headers = {"Content-Type": "application/json"}
        if authorization:
            self.headers["Authorization"] = authorization

    def close(self) -> None:
        self.pool.close()

    def call(self, method: str, path: str, body: dict[str, Any] | bytes | None = None) -> Any:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        if method == "GET" and isinstance(body, dict):
            from urllib.parse import urlencode

            path, data = f"{path}?{urlencode(body)}", None
        response = self.pool.request(method, path, body=data, headers=self.headers)
        if response.status != 200:
            raise RuntimeError(f"{method} {path} -> {response.status}: {response.data[:300]!r}")
        return json.loads(response.data or b"{}")


@dataclass
class Row:
    """One tool and one way of authenticating, with its server and samples so far."""

    tool: str
    mode: str
    url: str
    authorization: str | None
    experiment_id: str = ""
    rates: dict[int, list[float]] = field(default_factory=lambda: {c: [] for c in CLIENTS})
    lost: int = 0
    error: str | None = None

    @property
    def key(self) -> str:
        return f"{self.tool} {self.mode}"


@contextlib.contextmanager
def server(tool: harness.Tool, mode: str, workdir: Path) -> Iterator[str]:
    """A server of ``tool`` over a fresh SQLite file, with authentication unless ``mode`` is
    "off"; yields its URL."""
    workdir.mkdir(parents=True)
    db_uri = f"sqlite:///{workdir / 'server.db'}"
    port = server_harness.free_port()
    argv = server_harness.server_argv(tool, db_uri, port, 1, workdir)
    env = dict(tool.env)
    if mode != "off":
        if tool.name == "runlab":
            argv.append("--auth")
            env["RUNLAB_ADMIN_USERNAME"], env["RUNLAB_ADMIN_PASSWORD"] = ADMIN
        else:
            argv += ["--app-name", "basic-auth"]
            env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = "bench-secret-key"
            env["MLFLOW_AUTH_ADMIN_PASSWORD"] = MLFLOW_ADMIN[1]
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            argv,
            cwd=workdir,  # MLflow's basic-auth keeps its users in ./basic_auth.db
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    running = server_harness.RunningServer(tool.name, f"http://127.0.0.1:{port}", proc, log_path)
    try:
        server_harness._wait_ready(running, 1, 300.0)
        yield running.url
    finally:
        server_harness._stop(proc)


def prepare(row: Row, tool: str) -> None:
    """Create the user (and their token), and the experiment the user's runs go to."""
    if row.mode == "off":
        rest = Rest(row.url, None)
    else:
        if row.mode == "basic":  # the token row uses the same server and user
            admin = Rest(row.url, basic(ADMIN if tool == "runlab" else MLFLOW_ADMIN))
            try:
                body = {"username": USER[0], "password": USER[1]}
                admin.call("POST", f"{API}/users/create", body)
            finally:
                admin.close()
        user = Rest(row.url, basic(USER))
        if row.mode == "token":
            made = user.call("POST", "/api/2.0/runlab/tokens/create", {"name": "bench"})
            user.close()
            row.authorization = f"Bearer {made['secret']}"
        else:
            row.authorization = basic(USER)
            user.close()
        rest = Rest(row.url, row.authorization)
    try:
        row.experiment_id = rest.call(
            "POST", f"{API}/experiments/create", {"name": f"bench-auth-{row.mode}"}
        )["experiment_id"]
    finally:
        rest.close()


def ingest_once(row: Row, clients: int, batches: int, rng: random.Random) -> None:
    """One measure: ``clients`` threads each send ``batches`` log-batch bodies to a new run."""
    setup = Rest(row.url, row.authorization)
    try:
        run_ids = [
            setup.call(
                "POST",
                f"{API}/runs/create",
                {"experiment_id": row.experiment_id, "start_time": int(time.time() * 1000)},
            )["run"]["info"]["run_id"]
            for _ in range(clients)
        ]
        steps = 1000 // len(INGEST_KEYS)
        base_ms = int(time.time() * 1000)
        bodies = [
            [_batch_body(r, b * steps, steps, base_ms, rng) for b in range(batches)]
            for r in run_ids
        ]
        wall = _send(row, bodies)
        row.rates[clients].append(clients * batches * 1000 / wall)
        for run_id in run_ids:
            stored = 0
            for key in INGEST_KEYS:
                params: dict[str, Any] = {"run_id": run_id, "metric_key": key}
                while True:
                    page = setup.call("GET", f"{API}/metrics/get-history", params)
                    stored += len(page.get("metrics", []))
                    if not page.get("next_page_token"):
                        break
                    params = {**params, "page_token": page["next_page_token"]}
            row.lost += batches * 1000 - stored
    finally:
        setup.close()


def _send(row: Row, bodies_per_client: list[list[bytes]]) -> float:
    ready = threading.Barrier(len(bodies_per_client) + 1)
    errors: list[str] = []

    def client(bodies: list[bytes]) -> None:
        rest = Rest(row.url, row.authorization)
        try:
            rest.call("GET", f"{API}/experiments/get", {"experiment_id": row.experiment_id})
            ready.wait()
            for body in bodies:
                rest.call("POST", f"{API}/runs/log-batch", body)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(threading.BrokenBarrierError):
                ready.abort()
        finally:
            rest.close()

    threads = [threading.Thread(target=client, args=(b,)) for b in bodies_per_client]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        ready.wait()
    t0 = time.perf_counter()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(errors[0])
    return time.perf_counter() - t0


def run_auth(
    tools: list[harness.Tool], broken: dict[str, str], params: dict[str, Any], timeout: float
) -> dict[str, Any]:
    """Every row: {"rows": {"<tool> <mode>": result}, "ratios": …}."""
    del timeout  # each call has its own (long) timeout; a stuck server fails its row
    results: dict[str, dict[str, Any]] = {
        f"{name} {mode}": {"error": why} for name, why in broken.items() for mode in MODES[name]
    }
    rng = random.Random(17)
    with tempfile.TemporaryDirectory(prefix="bench-auth-") as tmp, ExitStack() as stack:
        rows: list[Row] = []
        for tool in tools:
            for mode in MODES[tool.name]:
                key = f"{tool.name} {mode}"
                try:
                    # The token row shares the basic row's server: same server, other credential.
                    if mode == "token":
                        url = next(r.url for r in rows if r.key == f"{tool.name} basic")
                    else:
                        url = stack.enter_context(server(tool, mode, Path(tmp) / key))
                    row = Row(tool.name, mode, url, None)
                    prepare(row, tool.name)
                    rows.append(row)
                except Exception as err:
                    results[key] = {"error": f"{type(err).__name__}: {err}"[:600]}
        for round_no in range(params["rounds"]):
            for clients in CLIENTS:
                for row in rows:
                    if row.error:
                        continue
                    t0 = time.perf_counter()
                    try:
                        ingest_once(row, clients, params["batches"][row.tool], rng)
                    except Exception as err:
                        row.error = f"{type(err).__name__}: {err}"[:600]
                    print(
                        f"[auth {row.key} x{clients} round {round_no + 1}]: "
                        f"{row.error or 'ok'} ({time.perf_counter() - t0:.1f} s)",
                        file=sys.stderr,
                        flush=True,
                    )
        for row in rows:
            if row.error:
                results[row.key] = {"error": row.error}
                continue
            results[row.key] = {
                "points_per_s": {c: statistics.median(r) for c, r in row.rates.items()},
                "samples": row.rates,
                "lost_points": row.lost,
                "batches_per_client": params["batches"][row.tool],
                "rounds": params["rounds"],
            }
    ordered = {
        f"{name} {mode}": results[f"{name} {mode}"]
        for name in MODES
        for mode in MODES[name]
        if f"{name} {mode}" in results
    }
    return {"rows": ordered, "ratios": ratios(ordered)}


def ratios(rows: dict[str, dict[str, Any]]) -> dict[str, dict[int, float]]:
    """Each authenticated row's rate over its own tool's rate without auth."""
    out: dict[str, dict[int, float]] = {}
    for key, row in rows.items():
        tool, mode = key.split(" ", 1)
        base = rows.get(f"{tool} off", {})
        if mode == "off" or "error" in row or "error" in base or not base:
            continue
        out[key] = {
            c: row["points_per_s"][c] / base["points_per_s"][c] for c in row["points_per_s"]
        }
    return out


def render(result: dict[str, Any], command_line: str, started: dt.datetime, load: str) -> str:
    """The section of BENCHMARKS.md."""
    rows = result["rows"]
    lines = [
        "## Authentication: log-batch ingest with and without `--auth` (issue 17)",
        "",
        f"- Command: `{command_line}`",
        f"- Date: {started.strftime('%Y-%m-%d %H:%M UTC')}; runlab at commit "
        f"{harness.git_revision()}",
        f"- Machine: {harness.machine_note()}; load average at start {load}, at the end "
        f"{harness.load_average()} (the machine is shared: other work slows every row)",
        "- Rerun: `python3 bench/run.py -w auth --write BENCHMARKS.md`. MLflow "
        f"{harness.MLFLOW_VERSION} runs in `bench/{FRAMEWORKS_VENV.name}`, created when missing.",
        "- Each tool runs a server without authentication and one with it (`runlab server "
        "--auth`; `mlflow server --app-name basic-auth`), each over a fresh SQLite file. On the "
        "authenticated ones an ordinary user (not an administrator, who would skip the "
        "permission check) creates the experiment and sends every batch, with their password "
        "(HTTP Basic) or, for runlab, an access token they made (Bearer).",
        "- Each measure: 1 or 4 client threads, each sending its batches of 1000 points (raw "
        "MLflow REST log-batch bodies, encoded before the clock starts) to a new run over one "
        "keep-alive connection; points/s is all points over the wall time. Every point is read "
        "back afterwards. All servers run throughout and the rows take turns, round after round; "
        "figures are medians over the rounds.",
        "",
        "| tool | authentication | batches per client | points/s, 1 client | points/s, 4 clients "
        "| vs. the same server without auth (1 / 4 clients) | points lost |",
        "|---|---|---|---|---|---|---|",
    ]
    labels = {"off": "none", "basic": "password (Basic)", "token": "access token (Bearer)"}
    for key, row in rows.items():
        tool, mode = key.split(" ", 1)
        name = "runlab" if tool == "runlab" else f"MLflow {harness.MLFLOW_VERSION}"
        if "error" in row:
            lines.append(f"| {name} | {labels[mode]} | | failed: {row['error'][:200]} | | | |")
            continue
        rates = row["points_per_s"]
        ratio = result["ratios"].get(key)
        versus = " / ".join(f"{ratio[c]:.2f}x" for c in CLIENTS) if ratio else "(the baseline)"
        lines.append(
            f"| {name} | {labels[mode]} | {row['batches_per_client']} | {rates[1]:,.0f} | "
            f"{rates[4]:,.0f} | {versus} | "
            f"{row['lost_points']} |"
        )
    ours = [r for k, r in result["ratios"].items() if k.startswith("runlab ")]
    if ours:
        worst = min(min(r.values()) for r in ours)
        met = "met" if worst >= 0.9 else "not met"
        lines += [
            "",
            f"With authentication, runlab's ingest keeps at least **{worst:.2f}x** of its rate "
            f"without it across credentials and client counts (target: within 10%, i.e. "
            f"≥ 0.90x: {met}).",
        ]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - run through bench/run.py
    sys.exit(f"run this through bench/run.py -w auth ({os.path.basename(__file__)})")
