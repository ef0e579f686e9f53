"""``runlab auth``: users, permissions, tokens and the audit log, on a real SQLite database."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from runlab.cli.main import cli
from runlab.store.sql.auth import SqlAuthStore
from runlab.store.sql.registry import SqlRegistryStore
from runlab.store.sql.tracking import SqlTrackingStore

PASSWORD = "admin-password-1"


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'server.db'}"


def run(db: str, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["auth", *args, "--backend-store-uri", db], input=input)


def open_store(db: str) -> SqlAuthStore:
    return SqlAuthStore(db)


def users_of(db: str) -> dict[str, bool]:
    store = open_store(db)
    try:
        return {u.username: u.is_admin for u in store.list_users()}
    finally:
        store.close()


def make_admin(db: str, name: str = "root") -> None:
    result = run(db, "create-admin", name, "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output


def test_create_admin_prompts_twice_without_echo(db: str) -> None:
    result = run(db, "create-admin", "alice", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Created administrator 'alice'" in result.output
    assert PASSWORD not in result.output
    assert users_of(db) == {"alice": True}
    store = open_store(db)
    try:
        assert store.authenticate_password("alice", PASSWORD) is not None
        (event,) = store.audit_events()
        assert (event.action, event.target) == ("user.create", "alice")
        assert "runlab auth" in event.detail
    finally:
        store.close()


def test_create_admin_refuses_and_writes_nothing(db: str, tmp_path: Path) -> None:
    mismatch = run(db, "create-admin", "alice", input=f"{PASSWORD}\nother-password\n")
    assert mismatch.exit_code == 1
    short = run(db, "create-admin", "alice", "--password-stdin", input="short\n")
    assert short.exit_code == 1 and "too short" in short.output
    empty = run(db, "create-admin", "alice", "--password-stdin", input="\n")
    assert empty.exit_code == 1 and "empty password" in empty.output
    spaced = run(db, "create-admin", "a b", "--password-stdin", input=PASSWORD + "\n")
    assert spaced.exit_code == 1 and "white space" in spaced.output
    assert users_of(db) == {}
    make_admin(db, "alice")
    again = run(db, "create-admin", "alice", "--password-stdin", input=PASSWORD + "\n")
    assert again.exit_code == 1 and "already exists; it already is one" in again.output


def test_commands_need_an_existing_database(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'nowhere.db'}"
    result = run(missing, "users", "list")
    assert result.exit_code == 1
    assert "There is no database at" in result.output
    assert not (tmp_path / "nowhere.db").exists()


def test_a_separate_auth_database(tmp_path: Path, db: str) -> None:
    auth_db = f"sqlite:///{tmp_path / 'auth.db'}"
    made = run(
        db,
        "create-admin",
        "alice",
        "--password-stdin",
        "--auth-database-uri",
        auth_db,
        input=PASSWORD + "\n",
    )
    assert made.exit_code == 0, made.output
    assert users_of(auth_db) == {"alice": True}
    assert not (tmp_path / "server.db").exists()
    bad = run(db, "users", "list", "--auth-database-uri", "sqlite://")
    assert bad.exit_code == 1 and "in-memory" in bad.output


def test_users(db: str) -> None:
    make_admin(db)
    created = run(db, "users", "create", "bob", "--password-stdin", input="bob-password\n")
    assert created.exit_code == 0, created.output
    listed = run(db, "users", "list")
    assert "bob" in listed.output and "root" in listed.output
    assert run(db, "users", "set-admin", "bob").exit_code == 0
    assert users_of(db) == {"root": True, "bob": True}
    assert run(db, "users", "set-admin", "bob", "--no-admin").exit_code == 0
    last = run(db, "users", "set-admin", "root", "--no-admin")
    assert last.exit_code == 1 and "only admin" in last.output
    changed = run(
        db, "users", "set-password", "bob", "--password-stdin", input="new-bob-password\n"
    )
    assert changed.exit_code == 0, changed.output
    store = open_store(db)
    try:
        assert store.authenticate_password("bob", "new-bob-password") is not None
    finally:
        store.close()
    unknown = run(db, "users", "set-password", "ghost", "--password-stdin", input="x" * 10 + "\n")
    assert unknown.exit_code == 1 and "'ghost' does not exist" in unknown.output
    duplicate = run(db, "users", "create", "bob", "--password-stdin", input="bob-password\n")
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    assert run(db, "users", "delete", "bob").exit_code == 0
    assert users_of(db) == {"root": True}
    assert run(db, "users", "delete", "root").exit_code == 1
    store = open_store(db)
    try:
        actions = [e.action for e in reversed(store.audit_events())]
    finally:
        store.close()
    assert actions == [
        "user.create",
        "user.create",
        "user.admin",
        "user.admin",
        "user.password",
        "user.delete",
    ]


def test_grant_and_revoke(db: str) -> None:
    make_admin(db)
    assert (
        run(db, "users", "create", "bob", "--password-stdin", input="bob-password\n").exit_code == 0
    )
    tracking = SqlTrackingStore(db, "mlflow-artifacts:/")
    experiment_id = tracking.create_experiment("shared")
    tracking.close()
    registry = SqlRegistryStore(db)
    registry.create_registered_model("clf")
    registry.close()
    by_name = run(db, "grant", "bob", "experiment", "shared", "READ")
    assert by_name.exit_code == 0, by_name.output
    by_id = run(db, "grant", "bob", "experiment", experiment_id, "EDIT")  # replaces READ
    assert by_id.exit_code == 0, by_id.output
    assert run(db, "grant", "bob", "model", "clf", "MANAGE").exit_code == 0
    store = open_store(db)
    try:
        assert store.experiment_permissions_of("bob") == {experiment_id: "EDIT"}
        assert store.registered_model_permissions_of("bob") == {"clf": "MANAGE"}
    finally:
        store.close()
    listed = run(db, "permissions", "--user", "bob")
    assert "EDIT" in listed.output and "clf" in listed.output
    for args, message in (
        (("grant", "bob", "experiment", "nope", "READ"), "No experiment with id or name 'nope'"),
        (("grant", "ghost", "experiment", "shared", "READ"), "'ghost' does not exist"),
        (("grant", "bob", "experiment", "shared", "OWNER"), "'OWNER' is not one of"),
        (("grant", "bob", "run", "shared", "READ"), "'run' is not one of"),
        (("grant", "bob", "model", "missing-model", "READ"), "missing-model"),
    ):
        refused = run(db, *args)
        assert refused.exit_code == 1, (args, refused.output)
        assert message in refused.output, refused.output
    assert run(db, "revoke", "bob", "experiment", "shared").exit_code == 0
    again = run(db, "revoke", "bob", "experiment", "shared")
    assert again.exit_code == 1 and "has no permission" in again.output
    store = open_store(db)
    try:
        assert store.experiment_permissions_of("bob") == {}
        assert store.registered_model_permissions_of("bob") == {"clf": "MANAGE"}
    finally:
        store.close()


def test_tokens(db: str) -> None:
    make_admin(db)
    created = run(db, "tokens", "create", "root", "--name", "ci", "--expires-in", "7")
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip()
    assert secret.startswith("rlt_") and "\n" not in secret
    assert "will not be shown again" in created.stderr
    store = open_store(db)
    try:
        user = store.authenticate_token(secret)
        assert user is not None and user.username == "root"
        (token,) = store.list_tokens("root")
        assert token.expires_at is not None
        assert 6.9 < (token.expires_at / 1000 - time.time()) / 86400 <= 7
    finally:
        store.close()
    listed = run(db, "tokens", "list")
    assert "ci" in listed.output and secret not in listed.output
    assert token.prefix in listed.output
    assert run(db, "tokens", "create", "ghost").exit_code == 1
    assert run(db, "tokens", "create", "root", "--expires-in", "0").exit_code == 1
    assert run(db, "tokens", "revoke", str(token.id)).exit_code == 0
    missing = run(db, "tokens", "revoke", str(token.id))
    assert missing.exit_code == 1 and "No access token" in missing.output
    store = open_store(db)
    try:
        assert store.authenticate_token(secret) is None
    finally:
        store.close()
    audit = run(db, "audit", "--limit", "2")
    assert audit.exit_code == 0
    assert "token.revoke" in audit.output and "token.create" in audit.output
    assert "user.create" not in audit.output  # only the newest two
    assert secret not in run(db, "audit").output
