"""The options every framework's ``autolog()`` takes, with MLflow's names and defaults."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from runlab.errors import InvalidParameter

__all__ = ["STRICT_ENV", "AutologOptions", "strict"]

#: Set to 1/true to make autologging's own errors raise instead of being warned about (tests).
STRICT_ENV = "RUNLAB_AUTOLOG_STRICT"


def strict() -> bool:
    """Whether autologging errors raise (``RUNLAB_AUTOLOG_STRICT``) instead of warning once."""
    return os.environ.get(STRICT_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclasses.dataclass(frozen=True)
class AutologOptions:
    """One framework's autologging settings.

    ``extra`` holds the framework's own options (``max_tuning_runs`` for scikit-learn,
    ``importance_types`` for XGBoost, ``checkpoint_monitor`` for Lightning, …).
    """

    log_models: bool = True
    log_input_examples: bool = False
    log_model_signatures: bool = True
    log_datasets: bool = True
    disable: bool = False
    exclusive: bool = False
    disable_for_unsupported_versions: bool = False
    silent: bool = False
    registered_model_name: str | None = None
    extra_tags: Mapping[str, str] = dataclasses.field(default_factory=dict)
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in (
            "log_models",
            "log_input_examples",
            "log_model_signatures",
            "log_datasets",
            "disable",
            "exclusive",
            "disable_for_unsupported_versions",
            "silent",
        ):
            if not isinstance(getattr(self, name), bool):
                raise InvalidParameter(
                    f"autolog's {name} must be True or False, got {getattr(self, name)!r}."
                )
        model_name = self.registered_model_name
        if model_name is not None and (not isinstance(model_name, str) or not model_name.strip()):
            raise InvalidParameter(
                f"registered_model_name must be a non-empty string, got {model_name!r}."
            )
        if not isinstance(self.extra_tags, Mapping):
            raise InvalidParameter(
                f"extra_tags must be a dict of tag names to values, got {self.extra_tags!r}."
            )
        tags = {str(k): str(v) for k, v in self.extra_tags.items()}
        object.__setattr__(self, "extra_tags", tags)
        object.__setattr__(self, "extra", dict(self.extra))

    @classmethod
    def build(cls, extra_tags: Mapping[str, Any] | None = None, **kwargs: Any) -> AutologOptions:
        """Options from an ``autolog()`` call's arguments: common ones by name, the rest extra."""
        fields = {f.name for f in dataclasses.fields(cls)} - {"extra", "extra_tags"}
        common = {k: v for k, v in kwargs.items() if k in fields}
        extra = {k: v for k, v in kwargs.items() if k not in fields}
        return cls(extra_tags=extra_tags or {}, extra=extra, **common)

    def get(self, name: str, default: Any = None) -> Any:
        """A framework option (from ``extra``)."""
        return self.extra.get(name, default)
