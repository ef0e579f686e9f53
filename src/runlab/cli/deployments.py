"""``runlab deployments``: deploy models through any deployment target plugin."""

from __future__ import annotations

import click


@click.group()
def deployments() -> None:
    """Deploy models to serving platforms through deployment target plugins (-t TARGET)."""
