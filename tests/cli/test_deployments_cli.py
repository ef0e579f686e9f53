"""``runlab deployments``: every command against a recording target plugin, and the errors.

The plugin (support.deployment_plugins.RECORDER_SOURCE) is installed into a temporary folder as
pip would install it and put on sys.path; it records what each client method was handed, so the
tests check what a command gave the target as well as what it printed. The example plugin of
docs/deployment.md is driven through the real command in subprocesses by
tests/deployments/test_example_plugin.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from runlab.cli.main import cli
from support.deployment_plugins import RECORDER_SOURCE, install_plugin, on_sys_path

TARGET = "recorder:/region-1"


@pytest.fixture(scope="module")
def plugin_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_plugin(
        tmp_path_factory.mktemp("site"),
        "runlab-recorder",
        {"rec_cli_plugin": RECORDER_SOURCE},
        {"recorder": "rec_cli_plugin"},
    )


@pytest.fixture
def calls(plugin_folder: Path) -> Iterator[list[dict[str, Any]]]:
    """The recorder's list of calls, empty at the start of each test."""
    with on_sys_path(plugin_folder, "rec_cli_plugin"):
        import rec_cli_plugin  # type: ignore[import-not-found]

        recorded: list[dict[str, Any]] = rec_cli_plugin.CALLS
        yield recorded


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["deployments", *args], catch_exceptions=False)


def ok(*args: str) -> Any:
    """Run a command that must succeed; its stdout decoded as JSON."""
    result = run(*args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def failed(*args: str) -> str:
    """Run a command that must fail; its one line of error."""
    result = run(*args)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


# -- deployments ----------------------------------------------------------------------------------
def test_create_hands_the_target_its_arguments_and_prints_json(calls: list[dict[str, Any]]) -> None:
    printed = ok(
        *("create", "-t", TARGET, "--name", "churn", "-m", "models:/churn@champion"),
        *("-f", "python_function", "--endpoint", "ep"),
        *("-C", "instance_count=2", "-C", "region=us-west-2", "-C", 'tags={"team": "ml"}'),
    )
    config = {"instance_count": 2, "region": "us-west-2", "tags": {"team": "ml"}}
    assert calls == [
        {
            "method": "create_deployment",
            "target_uri": TARGET,
            "name": "churn",
            "model_uri": "models:/churn@champion",
            "flavor": "python_function",
            "config": config,
            "endpoint": "ep",
        }
    ]
    assert printed == {"name": "churn", "flavor": "python_function", "config": config}


def test_update_without_a_model_or_config_passes_none(calls: list[dict[str, Any]]) -> None:
    ok("update", "--target", TARGET, "--name", "churn")
    assert calls[0]["method"] == "update_deployment"
    assert calls[0]["model_uri"] is None and calls[0]["config"] is None
    ok("update", "-t", TARGET, "--name", "churn", "--model-uri", "runs:/abc/model", "-C", "a=1")
    assert calls[1]["model_uri"] == "runs:/abc/model" and calls[1]["config"] == {"a": 1}


def test_delete_list_and_get(calls: list[dict[str, Any]]) -> None:
    assert ok("delete", "-t", TARGET, "--name", "churn", "-C", "purge=true") == {
        "name": "churn",
        "deleted": True,
    }
    assert calls[-1] == {
        "method": "delete_deployment",
        "target_uri": TARGET,
        "name": "churn",
        "config": {"purge": True},
        "endpoint": None,
    }
    assert ok("list", "-t", TARGET) == [{"name": "a"}, {"name": "b"}]
    assert ok("get", "-t", TARGET, "--name", "churn", "--endpoint", "ep") == {
        "name": "churn",
        "endpoint": "ep",
    }


def test_predict_hands_a_json_file_over_as_it_is(
    calls: list[dict[str, Any]], tmp_path: Path
) -> None:
    document = {"dataframe_split": {"columns": ["x"], "data": [[1.0]]}, "params": {"k": 1}}
    (tmp_path / "in.json").write_text(json.dumps(document))
    answer = ok(
        "predict", "-t", TARGET, "--name", "churn", "--input-path", str(tmp_path / "in.json")
    )
    assert answer == {"predictions": [1, 2]}
    assert calls[-1]["inputs"] == {"type": "dict", "value": document}

    (tmp_path / "records.json").write_text(json.dumps([{"x": 1}, {"x": 2}]))
    out = tmp_path / "out.json"
    result = run(
        *("predict", "-t", TARGET, "--input-path", str(tmp_path / "records.json")),
        *("--output-path", str(out)),
    )
    assert result.exit_code == 0 and result.stdout == ""
    assert json.loads(out.read_text()) == {"predictions": [1, 2]}
    assert calls[-1]["name"] is None
    assert calls[-1]["inputs"]["value"] == {"dataframe_records": [{"x": 1}, {"x": 2}]}


def test_predict_reads_a_csv_file_as_a_table(calls: list[dict[str, Any]], tmp_path: Path) -> None:
    (tmp_path / "rows.csv").write_text("x,y\n1,2\n3,4\n5,6\n")
    ok("predict", "-t", TARGET, "--name", "d", "--input-path", str(tmp_path / "rows.csv"))
    assert calls[-1]["inputs"] == {"type": "DataFrame", "columns": ["x", "y"], "rows": 3}


def test_explain(calls: list[dict[str, Any]], tmp_path: Path) -> None:
    (tmp_path / "in.json").write_text('{"inputs": [[1, 2]]}')
    assert ok(
        "explain", "-t", TARGET, "--name", "d", "--input-path", str(tmp_path / "in.json")
    ) == {"explanations": [0.5]}
    assert calls[-1]["method"] == "explain"


def test_run_local_and_help(calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNLAB_TRACKING_URI", raising=False)  # restored after the test
    result = run(
        *("run-local", "-t", "recorder", "--name", "n", "-m", "models:/m/1", "-C", "port=8080"),
        *("--tracking-uri", "sqlite:///elsewhere.db"),
    )
    assert result.exit_code == 0, result.output
    assert calls[-1] == {
        "method": "run_local",
        "target": "recorder",
        "name": "n",
        "model_uri": "models:/m/1",
        "flavor": None,
        "config": {"port": 8080},
        # Passed on through the environment, for what the target starts.
        "tracking_uri": "sqlite:///elsewhere.db",
    }
    helped = run("help", "-t", "recorder")
    assert helped.exit_code == 0
    assert helped.stdout == "recorder: records what it is asked to do.\n"


# -- endpoints ------------------------------------------------------------------------------------
def test_endpoint_commands(calls: list[dict[str, Any]]) -> None:
    assert ok("create-endpoint", "-t", TARGET, "--endpoint", "e1", "-C", "traffic=100") == {
        "name": "e1",
        "config": {"traffic": 100},
    }
    assert ok("update-endpoint", "-t", TARGET, "--endpoint", "e1", "-C", 'split={"a": 50}') == {
        "endpoint": "e1",
        "updated": True,
    }
    assert ok("list-endpoints", "-t", TARGET) == [{"name": "e1"}]
    assert ok("get-endpoint", "-t", TARGET, "--endpoint", "e1") == {"name": "e1"}
    assert ok("delete-endpoint", "-t", TARGET, "--endpoint", "e1") == {
        "endpoint": "e1",
        "deleted": True,
    }
    assert [c["method"] for c in calls] == [
        "create_endpoint",
        "update_endpoint",
        "list_endpoints",
        "get_endpoint",
        "delete_endpoint",
    ]
    assert calls[1]["config"] == {"split": {"a": 50}}


# -- errors ---------------------------------------------------------------------------------------
def test_a_missing_target_is_one_line(calls: list[dict[str, Any]]) -> None:
    line = failed("list")
    assert "Missing option '--target' / '-t'" in line
    assert "runlab deployments list --help" in line
    assert "Missing option '--name'" in failed("create", "-t", TARGET, "-m", "x")
    assert "Missing option '--endpoint'" in failed("get-endpoint", "-t", TARGET)
    assert calls == []


def test_a_bad_config_pair_is_refused_before_the_target_is_called(
    calls: list[dict[str, Any]],
) -> None:
    line = failed("create", "-t", TARGET, "--name", "n", "-m", "m", "-C", "a=1", "-C", "oops")
    assert line == "Error: Config 'oops' is not a key=value pair (e.g. -C instance_count=2)."
    assert "empty key" in failed("create-endpoint", "-t", TARGET, "--endpoint", "e", "-C", "=1")
    assert calls == []


def test_an_unknown_target_is_one_line_listing_the_installed(calls: list[dict[str, Any]]) -> None:
    line = failed("create", "-t", "nosuch:/x", "--name", "n", "-m", "m")
    assert line.startswith("Error: No deployment target 'nosuch' is installed (installed: ")
    assert "recorder" in line and "sagemaker" in line
    assert "not a deployment target URI" in failed("list", "-t", ":/x")
    assert calls == []


def test_a_target_without_endpoints_is_one_line(tmp_path: Path) -> None:
    source = (
        RECORDER_SOURCE.split("    def create_endpoint")[0]
        + RECORDER_SOURCE.split('        return {"name": endpoint}\n')[1]
    )
    folder = install_plugin(
        tmp_path, "runlab-plain", {"plain_plugin": source}, {"plain": "plain_plugin"}
    )
    with on_sys_path(folder, "plain_plugin"):
        line = failed("list-endpoints", "-t", "plain")
    assert line == "Error: The deployment target 'plain' does not support list_endpoints()."


def test_the_targets_own_errors_are_one_line(calls: list[dict[str, Any]], tmp_path: Path) -> None:
    assert failed("get", "-t", TARGET, "--name", "missing") == "Error: No deployment 'missing'."
    missing = failed("predict", "-t", TARGET, "--input-path", str(tmp_path / "none.csv"))
    assert "does not exist" in missing
    (tmp_path / "bad.json").write_text("{not json")
    assert "is not valid JSON" in failed(
        "predict", "-t", TARGET, "--input-path", str(tmp_path / "bad.json")
    )
    assert "Cannot read the input file" in failed(
        "predict", "-t", TARGET, "--input-path", str(tmp_path / "nothing.json")
    )
    assert [c["method"] for c in calls] == ["get_deployment"]
