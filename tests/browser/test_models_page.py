"""The registered models list in a real browser: what it shows, filter errors, the keyboard.

The tests share one server (``runlab_server`` is per module), so each names its models after
itself and looks only at those rows.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from playwright.sync_api import Page, expect

from support.browser import ConsoleErrors, RunlabUiServer, ScreenshotFn


def _register(server: RunlabUiServer, name: str, versions: int = 1) -> None:
    """A registered model with ``versions`` versions, each from a run of its own."""
    client = server.client
    client.create_registered_model(name)
    for _ in range(versions):
        run = client.create_run("0")
        client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)


def test_lists_models_with_stages_aliases_tags_and_description(
    runlab_server: RunlabUiServer, page: Page, screenshot: ScreenshotFn
) -> None:
    client = runlab_server.client
    _register(runlab_server, "fraud-detector", versions=3)
    client.transition_model_version_stage("fraud-detector", 2, "Production")
    client.transition_model_version_stage("fraud-detector", 3, "Staging")
    client.set_registered_model_alias("fraud-detector", "champion", 2)
    client.set_registered_model_tag("fraud-detector", "team", "risk")
    client.update_registered_model("fraud-detector", description="Scores card payments.")

    page.goto(f"{runlab_server.url}/models")

    expect(page).to_have_title(re.compile("Registered models"))
    row = page.locator('#models tr[data-name="fraud-detector"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("Scores card payments.")
    expect(row).to_contain_text("v2 · Production")
    expect(row).to_contain_text("v3 · Staging")
    expect(row).to_contain_text("@champion → v2")
    expect(row).to_contain_text("team=risk")
    screenshot(page, "models-list")


def test_malformed_filter_shows_the_error_in_the_page(
    runlab_server: RunlabUiServer,
    page: Page,
    console_errors: ConsoleErrors,
    screenshot: ScreenshotFn,
) -> None:
    console_errors.allow(r"status of 400")  # the page itself answers 400
    page.goto(f"{runlab_server.url}/models")

    page.fill("#filter", "name = = 'broken")
    page.click("form.search button[type=submit]")

    error = page.locator("#filter-error")
    expect(error).to_be_visible()
    expect(error).not_to_be_empty()
    expect(page.locator("#filter")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#filter")).to_have_value("name = = 'broken")
    expect(page.locator("#models td.empty")).to_contain_text("fix the filter")
    screenshot(page, "models-filter-error")


def test_a_valid_filter_narrows_the_list(runlab_server: RunlabUiServer, page: Page) -> None:
    _register(runlab_server, "narrow-model")
    _register(runlab_server, "wide-model")
    page.goto(f"{runlab_server.url}/models")

    page.fill("#filter", "name LIKE 'narrow%'")
    page.press("#filter", "Enter")

    expect(page.locator("#models tbody tr")).to_have_count(1)
    expect(page.locator('#models tr[data-name="narrow-model"]')).to_be_visible()


def test_arrow_keys_move_between_rows(runlab_server: RunlabUiServer, page: Page) -> None:
    for name in ("keys-a", "keys-b"):
        _register(runlab_server, name)
    page.goto(f"{runlab_server.url}/models?filter=name LIKE 'keys-%'")
    rows = page.locator("#models tbody tr")
    expect(rows).to_have_count(2)

    rows.first.focus()
    page.keyboard.press("ArrowDown")
    expect(rows.nth(1)).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(rows.nth(0)).to_be_focused()


def test_enter_on_a_row_opens_the_model_page(runlab_server: RunlabUiServer, page: Page) -> None:
    # A space and a '#': the link must encode both for the model page to find the model.
    _register(runlab_server, "enter model #1")
    page.goto(f"{runlab_server.url}/models?" + urlencode({"filter": "name = 'enter model #1'"}))
    row = page.locator("#models tbody tr")
    expect(row).to_have_count(1)

    row.focus()
    page.keyboard.press("Enter")

    expect(page).to_have_url(f"{runlab_server.url}/models/enter%20model%20%231")
    expect(page.locator("h1")).to_contain_text("enter model #1")
