"""Pages that show what the signed-in user may do: buttons, the share panel, the admin page.

The world of :mod:`support.auth_world`: one experiment and one registered model on which
``manager`` has MANAGE, ``editor`` EDIT, ``reader`` READ, ``blocked`` NO_PERMISSIONS and
``bystander`` nothing of their own (the default, READ, applies); ``admin`` is an administrator.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from jinja2 import Environment

from runlab.entities import RunTag
from runlab.errors import RunlabError
from runlab.server.auth import AuthenticatedUser
from runlab.server.auth.decision import authorize
from runlab.server.auth.rules import NEEDS, experiment, model
from runlab.server.auth.sessions import CSRF_HEADER
from runlab.server.auth.web import _SCOPE
from runlab.server.context import ServerContext
from runlab.server.request_fields import RequestFields
from runlab.server.ui import auth_helpers
from support.asgi_api import Api
from support.auth_world import GRANTS, MODEL, PASSWORD, World
from support.web_session import csrf_of, open_api, sign_in, signed_in_page

USERS = ["admin", *GRANTS]


@pytest.fixture
def web(world: World) -> Iterator[Api]:
    yield from open_api(world)


def has_id(html: str, element_id: str) -> bool:
    return f'id="{element_id}"' in html


def loads_script(html: str, name: str) -> bool:
    """Whether the page runs ``static/<name>`` (every module is in its import map anyway)."""
    return f'<script type="module" src="/static/{name}?' in html


# -- buttons follow the permission ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "delete_runs", "share"),
    [
        ("admin", True, True),
        ("manager", True, True),
        ("editor", False, False),
        ("reader", False, False),
        ("bystander", False, False),
    ],
)
def test_the_experiment_page_offers_what_the_user_may_do(
    web: Api, world: World, username: str, delete_runs: bool, share: bool
) -> None:
    html = signed_in_page(web, username, f"/experiments/{world.experiment_id}")
    assert has_id(html, "delete-selected") is delete_runs
    assert has_id(html, "share") is share
    assert loads_script(html, "share.js") is share
    assert has_id(html, "compare")  # reading is for everyone who may see the page


def test_a_user_without_read_permission_gets_a_page_that_says_so(web: Api, world: World) -> None:
    sign_in(web, "blocked")
    answer = web.get(f"/experiments/{world.experiment_id}")
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html")
    assert "<h1>Not allowed</h1>" in answer.text
    assert "Permission denied: user &#39;blocked&#39; may not read" in answer.text
    assert "shared" not in answer.text  # not even the experiment's name
    for path in (f"/runs/{world.run_id}", f"/models/{MODEL}"):
        assert "<h1>Not allowed</h1>" in web.get(path).text
    # The API's answer stays JSON; so does a page's refusal of a change.
    api = web.get(f"/ajax-api/2.0/mlflow/experiments/get?experiment_id={world.experiment_id}")
    assert api.status_code == 403 and api.json()["error_code"] == "PERMISSION_DENIED"
    admin_page = web.get("/admin")
    assert admin_page.status_code == 403 and "only administrators" in admin_page.text


@pytest.mark.parametrize(
    ("username", "edit", "share"),
    [("manager", True, True), ("editor", True, False), ("reader", False, False)],
)
def test_the_model_page_offers_what_the_user_may_do(
    web: Api, username: str, edit: bool, share: bool
) -> None:
    html = signed_in_page(web, username, f"/models/{MODEL}")
    for control in ("edit-description", "description-form", "tag-form"):
        assert has_id(html, control) is edit, control
    assert loads_script(html, "model.js") is edit
    assert has_id(html, "share") is share


@pytest.mark.parametrize(("username", "edit"), [("editor", True), ("reader", False)])
def test_the_run_page_offers_editing_to_editors_only(
    web: Api, world: World, username: str, edit: bool
) -> None:
    world.tracking.set_tag(world.run_id, RunTag("team", "risk"))
    html = signed_in_page(web, username, f"/runs/{world.run_id}")
    assert has_id(html, "edit-description") is edit
    assert has_id(html, "add-tag") is edit
    assert ('data-action="delete-tag"' in html) is edit
    assert "risk" in html  # the tags themselves are shown to everyone who may read


@pytest.mark.parametrize(
    ("username", "rename", "delete"),
    [("manager", True, True), ("editor", True, False), ("reader", False, False)],
)
def test_the_experiments_list_offers_rename_and_delete_by_permission(
    web: Api, world: World, username: str, rename: bool, delete: bool
) -> None:
    html = signed_in_page(web, username, "/experiments")
    row = re.search(rf'<tr[^>]*data-experiment-id="{world.experiment_id}".*?</tr>', html, re.S)
    assert row, html
    assert ('data-action="rename"' in row.group(0)) is rename
    assert ('data-action="delete"' in row.group(0)) is delete


def test_may_agrees_with_the_decision_point(world: World) -> None:
    """The pages' may() answers exactly as authorize() decides for the API's routes, for every
    user, need, kind of resource and default permission."""
    for default in ("READ", "NO_PERMISSIONS", "EDIT"):
        for api in open_api(world, auth_default_permission=default):
            ctx = _context_of(api)
            assert ctx.auth is not None
            env = Environment()
            auth_helpers.install(env, ctx)
            may = env.globals["may"]
            assert callable(may)
            for username in USERS:
                principal = world.principal(username)
                assert principal is not None
                token = _SCOPE.set({"user": AuthenticatedUser(principal)})
                try:
                    for need in NEEDS:
                        for kind, rule, field, value in (
                            ("experiment", experiment(need), "experiment_id", world.experiment_id),
                            ("registered_model", model(need), "name", MODEL),
                        ):
                            try:
                                authorize(ctx.auth, principal, rule, RequestFields({field: value}))
                                allowed = True
                            except RunlabError:
                                allowed = False
                            assert may(need, kind, value) is allowed, (
                                default,
                                username,
                                need,
                                kind,
                            )
                finally:
                    _SCOPE.reset(token)


def _context_of(api: Api) -> ServerContext:
    app = api._client._transport.app  # type: ignore[attr-defined]
    context = app.state.context
    assert isinstance(context, ServerContext)
    return context


# -- the share panel -------------------------------------------------------------------------------


def test_the_share_panel_lists_the_grants(web: Api, world: World) -> None:
    html = signed_in_page(web, "manager", f"/experiments/{world.experiment_id}")
    panel = re.search(r'<section class="share panel" id="share".*?</section>', html, re.S)
    assert panel
    rows = dict(
        re.findall(r'<tr data-username="([^"]+)" data-permission="([^"]+)">', panel.group(0))
    )
    assert rows == {
        "manager": "MANAGE",
        "editor": "EDIT",
        "reader": "READ",
        "blocked": "NO_PERMISSIONS",
    }
    assert f'data-resource-id="{world.experiment_id}"' in panel.group(0)


def test_what_the_share_panel_sends_is_checked_by_the_server(web: Api, world: World) -> None:
    token = csrf_of(signed_in_page(web, "manager", f"/experiments/{world.experiment_id}"))
    grant = {"experiment_id": world.experiment_id, "username": "bystander", "permission": "EDIT"}
    made = web.post(
        "/ajax-api/2.0/mlflow/experiments/permissions/create",
        json=grant,
        headers={CSRF_HEADER: token},
    )
    assert made.status_code == 200, made.text
    assert (
        world.auth.get_experiment_permission(world.experiment_id, "bystander").permission == "EDIT"
    )
    html = web.get(f"/experiments/{world.experiment_id}").text
    assert '<tr data-username="bystander" data-permission="EDIT">' in html
    # A reader who forges the same request (with their own valid token) is refused.
    web._client.cookies.clear()
    token = csrf_of(signed_in_page(web, "reader"))
    forged = {"experiment_id": world.experiment_id, "username": "reader", "permission": "MANAGE"}
    refused = web.post(
        "/ajax-api/2.0/mlflow/experiments/permissions/create",
        json=forged,
        headers={CSRF_HEADER: token},
    )
    assert refused.status_code == 403
    assert world.auth.get_experiment_permission(world.experiment_id, "reader").permission == "READ"


def test_the_model_share_panel_names_the_model(web: Api) -> None:
    html = signed_in_page(web, "manager", f"/models/{MODEL}")
    assert f'data-kind="registered_model" data-resource-id="{MODEL}"' in html


# -- the admin page --------------------------------------------------------------------------------


def test_the_admin_page_lists_users_tokens_and_events(web: Api, world: World) -> None:
    world.auth.create_token("editor", "laptop", None)
    html = signed_in_page(web, "admin", "/admin")
    users = re.findall(r'<tr data-username="([^"]+)" data-admin="(true|false)">', html)
    assert sorted(users) == sorted([("admin", "true")] + [(name, "false") for name in GRANTS])
    assert 'data-token-name="laptop"' in html
    assert "rlt_" in html  # the token's non-secret prefix
    assert "signin" in html  # the audit log shows this very sign-in
    assert loads_script(html, "admin.js")
    assert 'href="/admin" aria-current="page"' in html


@pytest.mark.parametrize("username", ["manager", "reader"])
def test_only_administrators_see_the_admin_page(web: Api, username: str) -> None:
    html = signed_in_page(web, username)
    assert 'href="/admin"' not in html
    answer = web.get("/admin")
    assert answer.status_code == 403
    assert "<h1>Not allowed</h1>" in answer.text
    assert "laptop" not in answer.text and "bystander" not in answer.text


def test_the_admin_pages_changes_go_through_the_api_with_the_token(web: Api, world: World) -> None:
    token = csrf_of(signed_in_page(web, "admin", "/admin"))
    created = web.post(
        "/ajax-api/2.0/mlflow/users/create",
        json={"username": "newcomer", "password": PASSWORD},
        headers={CSRF_HEADER: token},
    )
    assert created.status_code == 200, created.text
    made_admin = web.request(
        "PATCH",
        "/ajax-api/2.0/mlflow/users/update-admin",
        json={"username": "newcomer", "is_admin": True},
        headers={CSRF_HEADER: token},
    )
    assert made_admin.status_code == 200, made_admin.text
    assert world.auth.get_user("newcomer").is_admin
    secret_token, _ = world.auth.create_token("editor", "ci", None)
    revoked = web.post(
        "/ajax-api/2.0/runlab/tokens/revoke",
        json={"token_id": secret_token.id},
        headers={CSRF_HEADER: token},
    )
    assert revoked.status_code == 200, revoked.text
    assert world.auth.list_tokens("editor") == []
    # Without the token, nothing happens.
    refused = web.request(
        "DELETE", "/ajax-api/2.0/mlflow/users/delete", json={"username": "newcomer"}
    )
    assert refused.status_code == 403
    assert world.auth.get_user("newcomer").username == "newcomer"
