"""The ``runlab`` command group and its error handling."""

from __future__ import annotations

import importlib
from typing import Any

import click

from runlab.errors import RunlabError

#: Each top-level command and where it is defined. Commands load when they are used: a
#: `runlab run` does not import the SageMaker, Azure ML or model-serving commands first (that
#: cost about 25 ms before the entry point could start).
_COMMANDS: dict[str, str] = {
    "auth": "runlab.cli.auth:auth",
    "azureml": "runlab.cli.azureml:azureml",
    "db": "runlab.cli.db:db",
    "deployments": "runlab.cli.deployments:deployments",
    "experiments": "runlab.cli.experiments:experiments",
    "models": "runlab.cli.models:models",
    "run": "runlab.cli.project_run:run",
    "runs": "runlab.cli.runs:runs",
    "sagemaker": "runlab.cli.sagemaker:sagemaker",
    "server": "runlab.cli.server:server",
    "spool": "runlab.cli.spool:spool",
    "ui": "runlab.cli.server:ui",
}


class RunlabGroup(click.Group):
    """A group that turns runlab's errors into a one-line message and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a RunlabError becomes ``Error: <message>`` without a traceback."""
        try:
            return super().invoke(ctx)
        except RunlabError as exc:
            raise click.ClickException(exc.message) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command's name, without loading any."""
        return sorted({*_COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command ``cmd_name``, imported on first use."""
        if cmd_name not in self.commands and cmd_name in _COMMANDS:
            module, _, attribute = _COMMANDS[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)


@click.group(cls=RunlabGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="runlab", prog_name="runlab", message="%(prog)s %(version)s")
def cli() -> None:
    """runlab: experiment tracking compatible with MLflow, built to be fast.

    With no --tracking-uri and no RUNLAB_TRACKING_URI / MLFLOW_TRACKING_URI, commands use
    runlab.db (and runlab-artifacts/) in the working directory.
    """


if __name__ == "__main__":  # pragma: no cover - `python -m runlab.cli.main`
    cli()
