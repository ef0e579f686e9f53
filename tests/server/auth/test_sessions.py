"""Web session cookies: signing, expiry, tampering, CSRF tokens, safe redirects, the stamp."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from runlab.server.auth.sessions import (
    DEFAULT_SESSION_SECONDS,
    SESSION_COOKIE,
    Sessions,
    safe_next,
)
from runlab.store.sql.auth import SqlAuthStore
from support.auth_world import FAST_HASHER, PASSWORD

SECRET = "s" * 43
STAMP = "a" * 64


class Clock:
    """A clock the test moves by hand (seconds since the epoch)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sessions(clock: Clock) -> Sessions:
    return Sessions(SECRET, clock=clock)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# -- signing -------------------------------------------------------------------------------------


def test_an_issued_cookie_verifies_for_its_user_and_stamp(sessions: Sessions, clock: Clock) -> None:
    value, issued = sessions.issue("ada", STAMP)
    parsed = sessions.parse(value)
    assert parsed == issued
    assert parsed.username == "ada"
    assert parsed.issued_at == int(clock.now)
    assert parsed.expires_at == int(clock.now) + DEFAULT_SESSION_SECONDS
    assert sessions.verify(parsed, STAMP)


def test_user_names_with_dots_and_unicode_round_trip(sessions: Sessions) -> None:
    for name in ("a.b.c", "zoë", "x" * 255):
        value, _ = sessions.issue(name, STAMP)
        parsed = sessions.parse(value)
        assert parsed is not None and parsed.username == name
        assert sessions.verify(parsed, STAMP)


def test_a_new_password_stamp_ends_the_session(sessions: Sessions) -> None:
    value, _ = sessions.issue("ada", STAMP)
    parsed = sessions.parse(value)
    assert parsed is not None
    assert not sessions.verify(parsed, "b" * 64)


def test_another_servers_secret_does_not_verify(sessions: Sessions, clock: Clock) -> None:
    value, _ = sessions.issue("ada", STAMP)
    other = Sessions("t" * 43, clock=clock)
    parsed = other.parse(value)
    assert parsed is not None  # well formed…
    assert not other.verify(parsed, STAMP)  # …but not signed by this server


def test_tampered_cookies_are_refused(sessions: Sessions) -> None:
    value, _ = sessions.issue("ada", STAMP)
    version, user, issued, expires, signature = value.split(".")
    forged_user = ".".join((version, _b64(b"root"), issued, expires, signature))
    longer = ".".join((version, user, issued, str(int(expires) + 10), signature))
    earlier = ".".join((version, user, str(int(issued) - 10), expires, signature))
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    bad_signature = ".".join((version, user, issued, expires, flipped))
    for forged in (forged_user, longer, earlier, bad_signature):
        parsed = sessions.parse(forged)
        assert parsed is None or not sessions.verify(parsed, STAMP), forged


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "1.a.b.c.d",
        "2.YWRh.1.2." + "A" * 43,  # another format version
        "1.!!!.1800000000.1800003600." + "A" * 43,  # not base64
        "1.YWRh.1800000000.1800003600.AAAA",  # a signature of the wrong length
        "1.YWRh.-5.1800003600." + "A" * 43,
        "1.YWRh.1800000000.1800003600." + "A" * 43 + ".extra",
        "1." + "A" * 2000,
        "1..1800000000.1800003600." + "A" * 43,  # no user name
    ],
)
def test_malformed_cookies_are_not_sessions(sessions: Sessions, value: str) -> None:
    assert sessions.parse(value) is None


# -- expiry --------------------------------------------------------------------------------------


def test_a_session_expires_after_its_lifetime(clock: Clock) -> None:
    sessions = Sessions(SECRET, lifetime=3600, clock=clock)
    value, _ = sessions.issue("ada", STAMP)
    clock.now += 3599
    assert sessions.parse(value) is not None
    clock.now += 1
    assert sessions.parse(value) is None


def test_a_cookie_claiming_a_longer_life_than_the_server_gives_is_refused(clock: Clock) -> None:
    # Signed by a server that gave week-long sessions, shown to one that gives an hour.
    long_lived = Sessions(SECRET, lifetime=7 * 86400, clock=clock)
    value, _ = long_lived.issue("ada", STAMP)
    assert Sessions(SECRET, lifetime=3600, clock=clock).parse(value) is None


def test_a_cookie_issued_in_the_future_is_refused(clock: Clock) -> None:
    sessions = Sessions(SECRET, clock=clock)
    clock.now += 3600
    value, _ = sessions.issue("ada", STAMP)
    clock.now -= 3600
    assert sessions.parse(value) is None


@pytest.mark.parametrize(
    ("secret", "lifetime", "message"),
    [("short", 3600, "too short"), (SECRET, 10, "at least 60 seconds")],
)
def test_bad_settings_are_refused_with_a_reason(secret: str, lifetime: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Sessions(secret, lifetime=lifetime)


# -- CSRF ----------------------------------------------------------------------------------------


def test_the_csrf_token_belongs_to_one_session(sessions: Sessions, clock: Clock) -> None:
    value, first = sessions.issue("ada", STAMP)
    clock.now += 1
    _, second = sessions.issue("ada", STAMP)
    token = sessions.csrf_token(first)
    assert sessions.csrf_matches(first, token)
    assert sessions.csrf_token(first) == token  # stable for the whole session
    assert not sessions.csrf_matches(second, token)  # another session of the same user
    assert sessions.csrf_token(second) != token
    parsed = sessions.parse(value)
    assert parsed is not None and sessions.csrf_matches(parsed, token)


@pytest.mark.parametrize("token", [None, "", "x", "A" * 43, "A" * 500])
def test_missing_or_wrong_csrf_tokens_do_not_match(sessions: Sessions, token: str | None) -> None:
    _, session = sessions.issue("ada", STAMP)
    assert not sessions.csrf_matches(session, token)


def test_the_csrf_token_is_not_the_signature_nor_a_cookie(sessions: Sessions) -> None:
    value, session = sessions.issue("ada", STAMP)
    token = sessions.csrf_token(session)
    assert token not in value
    # Nor another server's token for the same session.
    assert Sessions("t" * 43).csrf_token(session) != token


# -- the cookie's attributes ---------------------------------------------------------------------


def test_the_cookie_is_http_only_same_site_lax_and_expires(sessions: Sessions) -> None:
    value, session = sessions.issue("ada", STAMP)
    header = sessions.set_cookie_header(value, session, secure=False)
    parts = [p.strip() for p in header.split(";")]
    assert parts[0] == f"{SESSION_COOKIE}={value}"
    assert "HttpOnly" in parts
    assert "SameSite=Lax" in parts
    assert "Path=/" in parts
    assert f"Max-Age={DEFAULT_SESSION_SECONDS}" in parts
    assert "Secure" not in parts
    assert "Secure" in sessions.set_cookie_header(value, session, secure=True).split("; ")


def test_clearing_the_cookie_empties_and_expires_it() -> None:
    header = Sessions.clear_cookie_header(secure=True)
    assert header.startswith(f"{SESSION_COOKIE}=;")
    assert "Max-Age=0" in header
    assert "Secure" in header and "HttpOnly" in header


# -- where to go after signing in ----------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    ["/", "/experiments", "/experiments/3?view=all&filter=a%3Db", "/models/a%2Fb", "/runs/x#m"],
)
def test_paths_on_this_site_are_kept(target: str) -> None:
    assert safe_next(target) == target


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "https://evil.example/",
        "http:evil.example",
        "//evil.example/path",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "javascript:alert(1)",
        "experiments",
        "/ok\\..\\",
        "/" + "a" * 3000,
    ],
)
def test_anything_else_goes_home(target: str | None) -> None:
    assert safe_next(target) == "/"


# -- the store's stamp ---------------------------------------------------------------------------


@pytest.fixture
def auth_store(tmp_path: Path) -> Iterator[SqlAuthStore]:
    store = SqlAuthStore(f"sqlite:///{tmp_path / 'auth.db'}", password_hasher=FAST_HASHER)
    yield store
    store.close()


def test_the_stamp_changes_with_the_password_and_ends_with_the_user(
    auth_store: SqlAuthStore,
) -> None:
    assert auth_store.session_stamp("ada") is None
    auth_store.create_user("ada", PASSWORD, is_admin=True)
    found = auth_store.session_stamp("ada")
    assert found is not None
    user, stamp = found
    assert user.username == "ada" and user.is_admin
    assert len(stamp) == 64
    assert auth_store.session_stamp("ada") == found  # stable while nothing changes
    auth_store.set_admin("ada", True)
    assert auth_store.session_stamp("ada") == found
    auth_store.update_password("ada", "another password")
    changed = auth_store.session_stamp("ada")
    assert changed is not None and changed[1] != stamp
    auth_store.create_user("bob", PASSWORD)
    auth_store.delete_user("bob")
    assert auth_store.session_stamp("bob") is None


def test_the_stamp_reveals_nothing_of_the_password_hash(auth_store: SqlAuthStore) -> None:
    auth_store.create_user("ada", PASSWORD)
    found = auth_store.session_stamp("ada")
    assert found is not None
    assert "argon2" not in found[1] and "$" not in found[1]
    # Two users with the same password have different stamps (the hashes are salted).
    auth_store.create_user("bob", PASSWORD)
    other = auth_store.session_stamp("bob")
    assert other is not None and other[1] != found[1]
