"""Signing in through the web UI: the login page, the session cookie, CSRF, redirects, logout.

The real app (``build_app`` with authentication on) over real SQLite stores (the world of
:mod:`support.auth_world`), driven in-process through httpx, which keeps cookies like a browser.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from anyio.from_thread import start_blocking_portal

from runlab.cli.server import ServeOptions, plan_server
from runlab.server.app import build_app
from runlab.server.auth.sessions import CSRF_HEADER, SESSION_COOKIE
from runlab.server.factory import ServerConfig, build_server_app
from runlab.server.settings import ServerSettings
from runlab.store.sql.auth import SqlAuthStore
from support.asgi_api import Api
from support.auth_world import PASSWORD, World
from support.web_session import (
    NAVIGATION,
    cookie_of,
    csrf_of,
    open_api,
    sign_in,
    signed_in_page,
)

EXPERIMENTS_CREATE = "/ajax-api/2.0/mlflow/experiments/create"
SEARCH = "/api/2.0/mlflow/experiments/search"


@pytest.fixture
def web(world: World) -> Iterator[Api]:
    yield from open_api(world)


def experiment_names(world: World) -> set[str]:
    return {e.name for e in world.tracking.search_experiments()}


# -- the login page ----------------------------------------------------------------------------


def test_the_login_page_is_a_form_that_needs_no_credentials(web: Api) -> None:
    page = web.get("/login?next=/experiments/1", headers=NAVIGATION)
    assert page.status_code == 200
    assert '<form method="post" action="/login"' in page.text
    assert 'name="next" value="/experiments/1"' in page.text
    assert 'autocomplete="current-password"' in page.text
    assert "runlab-csrf" not in page.text  # nobody is signed in
    assert "Sign out" not in page.text


def test_signing_in_sets_a_session_cookie_and_goes_on(web: Api, world: World) -> None:
    answer = sign_in(web, "reader", next_url="/experiments?view=all")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/experiments?view=all"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    attributes = [a.strip() for a in cookie.split(";")]
    assert "HttpOnly" in attributes and "SameSite=Lax" in attributes and "Path=/" in attributes
    # A 12-hour session; the cookie lives for what is left of it when the header is written,
    # which is the full 43,200 s unless a second ticked over since the session was issued.
    _, _, issued, expires, _ = attributes[0].split("=", 1)[1].split(".")
    assert int(expires) - int(issued) == 43200
    max_age = next(int(a.split("=")[1]) for a in attributes if a.startswith("Max-Age="))
    assert 43200 - 2 <= max_age <= 43200
    assert "Secure" not in attributes  # plain HTTP: a Secure cookie would never come back
    page = web.get("/experiments")
    assert page.status_code == 200
    assert 'id="signed-in-user"' in page.text and ">reader<" in page.text
    assert csrf_of(page.text)
    assert [e.action for e in world.auth.audit_events(actor="reader")] == ["signin"]


@pytest.mark.parametrize("username", ["reader", "nobody"])
def test_a_wrong_password_or_unknown_user_gets_the_same_refusal(
    web: Api, world: World, username: str
) -> None:
    answer = sign_in(web, username, "wrong password")
    assert answer.status_code == 401
    assert "Wrong user name or password." in answer.text
    assert "set-cookie" not in answer.headers
    assert cookie_of(web) is None
    assert 'value="' + username + '"' in answer.text  # the name stays in the form
    assert "wrong password" not in answer.text
    events = world.auth.audit_events(action="signin.failed")
    assert [(e.target, e.actor) for e in events] == [(username, None)]


def test_an_empty_form_is_refused_with_a_reason(web: Api) -> None:
    answer = web.post("/login", data={"username": "reader"})
    assert answer.status_code == 400
    assert "Enter your user name and your password." in answer.text
    assert "set-cookie" not in answer.headers


def test_an_oversized_form_is_refused(web: Api) -> None:
    answer = web.post("/login", data={"username": "reader", "password": "x" * 20_000})
    assert answer.status_code == 413
    assert "set-cookie" not in answer.headers


def test_failed_sign_ins_are_limited_with_the_other_credentials(world: World) -> None:
    for api in open_api(world, auth_max_failures=2):
        # One failure over HTTP Basic, one on the login page: the same count.
        basic = api.get(SEARCH, auth=("editor", "wrong password"))
        assert basic.status_code == 401
        assert sign_in(api, "editor", "wrong again").status_code == 401
        limited = sign_in(api, "editor")  # even the right password is not checked now
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) > 0
        assert "Too many failed sign-ins" in limited.text
        assert cookie_of(api) is None


def test_a_signed_in_visitor_of_the_login_page_goes_on(web: Api) -> None:
    sign_in(web, "reader")
    again = web.get("/login?next=/models")
    assert again.status_code == 303
    assert again.headers["location"] == "/models"


# -- pages ask anonymous visitors to sign in -----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "login"),
    [
        ("/", "/login"),
        ("/experiments", "/login?next=%2Fexperiments"),
        (
            "/experiments/1?view=all&filter=a",
            "/login?next=%2Fexperiments%2F1%3Fview%3Dall%26filter%3Da",
        ),
        ("/models/clf", "/login?next=%2Fmodels%2Fclf"),
        ("/admin", "/login?next=%2Fadmin"),
    ],
)
def test_pages_redirect_anonymous_visitors_to_the_login_page(
    web: Api, path: str, login: str
) -> None:
    answer = web.get(path, headers=NAVIGATION)
    assert answer.status_code == 303
    assert answer.headers["location"] == login
    assert answer.content == b""
    assert "www-authenticate" not in answer.headers


def test_after_signing_in_the_redirect_returns_to_the_page(web: Api, world: World) -> None:
    first = web.get(f"/experiments/{world.experiment_id}?view=all", headers=NAVIGATION)
    next_url = parse_qs(urlsplit(first.headers["location"]).query)["next"][0]
    login = web.get(first.headers["location"])
    assert f'name="next" value="{next_url}"' in login.text.replace("&amp;", "&")
    answer = sign_in(web, "reader", next_url=next_url)
    assert answer.headers["location"] == f"/experiments/{world.experiment_id}?view=all"
    assert web.get(answer.headers["location"]).status_code == 200


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
    ],
)
def test_the_next_parameter_never_leaves_the_site(web: Api, target: str) -> None:
    answer = sign_in(web, "reader", next_url=target)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"
    form = web.get("/login", params={"next": target})
    assert form.status_code == 303 and form.headers["location"] == "/"  # signed in already
    web._client.cookies.clear()
    form = web.get("/login", params={"next": target})
    assert 'name="next" value="/"' in form.text


def test_the_api_still_answers_401_in_json(web: Api, world: World) -> None:
    answer = web.get(SEARCH, headers=NAVIGATION)
    assert answer.status_code == 401
    assert answer.json()["error_code"] == "UNAUTHENTICATED"
    # Not a page either, though outside the API's prefixes: programs fetch it.
    download = web.get(f"/get-artifact?run_id={world.run_id}&path=x", headers=NAVIGATION)
    assert download.status_code == 401
    assert download.json()["error_code"] == "UNAUTHENTICATED"


# -- challenges ----------------------------------------------------------------------------------


def test_browsers_are_never_challenged_for_basic_credentials(web: Api) -> None:
    # A challenge makes a browser prompt, then send what it was given with every request.
    programs = web.get(SEARCH)
    assert programs.headers["www-authenticate"].startswith("Basic")
    browser = web.get(SEARCH, headers={"Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin"})
    assert browser.status_code == 401
    assert "www-authenticate" not in browser.headers
    ui_api = web.get("/ajax-api/2.0/mlflow/experiments/search")
    assert ui_api.status_code == 401
    assert "www-authenticate" not in ui_api.headers


# -- the cookie as a credential ------------------------------------------------------------------


def test_a_session_signs_in_api_calls_too(web: Api) -> None:
    sign_in(web, "reader")
    found = web.get("/ajax-api/2.0/mlflow/experiments/search")
    assert found.status_code == 200
    assert "shared" in {e["name"] for e in found.json()["experiments"]}


def test_a_tampered_cookie_counts_for_nothing_and_is_removed(web: Api) -> None:
    sign_in(web, "reader")
    value = cookie_of(web)
    assert value is not None
    version, _reader, issued, expires, signature = value.split(".")
    admin = "YWRtaW4"  # "admin" in URL-safe base64
    web._client.cookies.clear()
    forged = ".".join((version, admin, issued, expires, signature))
    answer = web.get(SEARCH, headers={"Cookie": f"{SESSION_COOKIE}={forged}"})
    assert answer.status_code == 401
    assert answer.headers["set-cookie"].startswith(f"{SESSION_COOKIE}=;")
    page = web.get("/experiments", headers={"Cookie": f"{SESSION_COOKIE}={forged}"})
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


def test_a_new_password_ends_the_session(web: Api, world: World) -> None:
    sign_in(web, "reader")
    assert web.get(SEARCH).status_code == 200
    world.auth.update_password("reader", "a new password")
    assert web.get(SEARCH).status_code == 401
    assert cookie_of(web) is None  # the response removed it


def test_a_deleted_users_session_ends(web: Api, world: World) -> None:
    sign_in(web, "bystander")
    world.auth.delete_user("bystander")
    assert web.get(SEARCH).status_code == 401


def test_admin_rights_follow_the_user_not_the_cookie(web: Api, world: World) -> None:
    sign_in(web, "editor")
    assert web.get("/admin").status_code == 403
    world.auth.set_admin("editor", True)
    assert web.get("/admin").status_code == 200


# -- CSRF ----------------------------------------------------------------------------------------


def test_changes_need_the_csrf_token(web: Api, world: World) -> None:
    token = csrf_of(signed_in_page(web, "reader"))
    before = experiment_names(world)
    missing = web.post(EXPERIMENTS_CREATE, json={"name": "no token"})
    wrong = web.post(EXPERIMENTS_CREATE, json={"name": "wrong"}, headers={CSRF_HEADER: "x" * 43})
    for refused in (missing, wrong):
        assert refused.status_code == 403
        assert refused.json()["error_code"] == "PERMISSION_DENIED"
        assert "CSRF token" in refused.json()["message"]
    assert experiment_names(world) == before  # nothing was written
    made = web.post(EXPERIMENTS_CREATE, json={"name": "with token"}, headers={CSRF_HEADER: token})
    assert made.status_code == 200, made.text
    assert experiment_names(world) == before | {"with token"}


def test_another_sessions_token_does_not_do(world: World) -> None:
    tokens = []
    for api in open_api(world):
        tokens.append(csrf_of(signed_in_page(api, "reader")))
    for api in open_api(world):
        signed_in_page(api, "reader")
        refused = api.post(EXPERIMENTS_CREATE, json={"name": "x"}, headers={CSRF_HEADER: tokens[0]})
        assert refused.status_code == 403
    assert "x" not in experiment_names(world)


@pytest.mark.parametrize("method", ["PATCH", "DELETE", "PUT"])
def test_every_changing_method_needs_the_token(web: Api, method: str) -> None:
    signed_in_page(web, "manager")
    answer = web.request(method, "/ajax-api/2.0/mlflow/registered-models/update", json={})
    assert answer.status_code == 403
    assert "CSRF token" in answer.json()["message"]


def test_basic_credentials_need_no_token_unless_a_session_rides_along(
    web: Api, world: World
) -> None:
    plain = web.post(EXPERIMENTS_CREATE, json={"name": "by basic"}, auth=("editor", PASSWORD))
    assert plain.status_code == 200, plain.text
    # A browser with a session that also resends cached Basic credentials: the token is needed.
    signed_in_page(web, "editor")
    riding = web.post(EXPERIMENTS_CREATE, json={"name": "riding"}, auth=("editor", PASSWORD))
    assert riding.status_code == 403
    assert "riding" not in experiment_names(world)


def test_bearer_tokens_need_no_csrf_token(web: Api, world: World) -> None:
    _, secret = world.auth.create_token("editor", "ci", None)
    signed_in_page(web, "reader")
    made = web.post(
        EXPERIMENTS_CREATE,
        json={"name": "by token"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert made.status_code == 200, made.text


def test_a_read_users_forged_change_is_refused_by_the_server(web: Api, world: World) -> None:
    token = csrf_of(signed_in_page(web, "reader"))
    answer = web.post(
        "/ajax-api/2.0/mlflow/experiments/delete",
        json={"experiment_id": world.experiment_id},
        headers={CSRF_HEADER: token},
    )
    assert answer.status_code == 403
    assert world.tracking.get_experiment(world.experiment_id).lifecycle_stage == "active"


# -- HTTPS ---------------------------------------------------------------------------------------


def test_the_cookie_is_secure_over_https(world: World) -> None:
    for api in open_api(world, base_url="https://localhost"):
        answer = sign_in(api, "reader")
        assert "Secure" in [a.strip() for a in answer.headers["set-cookie"].split(";")]
        assert api.get(SEARCH).status_code == 200  # and the browser sends it back


def test_a_trusted_proxy_may_say_the_browser_used_https(world: World) -> None:
    https = {"X-Forwarded-Proto": "https"}
    for api in open_api(world):
        # From an address nobody configured as a proxy, the header means nothing.
        answer = api.post(
            "/login", data={"username": "reader", "password": PASSWORD}, headers=https
        )
        assert "Secure" not in answer.headers["set-cookie"]
    for api in open_api(
        world, auth_trusted_header="X-Forwarded-User", auth_trusted_proxies=("127.0.0.1/32",)
    ):
        answer = api.post(
            "/login", data={"username": "reader", "password": PASSWORD}, headers=https
        )
        assert "Secure" in [a.strip() for a in answer.headers["set-cookie"].split(";")]


# -- signing out ---------------------------------------------------------------------------------


def test_signing_out_removes_the_cookie(web: Api, world: World) -> None:
    token = csrf_of(signed_in_page(web, "reader"))
    assert web.post("/logout").status_code == 403  # a forged sign-out does nothing
    assert cookie_of(web) is not None
    answer = web.post("/logout", headers={CSRF_HEADER: token})
    assert answer.status_code == 200
    assert answer.headers["set-cookie"].startswith(f"{SESSION_COOKIE}=;")
    assert cookie_of(web) is None
    page = web.get("/experiments", headers=NAVIGATION)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert [e.action for e in world.auth.audit_events(actor="reader")] == ["signout", "signin"]


def test_signing_out_needs_a_session(web: Api) -> None:
    assert web.post("/logout").status_code == 401


# -- without --auth ------------------------------------------------------------------------------


def test_without_auth_there_is_nothing_to_sign_in_to(world: World) -> None:
    app = build_app(world.tracking, world.registry, settings=ServerSettings())
    with start_blocking_portal() as portal:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://localhost"
        )
        api = Api(portal, client)
        try:
            login = api.get("/login")
            assert login.status_code == 404
            assert "started without <code>--auth</code>" in login.text
            posted = api.post("/login", data={"username": "admin", "password": PASSWORD})
            assert posted.status_code == 404 and "set-cookie" not in posted.headers
            admin = api.get("/admin")
            assert admin.status_code == 404 and "started without --auth" in admin.text
            page = api.get("/experiments")
            assert page.status_code == 200
            assert "Sign out" not in page.text and "runlab-csrf" not in page.text
        finally:
            portal.call(client.aclose)


# -- several workers -------------------------------------------------------------------------------


def _asgi_client(portal: Any, app: Any) -> Api:
    return Api(
        portal,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost"),
    )


def test_every_worker_of_one_server_start_accepts_the_same_sessions(tmp_path: Path) -> None:
    """``runlab server --auth --workers N`` gives its workers one signing key: a session made by
    one worker is good with the others; another start of the server makes a new key."""
    plan = plan_server(ServeOptions(auth=True), str(tmp_path))
    secret = plan.config.settings.auth_session_secret
    assert secret and len(secret) >= 32
    assert (
        plan_server(ServeOptions(auth=True), str(tmp_path)).config.settings.auth_session_secret
        != secret
    )
    assert plan_server(ServeOptions(), str(tmp_path)).config.settings.auth_session_secret is None
    # What each worker reads back from the configuration the CLI hands down.
    config = ServerConfig.from_json(plan.config.to_json())
    assert config.settings.auth_session_secret == secret
    auth_uri = config.auth_database_uri
    assert auth_uri is not None
    store = SqlAuthStore(auth_uri)
    try:
        store.create_user("ada", PASSWORD, is_admin=True)
    finally:
        store.close()
    first, second = build_server_app(config), build_server_app(config)
    restarted = build_server_app(
        ServerConfig.from_json(plan_server(ServeOptions(auth=True), str(tmp_path)).config.to_json())
    )
    with start_blocking_portal() as portal:
        clients = [_asgi_client(portal, app) for app in (first, second, restarted)]
        try:
            signed_in = sign_in(clients[0], "ada")
            assert signed_in.status_code == 303
            cookie = {"Cookie": signed_in.headers["set-cookie"].split(";")[0]}
            assert clients[1].get(SEARCH, headers=cookie).status_code == 200
            assert clients[2].get(SEARCH, headers=cookie).status_code == 401
        finally:
            for api in clients:
                portal.call(api._client.aclose)


def test_another_site_cannot_sign_a_browser_in(web: Api) -> None:
    # Login CSRF: a form on another site posting someone's own credentials to sign the victim's
    # browser in as them. The browser names the form's origin, and cross-origin writes are
    # refused before anything else looks at them.
    answer = web.post(
        "/login",
        data={"username": "reader", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert answer.status_code == 403
    assert "set-cookie" not in answer.headers
    same_site = web.post(
        "/login",
        data={"username": "reader", "password": PASSWORD},
        headers={"Origin": "http://localhost"},
    )
    assert same_site.status_code == 303
