"""What every handler receives: the stores and the settings, passed in, never global."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runlab.server.settings import ServerSettings
from runlab.store.base import TrackingStore


@dataclass(frozen=True)
class ServerContext:
    """The stores and settings one app serves."""

    tracking_store: TrackingStore
    settings: ServerSettings
    registry_store: Any = None
    #: The repository behind the artifact proxy (``--artifacts-destination``), if served.
    artifact_repo: Any = None
