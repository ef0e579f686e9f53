"""Checks the registry store makes before a transaction starts, so a bad argument writes nothing.

The limits are MLflow's (protocol reference, section 3) where it has one, and the column sizes
of :mod:`runlab.store.sql.schema` otherwise.
"""

from __future__ import annotations

import posixpath
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from runlab import validation
from runlab.errors import InvalidParameter
from runlab.store.sql import store_validation
from runlab.store.sql.schema import (
    LOGGED_MODEL_ID_MAX,
    REGISTERED_MODEL_NAME_MAX,
    REGISTRY_RUN_ID_MAX,
    REGISTRY_USER_MAX,
)

__all__ = [
    "DESCRIPTION_MAX",
    "TAG_VALUE_MAX",
    "description",
    "model_id",
    "model_name",
    "optional_int",
    "run_id",
    "run_link",
    "tag",
    "tags",
    "user_id",
    "version",
]

#: Longest registered-model or model-version tag value (MLflow's limit).
TAG_VALUE_MAX = 100_000
#: Longest description; MLflow has none that matters, this keeps rows bounded.
DESCRIPTION_MAX = 100_000
RUN_LINK_MAX = 4096

_CONTROL = frozenset({"Cc", "Cs", "Zl", "Zp"})


def _has_control(text: str) -> bool:
    return any(unicodedata.category(char) in _CONTROL for char in text)


def model_name(name: Any, what: str = "registered model name") -> str:
    """A registered model's name: non-empty, at most 256 characters, no ``/`` or ``:``, no
    white space at either end.

    The name becomes part of ``models:/<name>/<version>`` URIs and of paths, so it must read the
    same after path normalisation (no ``.``/``..``) and hold no control characters.
    """
    if not isinstance(name, str):
        raise InvalidParameter(f"The {what} must be a string, got {type(name).__name__} {name!r}.")
    if not name.strip():
        raise InvalidParameter(f"The {what} is empty; give the model a name.")
    if len(name) > REGISTERED_MODEL_NAME_MAX:
        raise InvalidParameter(
            f"The {what} is {len(name)} characters long; names may have at most "
            f"{REGISTERED_MODEL_NAME_MAX}."
        )
    if name != name.strip():
        # A name inside models:/<name>/1 should read the same to everyone; "m" and "m " would
        # look alike in every listing and URI.
        raise InvalidParameter(
            f"Invalid {what} {name!r}: names may not start or end with white space."
        )
    if "/" in name or ":" in name:
        raise InvalidParameter(
            f"Invalid {what} {name!r}: names may not contain '/' or ':' (they are part of "
            "models:/<name>/<version> URIs)."
        )
    if _has_control(name) or name in (".", "..") or posixpath.normpath(name) != name:
        raise InvalidParameter(
            f"Invalid {what} {name!r}: names may not be '.' or '..' or contain control characters."
        )
    return name


def version(value: Any) -> int:
    """A version number given as an int or a decimal string."""
    if isinstance(value, bool):
        raise InvalidParameter(f"Invalid model version {value!r}: expected an integer.")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit() and len(value) < 20:
        return int(value)
    raise InvalidParameter(
        f"Invalid model version {value!r}: a version is an integer such as 3 or '3'."
    )


def _text(value: Any, field: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidParameter(f"The {field} must be a string, got {type(value).__name__}.")
    if len(value) > limit:
        raise InvalidParameter(
            f"The {field} is {len(value)} characters long; it may have at most {limit}."
        )
    return value


def description(value: Any) -> str:
    """A description (None means none)."""
    return _text(value, "description", DESCRIPTION_MAX)


def user_id(value: Any) -> str:
    """Who made a change (None means unknown)."""
    return _text(value, "user_id", REGISTRY_USER_MAX)


def _identifier(value: Any, field: str, limit: int) -> str | None:
    if value is None or value == "":
        return None
    text = _text(value, field, limit)
    if text != text.strip() or _has_control(text):
        raise InvalidParameter(f"Invalid {field} {value!r}: no spaces or control characters.")
    return text


def run_id(value: Any) -> str | None:
    """An optional run id ("" means none): letters, digits, ``_`` and ``-``."""
    text = _identifier(value, "run_id", REGISTRY_RUN_ID_MAX)
    return None if text is None else validation.validate_run_id(text)


def model_id(value: Any) -> str | None:
    """An optional logged-model id ("" means none)."""
    return _identifier(value, "model_id", LOGGED_MODEL_ID_MAX)


def run_link(value: Any) -> str:
    """A link to the run, shown in UIs: an http(s) URL or an absolute or fragment link.

    Other schemes (``javascript:``, ``data:``) would run in a viewer's browser.
    """
    link = _text(value, "run_link", RUN_LINK_MAX)
    if link and (
        _has_control(link)
        or not link.lower().startswith(("http://", "https://", "/", "#"))
        or link.startswith("//")
    ):
        raise InvalidParameter(
            f"Invalid run_link {link!r}: use an http(s) URL or a link that starts with '/' or '#'."
        )
    return link


def tag(key: Any, value: Any, allow_none: bool) -> tuple[str, str]:
    """One registry tag: a valid key and a string value of at most 100,000 characters.

    ``allow_none`` lets a registered model's tag have no value (stored as ""); a model
    version's tag must have one, as in MLflow.
    """
    validation.validate_key(key, "tag")
    if value is None and allow_none:
        return key, ""
    if not isinstance(value, str):
        raise InvalidParameter(
            f"The value of tag {key!r} must be a string, got {type(value).__name__}."
        )
    if len(value) > TAG_VALUE_MAX:
        raise InvalidParameter(
            f"The value of tag {key!r} is {len(value)} characters long; registry tags may "
            f"hold at most {TAG_VALUE_MAX}."
        )
    return key, value


def tags(
    given: Mapping[str, Any] | Iterable[Any] | None, allow_none: bool = False
) -> dict[str, str]:
    """Tags as a dict, from a dict, (key, value) pairs or objects with .key and .value."""
    if given is None:
        return {}
    pairs = store_validation.tag_pairs(given)
    return dict(tag(key, value, allow_none) for key, value in pairs)


def optional_int(value: Any, field: str) -> int | None:
    """None, or an integer number of milliseconds."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameter(f"{field} must be an integer (milliseconds), got {value!r}.")
    return value
