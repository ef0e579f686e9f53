"""The SQL auth store on all three backends: users, tokens, permissions, audit log, migrations."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from argon2 import PasswordHasher, Type, extract_parameters

from runlab.entities.auth import (
    EDIT,
    MANAGE,
    NO_PERMISSIONS,
    READ,
    ExperimentPermission,
    RegisteredModelPermission,
)
from runlab.errors import (
    AlreadyExists,
    InvalidParameter,
    InvalidState,
    NotFound,
    UserNotFound,
)
from runlab.store.sql import auth_migrations, auth_schema, migrations
from runlab.store.sql.auth import SqlAuthStore
from runlab.store.sql.engine import create_engine, create_inspection_engine
from runlab.store.sql.schema import mysql_collation
from runlab.store.sql.tracking import SqlTrackingStore
from support.mysql_schema import string_column_collations

# Argon2id at its cheapest, so that the many hashes these tests make take microseconds; the
# default parameters are checked once, in test_default_hasher_is_argon2id.
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse"
AUTH_TABLES = (
    "auth_users",
    "auth_tokens",
    "auth_experiment_permissions",
    "auth_registered_model_permissions",
    "auth_audit_events",
)


@pytest.fixture
def auth(opened_by_auth_store: None, db_url: str) -> Iterator[SqlAuthStore]:
    """An auth store over a fresh database."""
    store = SqlAuthStore(db_url, password_hasher=FAST)
    yield store
    store.close()


def _rows(db_url: str, table: str) -> list[dict[str, Any]]:
    """Every row of ``table``, read straight from the database, not through the store."""
    engine = create_inspection_engine(db_url)
    try:
        with engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(sa.text(f"SELECT * FROM {table}"))]
    finally:
        engine.dispose()


def _snapshot(db_url: str) -> dict[str, list[dict[str, Any]]]:
    return {table: _rows(db_url, table) for table in AUTH_TABLES}


def _execute(db_url: str, statement: str, **params: Any) -> None:
    engine = create_inspection_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(statement), params)
    finally:
        engine.dispose()


def _tables(db_url: str) -> set[str]:
    engine = create_inspection_engine(db_url)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _now_ms() -> int:
    return int(time.time() * 1000)


# -- migrations --------------------------------------------------------------------------------


def test_head_constant_matches_alembic() -> None:
    assert auth_migrations.head_revision() == auth_migrations.HEAD_REVISION


def test_revisions_list_alembic_history() -> None:
    script = ScriptDirectory(str(Path(auth_migrations.__file__).parent))
    oldest_first = [rev.revision for rev in reversed(list(script.walk_revisions()))]
    assert oldest_first == list(auth_migrations.REVISIONS)


def test_opening_an_empty_database_creates_the_tables(db_url: str) -> None:
    assert _tables(db_url) == set()
    SqlAuthStore(db_url, password_hasher=FAST).close()
    assert _tables(db_url) == {*AUTH_TABLES, auth_schema.VERSION_TABLE}
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            assert auth_migrations.current_revision(conn) == auth_migrations.HEAD_REVISION
            # The migration builds exactly the tables auth_schema.py declares.
            context = MigrationContext.configure(
                conn, opts={"version_table": auth_schema.VERSION_TABLE}
            )
            assert compare_metadata(context, auth_schema.metadata) == []
            if conn.dialect.name == "mysql":
                # Usernames and names compare exactly (case and trailing spaces count).
                collations = {
                    collation
                    for column, collation in string_column_collations(conn).items()
                    if column.startswith("auth_")
                }
                assert collations == {mysql_collation(conn.dialect)}
    finally:
        engine.dispose()


def test_a_second_open_is_a_no_op(db_url: str) -> None:
    first = SqlAuthStore(db_url, password_hasher=FAST)
    first.create_user("alice", PASSWORD)
    first.close()
    before = _snapshot(db_url)
    versions = _rows(db_url, auth_schema.VERSION_TABLE)

    second = SqlAuthStore(db_url, password_hasher=FAST)
    engine = create_engine(db_url)
    auth_migrations.upgrade(engine)  # an explicit upgrade of a current database: nothing to do
    engine.dispose()

    assert _snapshot(db_url) == before
    assert (
        _rows(db_url, auth_schema.VERSION_TABLE)
        == versions
        == [{"version_num": auth_migrations.HEAD_REVISION}]
    )
    assert second.authenticate_password("alice", PASSWORD) is not None
    second.close()


@pytest.mark.parametrize("tracking_first", [True, False], ids=["tracking-first", "auth-first"])
def test_shares_a_database_with_the_tracking_store(
    db_url: str, tmp_path: Path, tracking_first: bool
) -> None:
    """Each store keeps its revision in its own version table, so both open one database."""
    artifacts = (tmp_path / "artifacts").as_uri()
    if tracking_first:
        tracking = SqlTrackingStore(db_url, artifacts)
        auth = SqlAuthStore(db_url, password_hasher=FAST)
    else:
        auth = SqlAuthStore(db_url, password_hasher=FAST)
        tracking = SqlTrackingStore(db_url, artifacts)
    experiment_id = tracking.create_experiment("shared")
    auth.create_user("alice", PASSWORD)
    auth.create_experiment_permission(experiment_id, "alice", EDIT)
    tracking.close()
    auth.close()

    # Both open again (neither mistakes the other's tables for a foreign schema) and read back.
    tracking = SqlTrackingStore(db_url, artifacts)
    auth = SqlAuthStore(db_url, password_hasher=FAST)
    assert tracking.get_experiment(experiment_id).name == "shared"
    assert auth.experiment_permissions_of("alice") == {experiment_id: EDIT}
    tracking.close()
    auth.close()
    assert _rows(db_url, "alembic_version") == [{"version_num": migrations.HEAD_REVISION}]
    assert _rows(db_url, auth_schema.VERSION_TABLE) == [
        {"version_num": auth_migrations.HEAD_REVISION}
    ]


def test_an_auth_revision_from_a_newer_runlab_is_refused(db_url: str) -> None:
    SqlAuthStore(db_url, password_hasher=FAST).close()
    _execute(db_url, f"UPDATE {auth_schema.VERSION_TABLE} SET version_num = 'auth_9999_future'")
    with pytest.raises(InvalidState, match="newer runlab"):
        SqlAuthStore(db_url, password_hasher=FAST)
    assert _rows(db_url, auth_schema.VERSION_TABLE) == [{"version_num": "auth_9999_future"}]


def test_tables_named_like_ours_without_a_revision_are_refused(db_url: str) -> None:
    _execute(db_url, "CREATE TABLE auth_users (id INTEGER PRIMARY KEY, nickname VARCHAR(10))")
    with pytest.raises(InvalidState, match="auth_users"):
        SqlAuthStore(db_url, password_hasher=FAST)
    assert _tables(db_url) == {"auth_users"}


def test_another_programs_database_is_refused(db_url: str) -> None:
    """A database whose alembic_version another program's migrations wrote (MLflow's own
    basic-auth database, say) is not taken over."""
    _execute(db_url, "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
    _execute(db_url, "INSERT INTO alembic_version VALUES ('8606fa83a998')")
    with pytest.raises(InvalidState, match="not a runlab database"):
        SqlAuthStore(db_url, password_hasher=FAST)
    assert _tables(db_url) == {"alembic_version"}


def test_a_hasher_other_than_argon2id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "auth.db"
    with pytest.raises(InvalidParameter, match="Argon2id"):
        SqlAuthStore(f"sqlite:///{path}", password_hasher=PasswordHasher(type=Type.I))
    assert not path.exists()


# -- users -------------------------------------------------------------------------------------


def test_create_get_and_list_users(auth: SqlAuthStore) -> None:
    assert auth.list_users() == []
    assert not auth.has_admin()
    before = _now_ms()
    bob = auth.create_user("bob", PASSWORD)
    assert bob.username == "bob" and not bob.is_admin
    assert before <= bob.created_at <= _now_ms()
    assert not auth.has_admin()
    alice = auth.create_user("alice", PASSWORD, is_admin=True)
    assert alice.is_admin and alice.id != bob.id
    assert auth.has_admin()
    assert auth.get_user("bob") == bob
    assert auth.list_users() == [alice, bob]  # by name
    assert not hasattr(bob, "password_hash")


def test_usernames_are_case_sensitive(auth: SqlAuthStore) -> None:
    auth.create_user("alice", PASSWORD)
    auth.create_user("Alice", PASSWORD + "!")
    with pytest.raises(UserNotFound):
        auth.get_user("ALICE")
    assert auth.authenticate_password("Alice", PASSWORD) is None
    assert [u.username for u in auth.list_users()] == ["Alice", "alice"]


def test_unknown_user(auth: SqlAuthStore) -> None:
    with pytest.raises(UserNotFound, match="'nobody' does not exist"):
        auth.get_user("nobody")
    with pytest.raises(InvalidParameter, match="must be a string"):
        auth.get_user(None)  # type: ignore[arg-type]


def test_duplicate_user_writes_nothing(auth: SqlAuthStore, db_url: str) -> None:
    auth.create_user("alice", PASSWORD)
    before = _snapshot(db_url)
    with pytest.raises(AlreadyExists, match="'alice' already exists"):
        auth.create_user("alice", "another password", is_admin=True)
    assert _snapshot(db_url) == before
    assert auth.authenticate_password("alice", PASSWORD) is not None
    assert not auth.get_user("alice").is_admin


@pytest.mark.parametrize(
    "bad",
    [
        *("", " alice", "alice ", "al ice", "al\tice", "al\x00ice", "al\u200bice", "al:ice"),
        *("x" * 256, 42, None),
    ],
)
def test_bad_usernames_write_nothing(auth: SqlAuthStore, db_url: str, bad: Any) -> None:
    with pytest.raises(InvalidParameter, match="username"):
        auth.create_user(bad, PASSWORD)
    assert _rows(db_url, "auth_users") == []


@pytest.mark.parametrize("bad", ["", "Qz9", "Qz9 7ch", "Qz" * 513, None, 12345678])
def test_bad_passwords_write_nothing(auth: SqlAuthStore, db_url: str, bad: Any) -> None:
    with pytest.raises(InvalidParameter, match="password") as caught:
        auth.create_user("alice", bad)
    if isinstance(bad, str) and bad:
        assert bad not in str(caught.value)  # a message never shows the password
    assert _rows(db_url, "auth_users") == []


@pytest.mark.parametrize("bad", [1, "true", None])
def test_bad_admin_flags_write_nothing(auth: SqlAuthStore, db_url: str, bad: Any) -> None:
    with pytest.raises(InvalidParameter, match="is_admin"):
        auth.create_user("alice", PASSWORD, is_admin=bad)
    assert _rows(db_url, "auth_users") == []


def test_passwords_are_stored_only_as_argon2id_hashes(auth: SqlAuthStore, db_url: str) -> None:
    auth.create_user("alice", PASSWORD)
    auth.create_user("bob", PASSWORD)
    rows = {row["username"]: row for row in _rows(db_url, "auth_users")}
    hashes = [rows["alice"]["password_hash"], rows["bob"]["password_hash"]]
    for stored in hashes:
        assert stored.startswith("$argon2id$")
        assert extract_parameters(stored).type is Type.ID
        assert stored != PASSWORD and PASSWORD not in stored
    assert hashes[0] != hashes[1]  # salted: one password, two hashes
    for row in rows.values():
        assert all(PASSWORD not in str(value) for value in row.values())


def test_default_hasher_is_argon2id(sqlite_url: str) -> None:
    store = SqlAuthStore(sqlite_url)
    store.create_user("alice", PASSWORD)
    (row,) = _rows(sqlite_url, "auth_users")
    parameters = extract_parameters(row["password_hash"])
    assert parameters.type is Type.ID
    # argon2-cffi's defaults (RFC 9106's second recommendation), not the cheap test ones.
    assert parameters.memory_cost >= 64 * 1024
    assert store.authenticate_password("alice", PASSWORD) is not None
    store.close()


def test_authenticate_password(auth: SqlAuthStore) -> None:
    alice = auth.create_user("alice", PASSWORD, is_admin=True)
    assert auth.authenticate_password("alice", PASSWORD) == alice
    assert auth.authenticate_password("alice", PASSWORD + " ") is None
    assert auth.authenticate_password("alice", "") is None
    assert auth.authenticate_password("alice", "x" * 5000) is None
    assert auth.authenticate_password("alice", None) is None  # type: ignore[arg-type]
    assert auth.authenticate_password(None, PASSWORD) is None  # type: ignore[arg-type]


def test_unknown_user_password_check_returns_none(auth: SqlAuthStore) -> None:
    # The store still runs a verification against a dummy hash (see authenticate_password);
    # what a caller sees is only None, exactly as for a wrong password.
    assert auth.authenticate_password("nobody", PASSWORD) is None
    auth.create_user("alice", PASSWORD)
    assert auth.authenticate_password("nobody", PASSWORD) is None
    assert auth.authenticate_password("ALICE", PASSWORD) is None


def test_hash_is_upgraded_when_argon2_parameters_change(db_url: str) -> None:
    old = SqlAuthStore(db_url, password_hasher=FAST)
    old.create_user("alice", PASSWORD)
    old.close()
    (before,) = _rows(db_url, "auth_users")
    assert extract_parameters(before["password_hash"]).time_cost == 1

    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    new = SqlAuthStore(db_url, password_hasher=stronger)
    assert new.authenticate_password("alice", "wrong password") is None
    assert _rows(db_url, "auth_users") == [before]  # a failed sign-in changes nothing
    assert new.authenticate_password("alice", PASSWORD) is not None
    (after,) = _rows(db_url, "auth_users")
    parameters = extract_parameters(after["password_hash"])
    assert (parameters.type, parameters.time_cost, parameters.memory_cost) == (Type.ID, 2, 2048)
    assert new.authenticate_password("alice", PASSWORD) is not None
    assert _rows(db_url, "auth_users") == [after]  # hashed once, not at every sign-in
    new.close()


def test_update_password(auth: SqlAuthStore, db_url: str) -> None:
    auth.create_user("alice", PASSWORD)
    auth.update_password("alice", "a new passphrase")
    assert auth.authenticate_password("alice", PASSWORD) is None
    assert auth.authenticate_password("alice", "a new passphrase") is not None
    before = _snapshot(db_url)
    with pytest.raises(InvalidParameter, match="too short"):
        auth.update_password("alice", "short")
    with pytest.raises(UserNotFound):
        auth.update_password("nobody", "long enough")
    assert _snapshot(db_url) == before


def test_set_admin(auth: SqlAuthStore, db_url: str) -> None:
    auth.create_user("alice", PASSWORD, is_admin=True)
    auth.create_user("bob", PASSWORD)
    auth.set_admin("bob", True)
    assert auth.get_user("bob").is_admin
    auth.set_admin("alice", False)
    assert not auth.get_user("alice").is_admin
    auth.set_admin("alice", False)  # already not an admin: nothing to do
    before = _snapshot(db_url)
    with pytest.raises(InvalidState, match="only admin"):
        auth.set_admin("bob", False)
    with pytest.raises(InvalidParameter, match="is_admin"):
        auth.set_admin("alice", "yes")  # type: ignore[arg-type]
    with pytest.raises(UserNotFound):
        auth.set_admin("nobody", True)
    assert _snapshot(db_url) == before
    assert auth.has_admin()


def test_delete_user_removes_their_tokens_and_permissions(auth: SqlAuthStore, db_url: str) -> None:
    auth.create_user("root", PASSWORD, is_admin=True)
    alice = auth.create_user("alice", PASSWORD)
    bob = auth.create_user("bob", PASSWORD)
    for user in ("alice", "bob"):
        auth.create_token(user, "laptop", None)
        auth.create_experiment_permission("1", user, READ)
        auth.create_registered_model_permission("fraud", user, EDIT)
    auth.record_event("user.create", "alice", actor="root")

    auth.delete_user("alice")

    with pytest.raises(UserNotFound):
        auth.get_user("alice")
    for table in (
        "auth_tokens",
        "auth_experiment_permissions",
        "auth_registered_model_permissions",
    ):
        assert {row["user_id"] for row in _rows(db_url, table)} == {bob.id}, table
    assert [u.username for u in auth.list_users()] == ["bob", "root"]
    assert auth.experiment_permissions_of("bob") == {"1": READ}
    # The audit log outlives the user it names.
    assert [e.target for e in auth.audit_events()] == ["alice"]
    # A new user of the same name starts with nothing, under a new id.
    again = auth.create_user("alice", PASSWORD)
    assert again.id != alice.id
    assert auth.list_tokens("alice") == []
    assert auth.experiment_permissions_of("alice") == {}


def test_delete_user_refusals_write_nothing(auth: SqlAuthStore, db_url: str) -> None:
    auth.create_user("root", PASSWORD, is_admin=True)
    auth.create_token("root", "laptop", None)
    before = _snapshot(db_url)
    with pytest.raises(InvalidState, match="only admin"):
        auth.delete_user("root")
    with pytest.raises(UserNotFound):
        auth.delete_user("nobody")
    assert _snapshot(db_url) == before


# -- access tokens -----------------------------------------------------------------------------


def test_token_is_stored_only_as_a_hash(auth: SqlAuthStore, db_url: str) -> None:
    alice = auth.create_user("alice", PASSWORD)
    token, secret = auth.create_token("alice", "ci", None)
    assert secret.startswith("rlt_") and len(secret) >= 4 + 43
    assert token.username == "alice" and token.name == "ci"
    assert token.expires_at is None and token.last_used_at is None
    assert token.prefix == secret[:12]

    (row,) = _rows(db_url, "auth_tokens")
    assert row["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert row["user_id"] == alice.id
    # Neither the secret nor its unrevealed part is in any column.
    hidden = secret[len(token.prefix) :]
    for value in row.values():
        assert secret not in str(value) and hidden not in str(value)

    assert auth.authenticate_token(secret) == alice
    assert auth.list_tokens() == [auth.list_tokens("alice")[0]]


def test_each_token_has_its_own_secret(auth: SqlAuthStore) -> None:
    auth.create_user("alice", PASSWORD)
    first, first_secret = auth.create_token("alice", "one", None)
    second, second_secret = auth.create_token("alice", "one", None)  # names need not be unique
    assert first.id != second.id and first_secret != second_secret
    assert [t.id for t in auth.list_tokens("alice")] == [first.id, second.id]


@pytest.mark.parametrize(
    "bad",
    ["", "rlt_", "rlt", "not a token", "rlt_" + "x" * 500, None, 42, b"rlt_abc"],
)
def test_garbage_secrets_are_rejected(auth: SqlAuthStore, bad: Any) -> None:
    auth.create_user("alice", PASSWORD)
    auth.create_token("alice", "ci", None)
    assert auth.authenticate_token(bad) is None


def test_a_secret_differing_by_one_character_is_rejected(auth: SqlAuthStore) -> None:
    auth.create_user("alice", PASSWORD)
    _, secret = auth.create_token("alice", "ci", None)
    changed = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    assert auth.authenticate_token(changed) is None
    assert auth.authenticate_token(secret.upper()) is None


def test_expired_token_is_rejected(auth: SqlAuthStore, db_url: str) -> None:
    alice = auth.create_user("alice", PASSWORD)
    token, secret = auth.create_token("alice", "short-lived", _now_ms() + 3_600_000)
    assert auth.authenticate_token(secret) == alice
    # An hour later, as far as the token knows:
    _execute(db_url, "UPDATE auth_tokens SET expires_at = :t", t=_now_ms() - 1)
    assert auth.authenticate_token(secret) is None
    # Still listed (so its owner sees it and can revoke it), until revoked.
    assert [t.id for t in auth.list_tokens("alice")] == [token.id]


def test_a_token_expiring_soon_stops_working_by_itself(auth: SqlAuthStore) -> None:
    auth.create_user("alice", PASSWORD)
    _, secret = auth.create_token("alice", "ci", _now_ms() + 300)
    time.sleep(0.4)
    assert auth.authenticate_token(secret) is None


def test_revoked_token_is_rejected(auth: SqlAuthStore, db_url: str) -> None:
    auth.create_user("alice", PASSWORD)
    token, secret = auth.create_token("alice", "ci", None)
    kept, kept_secret = auth.create_token("alice", "laptop", None)
    auth.revoke_token(token.id)
    assert auth.authenticate_token(secret) is None
    assert auth.authenticate_token(kept_secret) is not None
    assert [t.id for t in auth.list_tokens()] == [kept.id]
    with pytest.raises(NotFound, match=f"No access token with id {token.id}"):
        auth.revoke_token(token.id)


def test_owner_can_revoke_only_their_own_tokens(auth: SqlAuthStore, db_url: str) -> None:
    auth.create_user("alice", PASSWORD)
    auth.create_user("bob", PASSWORD)
    alices, alice_secret = auth.create_token("alice", "ci", None)
    bobs, _ = auth.create_token("bob", "ci", None)
    before = _snapshot(db_url)
    # Bob's view of Alice's token is the same as of a token that does not exist.
    with pytest.raises(NotFound) as other:
        auth.revoke_token(alices.id, username="bob")
    with pytest.raises(NotFound) as missing:
        auth.revoke_token(999_999, username="bob")
    assert str(other.value).replace(str(alices.id), "N") == str(missing.value).replace(
        "999999", "N"
    )
    assert _snapshot(db_url) == before
    assert auth.authenticate_token(alice_secret) is not None
    auth.revoke_token(bobs.id, username="bob")
    assert [t.id for t in auth.list_tokens()] == [alices.id]


@pytest.mark.parametrize("bad", [0, -1, "1", 1.0, True, None])
def test_bad_token_ids_are_refused(auth: SqlAuthStore, bad: Any) -> None:
    with pytest.raises(InvalidParameter, match="token_id"):
        auth.revoke_token(bad)


@pytest.mark.parametrize(
    ("name", "expires_at", "match"),
    [
        ("", None, "empty"),
        ("   ", None, "empty"),
        ("a\nb", None, "control"),
        ("x" * 256, None, "at most 255"),
        (None, None, "string"),
        ("ci", "soon", "milliseconds"),
        ("ci", True, "milliseconds"),
        ("ci", 1.5e12, "milliseconds"),
        ("ci", 1, "not in the future"),
    ],
)
def test_bad_token_arguments_write_nothing(
    auth: SqlAuthStore, db_url: str, name: Any, expires_at: Any, match: str
) -> None:
    auth.create_user("alice", PASSWORD)
    with pytest.raises(InvalidParameter, match=match):
        auth.create_token("alice", name, expires_at)
    assert _rows(db_url, "auth_tokens") == []


def test_token_for_unknown_user_writes_nothing(auth: SqlAuthStore, db_url: str) -> None:
    with pytest.raises(UserNotFound):
        auth.create_token("nobody", "ci", None)
    with pytest.raises(UserNotFound):
        auth.list_tokens("nobody")
    assert _rows(db_url, "auth_tokens") == []


def test_last_used_is_written_at_most_once_a_minute(auth: SqlAuthStore, db_url: str) -> None:
    auth.create_user("alice", PASSWORD)
    _, secret = auth.create_token("alice", "ci", None)
    before = _now_ms()
    auth.authenticate_token(secret)
    (first,) = auth.list_tokens()
    assert first.last_used_at is not None and before <= first.last_used_at <= _now_ms()
    auth.authenticate_token(secret)
    assert auth.list_tokens() == [first]  # a second use within the minute writes nothing
    # A minute later:
    _execute(db_url, "UPDATE auth_tokens SET last_used_at = :t", t=first.last_used_at - 61_000)
    auth.authenticate_token(secret)
    (later,) = auth.list_tokens()
    assert later.last_used_at is not None and later.last_used_at >= first.last_used_at


# -- permissions -------------------------------------------------------------------------------


def test_experiment_permission_lifecycle(auth: SqlAuthStore) -> None:
    alice = auth.create_user("alice", PASSWORD)
    auth.create_user("bob", PASSWORD)
    created = auth.create_experiment_permission("1", "alice", READ)
    assert created == ExperimentPermission("1", alice.id, "alice", READ)
    assert auth.get_experiment_permission("1", "alice") == created
    auth.update_experiment_permission("1", "alice", MANAGE)
    assert auth.get_experiment_permission("1", "alice").permission == MANAGE
    auth.create_experiment_permission("2", "alice", NO_PERMISSIONS)
    auth.create_experiment_permission("1", "bob", EDIT)
    assert auth.experiment_permissions_of("alice") == {"1": MANAGE, "2": NO_PERMISSIONS}
    assert [(p.experiment_id, p.username) for p in auth.list_experiment_permissions()] == [
        ("1", "alice"),
        ("1", "bob"),
        ("2", "alice"),
    ]
    assert [p.username for p in auth.list_experiment_permissions(experiment_id="1")] == [
        "alice",
        "bob",
    ]
    assert [p.experiment_id for p in auth.list_experiment_permissions(username="alice")] == [
        "1",
        "2",
    ]
    assert auth.list_experiment_permissions(username="bob", experiment_id="2") == []
    auth.delete_experiment_permission("1", "alice")
    with pytest.raises(NotFound, match="has no permission on experiment '1'"):
        auth.get_experiment_permission("1", "alice")
    assert auth.experiment_permissions_of("alice") == {"2": NO_PERMISSIONS}
    assert auth.experiment_permissions_of("nobody") == {}


def test_experiment_ids_are_normalised(auth: SqlAuthStore) -> None:
    auth.create_user("alice", PASSWORD)
    auth.create_experiment_permission(7, "alice", READ)  # type: ignore[arg-type]
    assert auth.get_experiment_permission("007", "alice").experiment_id == "7"
    assert auth.experiment_permissions_of("alice") == {"7": READ}


def test_experiment_permission_errors_write_nothing(auth: SqlAuthStore, db_url: str) -> None:
    auth.create_user("alice", PASSWORD)
    auth.create_experiment_permission("1", "alice", READ)
    before = _snapshot(db_url)
    with pytest.raises(AlreadyExists, match="already has a permission on experiment '1'"):
        auth.create_experiment_permission("1", "alice", MANAGE)
    with pytest.raises(UserNotFound):
        auth.create_experiment_permission("1", "nobody", READ)
    with pytest.raises(UserNotFound):
        auth.get_experiment_permission("1", "nobody")
    with pytest.raises(UserNotFound):
        auth.list_experiment_permissions(username="nobody")
    with pytest.raises(NotFound):
        auth.update_experiment_permission("2", "alice", EDIT)
    with pytest.raises(NotFound):
        auth.delete_experiment_permission("2", "alice")
    for bad in ("read", "ADMIN", "", None):
        with pytest.raises(InvalidParameter, match="READ, EDIT, MANAGE, NO_PERMISSIONS"):
            auth.create_experiment_permission("2", "alice", bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidParameter, match="READ, EDIT, MANAGE, NO_PERMISSIONS"):
            auth.update_experiment_permission("1", "alice", bad)  # type: ignore[arg-type]
    for bad_id in ("abc", "", "-1", "1.5", " 1", -1, True, None):
        with pytest.raises(InvalidParameter, match="experiment id"):
            auth.create_experiment_permission(bad_id, "alice", READ)  # type: ignore[arg-type]
    assert _snapshot(db_url) == before
    assert auth.get_experiment_permission("1", "alice").permission == READ


def test_registered_model_permission_lifecycle(auth: SqlAuthStore) -> None:
    alice = auth.create_user("alice", PASSWORD)
    auth.create_user("bob", PASSWORD)
    created = auth.create_registered_model_permission("fraud", "alice", EDIT)
    assert created == RegisteredModelPermission("fraud", alice.id, "alice", EDIT)
    assert auth.get_registered_model_permission("fraud", "alice") == created
    auth.update_registered_model_permission("fraud", "alice", READ)
    auth.create_registered_model_permission("Fraud", "alice", MANAGE)  # names are exact
    auth.create_registered_model_permission("churn", "bob", MANAGE)
    assert auth.registered_model_permissions_of("alice") == {"fraud": READ, "Fraud": MANAGE}
    assert [p.name for p in auth.list_registered_model_permissions(username="alice")] == sorted(
        ["fraud", "Fraud"]
    )
    assert [p.username for p in auth.list_registered_model_permissions(name="churn")] == ["bob"]
    assert len(auth.list_registered_model_permissions()) == 3
    auth.delete_registered_model_permission("fraud", "alice")
    with pytest.raises(NotFound, match="has no permission on registered model 'fraud'"):
        auth.get_registered_model_permission("fraud", "alice")
    assert auth.registered_model_permissions_of("nobody") == {}


def test_registered_model_permission_errors_write_nothing(auth: SqlAuthStore, db_url: str) -> None:
    auth.create_user("alice", PASSWORD)
    auth.create_registered_model_permission("fraud", "alice", READ)
    before = _snapshot(db_url)
    with pytest.raises(AlreadyExists):
        auth.create_registered_model_permission("fraud", "alice", EDIT)
    with pytest.raises(UserNotFound):
        auth.create_registered_model_permission("fraud", "nobody", EDIT)
    with pytest.raises(NotFound):
        auth.update_registered_model_permission("churn", "alice", EDIT)
    with pytest.raises(NotFound):
        auth.delete_registered_model_permission("churn", "alice")
    with pytest.raises(InvalidParameter, match="READ, EDIT, MANAGE, NO_PERMISSIONS"):
        auth.update_registered_model_permission("fraud", "alice", "WRITE")
    for bad in ("", " fraud", "a/b", "a:b", "x" * 257, None):
        with pytest.raises(InvalidParameter, match="registered model name"):
            auth.create_registered_model_permission(bad, "alice", READ)  # type: ignore[arg-type]
        with pytest.raises(InvalidParameter, match="registered model name"):
            auth.rename_registered_model_permissions("fraud", bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidParameter, match="registered model name"):
            auth.delete_registered_model_permissions(bad)  # type: ignore[arg-type]
    assert _snapshot(db_url) == before


def test_rename_and_delete_registered_model_permissions(auth: SqlAuthStore) -> None:
    for user in ("alice", "bob", "carol"):
        auth.create_user(user, PASSWORD)
    auth.create_registered_model_permission("fraud", "alice", MANAGE)
    auth.create_registered_model_permission("fraud", "bob", READ)
    # Left behind by an earlier, deleted model called "fraud-v2":
    auth.create_registered_model_permission("fraud-v2", "carol", MANAGE)
    auth.create_registered_model_permission("churn", "carol", EDIT)

    auth.rename_registered_model_permissions("fraud", "fraud-v2")

    assert [
        (p.name, p.username, p.permission) for p in auth.list_registered_model_permissions()
    ] == [
        ("churn", "carol", EDIT),
        ("fraud-v2", "alice", MANAGE),
        ("fraud-v2", "bob", READ),
    ]
    auth.rename_registered_model_permissions("fraud-v2", "fraud-v2")  # same name: nothing to do
    auth.rename_registered_model_permissions("absent", "other")  # no permissions: nothing to do
    auth.delete_registered_model_permissions("fraud-v2")
    auth.delete_registered_model_permissions("fraud-v2")  # none left: not an error
    assert [p.name for p in auth.list_registered_model_permissions()] == ["churn"]


# -- audit log ---------------------------------------------------------------------------------


def test_audit_events_newest_first_with_paging_and_filters(auth: SqlAuthStore) -> None:
    before = _now_ms()
    auth.record_event("signin.failed", "alice", address="10.0.0.7")
    auth.record_event("user.create", "bob", detail="admin=False", actor="alice")
    auth.record_event("permission.grant", "experiment 1", detail="READ for bob", actor="alice")
    auth.record_event("user.delete", "bob", actor="root", address="2001:db8::1")

    events = auth.audit_events()
    assert [e.action for e in events] == [
        "user.delete",
        "permission.grant",
        "user.create",
        "signin.failed",
    ]
    newest, oldest = events[0], events[-1]
    assert (newest.actor, newest.target, newest.detail, newest.address) == (
        "root",
        "bob",
        "",
        "2001:db8::1",
    )
    assert oldest.actor is None and oldest.address == "10.0.0.7"
    assert all(before <= e.timestamp <= _now_ms() for e in events)

    page = auth.audit_events(limit=2)
    assert page == events[:2]
    assert auth.audit_events(limit=2, before_id=page[-1].id) == events[2:]
    assert [e.action for e in auth.audit_events(actor="alice")] == [
        "permission.grant",
        "user.create",
    ]
    assert [e.target for e in auth.audit_events(action="user.delete")] == ["bob"]
    assert auth.audit_events(actor="alice", action="user.delete") == []


def test_long_audit_values_are_cut_not_refused(auth: SqlAuthStore) -> None:
    # A failed sign-in records whatever name was tried, however long.
    auth.record_event("signin.failed", "t" * 5000, detail="d" * 20_000, actor="a" * 1000)
    (event,) = auth.audit_events()
    assert len(event.target) == auth_schema.AUDIT_TARGET_MAX and event.target.endswith("…")
    assert event.actor is not None and len(event.actor) == auth_schema.USERNAME_MAX
    assert 0 < len(event.detail) <= 8000


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"action": ""}, "audit action"),
        ({"action": "user create"}, "audit action"),
        ({"action": "x" * 65}, "audit action"),
        ({"action": None}, "audit action"),
        ({"target": None}, "audit target"),
        ({"detail": 5}, "audit detail"),
        ({"actor": 5}, "actor"),
        ({"address": "x" * 65}, "client address"),
        ({"address": "10.0.0.1\n"}, "client address"),
    ],
)
def test_bad_audit_events_write_nothing(
    auth: SqlAuthStore, db_url: str, kwargs: dict[str, Any], match: str
) -> None:
    event: dict[str, Any] = {"action": "user.create", "target": "bob", **kwargs}
    with pytest.raises(InvalidParameter, match=match):
        auth.record_event(**event)
    assert _rows(db_url, "auth_audit_events") == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"limit": 0},
        {"limit": 1001},
        {"limit": True},
        {"limit": "5"},
        {"before_id": 0},
        {"before_id": "3"},
        {"actor": 1},
        {"action": 1},
    ],
)
def test_bad_audit_queries_are_refused(auth: SqlAuthStore, kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidParameter):
        auth.audit_events(**kwargs)
