"""Which store a command uses: --tracking-uri, the environment, or runlab.db in the cwd."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from runlab.cli.main import cli


def test_runlab_env_var_is_used(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'env.db'}"
    runner = CliRunner()
    created = runner.invoke(
        cli, ["experiments", "create", "-n", "from-env"], env={"RUNLAB_TRACKING_URI": uri}
    )
    assert created.exit_code == 0, created.output
    listed = runner.invoke(cli, ["experiments", "list", "--tracking-uri", uri])
    assert "from-env" in listed.stdout


def test_mlflow_env_var_is_the_fallback(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow-env.db'}"
    runner = CliRunner()
    created = runner.invoke(
        cli, ["experiments", "create", "-n", "fallback"], env={"MLFLOW_TRACKING_URI": uri}
    )
    assert created.exit_code == 0, created.output
    assert (tmp_path / "mlflow-env.db").exists()


def test_default_is_runlab_db_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["experiments", "create", "-n", "here"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runlab.db").exists()
    listed = CliRunner().invoke(cli, ["experiments", "list"])
    assert "here" in listed.stdout


def leaf_commands(group: click.Group, path: str) -> list[tuple[str, click.Command]]:
    found = []
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None
        if isinstance(command, click.Group):
            found += leaf_commands(command, f"{path} {name}")
        else:
            found.append((f"{path} {name}", command))
    return found


#: The server takes --backend-store-uri instead and never reads the tracking URI variables
#: (tests/cli/test_server_command.py), which point clients at it.
SERVER_COMMANDS = {"runlab server", "runlab ui"}
#: Lists local spool files; it talks to no tracking store (``spool deliver`` takes the option).
LOCAL_ONLY_COMMANDS = {"runlab spool list"}
#: Talk to a deployment target about what is deployed there (by deployment or endpoint name),
#: never to a tracking store: the commands that take a model URI (create, update, run-local,
#: sagemaker deploy/push-model/…, azureml deploy) take --tracking-uri to resolve it.
TARGET_ONLY_COMMANDS = {
    *(
        f"runlab deployments {name}"
        for name in (
            "delete",
            "list",
            "get",
            "predict",
            "explain",
            "help",
            "create-endpoint",
            "update-endpoint",
            "delete-endpoint",
            "list-endpoints",
            "get-endpoint",
        )
    ),
    "runlab sagemaker delete",
    "runlab sagemaker list",
    "runlab sagemaker terminate-transform-job",
    "runlab azureml delete",
    "runlab azureml list",
    "runlab azureml get",
}


#: Work on the server's own database, named like the server names it (--backend-store-uri,
#: --auth-database-uri): a tracking URI points at a server, and users are not managed through one.
AUTH_COMMANDS_PREFIX = "runlab auth "


def test_every_command_accepts_tracking_uri() -> None:
    commands = leaf_commands(cli, "runlab")
    assert len(commands) >= 10
    for path, command in commands:
        if path in SERVER_COMMANDS | LOCAL_ONLY_COMMANDS | TARGET_ONLY_COMMANDS:
            continue
        if path.startswith(AUTH_COMMANDS_PREFIX):
            options = {opt for param in command.params for opt in param.opts}
            assert {"--backend-store-uri", "--auth-database-uri"} <= options, path
            continue
        options = {opt for param in command.params for opt in param.opts}
        assert "--tracking-uri" in options, path
