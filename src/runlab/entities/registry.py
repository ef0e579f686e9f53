"""The model registry: registered models, their versions, stages, aliases and history.

A registered model is a name; each registration of a model's files under that name is a
numbered version (1, 2, 3, ... never reused after a delete). A version sits in one stage
(None, Staging, Production, Archived) and may carry aliases (``champion``). Every stage
transition and alias move is kept as a :class:`RegistryEvent`, so "which version was in
Production on date X" has an answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from runlab.errors import InvalidParameter

__all__ = [
    "ALIAS_EVENT",
    "STAGES",
    "STAGE_EVENT",
    "ModelVersion",
    "ModelVersionStatus",
    "RegisteredModel",
    "RegistryEvent",
    "canonical_stage",
    "validate_alias",
]

#: The four stages, spelled as MLflow stores and returns them.
STAGES = ("None", "Staging", "Production", "Archived")
_STAGES_BY_LOWER = {stage.lower(): stage for stage in STAGES}

_ALIAS = re.compile(r"[A-Za-z0-9_-]{1,255}")
_RESERVED_ALIAS = re.compile(r"(?i)latest|v\d+")


def canonical_stage(stage: object) -> str:
    """``"production"`` -> ``"Production"``; InvalidParameter for anything else."""
    if isinstance(stage, str):
        found = _STAGES_BY_LOWER.get(stage.strip().lower())
        if found is not None:
            return found
    raise InvalidParameter(
        f"Invalid model version stage {stage!r}; expected one of {', '.join(STAGES)} (any case)."
    )


def validate_alias(alias: object) -> str:
    """Return ``alias`` if it may name a version: 1-255 of ``[A-Za-z0-9_-]``, not reserved."""
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias):
        raise InvalidParameter(
            f"Invalid alias {alias!r}: use 1 to 255 letters, digits, '_' or '-'."
        )
    if _RESERVED_ALIAS.fullmatch(alias):
        raise InvalidParameter(
            f"Alias {alias!r} is reserved ('latest' and 'v<number>' name versions already); "
            "choose another name."
        )
    return alias


class ModelVersionStatus:
    """A version's registration status, as the wire protocol spells it."""

    PENDING_REGISTRATION = "PENDING_REGISTRATION"
    FAILED_REGISTRATION = "FAILED_REGISTRATION"
    READY = "READY"


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One numbered version of a registered model.

    ``version`` is a string on the wire (as in MLflow) and an int here; ``tags`` is a plain
    dict; ``aliases`` lists the aliases that point at this version.
    """

    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int
    current_stage: str = "None"
    description: str = ""
    user_id: str = ""
    source: str = ""
    run_id: str = ""
    run_link: str = ""
    status: str = ModelVersionStatus.READY
    status_message: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    model_id: str | None = None
    #: Where the version's files are kept, when it differs from ``source``.
    storage_location: str | None = None


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A registered model: its name, description, tags, aliases and newest version per stage."""

    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    #: alias -> version number
    aliases: dict[str, int] = field(default_factory=dict)
    #: The newest version in each stage that has one.
    latest_versions: tuple[ModelVersion, ...] = ()


STAGE_EVENT = "stage"
ALIAS_EVENT = "alias"


@dataclass(frozen=True, slots=True)
class RegistryEvent:
    """One recorded change: a stage transition or an alias set, moved or removed.

    For a stage event ``subject`` is the version number (as text), ``from_value``/``to_value``
    are the stages; for an alias event ``subject`` is the alias, and the values are the version
    numbers it pointed at before and after (as text; None when it did not exist / was removed).
    """

    name: str
    kind: str
    subject: str
    from_value: str | None
    to_value: str | None
    timestamp: int
    user_id: str = ""
    #: Increasing per store, so events at the same millisecond keep their order.
    event_id: int = 0
