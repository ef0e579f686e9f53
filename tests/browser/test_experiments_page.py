"""The experiments list in a real browser: listing, actions, filter errors and the keyboard."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from support.browser import RunlabUiServer, ScreenshotFn


def test_lists_experiments_without_errors(
    runlab_server: RunlabUiServer, page: Page, screenshot: ScreenshotFn
) -> None:
    runlab_server.client.create_experiment("listed-in-browser")

    page.goto(f"{runlab_server.url}/experiments")

    expect(page.locator('tr[data-name="listed-in-browser"]')).to_be_visible()
    expect(page.locator('tr[data-name="Default"]')).to_be_visible()
    screenshot(page, "experiments-list")
