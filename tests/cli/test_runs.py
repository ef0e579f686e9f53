"""``runlab runs``: list (filter, order, views), describe, delete, restore."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from runlab.tracking.client import Client

if TYPE_CHECKING:
    from tests.cli.conftest import Runner


@pytest.fixture
def three_runs(runlab: Runner) -> dict[str, str]:
    """Three finished runs in experiment 'train': name -> run id."""
    client = Client(runlab.uri)
    experiment_id = client.create_experiment("train")
    ids = {}
    for name, loss, optimizer in [("a", 0.3, "adam"), ("b", 0.1, "sgd"), ("c", 0.2, "adam")]:
        run = client.create_run(experiment_id, run_name=name)
        client.log_metric(run.info.run_id, "loss", loss)
        client.log_param(run.info.run_id, "optimizer", optimizer)
        client.set_tag(run.info.run_id, "team", "vision")
        client.set_terminated(run.info.run_id)
        ids[name] = run.info.run_id
    return ids


def names_of(runs: list[dict[str, dict[str, str]]]) -> list[str]:
    return [r["info"]["run_name"] for r in runs]


def test_list_shows_every_run(runlab: Runner, three_runs: dict[str, str]) -> None:
    out = runlab.ok("runs", "list", "-n", "train")
    for run_id in three_runs.values():
        assert run_id in out
    assert "FINISHED" in out
    assert "loss=0.1" in out


def test_list_without_experiment_covers_all_experiments(
    runlab: Runner, three_runs: dict[str, str]
) -> None:
    assert sorted(names_of(runlab.json("runs", "list"))) == ["a", "b", "c"]


def test_filter_and_order_by(runlab: Runner, three_runs: dict[str, str]) -> None:
    found = runlab.json(
        "runs",
        "list",
        "-n",
        "train",
        "--filter",
        "params.optimizer = 'adam' AND tags.team = 'vision'",
        "--order-by",
        "metrics.loss ASC",
    )
    assert names_of(found) == ["c", "a"]


def test_filter_with_or_not_and_parentheses(runlab: Runner, three_runs: dict[str, str]) -> None:
    found = runlab.json(
        "runs",
        "list",
        "--filter",
        "(metrics.loss < 0.15 OR metrics.loss > 0.25) AND NOT params.optimizer = 'sgd'",
    )
    assert names_of(found) == ["a"]


def test_max_results_limits_the_list(runlab: Runner, three_runs: dict[str, str]) -> None:
    found = runlab.json("runs", "list", "--order-by", "metrics.loss DESC", "--max-results", "2")
    assert names_of(found) == ["a", "c"]


def test_bad_filter_is_a_clean_error(runlab: Runner, three_runs: dict[str, str]) -> None:
    result = runlab("runs", "list", "--filter", "metrics.loss <<< 1")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert "Traceback" not in result.output


def test_describe_shows_params_metrics_and_tags(runlab: Runner, three_runs: dict[str, str]) -> None:
    run_id = three_runs["b"]
    data = runlab.json("runs", "describe", "--run-id", run_id)
    assert data["info"]["run_id"] == run_id
    assert data["info"]["status"] == "FINISHED"
    assert data["data"]["params"] == {"optimizer": "sgd"}
    assert data["data"]["metrics"] == {"loss": 0.1}
    assert data["data"]["tags"]["team"] == "vision"
    table = runlab.ok("runs", "describe", "-r", run_id)
    for text in (run_id, "optimizer", "sgd", "loss", "team"):
        assert text in table


def test_describe_unknown_run_is_a_clean_error(runlab: Runner) -> None:
    result = runlab("runs", "describe", "-r", "0" * 32)
    assert result.exit_code == 1
    assert "0" * 32 in result.stderr
    assert "Traceback" not in result.output


def test_delete_and_restore(runlab: Runner, three_runs: dict[str, str]) -> None:
    run_id = three_runs["a"]
    runlab.ok("runs", "delete", "--run-id", run_id)
    assert "a" not in names_of(runlab.json("runs", "list"))
    assert names_of(runlab.json("runs", "list", "--view", "deleted_only")) == ["a"]
    runlab.ok("runs", "restore", "--run-id", run_id)
    assert "a" in names_of(runlab.json("runs", "list"))


def test_runs_of_a_deleted_experiment_show_with_view_all(
    runlab: Runner, three_runs: dict[str, str]
) -> None:
    runlab.ok("experiments", "delete", "-n", "train")
    assert runlab.json("runs", "list") == []
    assert sorted(names_of(runlab.json("runs", "list", "--view", "all"))) == ["a", "b", "c"]


def test_empty_store_says_so(runlab: Runner) -> None:
    assert "No runs match." in runlab.ok("runs", "list")
