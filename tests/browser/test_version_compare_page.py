"""The version compare page in a real browser: ticked on the model page, shown side by side.

The versions are made as a client leaves them: a run logs metrics on its logged model with the
dataset they were measured on (a log-batch whose points name the model and dataset), and the
logged model is registered; one version comes from a run's folder, without a logged model.
"""

from __future__ import annotations

import re
import time
from urllib.parse import quote

from playwright.sync_api import Page, expect

from runlab.entities import Metric
from runlab.store.rest.http import RestConfig
from runlab.store.rest.tracking import RestTrackingStore
from support.browser import RunlabUiServer, ScreenshotFn

DIGEST = "5eed0123abcd4567"


def _seed(server: RunlabUiServer, name: str) -> None:
    """Versions 1 and 2 from logged models evaluated on "test", version 3 from a run's folder."""
    client = server.client
    client.create_registered_model(name)
    store = RestTrackingStore(RestConfig(server.url))
    now = int(time.time() * 1000)
    try:
        for accuracy, rmse, loss in ((0.81, 2.5, 0.40), (0.88, 3.1, 0.30)):
            run_id = client.create_run("0", run_name=f"train-{accuracy}").info.run_id
            model_id = store.create_logged_model("0", name="clf", source_run_id=run_id).model_id
            client.log_batch(
                run_id,
                metrics=[
                    Metric("loss", loss, now, 0),
                    Metric("accuracy", accuracy, now, 0, "test", DIGEST, model_id),
                    Metric("rmse", rmse, now, 0, "test", DIGEST, model_id),
                ],
                synchronous=True,
            )
            client.create_model_version(
                name, f"models:/{model_id}", run_id=run_id, model_id=model_id
            )
    finally:
        store.close()
    run = client.create_run("0", run_name="from-a-folder")
    client.log_batch(run.info.run_id, metrics=[Metric("loss", 0.35, now, 0)], synchronous=True)
    client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)


def test_tick_versions_on_the_model_page_and_compare_them(
    runlab_server: RunlabUiServer, page: Page, screenshot: ScreenshotFn
) -> None:
    name = "browser compare versions"
    _seed(runlab_server, name)
    page.goto(f"{runlab_server.url}/models/{quote(name, safe='')}")

    button = page.locator("#compare-versions-button")
    expect(button).to_have_text("Compare (0)")
    expect(button).to_be_disabled()
    page.get_by_label("Compare version 1").check()
    expect(button).to_be_disabled()  # one version is no comparison
    page.get_by_label("Compare version 2").check()
    page.get_by_label("Compare version 3").check()
    expect(button).to_have_text("Compare (3)")
    expect(button).to_be_enabled()
    screenshot(page, "model-page-versions-ticked-to-compare")
    button.click()

    # The versions table lists the newest first, and so does the address.
    expect(page).to_have_url(re.compile(r"/compare\?versions=3&versions=2&versions=1$"))
    expect(page.locator("h1")).to_have_text(f"Compare 3 versions of {name}")
    heads = page.locator("#version-metrics th.version-head")
    expect(heads).to_have_text(["v3", "v2", "v1"])
    test = page.locator('tbody[data-group="test (5eed0123)"]')
    accuracy = test.locator('tr[data-key="accuracy"]')
    expect(accuracy.locator("td")).to_have_text(["—", "★best: 0.88", "0.81"])
    expect(accuracy.locator("td.best")).to_have_attribute("data-version", "2")
    rmse = test.locator('tr[data-key="rmse"]')
    expect(rmse.locator("td.best")).to_have_attribute("data-version", "1")
    # The best mark is visible; the words are for screen readers only.
    expect(rmse.locator("td.best .best-mark")).to_be_visible()
    training = page.locator('tbody[data-group="training run"] tr[data-key="loss"] td')
    expect(training).to_have_text(["0.35", "★best: 0.3", "0.4"])
    notes = page.locator('tr[data-field="notes"] td[data-version="3"]')
    expect(notes).to_have_text("Registered without a logged model: no evaluation metrics.")

    # The source run is a link to its page.
    page.locator('tr[data-field="run"] td[data-version="2"] a').click()
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f]{32}$"))
    page.go_back()
    expect(heads).to_have_count(3)
    screenshot(page, "version-compare")
