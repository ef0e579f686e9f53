"""Enumerations shared by every layer: run status, view type, lifecycle stage.

They mirror MLflow's: the same names, the same numbers on the wire, the same helper methods.
"""

from __future__ import annotations

from runlab.errors import InvalidParameter


class RunStatus:
    """A run's status. Stored and exchanged as the name string (``"RUNNING"``)."""

    RUNNING = 1
    SCHEDULED = 2
    FINISHED = 3
    FAILED = 4
    KILLED = 5

    _NAMES = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
    _NUMBERS = {v: k for k, v in _NAMES.items()}

    @classmethod
    def to_string(cls, status: int) -> str:
        """``3 -> "FINISHED"``."""
        try:
            return cls._NAMES[status]
        except KeyError:
            raise InvalidParameter(f"Unknown run status {status!r}.") from None

    @classmethod
    def from_string(cls, name: str) -> int:
        """``"FINISHED" -> 3``."""
        try:
            return cls._NUMBERS[name.upper()]
        except (KeyError, AttributeError):
            raise InvalidParameter(
                f"Unknown run status {name!r}; expected one of {', '.join(cls._NUMBERS)}."
            ) from None

    @classmethod
    def normalize(cls, status: str | int) -> str:
        """Accept a name (any case) or a number and return the canonical name."""
        if isinstance(status, bool):
            raise InvalidParameter(f"Unknown run status {status!r}.")
        if isinstance(status, int):
            return cls.to_string(status)
        return cls.to_string(cls.from_string(status))

    @classmethod
    def is_terminated(cls, status: str | int) -> bool:
        """True for FINISHED, FAILED and KILLED."""
        return cls.normalize(status) in ("FINISHED", "FAILED", "KILLED")

    @classmethod
    def all_status(cls) -> list[int]:
        """Every status number."""
        return list(cls._NAMES)


class ViewType:
    """Which lifecycle stages a search covers."""

    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3

    _NAMES = {1: "ACTIVE_ONLY", 2: "DELETED_ONLY", 3: "ALL"}
    _NUMBERS = {v: k for k, v in _NAMES.items()}

    @classmethod
    def from_string(cls, name: str) -> int:
        """``"ALL" -> 3`` (case-insensitive)."""
        try:
            return cls._NUMBERS[name.upper()]
        except (KeyError, AttributeError):
            raise InvalidParameter(
                f"Unknown view type {name!r}; expected ACTIVE_ONLY, DELETED_ONLY or ALL."
            ) from None

    @classmethod
    def to_string(cls, view_type: int) -> str:
        """``3 -> "ALL"``."""
        try:
            return cls._NAMES[view_type]
        except KeyError:
            raise InvalidParameter(f"Unknown view type {view_type!r}.") from None

    @classmethod
    def normalize(cls, view_type: int | str | None) -> int:
        """Accept None (ACTIVE_ONLY), a number or a name."""
        if view_type is None:
            return cls.ACTIVE_ONLY
        if isinstance(view_type, str):
            return cls.from_string(view_type)
        if isinstance(view_type, bool) or view_type not in cls._NAMES:
            raise InvalidParameter(f"Unknown view type {view_type!r}.")
        return view_type

    @classmethod
    def stages(cls, view_type: int | str | None) -> tuple[str, ...]:
        """The lifecycle stages a view type selects."""
        vt = cls.normalize(view_type)
        if vt == cls.ACTIVE_ONLY:
            return (LifecycleStage.ACTIVE,)
        if vt == cls.DELETED_ONLY:
            return (LifecycleStage.DELETED,)
        return (LifecycleStage.ACTIVE, LifecycleStage.DELETED)


class LifecycleStage:
    """Soft-deletion state of experiments and runs."""

    ACTIVE = "active"
    DELETED = "deleted"

    @classmethod
    def is_valid(cls, stage: str) -> bool:
        """True for ``active`` and ``deleted``."""
        return stage in (cls.ACTIVE, cls.DELETED)
