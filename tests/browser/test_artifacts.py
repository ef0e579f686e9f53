"""The run page's artifact browser in a real browser: folders open on demand, files preview as a
table, an image or text, the keyboard moves through the tree, and an empty run says so.

The module's tests share one server, so each logs to a run of its own.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from support.browser import ConsoleErrors, RunlabUiServer, ScreenshotFn


def _png(width: int, height: int) -> bytes:
    """A small RGB gradient as a PNG file, written by hand (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\x00" + bytes(value for x in range(width) for value in (x * 4 % 256, y * 8 % 256, 160))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _new_run(server: RunlabUiServer, name: str) -> str:
    experiment_id = server.client.create_experiment(name)
    return server.client.create_run(experiment_id).info.run_id


def _seed(server: RunlabUiServer, run_id: str, folder: Path) -> None:
    """Log a small tree of artifacts the way a user's script would."""
    (folder / "eval").mkdir(parents=True)
    (folder / "plots").mkdir()
    (folder / "model").mkdir()
    (folder / "eval" / "results.csv").write_text("epoch,loss\n1,0.9\n2,0.5\n3,0.25\n")
    (folder / "plots" / "loss.png").write_bytes(_png(320, 160))
    (folder / "model" / "MLmodel").write_text("flavors:\n  python_function:\n    loader: x\n")
    (folder / "params.json").write_text('{"lr": 0.1, "layers": [64, 32]}')
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    sink = io.BytesIO()
    pq.write_table(pa.table({"id": list(range(250)), "x": [i * 2 for i in range(250)]}), sink)
    (folder / "eval" / "rows.parquet").write_bytes(sink.getvalue())
    server.client.log_artifacts(run_id, str(folder))


def _item(page: Page, name: str) -> Locator:
    """The tree item named ``name`` (its own label, not a descendant's)."""
    return page.locator("#artifacts li[role=treeitem]").filter(
        has=page.locator(f":scope > .label .name:text-is('{name}')")
    )


def _click(page: Page, name: str) -> None:
    """Click the tree item ``name`` as a person would (on its label)."""
    _item(page, name).locator(":scope > .label").click()


def test_browse_and_preview_artifacts(
    runlab_server: RunlabUiServer, page: Page, screenshot: ScreenshotFn, tmp_path: Path
) -> None:
    run_id = _new_run(runlab_server, "artifact-browser")
    _seed(runlab_server, run_id, tmp_path / "artifacts")

    page.goto(f"{runlab_server.url}/runs/{run_id}")

    tree = page.locator("#artifacts [role=tree]")
    expect(tree.locator(":scope > li")).to_have_count(4)  # eval, model, plots, params.json
    expect(_item(page, "results.csv")).to_have_count(0)  # folders are listed when opened

    # A folder opens with a click; its CSV previews as a table.
    _click(page, "eval")
    expect(_item(page, "eval")).to_have_attribute("aria-expanded", "true")
    _click(page, "results.csv")
    preview = page.locator("#artifacts .artifact-preview")
    expect(preview.locator(".artifact-note")).to_have_text("Showing 3 of 3 rows.")
    expect(preview.locator("thead th")).to_have_text(["epoch", "loss"])
    expect(preview.locator("tbody tr")).to_have_count(3)
    download = preview.locator("a.artifact-download")
    expect(download).to_have_attribute(
        "href", f"/get-artifact?run_uuid={run_id}&path=eval%2Fresults.csv&download=1"
    )
    expect(preview.locator(".artifact-uri")).to_contain_text("eval/results.csv")

    # Parquet: the first 100 rows of 250.
    _click(page, "rows.parquet")
    expect(preview.locator(".artifact-note")).to_have_text("Showing 100 of 250 rows.")

    # The keyboard: from the open folder down to "model", open it, preview MLmodel.
    _item(page, "eval").focus()
    page.keyboard.press("ArrowLeft")  # closes eval
    expect(_item(page, "eval")).to_have_attribute("aria-expanded", "false")
    page.keyboard.press("ArrowDown")
    expect(_item(page, "model")).to_be_focused()
    page.keyboard.press("ArrowRight")  # opens model
    expect(_item(page, "MLmodel")).to_be_visible()
    page.keyboard.press("ArrowRight")  # into it
    expect(_item(page, "MLmodel")).to_be_focused()
    page.keyboard.press("Enter")
    expect(preview.locator("pre.artifact-text")).to_contain_text("python_function:")

    # An image loads from /get-artifact.
    _click(page, "plots")
    _click(page, "loss.png")
    image = preview.locator(".artifact-image img")
    expect(image).to_be_visible()
    page.wait_for_function(
        "() => document.querySelector('#artifacts .artifact-image img').naturalWidth === 320"
    )
    screenshot(page, "run-artifacts-image")

    # JSON is pretty-printed.
    _click(page, "params.json")
    expect(preview.locator("pre.artifact-text")).to_have_text(
        '{\n  "lr": 0.1,\n  "layers": [\n    64,\n    32\n  ]\n}'
    )
    _click(page, "eval")
    _click(page, "results.csv")
    expect(preview.locator("tbody tr")).to_have_count(3)
    page.locator("#artifacts").scroll_into_view_if_needed()
    screenshot(page, "run-artifacts")


def test_a_run_without_artifacts_says_so(runlab_server: RunlabUiServer, page: Page) -> None:
    run_id = _new_run(runlab_server, "artifact-browser-empty")

    page.goto(f"{runlab_server.url}/runs/{run_id}")

    expect(page.locator("#artifacts")).to_contain_text("No artifacts logged")


def test_a_failed_preview_is_shown_in_place(
    runlab_server: RunlabUiServer,
    page: Page,
    console_errors: ConsoleErrors,
    screenshot: ScreenshotFn,
    tmp_path: Path,
) -> None:
    run_id = _new_run(runlab_server, "artifact-browser-gone")
    (tmp_path / "gone.txt").write_text("soon deleted")
    runlab_server.client.log_artifact(run_id, str(tmp_path / "gone.txt"))
    page.goto(f"{runlab_server.url}/runs/{run_id}")
    expect(_item(page, "gone.txt")).to_be_visible()

    # The file disappears from the store after the listing: the preview's 404 is shown.
    (stored,) = runlab_server.data_dir.rglob(f"{run_id}/artifacts/gone.txt")
    stored.unlink()
    console_errors.allow("status of 404")
    _click(page, "gone.txt")

    error = page.locator("#artifacts .artifact-body .error")
    expect(error).to_contain_text("Could not preview gone.txt")
    expect(error).to_contain_text("No artifact at 'gone.txt'")
    screenshot(page, "run-artifacts-error")


def test_the_address_names_the_file_on_show(
    runlab_server: RunlabUiServer, page: Page, tmp_path: Path
) -> None:
    run_id = _new_run(runlab_server, "artifact-browser-address")
    _seed(runlab_server, run_id, tmp_path / "artifacts")
    (tmp_path / "weights.bin").write_bytes(bytes(range(256)) * 8)
    runlab_server.client.log_artifact(run_id, str(tmp_path / "weights.bin"), "model")

    # Opening an address with #artifact=<path> opens the folders down to it and previews it.
    page.goto(f"{runlab_server.url}/runs/{run_id}#artifact=eval%2Fresults.csv")
    preview = page.locator("#artifacts .artifact-preview")
    expect(_item(page, "eval")).to_have_attribute("aria-expanded", "true")
    expect(_item(page, "results.csv")).to_have_attribute("aria-selected", "true")
    expect(_item(page, "results.csv")).to_be_focused()
    expect(preview.locator("tbody tr")).to_have_count(3)

    # Choosing another file updates the address; a binary file has a size line, no content.
    _click(page, "model")
    _click(page, "weights.bin")
    expect(preview.locator(".artifact-body")).to_have_text(
        "No preview for this kind of file (2.0 KiB)."
    )
    assert page.url.endswith("#artifact=model%2Fweights.bin")

    # A link to a path that does not exist says so in place.
    page.goto(f"{runlab_server.url}/runs/{run_id}#artifact=nope%2Fmissing.txt")
    expect(preview.locator(".error")).to_have_text("No artifact at nope/missing.txt in this run.")
