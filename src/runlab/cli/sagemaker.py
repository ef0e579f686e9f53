"""``runlab sagemaker``: MLflow's ``mlflow sagemaker`` commands."""

from __future__ import annotations

import click


@click.group()
def sagemaker() -> None:
    """Deploy models to Amazon SageMaker (pip install 'runlab[sagemaker]')."""
