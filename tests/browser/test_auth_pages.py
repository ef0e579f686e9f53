"""Signing in to ``runlab server --auth`` with Chromium: login, permissions in the pages, sharing.

One server per module, started through its command line with ``--auth-default-permission
NO_PERMISSIONS``, so a user sees only what they were given. Users and experiments are made over
the REST API by the administrator and their owners; the browser signs in on the login page as a
person would.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import expect

from support.auth_server import ADMIN, ADMIN_PASSWORD, API, auth_server, call, client
from support.servers import ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from support.browser import ConsoleErrors, ScreenshotFn

PASSWORD = "browser-password-1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = auth_server(
        tmp_path_factory.mktemp("auth-ui"), "--auth-default-permission", "NO_PERMISSIONS"
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def admin(server: ServerProcess) -> Iterator[httpx.Client]:
    with client(server, ADMIN, ADMIN_PASSWORD) as http:
        yield http


def make_user(admin: httpx.Client, name: str) -> None:
    answer = call(admin, "POST", f"{API}/users/create", {"username": name, "password": PASSWORD})
    assert answer.status_code == 200, answer.text


def make_experiment(server: ServerProcess, owner: str, name: str) -> str:
    """An experiment created by ``owner`` over the API (so they have MANAGE on it)."""
    with client(server, owner, PASSWORD) as http:
        answer = call(http, "POST", f"{API}/experiments/create", {"name": name})
        assert answer.status_code == 200, answer.text
        experiment_id = str(answer.json()["experiment_id"])
        run = call(http, "POST", f"{API}/runs/create", {"experiment_id": experiment_id})
        assert run.status_code == 200, run.text
    return experiment_id


def grant(admin: httpx.Client, experiment_id: str, username: str, permission: str) -> None:
    body = {"experiment_id": experiment_id, "username": username, "permission": permission}
    answer = call(admin, "POST", f"{API}/experiments/permissions/create", body)
    assert answer.status_code == 200, answer.text


def sign_in(page: Page, server: ServerProcess, username: str, password: str = PASSWORD) -> None:
    """Open the experiments page, get sent to the login page, sign in, and come back."""
    page.goto(f"{server.url}/experiments")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fexperiments$"))
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.url}/experiments")
    expect(page.locator("#signed-in-user")).to_have_text(username)


def test_sign_in_see_your_experiments_and_sign_out(
    server: ServerProcess, admin: httpx.Client, page: Page, screenshot: ScreenshotFn
) -> None:
    make_user(admin, "ada")
    make_user(admin, "other")
    make_experiment(server, "ada", "ada-experiment")
    make_experiment(server, "other", "not-for-ada")
    page.goto(f"{server.url}/login")
    screenshot(page, "auth-login")
    sign_in(page, server, "ada")
    expect(page.locator("tr[data-name=ada-experiment]")).to_be_visible()
    expect(page.locator("tr[data-name=not-for-ada]")).to_have_count(0)
    screenshot(page, "auth-signed-in-experiments")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{server.url}/login")
    page.goto(f"{server.url}/experiments")
    expect(page).to_have_url(re.compile(r"/login\?next="))


def test_a_wrong_password_is_refused_on_the_page(
    server: ServerProcess, admin: httpx.Client, page: Page, console_errors: ConsoleErrors
) -> None:
    make_user(admin, "typo")
    # The 401 of the form's answer is logged by Chromium as a failed resource.
    console_errors.allow("401")
    page.goto(f"{server.url}/login")
    page.get_by_label("User name").fill("typo")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-error")).to_have_text("Wrong user name or password.")
    expect(page.get_by_label("User name")).to_have_value("typo")


def test_a_read_user_sees_no_edit_buttons(
    server: ServerProcess, admin: httpx.Client, page: Page, screenshot: ScreenshotFn
) -> None:
    make_user(admin, "owner1")
    make_user(admin, "reader1")
    experiment_id = make_experiment(server, "owner1", "read-only-here")
    grant(admin, experiment_id, "reader1", "READ")
    sign_in(page, server, "reader1")
    row = page.locator("tr[data-name=read-only-here]")
    expect(row).to_be_visible()
    expect(row.get_by_role("button", name="Rename")).to_have_count(0)
    expect(row.get_by_role("button", name="Delete")).to_have_count(0)
    page.goto(f"{server.url}/experiments/{experiment_id}?view=all")
    expect(page.locator("#runs tbody tr")).to_have_count(1)
    expect(page.locator("#delete-selected")).to_have_count(0)
    expect(page.locator("#restore-selected")).to_have_count(0)
    expect(page.locator("#share")).to_have_count(0)
    run_link = page.locator("#runs tbody tr td.name a").first
    run_link.click()
    expect(page.locator("#description")).to_be_visible()
    expect(page.locator("#edit-description")).to_have_count(0)
    expect(page.locator("#add-tag")).to_have_count(0)
    screenshot(page, "auth-read-only-run")


def test_sharing_an_experiment_lets_another_user_see_it(
    server: ServerProcess,
    admin: httpx.Client,
    browser: object,
    page: Page,
    screenshot: ScreenshotFn,
) -> None:
    make_user(admin, "sharer")
    make_user(admin, "friend")
    experiment_id = make_experiment(server, "sharer", "shared-by-the-panel")
    sign_in(page, server, "sharer")
    page.goto(f"{server.url}/experiments/{experiment_id}")
    panel = page.locator("#share")
    expect(panel.locator("tr[data-username=sharer]")).to_be_visible()
    expect(panel.locator("tr[data-username=friend]")).to_have_count(0)
    panel.get_by_label("User name").fill("friend")
    panel.get_by_label("Permission", exact=True).select_option("READ")
    panel.get_by_role("button", name="Grant").click()
    expect(panel.locator('tr[data-username=friend][data-permission="READ"]')).to_be_visible()
    screenshot(page, "auth-share-panel")

    # The friend, in a browser of their own, now finds the experiment.
    from playwright.sync_api import Browser

    assert isinstance(browser, Browser)
    context = browser.new_context()
    try:
        friend = context.new_page()
        sign_in(friend, server, "friend")
        expect(friend.locator("tr[data-name=shared-by-the-panel]")).to_be_visible()
        friend.goto(f"{server.url}/experiments/{experiment_id}")
        expect(friend.locator("h1")).to_contain_text("shared-by-the-panel")
        expect(friend.locator("#share")).to_have_count(0)
    finally:
        context.close()

    # Taking it back: the row's Remove button.
    page.once("dialog", lambda dialog: dialog.accept())
    panel.locator("tr[data-username=friend]").get_by_role("button", name="Remove").click()
    expect(panel.locator("tr[data-username=friend]")).to_have_count(0)


def test_the_admin_page_creates_a_user_who_can_sign_in(
    server: ServerProcess, browser: object, page: Page, screenshot: ScreenshotFn
) -> None:
    sign_in(page, server, ADMIN, ADMIN_PASSWORD)
    page.get_by_role("link", name="Admin").click()
    expect(page).to_have_url(f"{server.url}/admin")
    form = page.locator("#create-user-form")
    form.get_by_label("User name").fill("made-in-the-page")
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Create user").click()
    row = page.locator("#users tr[data-username=made-in-the-page]")
    expect(row).to_be_visible()
    expect(row).to_have_attribute("data-admin", "false")
    screenshot(page, "auth-admin")

    from playwright.sync_api import Browser

    assert isinstance(browser, Browser)
    context = browser.new_context()
    try:
        newcomer = context.new_page()
        sign_in(newcomer, server, "made-in-the-page")
        expect(newcomer.get_by_role("link", name="Admin")).to_have_count(0)
    finally:
        context.close()
