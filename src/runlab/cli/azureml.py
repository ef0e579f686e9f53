"""``runlab azureml``: deploy models to Azure Machine Learning."""

from __future__ import annotations

import click


@click.group()
def azureml() -> None:
    """Deploy models to Azure Machine Learning online endpoints (pip install 'runlab[azureml]')."""
