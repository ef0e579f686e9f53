"""Permission names and their capabilities, the auth entities, and the two auth errors."""

from __future__ import annotations

import dataclasses

import pytest

from runlab.entities.auth import (
    EDIT,
    MANAGE,
    NO_PERMISSIONS,
    PERMISSIONS,
    READ,
    AccessToken,
    User,
    get_permission,
)
from runlab.errors import (
    InvalidParameter,
    NotFound,
    PermissionDenied,
    RunlabError,
    Unauthenticated,
    UserNotFound,
)


def test_permissions_have_mlflows_meanings() -> None:
    assert PERMISSIONS == (READ, EDIT, MANAGE, NO_PERMISSIONS)
    capabilities = {
        name: (p.can_read, p.can_update, p.can_delete, p.can_manage)
        for name in PERMISSIONS
        for p in [get_permission(name)]
    }
    assert capabilities == {
        "READ": (True, False, False, False),
        "EDIT": (True, True, False, False),
        "MANAGE": (True, True, True, True),
        "NO_PERMISSIONS": (False, False, False, False),
    }
    assert get_permission("EDIT").name == "EDIT"


@pytest.mark.parametrize("bad", ["read", "Edit", "ADMIN", "", None, 1])
def test_unknown_permission_lists_the_valid_names(bad: object) -> None:
    with pytest.raises(InvalidParameter, match="READ, EDIT, MANAGE, NO_PERMISSIONS"):
        get_permission(bad)  # type: ignore[arg-type]


def test_entities_are_frozen_and_carry_no_secret() -> None:
    user = User(id=1, username="alice", is_admin=False, created_at=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        user.is_admin = True  # type: ignore[misc]
    assert [f.name for f in dataclasses.fields(User)] == [
        "id",
        "username",
        "is_admin",
        "created_at",
    ]
    token_fields = {f.name for f in dataclasses.fields(AccessToken)}
    assert not token_fields & {"secret", "secret_hash", "hash"}


def test_auth_errors_map_to_401_403_404() -> None:
    unauthenticated = Unauthenticated("sign in")
    assert isinstance(unauthenticated, RunlabError)
    assert not isinstance(unauthenticated, PermissionDenied)
    assert unauthenticated.error_code == "UNAUTHENTICATED"
    assert unauthenticated.get_http_status_code() == 401
    assert PermissionDenied("no").get_http_status_code() == 403
    missing = UserNotFound("no such user")
    assert isinstance(missing, NotFound)
    assert missing.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert missing.get_http_status_code() == 404
