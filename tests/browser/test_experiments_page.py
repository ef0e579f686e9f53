"""The experiments list in a real browser: listing, actions, filter errors and the keyboard.

The tests share one server (``runlab_server`` is per module), so each names its experiments
after itself and looks only at those rows.
"""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from support.browser import ConsoleErrors, RunlabUiServer, ScreenshotFn


def _row(page: Page, name: str) -> Locator:
    return page.locator(f'#experiments tr[data-name="{name}"]')


def test_lists_experiments_without_errors(
    runlab_server: RunlabUiServer, page: Page, screenshot: ScreenshotFn
) -> None:
    runlab_server.client.create_experiment("listed-in-browser")

    page.goto(f"{runlab_server.url}/experiments")

    expect(page).to_have_title(re.compile("Experiments"))
    expect(_row(page, "listed-in-browser")).to_be_visible()
    expect(_row(page, "Default")).to_be_visible()
    screenshot(page, "experiments-list")


def test_create_rename_delete_and_restore_from_the_page(
    runlab_server: RunlabUiServer, page: Page, screenshot: ScreenshotFn
) -> None:
    page.goto(f"{runlab_server.url}/experiments")

    page.fill("#new-name", "made-in-browser")
    page.click("#create-experiment button[type=submit]")
    expect(_row(page, "made-in-browser")).to_be_visible()
    made = runlab_server.client.get_experiment_by_name("made-in-browser")
    assert made is not None

    page.once("dialog", lambda dialog: dialog.accept("renamed-in-browser"))
    _row(page, "made-in-browser").get_by_role("button", name="Rename").click()
    expect(_row(page, "renamed-in-browser")).to_be_visible()
    expect(_row(page, "made-in-browser")).to_have_count(0)
    assert runlab_server.client.get_experiment(made.experiment_id).name == "renamed-in-browser"

    page.once("dialog", lambda dialog: dialog.accept())
    _row(page, "renamed-in-browser").get_by_role("button", name="Delete").click()
    expect(_row(page, "renamed-in-browser")).to_have_count(0)
    assert runlab_server.client.get_experiment(made.experiment_id).lifecycle_stage == "deleted"

    page.select_option("#view", "deleted")
    page.click("form.search button[type=submit]")
    deleted = _row(page, "renamed-in-browser")
    expect(deleted).to_have_class("deleted")
    screenshot(page, "experiments-deleted-view")
    deleted.get_by_role("button", name="Restore").click()
    expect(_row(page, "renamed-in-browser")).to_have_count(0)  # no longer in the deleted view
    assert runlab_server.client.get_experiment(made.experiment_id).lifecycle_stage == "active"


def test_dismissed_dialogs_change_nothing(runlab_server: RunlabUiServer, page: Page) -> None:
    runlab_server.client.create_experiment("kept-as-is")
    page.goto(f"{runlab_server.url}/experiments")

    page.once("dialog", lambda dialog: dialog.dismiss())
    _row(page, "kept-as-is").get_by_role("button", name="Rename").click()
    page.once("dialog", lambda dialog: dialog.dismiss())
    _row(page, "kept-as-is").get_by_role("button", name="Delete").click()

    expect(_row(page, "kept-as-is")).to_be_visible()
    expect(page.locator("#notice")).to_be_hidden()
    kept = runlab_server.client.get_experiment_by_name("kept-as-is")
    assert kept is not None and kept.lifecycle_stage == "active"


def test_a_failed_action_shows_the_servers_message(
    runlab_server: RunlabUiServer,
    page: Page,
    console_errors: ConsoleErrors,
    screenshot: ScreenshotFn,
) -> None:
    runlab_server.client.create_experiment("taken-name")
    # Chromium logs the API's 400 reply; the page itself must show why.
    console_errors.allow(r"status of 400")
    page.goto(f"{runlab_server.url}/experiments")

    page.fill("#new-name", "taken-name")
    page.click("#create-experiment button[type=submit]")

    notice = page.locator("#notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("taken-name")
    expect(notice).not_to_have_class(re.compile(r"\bok\b"))
    screenshot(page, "experiments-action-error")


def test_malformed_filter_shows_the_error_in_the_page(
    runlab_server: RunlabUiServer,
    page: Page,
    console_errors: ConsoleErrors,
    screenshot: ScreenshotFn,
) -> None:
    console_errors.allow(r"status of 400")  # the page itself answers 400
    page.goto(f"{runlab_server.url}/experiments")

    page.fill("#filter", "name ==== 'x")
    page.click("form.search button[type=submit]")

    error = page.locator("#filter-error")
    expect(error).to_be_visible()
    expect(error).not_to_be_empty()
    expect(page.locator("#filter")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#filter")).to_have_value("name ==== 'x")
    expect(page.locator("#experiments td.empty")).to_contain_text("fix the filter")
    screenshot(page, "experiments-filter-error")


def test_a_valid_filter_narrows_the_list(runlab_server: RunlabUiServer, page: Page) -> None:
    runlab_server.client.create_experiment("narrow-match")
    runlab_server.client.create_experiment("other-one")
    page.goto(f"{runlab_server.url}/experiments")

    page.fill("#filter", "name LIKE 'narrow%'")
    page.press("#filter", "Enter")

    expect(page.locator("#experiments tbody tr")).to_have_count(1)
    expect(_row(page, "narrow-match")).to_be_visible()
    assert "filter=name+LIKE" in page.url


def test_arrow_keys_move_between_rows(runlab_server: RunlabUiServer, page: Page) -> None:
    for name in ("keys-a", "keys-b", "keys-c"):
        runlab_server.client.create_experiment(name)
    page.goto(f"{runlab_server.url}/experiments?filter=name LIKE 'keys-%'")
    rows = page.locator("#experiments tbody tr")
    expect(rows).to_have_count(3)

    # The first row is the table's one Tab stop.
    page.locator("#filter").focus()
    for _ in range(20):
        page.keyboard.press("Tab")
        if rows.first.evaluate("row => row === document.activeElement"):
            break
    expect(rows.nth(0)).to_be_focused()

    page.keyboard.press("ArrowDown")
    expect(rows.nth(1)).to_be_focused()
    page.keyboard.press("End")
    expect(rows.nth(2)).to_be_focused()
    page.keyboard.press("ArrowDown")  # stays on the last row
    expect(rows.nth(2)).to_be_focused()
    page.keyboard.press("Home")
    expect(rows.nth(0)).to_be_focused()


def test_enter_on_a_row_opens_the_experiments_runs(
    runlab_server: RunlabUiServer, page: Page
) -> None:
    experiment_id = runlab_server.client.create_experiment("opened-with-enter")
    page.goto(f"{runlab_server.url}/experiments?filter=name = 'opened-with-enter'")
    row = _row(page, "opened-with-enter")
    expect(row).to_be_visible()

    row.focus()
    page.keyboard.press("Enter")

    expect(page).to_have_url(f"{runlab_server.url}/experiments/{experiment_id}")
    expect(page.locator("h1")).to_contain_text("opened-with-enter")
