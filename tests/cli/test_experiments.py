"""``runlab experiments``: list, create, delete, restore, rename against a real SQLite store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from click.testing import CliRunner

from runlab.cli.main import cli

if TYPE_CHECKING:
    from tests.cli.conftest import Runner


def test_help_lists_the_command_groups() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("experiments", "runs", "db"):
        assert name in result.stdout


def test_version_prints_the_package_version() -> None:
    from importlib.metadata import version

    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"runlab {version('runlab')}"


def test_create_then_list_shows_the_experiment(runlab: Runner) -> None:
    out = runlab.ok("experiments", "create", "-n", "vision", "--tag", "team=cv")
    assert "'vision'" in out
    listed = runlab.json("experiments", "list")
    by_name = {e["name"]: e for e in listed}
    assert by_name["vision"]["tags"]["team"] == "cv"
    assert by_name["vision"]["lifecycle_stage"] == "active"
    table = runlab.ok("experiments", "list")
    assert "vision" in table
    assert by_name["vision"]["experiment_id"] in table


def test_create_with_an_artifact_location(runlab: Runner, tmp_path: Path) -> None:
    location = (tmp_path / "elsewhere").as_uri()
    runlab.ok("experiments", "create", "-n", "a", "-l", location)
    (found,) = [e for e in runlab.json("experiments", "list") if e["name"] == "a"]
    assert found["artifact_location"] == location


def test_delete_restore_and_views(runlab: Runner) -> None:
    runlab.ok("experiments", "create", "-n", "doomed")
    runlab.ok("experiments", "delete", "--experiment-name", "doomed")
    assert "doomed" not in [e["name"] for e in runlab.json("experiments", "list")]
    deleted = runlab.json("experiments", "list", "--view", "deleted_only")
    assert [e["name"] for e in deleted] == ["doomed"]
    runlab.ok("experiments", "restore", "-x", deleted[0]["experiment_id"])
    assert "doomed" in [e["name"] for e in runlab.json("experiments", "list")]


def test_rename_by_id(runlab: Runner) -> None:
    runlab.ok("experiments", "create", "-n", "old")
    (old,) = [e for e in runlab.json("experiments", "list") if e["name"] == "old"]
    out = runlab.ok("experiments", "rename", "-x", old["experiment_id"], "--new-name", "new")
    assert "'new'" in out
    names = [e["name"] for e in runlab.json("experiments", "list")]
    assert "new" in names
    assert "old" not in names


def test_duplicate_name_is_a_clean_error(runlab: Runner) -> None:
    runlab.ok("experiments", "create", "-n", "twice")
    result = runlab("experiments", "create", "-n", "twice")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert "twice" in result.stderr
    assert "Traceback" not in result.output


def test_unknown_experiment_is_a_clean_error(runlab: Runner) -> None:
    result = runlab("experiments", "delete", "-n", "nope")
    assert result.exit_code == 1
    assert "nope" in result.stderr
    assert "Traceback" not in result.output


def test_experiment_selector_needs_exactly_one(runlab: Runner) -> None:
    result = runlab("experiments", "delete")
    assert result.exit_code == 2
    assert "exactly one of --experiment-id and --experiment-name" in result.stderr


def test_bad_tag_syntax_is_a_usage_error(runlab: Runner) -> None:
    result = runlab("experiments", "create", "-n", "x", "--tag", "novalue")
    assert result.exit_code == 2
    assert "KEY=VALUE" in result.stderr
