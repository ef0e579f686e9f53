"""Running one server-benchmark measure for one tool on one backend kind.

A measure gets a fresh server over a fresh database; the HTTP measures run here, in the
benchmark's interpreter, with the same client for both servers, and the fluent measure runs the
fluent-loop workload in the tool's own interpreter against its own server. Failures come back
as ``{"error": …}`` so that the table shows a failed cell and the benchmark carries on.
"""

from __future__ import annotations

import contextlib
import tempfile
import traceback
from pathlib import Path
from typing import Any

import harness
import server_harness
import server_pyclient
import server_workloads

#: Workload name -> (measure in server_workloads, or "fluent"; worker processes per server).
SERVER_WORKLOADS: dict[str, tuple[str, int]] = {
    "server-ingest": ("ingest", 1),
    "server-ingest4": ("ingest", 2),
    "server-create": ("create", 1),
    "server-search": ("search", 1),
    "server-search-large": ("search", 1),
    "server-history": ("history", 1),
    "server-fluent": ("fluent", 1),
    # As a Python client sees it (issue 19): requests, JSON encoded per call.
    "server-py-search": ("pyclient-search", 1),
    "server-py-ingest": ("pyclient-ingest", 1),
    "server-py-history": ("pyclient-history", 1),
}
#: Workloads whose timed steps alternate between the two servers (see run_interleaved).
INTERLEAVED = {"server-py-search", "server-py-ingest", "server-py-history"}
#: Every HTTP measure by name.
MEASURES = {**server_workloads.MEASURES, **server_pyclient.MEASURES}


def params_for(workload: str, tool: str, sizes: dict[str, int]) -> dict[str, Any]:
    """The sizes one server measure gets for one tool (MLflow gets smaller ones where slow)."""

    def size(key: str) -> int:
        return sizes[f"mlflow_{key}" if tool == "mlflow" and f"mlflow_{key}" in sizes else key]

    if workload == "server-ingest":
        return {
            "clients": 1,
            "batches": size("server_ingest_batches"),
            "repeats": sizes["server_ingest_repeats"],
        }
    if workload == "server-ingest4":
        return {
            "clients": 4,
            "batches": size("server_ingest4_batches"),
            "repeats": sizes["server_ingest_repeats"],
        }
    if workload == "server-create":
        return {"runs": size("server_create_runs")}
    if workload in ("server-search", "server-search-large"):
        key = "server_search_runs" if workload == "server-search" else "server_search_large_runs"
        return {
            "runs": size(key),
            "repeats": sizes["server_search_repeats"],
            "max_results": 100,
            # Filling 100,000 runs one request at a time would take long; 4 clients fill faster.
            "fill_clients": 4 if workload == "server-search-large" else 1,
        }
    if workload == "server-history":
        return {"points": size("server_history_points"), "repeats": sizes["server_history_repeats"]}
    if workload == "server-py-search":
        return {"runs": size("server_py_search_runs"), "repeats": sizes["server_search_repeats"]}
    if workload == "server-py-ingest":
        return {"runs": 4, "batches": 10, "repeats": sizes["server_py_ingest_repeats"]}
    if workload == "server-py-history":
        return {
            "points": size("server_py_history_points"),
            "repeats": sizes["server_history_repeats"],
        }
    if workload == "server-fluent":
        return {
            "steps": size("server_fluent_steps"),
            "n_params": 20,
            "repeats": size("server_fluent_repeats"),
        }
    raise ValueError(workload)


def run_server_workload(
    tool: harness.Tool,
    workload: str,
    backend: str,
    params: dict[str, Any],
    timeout: float,
) -> dict[str, Any]:
    """One measure on a fresh server; never raises."""
    measure, workers = SERVER_WORKLOADS[workload]
    if measure == "search" and params["runs"] <= 0:
        return {
            "skipped": "see notes",
            "skipped_why": "its size is 0 by default: at the run-creation rate in the "
            "server-search note, creating 100,000 runs through MLflow's server would take most "
            "of an hour here; --mlflow-server-search-large-runs N measures it",
        }
    with tempfile.TemporaryDirectory(prefix=f"bench-{tool.name}-{workload}-") as workdir:
        try:
            with server_harness.running_server(tool, backend, workers, Path(workdir)) as server:
                try:
                    if measure == "fluent":
                        result = harness.run_workload(
                            tool, "loop", {**params, "tracking_uri": server.url}, timeout
                        )
                    else:
                        result = MEASURES[measure](server.url, params)
                except Exception as exc:
                    result = _failure(exc)
                if "error" in result:
                    # Read the server's log now: the folder goes away with the server.
                    result["detail"] = (
                        f"{result.get('detail', '')}\nserver log:\n{server.log_tail(1500)}"
                    )
                result["server_workers"] = workers
                return result
        except Exception as exc:  # the server did not start (its log is in the message)
            return _failure(exc)


def run_interleaved(
    tools: list[harness.Tool],
    workload: str,
    backend: str,
    params: dict[str, dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    """One measure on a fresh server per tool, all running at once, timed steps in turn.

    Each tool's server and database are set up as for :func:`run_server_workload`; then
    :func:`server_pyclient.interleaved` fills each and alternates their timed repeats. Never
    raises: a failure is every tool's cell.
    """
    measure, workers = SERVER_WORKLOADS[workload]
    with contextlib.ExitStack() as stack:
        try:
            servers = []
            for tool in tools:
                workdir = stack.enter_context(
                    tempfile.TemporaryDirectory(prefix=f"bench-{tool.name}-{workload}-")
                )
                servers.append(
                    stack.enter_context(
                        server_harness.running_server(tool, backend, workers, Path(workdir))
                    )
                )
            try:
                results = server_pyclient.interleaved(
                    [
                        server_pyclient.STEPS[measure](server.url, params[tool.name])
                        for tool, server in zip(tools, servers, strict=True)
                    ]
                )
            except Exception as exc:
                failure = _failure(exc)
                logs = "\n".join(f"{s.tool} server log:\n{s.log_tail(1500)}" for s in servers)
                failure["detail"] = f"{failure['detail']}\n{logs}"
                return {tool.name: dict(failure) for tool in tools}
        except Exception as exc:  # a server did not start (its log is in the message)
            return {tool.name: _failure(exc) for tool in tools}
    return {
        tool.name: {**result, "server_workers": workers, "interleaved": True}
        for tool, result in zip(tools, results, strict=True)
    }


def _failure(exc: Exception) -> dict[str, Any]:
    return {"error": f"{type(exc).__name__}: {str(exc)[:300]}", "detail": traceback.format_exc()}
