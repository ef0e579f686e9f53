"""The browser fixtures themselves: errors are caught, a missing Chromium fails loudly."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from support.browser import (
    INSTALL_HINT,
    SCREENSHOTS,
    ConsoleErrors,
    ScreenshotFn,
    chromium_executable,
    screenshot_name,
)


def test_console_errors_and_uncaught_exceptions_are_recorded(
    page: Page, console_errors: ConsoleErrors
) -> None:
    page.set_content("<p>blank</p>")

    page.evaluate("console.error('logged on purpose')")
    page.evaluate("setTimeout(() => { throw new Error('thrown on purpose'); })")
    page.wait_for_timeout(100)  # let the timer fire

    assert console_errors.unexpected() == [
        "console.error: logged on purpose",
        "uncaught: thrown on purpose",
    ]
    # Declared, they no longer fail the test (the fixture checks at teardown).
    console_errors.allow("on purpose")
    assert console_errors.unexpected() == []


def test_a_missing_chromium_fails_with_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium on PATH either

    with pytest.raises(pytest.fail.Exception, match=INSTALL_HINT):
        chromium_executable(tmp_path / "chromium")


def test_screenshot_names_are_file_names() -> None:
    assert screenshot_name("FAILED-test_x[a/b c]") == "FAILED-test_x-a-b-c"
    with pytest.raises(ValueError, match="no usable characters"):
        screenshot_name("//")


def test_screenshots_are_full_page_pngs_in_test_output(
    page: Page, screenshot: ScreenshotFn
) -> None:
    page.set_content('<div style="height: 2000px">tall</div>')

    path = screenshot(page, "browser-support tall page")

    assert path == SCREENSHOTS / "browser-support-tall-page.png"
    png = path.read_bytes()
    assert png.startswith(b"\x89PNG")
    height = int.from_bytes(png[20:24], "big")  # the IHDR chunk: width, then height
    assert height >= 2000  # the whole page, not the 800-pixel viewport
