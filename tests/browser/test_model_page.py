"""The registered model page in a real browser: links from the list, stage and alias changes.

The tests share one server (``runlab_server`` is per module), so each registers a model named
after itself.
"""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from support.browser import ConsoleErrors, RunlabUiServer, ScreenshotFn


def _register(server: RunlabUiServer, name: str, versions: int) -> None:
    """A model ``name`` with ``versions`` versions, each from its own run's ``model`` folder."""
    client = server.client
    client.create_registered_model(name, description=f"{name}: seeded for the browser")
    for _ in range(versions):
        run = client.create_run("0")
        client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)


def _version_row(page: Page, version: int) -> Locator:
    return page.locator(f'#versions tr[data-version="{version}"]')


def test_list_links_to_the_model_page_which_loads_without_errors(
    runlab_server: RunlabUiServer, page: Page, screenshot: ScreenshotFn
) -> None:
    name = "browser fraud model"
    _register(runlab_server, name, 2)

    page.goto(f"{runlab_server.url}/models")
    screenshot(page, "models-list-linking-to-a-model")
    page.locator("#models").get_by_role("link", name=name).click()

    expect(page).to_have_url(re.compile(r"/models/browser%20fraud%20model$"))
    expect(page.locator("h1.model-name")).to_have_text(name)
    expect(page.locator("#versions tbody tr")).to_have_count(2)
    run_link = _version_row(page, 1).locator("td.run a")
    expect(run_link).to_have_attribute("href", re.compile(r"^/runs/[0-9a-f]+$"))
    screenshot(page, "model-page")


def test_stage_change_from_the_page_shows_after_reload(
    runlab_server: RunlabUiServer, page: Page, screenshot: ScreenshotFn
) -> None:
    name = "browser-stage-model"
    _register(runlab_server, name, 2)
    page.goto(f"{runlab_server.url}/models/{name}")

    first = _version_row(page, 1)
    first.locator("select[name=stage]").select_option("Production")
    first.get_by_role("button", name="Apply").click()
    expect(_version_row(page, 1)).to_have_attribute("data-stage", "Production")

    # Archiving the others is offered only for Staging and Production.
    second = _version_row(page, 2)
    archive = second.locator("input[name=archive]")
    expect(archive).to_be_disabled()
    second.locator("select[name=stage]").select_option("Production")
    expect(archive).to_be_enabled()
    archive.check()
    second.get_by_role("button", name="Apply").click()

    expect(_version_row(page, 2)).to_have_attribute("data-stage", "Production")
    expect(_version_row(page, 1)).to_have_attribute("data-stage", "Archived")
    changes = page.locator("#history td.change")
    expect(changes.first).to_have_text("Stage Production → Archived")
    assert runlab_server.client.get_model_version(name, 2).current_stage == "Production"
    screenshot(page, "model-page-stages")


def test_set_move_and_remove_an_alias(runlab_server: RunlabUiServer, page: Page) -> None:
    name = "browser-alias-model"
    _register(runlab_server, name, 2)
    page.goto(f"{runlab_server.url}/models/{name}")

    page.fill("#valias-1", "champion")
    _version_row(page, 1).get_by_role("button", name="Set").click()
    expect(_version_row(page, 1).locator(".aliases .badge")).to_have_text("@champion")

    alias_row = page.locator('#aliases tr[data-alias="champion"]')
    alias_row.locator("select").select_option("2")
    alias_row.get_by_role("button", name="Move").click()
    expect(_version_row(page, 2).locator(".aliases .badge")).to_have_text("@champion")
    assert runlab_server.client.get_model_version_by_alias(name, "champion").version == 2

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator('#aliases tr[data-alias="champion"]').get_by_role("button", name="Delete").click()
    expect(page.locator('#aliases tr[data-alias="champion"]')).to_have_count(0)
    expect(page.locator("#history td.change").first).to_have_text("Alias @champion removed")


def test_description_and_tags_are_edited_in_place(
    runlab_server: RunlabUiServer, page: Page
) -> None:
    name = "browser-describe-model"
    _register(runlab_server, name, 1)
    page.goto(f"{runlab_server.url}/models/{name}")

    page.click("#edit-description")
    page.fill("#description-input", "Scores <b>card</b> payments.\nSecond line.")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#description-text")).to_have_text(
        "Scores <b>card</b> payments.\nSecond line."
    )
    # Escape gives up an edit, as on the run page, and leaves the saved text.
    page.click("#edit-description")
    page.fill("#description-input", "thrown away")
    page.keyboard.press("Escape")
    expect(page.locator("#description-text")).to_have_text(
        "Scores <b>card</b> payments.\nSecond line."
    )
    expect(page.locator("#edit-description")).to_be_focused()

    page.fill("#tag-key", "team")
    page.fill("#tag-value", "risk")
    page.get_by_role("button", name="Set tag").click()
    tag = page.locator('#tags tr[data-tag-key="team"]')
    expect(tag.locator("td.value")).to_have_text("risk")

    tag.get_by_role("button", name="Edit").click()
    expect(page.locator("#tag-value")).to_have_value("risk")
    page.fill("#tag-value", "fraud")
    page.get_by_role("button", name="Set tag").click()
    expect(page.locator('#tags tr[data-tag-key="team"] td.value')).to_have_text("fraud")

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator('#tags tr[data-tag-key="team"]').get_by_role("button", name="Delete").click()
    expect(page.locator('#tags tr[data-tag-key="team"]')).to_have_count(0)
    assert runlab_server.client.get_registered_model(name).tags == {}


def test_a_refused_change_shows_the_servers_message(
    runlab_server: RunlabUiServer, page: Page, console_errors: ConsoleErrors
) -> None:
    # The browser logs the failed request's 400 itself; that one is expected.
    console_errors.allow(r"status of 400")
    name = "browser-refused-model"
    _register(runlab_server, name, 1)
    page.goto(f"{runlab_server.url}/models/{name}")

    page.fill("#valias-1", "latest")
    _version_row(page, 1).get_by_role("button", name="Set").click()

    expect(page.locator("#notice")).to_contain_text("reserved")
    expect(_version_row(page, 1).get_by_role("button", name="Set")).to_be_enabled()


def test_unknown_model_shows_a_404_message(
    runlab_server: RunlabUiServer, page: Page, console_errors: ConsoleErrors
) -> None:
    console_errors.allow(r"status of 404")  # the page itself answers 404
    response = page.goto(f"{runlab_server.url}/models/no-such-model")

    assert response is not None and response.status == 404
    expect(page.locator("#model-error")).to_contain_text("no-such-model")
