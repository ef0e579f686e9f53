"""The ``runlab`` command group and its error handling."""

from __future__ import annotations

from typing import Any

import click

from runlab.cli.azureml import azureml
from runlab.cli.db import db
from runlab.cli.deployments import deployments
from runlab.cli.experiments import experiments
from runlab.cli.models import models
from runlab.cli.project_run import run
from runlab.cli.runs import runs
from runlab.cli.sagemaker import sagemaker
from runlab.cli.server import server, ui
from runlab.cli.spool import spool
from runlab.errors import RunlabError


class RunlabGroup(click.Group):
    """A group that turns runlab's errors into a one-line message and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a RunlabError becomes ``Error: <message>`` without a traceback."""
        try:
            return super().invoke(ctx)
        except RunlabError as exc:
            raise click.ClickException(exc.message) from None


@click.group(cls=RunlabGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="runlab", prog_name="runlab", message="%(prog)s %(version)s")
def cli() -> None:
    """runlab: experiment tracking compatible with MLflow, built to be fast.

    With no --tracking-uri and no RUNLAB_TRACKING_URI / MLFLOW_TRACKING_URI, commands use
    runlab.db (and runlab-artifacts/) in the working directory.
    """


cli.add_command(experiments)
cli.add_command(runs)
cli.add_command(run)
cli.add_command(models)
cli.add_command(db)
cli.add_command(server)
cli.add_command(ui)
cli.add_command(spool)
cli.add_command(deployments)
cli.add_command(sagemaker)
cli.add_command(azureml)


if __name__ == "__main__":  # pragma: no cover - `python -m runlab.cli.main`
    cli()
