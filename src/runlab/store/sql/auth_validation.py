"""Checks the auth store makes before a transaction starts, so a bad argument writes nothing.

No message here ever contains a password or a token secret: they may end up in a log.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from runlab.entities.auth import get_permission
from runlab.errors import InvalidParameter
from runlab.store.sql import registry_validation
from runlab.store.sql.auth_schema import (
    AUDIT_ACTION_MAX,
    AUDIT_ADDRESS_MAX,
    TOKEN_NAME_MAX,
    USERNAME_MAX,
)

__all__ = [
    "PASSWORD_MAX",
    "PASSWORD_MIN",
    "audit_action",
    "audit_address",
    "experiment_id",
    "expires_at",
    "flag",
    "model_name",
    "password",
    "permission",
    "record_id",
    "token_name",
    "username",
]

PASSWORD_MIN = 8
#: Long enough for any passphrase or generated password; bounds the work of hashing one.
PASSWORD_MAX = 1024
#: BIGINT's largest value: experiment ids are integers in the tracking store.
_EXPERIMENT_ID_DIGITS = 19
_DIGITS = re.compile(r"[0-9]+")

# Control, format (zero-width and direction marks, which make two names look alike), surrogate,
# private-use and unassigned code points, and line or paragraph separators.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _first_invisible(text: str) -> int | None:
    for index, char in enumerate(text):
        if char.isspace() or unicodedata.category(char) in _INVISIBLE:
            return index
    return None


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidParameter(f"The {what} must be a string, got {type(value).__name__}.")
    return value


def username(value: Any) -> str:
    """A user name: 1 to 255 characters, no white space, control characters or ``:``.

    ``:`` separates the user name from the password in HTTP Basic credentials, so a name
    holding one could never sign in.
    """
    name = _string(value, "username")
    if not name:
        raise InvalidParameter("The username is empty; give the user a name.")
    if len(name) > USERNAME_MAX:
        raise InvalidParameter(
            f"The username is {len(name)} characters long; usernames may have at most "
            f"{USERNAME_MAX}."
        )
    index = _first_invisible(name)
    if index is not None:
        raise InvalidParameter(
            f"Invalid username {name!r}: usernames may not contain white space or control "
            f"characters (found U+{ord(name[index]):04X} at position {index})."
        )
    if ":" in name:
        raise InvalidParameter(
            f"Invalid username {name!r}: usernames may not contain ':', which separates the "
            "username from the password in HTTP Basic credentials."
        )
    return name


def password(value: Any) -> str:
    """A new password: 8 to 1024 characters. The message never shows the password."""
    secret = _string(value, "password")
    if len(secret) < PASSWORD_MIN:
        raise InvalidParameter(
            f"The password is too short ({len(secret)} characters); use at least "
            f"{PASSWORD_MIN}, a passphrase is best."
        )
    if len(secret) > PASSWORD_MAX:
        raise InvalidParameter(
            f"The password is too long ({len(secret)} characters); use at most {PASSWORD_MAX}."
        )
    return secret


def flag(value: Any, what: str) -> bool:
    """A real bool: ``1`` or ``"false"`` are refused rather than guessed at."""
    if not isinstance(value, bool):
        raise InvalidParameter(f"{what} must be True or False, got {value!r}.")
    return value


def token_name(value: Any) -> str:
    """An access token's name: 1 to 255 characters, no control characters."""
    name = _string(value, "token name")
    if not name.strip():
        raise InvalidParameter(
            "The token name is empty; name the token after where it is used (e.g. 'ci')."
        )
    if len(name) > TOKEN_NAME_MAX:
        raise InvalidParameter(
            f"The token name is {len(name)} characters long; names may have at most "
            f"{TOKEN_NAME_MAX}."
        )
    if any(unicodedata.category(char) in _INVISIBLE for char in name):
        raise InvalidParameter(f"Invalid token name {name!r}: no control characters.")
    return name


def expires_at(value: Any, now_ms: int) -> int | None:
    """A token's expiry: None (never) or a time in milliseconds since the epoch, in the future."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameter(
            f"expires_at must be a time in milliseconds since the epoch, or None for a token "
            f"that never expires; got {value!r}."
        )
    if value <= now_ms:
        raise InvalidParameter(
            f"expires_at {value} is not in the future (now is {now_ms} ms since the epoch); "
            "a token that is already expired would be useless."
        )
    return value


def record_id(value: Any, what: str) -> int:
    """A database id: a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidParameter(f"{what} must be a positive integer, got {value!r}.")
    return value


def experiment_id(value: Any) -> str:
    """An experiment id: a string of decimal digits (``"0"``, ``"12"``); an int is accepted."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if (
        not isinstance(value, str)
        or not _DIGITS.fullmatch(value)
        or len(value) > _EXPERIMENT_ID_DIGITS
    ):
        raise InvalidParameter(
            f"Invalid experiment id {value!r}: experiment ids are integer strings, such as '0'."
        )
    return str(int(value))  # "007" and "7" are one experiment


def model_name(value: Any) -> str:
    """A registered model's name, checked as the model registry checks it."""
    return registry_validation.model_name(value)


def permission(value: Any) -> str:
    """A permission name (READ, EDIT, MANAGE, NO_PERMISSIONS)."""
    return get_permission(value).name


def audit_action(value: Any) -> str:
    """An audit event's action: a short word such as ``user.create``."""
    action = _string(value, "audit action")
    if not action or len(action) > AUDIT_ACTION_MAX or _first_invisible(action) is not None:
        raise InvalidParameter(
            f"Invalid audit action {action!r}: use 1 to {AUDIT_ACTION_MAX} characters without "
            "white space (e.g. 'user.create')."
        )
    return action


def audit_address(value: Any) -> str | None:
    """A client's network address, or None."""
    if value is None:
        return None
    address = _string(value, "client address")
    if len(address) > AUDIT_ADDRESS_MAX or _first_invisible(address) is not None:
        raise InvalidParameter(
            f"Invalid client address {address[:AUDIT_ADDRESS_MAX]!r}: expected an IP address "
            f"of at most {AUDIT_ADDRESS_MAX} characters."
        )
    return address
