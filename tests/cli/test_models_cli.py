"""``runlab models``: list, describe, versions, stage, alias, history — on a local store and
against ``runlab server`` — and the messages for bad input."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from runlab.tracking.client import Client
from support.cli_server import runlab_cli_server
from support.servers import running

if TYPE_CHECKING:
    from tests.cli.conftest import Runner


def add_versions(uri: str, tmp_path: Path, name: str = "fraud model", count: int = 3) -> str:
    """A registered model ``name`` with ``count`` versions of one run's ``model`` folder."""
    client = Client(uri)
    experiment = client.get_experiment_by_name("Default")
    assert experiment is not None
    run_id = client.create_run(experiment.experiment_id).info.run_id
    (tmp_path / "MLmodel").write_text("flavors: {}\n")
    client.log_artifact(run_id, str(tmp_path / "MLmodel"), "model")
    client.create_registered_model(name, tags={"team": "risk"}, description="Scores payments.")
    for _ in range(count):
        client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
    return run_id


@pytest.fixture
def model(runlab: Runner, tmp_path: Path) -> str:
    """A model 'fraud model' with versions 1-3 in the local store; its run id."""
    return add_versions(runlab.uri, tmp_path)


def test_stage_choices_are_the_registry_stages() -> None:
    from runlab.cli.models import STAGE_CHOICES
    from runlab.entities import STAGES

    assert STAGE_CHOICES == STAGES


# -- list / describe / versions ----------------------------------------------------------------------
def test_list_when_empty(runlab: Runner) -> None:
    assert "No registered models yet." in runlab.ok("models", "list")
    assert runlab.json("models", "list") == []


def test_list_filter_and_json(runlab: Runner, model: str) -> None:
    Client(runlab.uri).create_registered_model("churn", tags={"team": "growth"})
    out = runlab.ok("models", "list")
    assert "fraud model" in out and "churn" in out
    assert [m["name"] for m in runlab.json("models", "list", "--filter", "tags.team = 'risk'")] == [
        "fraud model"
    ]
    assert "No registered models match." in runlab.ok("models", "list", "--filter", "name = 'x'")
    assert len(runlab.json("models", "list", "--max-results", "1")) == 1
    result = runlab("models", "list", "--filter", "name = x")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")


def test_describe(runlab: Runner, model: str) -> None:
    runlab.ok("models", "alias", "fraud model", "champion", "2")
    out = runlab.ok("models", "describe", "fraud model")
    for text in ("fraud model", "Scores payments.", "team", "risk", "champion", "v2"):
        assert text in out
    data = runlab.json("models", "describe", "fraud model")
    assert data["aliases"] == {"champion": 2}
    assert data["tags"] == {"team": "risk"}
    assert [v["version"] for v in data["latest_versions"]] == [3]


def test_versions_newest_first(runlab: Runner, model: str) -> None:
    out = runlab.ok("models", "versions", "fraud model")
    assert model in out and "None" in out
    found = runlab.json("models", "versions", "fraud model")
    assert [v["version"] for v in found] == [3, 2, 1]
    assert all(v["run_id"] == model for v in found)


@pytest.mark.parametrize("command", ["describe", "versions", "history"])
def test_unknown_model_is_a_clear_error(runlab: Runner, command: str) -> None:
    result = runlab("models", command, "no such model")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert "no such model" in result.stderr
    assert "Traceback" not in result.output


# -- stage -----------------------------------------------------------------------------------------
def test_stage_transitions(runlab: Runner, model: str) -> None:
    out = runlab.ok("models", "stage", "fraud model", "1", "production")
    assert "fraud model v1: None -> Production" in out
    runlab.ok("models", "stage", "fraud model", "2", "Production", "--archive-existing")
    stages = {
        v["version"]: v["current_stage"] for v in runlab.json("models", "versions", "fraud model")
    }
    assert stages == {1: "Archived", 2: "Production", 3: "None"}


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["fraud model", "1", "Prod"], 2, "'Prod' is not one of"),
        (["fraud model", "one", "Staging"], 2, "'one' is not a valid integer"),
        (["fraud model", "0", "Staging"], 2, "x>=1"),
        (["fraud model", "1", "Archived", "--archive-existing"], 2, "Staging or Production"),
        (["fraud model", "9", "Staging"], 1, "Error: "),
        (["no such model", "1", "Staging"], 1, "no such model"),
    ],
)
def test_stage_bad_input(
    runlab: Runner, model: str, args: list[str], code: int, message: str
) -> None:
    result = runlab("models", "stage", *args)
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


# -- alias -----------------------------------------------------------------------------------------
def test_alias_set_move_and_delete(runlab: Runner, model: str) -> None:
    assert "fraud model@champion -> v1." in runlab.ok(
        "models", "alias", "fraud model", "champion", "1"
    )
    runlab.ok("models", "alias", "fraud model", "champion", "3")
    assert runlab.json("models", "describe", "fraud model")["aliases"] == {"champion": 3}
    out = runlab.ok("models", "alias", "fraud model", "champion", "--delete")
    assert "Removed alias 'champion'" in out
    assert runlab.json("models", "describe", "fraud model")["aliases"] == {}
    out = runlab.ok("models", "alias", "fraud model", "champion", "--delete")
    assert "has no alias 'champion'; nothing to remove." in out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["fraud model", "latest", "1"], 1, "reserved"),
        (["fraud model", "v2", "1"], 1, "reserved"),
        (["fraud model", "bad alias", "1"], 1, "Invalid alias"),
        (["fraud model", "champion"], 2, "Give VERSION to set the alias, or --delete"),
        (["fraud model", "champion", "1", "--delete"], 2, "without VERSION"),
        (["fraud model", "champion", "9"], 1, "Error: "),
        (["no such model", "champion", "1"], 1, "no such model"),
    ],
)
def test_alias_bad_input(
    runlab: Runner, model: str, args: list[str], code: int, message: str
) -> None:
    result = runlab("models", "alias", *args)
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


# -- history ---------------------------------------------------------------------------------------
def test_history(runlab: Runner, model: str) -> None:
    assert "No stage or alias changes of 'fraud model' recorded." in runlab.ok(
        "models", "history", "fraud model"
    )
    runlab.ok("models", "stage", "fraud model", "1", "Production")
    runlab.ok("models", "alias", "fraud model", "champion", "1")
    runlab.ok("models", "alias", "fraud model", "champion", "2")
    out = runlab.ok("models", "history", "fraud model")
    assert "stage of v1" in out and "Production" in out
    assert "alias champion" in out and "v2" in out
    events = runlab.json("models", "history", "fraud model")
    assert [(e["kind"], e["subject"], e["from"], e["to"]) for e in events] == [
        ("stage", "1", "None", "Production"),
        ("alias", "champion", None, "1"),
        ("alias", "champion", "1", "2"),
    ]
    first = events[0]["timestamp"]
    assert len(runlab.json("models", "history", "fraud model", "--since", str(first + 10**9))) == 0
    assert len(runlab.json("models", "history", "fraud model", "--until", str(first))) == 0
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    assert len(runlab.json("models", "history", "fraud model", "--until", tomorrow)) == 3
    out = runlab.ok("models", "history", "fraud model", "--since", tomorrow)
    assert "recorded in that period." in out


def test_history_bad_time(runlab: Runner, model: str) -> None:
    result = runlab("models", "history", "fraud model", "--since", "last tuesday")
    assert result.exit_code == 2
    assert "neither an ISO date/time" in result.stderr


# -- registry URI and a server -------------------------------------------------------------------------
def test_separate_registry_uri(runlab: Runner, tmp_path: Path) -> None:
    registry = f"sqlite:///{tmp_path / 'registry.db'}"
    Client(runlab.uri, registry_uri=registry).create_registered_model("elsewhere")
    assert runlab.json("models", "list") == []
    found = runlab.json("models", "list", "--registry-uri", registry)
    assert [m["name"] for m in found] == ["elsewhere"]


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ``runlab server`` process for the server test."""
    with running(runlab_cli_server(tmp_path_factory.mktemp("models-cli-server"))) as proc:
        yield proc.url


@pytest.fixture
def served(runlab: Runner, server_url: str) -> Runner:
    """A CLI runner bound to the server instead of the local store."""
    return type(runlab)(server_url)


def test_every_command_against_a_server(served: Runner, server_url: str, tmp_path: Path) -> None:
    runlab = served
    run_id = add_versions(server_url, tmp_path, name="served", count=2)
    assert "served" in runlab.ok("models", "list")
    assert "Scores payments." in runlab.ok("models", "describe", "served")
    assert [v["run_id"] for v in runlab.json("models", "versions", "served")] == [run_id, run_id]
    runlab.ok("models", "stage", "served", "2", "staging")
    runlab.ok("models", "alias", "served", "champion", "2")
    runlab.ok("models", "alias", "served", "champion", "--delete")
    events = runlab.json("models", "history", "served")
    assert [e["kind"] for e in events] == ["stage", "alias", "alias"]
    result = runlab("models", "alias", "served", "latest", "1")
    assert result.exit_code == 1 and "reserved" in result.stderr
    result = runlab("models", "describe", "not served")
    assert result.exit_code == 1 and "not served" in result.stderr
