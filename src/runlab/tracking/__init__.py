"""Tracking: the ``Client`` (alias ``MlflowClient``), the fluent run API and the batch writer.

``from runlab.tracking import MlflowClient`` works as it does with MLflow. The fluent functions
themselves are reached through the top-level :mod:`runlab` namespace.
"""

from runlab.tracking.client import Client, MlflowClient
from runlab.tracking.config import (
    get_registry_uri,
    get_tracking_uri,
    is_tracking_uri_set,
    set_registry_uri,
    set_tracking_uri,
)

__all__ = [
    "Client",
    "MlflowClient",
    "get_registry_uri",
    "get_tracking_uri",
    "is_tracking_uri_set",
    "set_registry_uri",
    "set_tracking_uri",
]
