"""Users, access tokens, permissions and audit events of an authenticating server.

A permission is one of four names with MLflow's meanings:

=================  ====  ======  ======  ======
name               read  update  delete  manage
=================  ====  ======  ======  ======
``READ``           yes   no      no      no
``EDIT``           yes   yes     no      no
``MANAGE``         yes   yes     yes     yes
``NO_PERMISSIONS`` no    no      no      no
=================  ====  ======  ======  ======

"manage" is the right to change who else may use the resource (grant and revoke permissions).
"""

from __future__ import annotations

from dataclasses import dataclass

from runlab.errors import InvalidParameter

__all__ = [
    "EDIT",
    "MANAGE",
    "NO_PERMISSIONS",
    "PERMISSIONS",
    "READ",
    "AccessToken",
    "AuditEvent",
    "ExperimentPermission",
    "Permission",
    "RegisteredModelPermission",
    "User",
    "get_permission",
]

READ = "READ"
EDIT = "EDIT"
MANAGE = "MANAGE"
NO_PERMISSIONS = "NO_PERMISSIONS"

#: Every permission name.
PERMISSIONS: tuple[str, ...] = (READ, EDIT, MANAGE, NO_PERMISSIONS)


@dataclass(frozen=True, slots=True)
class Permission:
    """What a permission name allows on an experiment or a registered model."""

    name: str
    can_read: bool
    can_update: bool
    can_delete: bool
    can_manage: bool


_BY_NAME: dict[str, Permission] = {
    READ: Permission(READ, can_read=True, can_update=False, can_delete=False, can_manage=False),
    EDIT: Permission(EDIT, can_read=True, can_update=True, can_delete=False, can_manage=False),
    MANAGE: Permission(MANAGE, can_read=True, can_update=True, can_delete=True, can_manage=True),
    NO_PERMISSIONS: Permission(
        NO_PERMISSIONS, can_read=False, can_update=False, can_delete=False, can_manage=False
    ),
}


def get_permission(name: str) -> Permission:
    """The :class:`Permission` called ``name``.

    Raises :class:`~runlab.errors.InvalidParameter`, listing the valid names, for any other
    value (names are case-sensitive, as in MLflow).
    """
    permission = _BY_NAME.get(name) if isinstance(name, str) else None
    if permission is None:
        raise InvalidParameter(f"Invalid permission {name!r}: use one of {', '.join(PERMISSIONS)}.")
    return permission


@dataclass(frozen=True, slots=True)
class User:
    """A user of an authenticating server. Never carries the password or its hash."""

    id: int
    username: str
    is_admin: bool
    #: Milliseconds since the epoch.
    created_at: int


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A personal access token, as listed: its secret is shown only once, when it is created."""

    id: int
    username: str
    name: str
    #: Milliseconds since the epoch, like ``expires_at`` and ``last_used_at``.
    created_at: int
    #: None for a token that never expires.
    expires_at: int | None
    #: None until first used; updated at most once a minute.
    last_used_at: int | None
    #: The secret's first characters (e.g. ``rlt_AbCdEfGh``), enough to recognise a token in a
    #: list without revealing it.
    prefix: str = ""


@dataclass(frozen=True, slots=True)
class ExperimentPermission:
    """A user's permission on one experiment."""

    experiment_id: str
    user_id: int
    username: str
    permission: str


@dataclass(frozen=True, slots=True)
class RegisteredModelPermission:
    """A user's permission on one registered model (and so on its versions)."""

    name: str
    user_id: int
    username: str
    permission: str


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One entry of the audit log: who did what, to what, when and from where."""

    id: int
    #: Milliseconds since the epoch.
    timestamp: int
    #: The signed-in user who acted, or None (an anonymous caller, a failed sign-in).
    actor: str | None
    action: str
    target: str
    detail: str
    #: The client's network address, when known.
    address: str | None
