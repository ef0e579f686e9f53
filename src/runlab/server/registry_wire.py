"""Registry entities to MLflow's JSON shapes, and runlab's history events to its own.

MLflow spells a version number as a string on the wire (``"3"``), registered-model aliases as
``[{alias, version}]`` and a version's aliases as a plain list of names; unset fields and empty
lists are left out, as its server does. Kept apart from :mod:`runlab.server.wire` so that module
stays about tracking.
"""

from __future__ import annotations

from typing import Any

from runlab.entities import ModelVersion, RegisteredModel, RegistryEvent
from runlab.server.wire import _tags


def _drop_unset(d: dict[str, Any]) -> dict[str, Any]:
    # Empty strings are unset too: MLflow's client reads a missing description as "" and a
    # missing run_id as "", so leaving them out changes nothing for it and keeps bodies small.
    return {k: v for k, v in d.items() if v is not None and v != "" and v != []}


def model_version(mv: ModelVersion) -> dict[str, Any]:
    """A ModelVersion message (``version`` as a string, ``aliases`` as a list of names).

    ``description`` and ``run_link`` are always sent, empty or not, as MLflow's server does:
    its client reads an absent description as None and a present one as a string.
    """
    out = _drop_unset(
        {
            "name": mv.name,
            "version": str(mv.version),
            "creation_timestamp": mv.creation_timestamp,
            "last_updated_timestamp": mv.last_updated_timestamp,
            "user_id": mv.user_id,
            "current_stage": mv.current_stage,
            "description": mv.description,
            "source": mv.source,
            "run_id": mv.run_id,
            "status": mv.status,
            "status_message": mv.status_message,
            "tags": _tags(mv.tags),
            "run_link": mv.run_link,
            "aliases": list(mv.aliases),
            "model_id": mv.model_id,
        }
    )
    out.setdefault("description", "")
    out.setdefault("run_link", "")
    return out


def registered_model(rm: RegisteredModel) -> dict[str, Any]:
    """A RegisteredModel message, with its newest version per stage and its aliases."""
    return _drop_unset(
        {
            "name": rm.name,
            "creation_timestamp": rm.creation_timestamp,
            "last_updated_timestamp": rm.last_updated_timestamp,
            "description": rm.description,
            "latest_versions": [model_version(v) for v in rm.latest_versions],
            "tags": _tags(rm.tags),
            "aliases": [
                {"alias": alias, "version": str(version)} for alias, version in rm.aliases.items()
            ],
        }
    )


def registry_event(event: RegistryEvent) -> dict[str, Any]:
    """One history event (runlab's own shape: every field present, ``null`` where unset).

    ``from_value``/``to_value`` are stages for a ``stage`` event and version numbers (as text)
    for an ``alias`` event; ``null`` means the alias did not exist before / was removed.
    """
    return {
        "event_id": event.event_id,
        "name": event.name,
        "kind": event.kind,
        "subject": event.subject,
        "from_value": event.from_value,
        "to_value": event.to_value,
        "timestamp": event.timestamp,
        "user_id": event.user_id,
    }
