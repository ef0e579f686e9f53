"""Authentication against a real ``runlab server --auth`` process, over HTTP.

Basic and Bearer credentials, the 401 challenge, the credential cache (and its invalidation by
changes made through the server), failed-sign-in limits, the users / permissions / tokens /
audit REST API, and the audit of deletions.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runlab.store.sql.auth import SqlAuthStore
from support.auth_server import (
    ADMIN,
    ADMIN_PASSWORD,
    API,
    RUNLAB_API,
    auth_server,
    call,
    client,
    without_date,
)
from support.servers import ServerProcess

pytestmark = pytest.mark.slow

SEARCH = f"{API}/experiments/search"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = auth_server(tmp_path_factory.mktemp("auth-server"))
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def admin(server: ServerProcess) -> Iterator[httpx.Client]:
    with client(server, ADMIN, ADMIN_PASSWORD) as http:
        yield http


def _db(server: ServerProcess) -> str:
    # The server's command line names its database (the auth tables live in it too).
    uri = server.argv[server.argv.index("--backend-store-uri") + 1]
    return uri


def make_user(admin: httpx.Client, name: str, password: str = "user-password-1") -> None:
    created = call(admin, "POST", f"{API}/users/create", {"username": name, "password": password})
    assert created.status_code == 200, created.text


def test_anonymous_api_calls_get_401_with_a_basic_challenge(server: ServerProcess) -> None:
    with client(server) as anonymous:
        assert anonymous.get("/health").status_code == 200
        refused = call(anonymous, "POST", SEARCH)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == 'Basic realm="runlab"'
        assert refused.json()["error_code"] == "UNAUTHENTICATED"
        # The ajax API too: the same rules for the UI's JSON calls, but no challenge, which
        # would make a browser prompt for a password and then resend it with every request.
        ajax = anonymous.get("/ajax-api/2.0/mlflow/users/current")
        assert ajax.status_code == 401
        assert "www-authenticate" not in ajax.headers


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(
    server: ServerProcess, admin: httpx.Client
) -> None:
    make_user(admin, "known")
    with (
        client(server, "known", "not-the-password") as wrong,
        client(server, "nobody-here", "not-the-password") as unknown,
    ):
        a, b = call(wrong, "POST", SEARCH), call(unknown, "POST", SEARCH)
    assert a.status_code == b.status_code == 401
    assert a.content == b.content
    assert without_date(a.headers) == without_date(b.headers)
    assert "known" not in a.text and "nobody" not in b.text
    with client(server, "known", "user-password-1") as right:
        assert call(right, "POST", SEARCH).status_code == 200


def test_malformed_and_unsupported_credentials_are_refused(server: ServerProcess) -> None:
    for header in ("Basic !!!not-base64", "Basic " + "eA==", "Digest abc", "Bearer"):
        with client(server, headers={"Authorization": header}) as http:
            refused = call(http, "POST", SEARCH)
        assert refused.status_code == 401, header
        assert refused.headers["www-authenticate"] == 'Basic realm="runlab"'
    with client(server, token="rlt_made-up") as http:
        assert call(http, "POST", SEARCH).status_code == 401


def test_verified_passwords_are_remembered_until_the_server_changes_them(
    server: ServerProcess, admin: httpx.Client
) -> None:
    make_user(admin, "cached", "first-password")
    with client(server, "cached", "first-password") as http:
        assert call(http, "POST", SEARCH).status_code == 200
        # Changed behind the server's back (as `runlab auth` does): the server still knows the
        # old password was right, for the cache period...
        store = SqlAuthStore(_db(server))
        try:
            store.update_password("cached", "second-password")
        finally:
            store.close()
        for _ in range(5):
            assert call(http, "POST", SEARCH).status_code == 200
        # ...and a change made through the server forgets it at once.
        changed = call(
            admin,
            "PATCH",
            f"{API}/users/update-password",
            {"username": "cached", "password": "third-password"},
        )
        assert changed.status_code == 200, changed.text
        assert call(http, "POST", SEARCH).status_code == 401
    with client(server, "cached", "third-password") as http:
        assert call(http, "POST", SEARCH).status_code == 200
    # A training loop's requests record one sign-in per cache period, not one each.
    events = call(admin, "GET", f"{RUNLAB_API}/audit/list", {"actor": "cached", "action": "signin"})
    assert len(events.json()["events"]) == 2  # the first password, then the third


def test_access_tokens(server: ServerProcess, admin: httpx.Client) -> None:
    make_user(admin, "tokenuser")
    make_user(admin, "otheruser")
    with client(server, "tokenuser", "user-password-1") as owner:
        created = call(owner, "POST", f"{RUNLAB_API}/tokens/create", {"name": "ci"})
        assert created.status_code == 200, created.text
        secret = created.json()["secret"]
        token = created.json()["token"]
        assert secret.startswith("rlt_") and token["username"] == "tokenuser"
        assert token["prefix"] == secret[: len(token["prefix"])]
        listed = call(owner, "GET", f"{RUNLAB_API}/tokens/list").json()["tokens"]
        assert [t["id"] for t in listed] == [token["id"]]
        assert secret not in str(listed)
        # Another user's token list and tokens are not theirs to see or revoke.
        assert (
            call(owner, "GET", f"{RUNLAB_API}/tokens/list", {"username": "otheruser"}).status_code
            == 403
        )
    with client(server, token=secret) as bearer:
        me = call(bearer, "GET", f"{API}/users/current")
        assert me.status_code == 200
        assert me.json()["user"]["username"] == "tokenuser"
    with client(server, "otheruser", "user-password-1") as other:
        foreign = call(other, "POST", f"{RUNLAB_API}/tokens/revoke", {"token_id": token["id"]})
        missing = call(other, "POST", f"{RUNLAB_API}/tokens/revoke", {"token_id": 999_999})
        assert foreign.status_code == missing.status_code == 404
        assert foreign.json()["message"].replace(str(token["id"]), "N") == missing.json()[
            "message"
        ].replace("999999", "N")
    # Administrators see everyone's tokens; a revoked token stops working at once.
    everyone = call(admin, "GET", f"{RUNLAB_API}/tokens/list").json()["tokens"]
    assert token["id"] in [t["id"] for t in everyone]
    with client(server, "tokenuser", "user-password-1") as owner:
        revoked = call(owner, "POST", f"{RUNLAB_API}/tokens/revoke", {"token_id": token["id"]})
        assert revoked.status_code == 200
    with client(server, token=secret) as bearer:
        assert call(bearer, "GET", f"{API}/users/current").status_code == 401


def test_an_expired_token_is_refused_even_if_it_was_remembered(
    server: ServerProcess, admin: httpx.Client
) -> None:
    expires_at = int(time.time() * 1000) + 2500
    created = call(
        admin, "POST", f"{RUNLAB_API}/tokens/create", {"name": "short", "expires_at": expires_at}
    )
    assert created.status_code == 200, created.text
    with client(server, token=created.json()["secret"]) as bearer:
        assert call(bearer, "GET", f"{API}/users/current").status_code == 200
        time.sleep(max(0.0, expires_at / 1000 - time.time()) + 0.3)
        assert call(bearer, "GET", f"{API}/users/current").status_code == 401


def test_bad_token_requests_write_nothing(server: ServerProcess, admin: httpx.Client) -> None:
    before = call(admin, "GET", f"{RUNLAB_API}/tokens/list").json()["tokens"]
    for body in (
        {},
        {"name": ""},
        {"name": "x", "expires_in_days": 0},
        {"name": "x", "expires_in_days": 1, "expires_at": 1},
        {"name": "x", "expires_at": 1},
        {"name": "x", "username": "no-such-user"},
    ):
        refused = call(admin, "POST", f"{RUNLAB_API}/tokens/create", body)
        assert refused.status_code in (400, 404), (body, refused.text)
        assert refused.json()["message"]
    assert call(admin, "GET", f"{RUNLAB_API}/tokens/list").json()["tokens"] == before


def test_users_api(server: ServerProcess, admin: httpx.Client) -> None:
    make_user(admin, "bob")
    make_user(admin, "carol")
    got = call(admin, "GET", f"{API}/users/get", {"username": "bob"}).json()["user"]
    assert got["username"] == "bob" and got["is_admin"] is False and isinstance(got["id"], int)
    assert "password" not in str(got).lower()
    with client(server, "bob", "user-password-1") as bob:
        assert call(bob, "GET", f"{API}/users/get", {"username": "bob"}).status_code == 200
        # Another user, existing or not: the same refusal.
        carol = call(bob, "GET", f"{API}/users/get", {"username": "carol"})
        ghost = call(bob, "GET", f"{API}/users/get", {"username": "ghost"})
        assert carol.status_code == ghost.status_code == 403
        assert carol.json()["message"] == ghost.json()["message"]
        assert "carol" not in carol.json()["message"]
        # Only administrators create users or make admins.
        assert (
            call(
                bob, "POST", f"{API}/users/create", {"username": "eve", "password": "pw-long-1"}
            ).status_code
            == 403
        )
        assert (
            call(
                bob, "PATCH", f"{API}/users/update-admin", {"username": "bob", "is_admin": True}
            ).status_code
            == 403
        )
        other = {"username": "carol", "password": "carol-password-2"}
        assert call(bob, "PATCH", f"{API}/users/update-password", other).status_code == 403
        # One's own password: the current one is needed.
        new = {"username": "bob", "password": "bob-password-2"}
        assert call(bob, "PATCH", f"{API}/users/update-password", new).status_code == 400
        wrong = {**new, "current_password": "not-it"}
        assert call(bob, "PATCH", f"{API}/users/update-password", wrong).status_code == 403
        right = {**new, "current_password": "user-password-1"}
        assert call(bob, "PATCH", f"{API}/users/update-password", right).status_code == 200
        # The old password stops working at once.
        assert call(bob, "GET", f"{API}/users/current").status_code == 401
    assert call(admin, "GET", f"{API}/users/get", {"username": "ghost"}).status_code == 404
    duplicate = call(admin, "POST", f"{API}/users/create", {"username": "bob", "password": "x" * 9})
    assert duplicate.status_code == 400
    short = call(admin, "POST", f"{API}/users/create", {"username": "dan", "password": "short"})
    assert short.status_code == 400 and "short" in short.json()["message"]
    assert call(admin, "GET", f"{API}/users/get", {"username": "dan"}).status_code == 404
    names = [u["username"] for u in call(admin, "GET", f"{API}/users/list").json()["users"]]
    assert {"admin", "bob", "carol"} <= set(names) and "dan" not in names
    # Made an admin, bob can do admin things at once; deleted, he cannot sign in any more.
    with client(server, "bob", "bob-password-2") as bob:
        assert call(bob, "GET", f"{API}/users/list").status_code == 403
        promote = {"username": "bob", "is_admin": True}
        assert call(admin, "PATCH", f"{API}/users/update-admin", promote).status_code == 200
        assert call(bob, "GET", f"{API}/users/list").status_code == 200
        assert call(admin, "DELETE", f"{API}/users/delete", {"username": "bob"}).status_code == 200
        assert call(bob, "GET", f"{API}/users/current").status_code == 401
    # The last admin cannot be removed.
    last = call(admin, "DELETE", f"{API}/users/delete", {"username": ADMIN})
    assert last.status_code == 400 and "only admin" in last.json()["message"]


def test_permissions_api_and_the_creators_manage(
    server: ServerProcess, admin: httpx.Client
) -> None:
    make_user(admin, "owner")
    make_user(admin, "guest")
    with (
        client(server, "owner", "user-password-1") as owner,
        client(server, "guest", "user-password-1") as guest,
    ):
        created = call(owner, "POST", f"{API}/experiments/create", {"name": "owned"})
        experiment_id = created.json()["experiment_id"]
        mine = {"experiment_id": experiment_id, "username": "owner"}
        got = call(owner, "GET", f"{API}/experiments/permissions/get", mine).json()
        assert got["experiment_permission"]["permission"] == "MANAGE"
        run = call(guest, "POST", f"{API}/runs/create", {"experiment_id": experiment_id})
        assert run.status_code == 403  # the default, READ
        grant = {"experiment_id": experiment_id, "username": "guest", "permission": "EDIT"}
        # Only a manager of the experiment may share it.
        assert (
            call(guest, "POST", f"{API}/experiments/permissions/create", grant).status_code == 403
        )
        shared = call(owner, "POST", f"{API}/experiments/permissions/create", grant)
        assert shared.status_code == 200
        assert shared.json()["experiment_permission"]["permission"] == "EDIT"
        assert (
            call(guest, "POST", f"{API}/runs/create", {"experiment_id": experiment_id}).status_code
            == 200
        )
        bad = {**grant, "permission": "OWNER"}
        assert call(owner, "PATCH", f"{API}/experiments/permissions/update", bad).status_code == 400
        block = {**grant, "permission": "NO_PERMISSIONS"}
        assert (
            call(owner, "PATCH", f"{API}/experiments/permissions/update", block).status_code == 200
        )
        read = {"experiment_id": experiment_id}
        assert call(guest, "GET", f"{API}/experiments/get", read).status_code == 403
        remove = {"experiment_id": experiment_id, "username": "guest"}
        assert (
            call(owner, "DELETE", f"{API}/experiments/permissions/delete", remove).status_code
            == 200
        )
        assert call(guest, "GET", f"{API}/experiments/get", read).status_code == 200
        # Registered models likewise.
        made = call(owner, "POST", f"{API}/registered-models/create", {"name": "owned-model"})
        assert made.status_code == 200
        model = {"name": "owned-model", "username": "guest", "permission": "READ"}
        assert (
            call(guest, "POST", f"{API}/registered-models/permissions/create", model).status_code
            == 403
        )
        given = call(owner, "POST", f"{API}/registered-models/permissions/create", model)
        assert given.json()["registered_model_permission"] == {
            "name": "owned-model",
            "user_id": given.json()["registered_model_permission"]["user_id"],
            "permission": "READ",
        }


def test_deletions_and_changes_are_audited(server: ServerProcess, admin: httpx.Client) -> None:
    make_user(admin, "deleter")
    with client(server, "deleter", "user-password-1") as deleter:
        experiment_id = call(deleter, "POST", f"{API}/experiments/create", {"name": "gone"}).json()[
            "experiment_id"
        ]
        run_id = call(
            deleter, "POST", f"{API}/runs/create", {"experiment_id": experiment_id}
        ).json()["run"]["info"]["run_id"]
        assert call(deleter, "POST", f"{API}/runs/delete", {"run_id": run_id}).status_code == 200
        deleted = call(
            deleter, "POST", f"{API}/experiments/delete", {"experiment_id": experiment_id}
        )
        assert deleted.status_code == 200
        # A refused deletion is not an event.
        assert (
            call(deleter, "POST", f"{API}/experiments/delete", {"experiment_id": "0"}).status_code
            == 403
        )
        assert call(deleter, "GET", f"{RUNLAB_API}/audit/list").status_code == 403
    events = call(admin, "GET", f"{RUNLAB_API}/audit/list", {"actor": "deleter"}).json()["events"]
    seen = [(e["action"], e["target"], e["address"]) for e in events]
    assert ("run.delete", f"run {run_id}", "127.0.0.1") in seen
    assert ("experiment.delete", f"experiment {experiment_id}", "127.0.0.1") in seen
    assert ("experiment.delete", "experiment 0", "127.0.0.1") not in seen
    changes = call(admin, "GET", f"{RUNLAB_API}/audit/list", {"actor": ADMIN}).json()["events"]
    assert ("user.create", "deleter") in [(e["action"], e["target"]) for e in changes]
    # Nothing in the log holds a password.
    everything = call(admin, "GET", f"{RUNLAB_API}/audit/list", {"limit": 1000}).text
    assert "user-password-1" not in everything and ADMIN_PASSWORD not in everything


def test_failed_sign_ins_are_limited_per_address(tmp_path: Path) -> None:
    process = auth_server(tmp_path)
    process.start()
    try:
        with client(process, ADMIN, ADMIN_PASSWORD) as admin:
            make_user(admin, "victim")
            for attempt in range(9):
                with client(process, f"guess{attempt}", "wrong-password") as guess:
                    assert call(guess, "POST", SEARCH).status_code == 401
            # A success from the same address does not wipe the address's failures...
            with client(process, "victim", "user-password-1") as victim:
                assert call(victim, "POST", SEARCH).status_code == 200
            with client(process, "guess9", "wrong-password") as guess:
                assert call(guess, "POST", SEARCH).status_code == 401
            # ...so the address is now refused, before any password is checked.
            with client(process, "victim", "another-guess") as guess:
                limited = call(guess, "POST", SEARCH)
            assert limited.status_code == 429
            assert 0 < int(limited.headers["retry-after"]) <= 300
            assert limited.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
            # Credentials the server already verified keep working (a training loop is not cut
            # off by someone else's guessing).
            with client(process, "victim", "user-password-1") as victim:
                assert call(victim, "POST", SEARCH).status_code == 200
    finally:
        process.stop()
    store = SqlAuthStore(_db(process))
    try:
        failed = store.audit_events(action="signin.failed")
    finally:
        store.close()
    assert len(failed) == 10  # the refused attempt past the limit is not recorded
    assert "another-guess" not in str(failed) and "wrong-password" not in str(failed)
    assert "wrong-password" not in process.log() and ADMIN_PASSWORD not in process.log()


def test_a_trusted_proxy_names_the_user(tmp_path: Path) -> None:
    process = auth_server(
        tmp_path,
        "--auth-trusted-header",
        "X-Forwarded-User",
        "--auth-trusted-proxies",
        "127.0.0.1/32",
    )
    process.start()
    try:
        with client(process, headers={"X-Forwarded-User": "sso-user"}) as proxied:
            me = call(proxied, "GET", f"{API}/users/current")
            assert me.status_code == 200, me.text
            user = me.json()["user"]
            assert (user["username"], user["is_admin"]) == ("sso-user", False)
            # Not an administrator because the proxy says a name.
            assert call(proxied, "GET", f"{API}/users/list").status_code == 403
        # Created without a password anyone knows: no way in with Basic.
        with client(process, "sso-user", "") as basic:
            assert call(basic, "GET", f"{API}/users/current").status_code == 401
        # Basic still works for everyone else.
        with client(process, ADMIN, ADMIN_PASSWORD) as admin:
            assert (
                call(admin, "GET", f"{API}/users/get", {"username": "sso-user"}).status_code == 200
            )
            created = call(
                admin, "GET", f"{RUNLAB_API}/audit/list", {"action": "user.create"}
            ).json()["events"]
            assert [e["target"] for e in created if e["actor"] == "sso-user"] == ["sso-user"]
    finally:
        process.stop()
