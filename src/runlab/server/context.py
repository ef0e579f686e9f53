"""What every handler receives: the stores and the settings, passed in, never global."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runlab.server.quick_calls import QuickCalls
from runlab.server.settings import ServerSettings
from runlab.store.base import TrackingStore

if TYPE_CHECKING:
    from runlab.server.auth.decision import AuthContext


@dataclass(frozen=True)
class ServerContext:
    """The stores and settings one app serves."""

    tracking_store: TrackingStore
    settings: ServerSettings
    registry_store: Any = None
    #: The repository behind the artifact proxy (``--artifacts-destination``), if served.
    artifact_repo: Any = None
    #: The permission checks, when the server makes them (``settings.auth_enabled``); None
    #: otherwise, and then no route consults them.
    auth: AuthContext | None = None
    #: Who the callers are (:class:`runlab.server.auth.authentication.Authentication`: the auth
    #: store, the credential cache), when the server authenticates them; None otherwise.
    authentication: Any = None
    #: Requests being served and recent calls' durations: a quick repeat skips the worker
    #: thread (:mod:`runlab.server.quick_calls`).
    quick_calls: QuickCalls = field(default_factory=QuickCalls)
