"""MLflow's hash links (``/#/experiments/3/runs/<id>`` and friends) open runlab's pages.

MLflow's client prints a "View run" link of that form after every run, and its UI's other routes
live in the fragment too, so bookmarks and shared links keep working against ``runlab server``.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

from playwright.sync_api import Page, expect

from support.browser import RunlabUiServer


def test_view_run_link_printed_by_mlflow_opens_the_run_page(
    runlab_server: RunlabUiServer, page: Page
) -> None:
    client = runlab_server.client
    experiment_id = client.create_experiment("mlflow-links-run")
    run = client.create_run(experiment_id, run_name="linked-run")

    page.goto(f"{runlab_server.url}/#/experiments/{experiment_id}/runs/{run.info.run_id}")

    expect(page).to_have_url(f"{runlab_server.url}/runs/{run.info.run_id}")
    expect(page.locator("h1")).to_contain_text("linked-run")


def test_run_artifacts_link_opens_the_run_page(runlab_server: RunlabUiServer, page: Page) -> None:
    client = runlab_server.client
    experiment_id = client.create_experiment("mlflow-links-artifacts")
    run = client.create_run(experiment_id)

    page.goto(
        f"{runlab_server.url}/#/experiments/{experiment_id}/runs/{run.info.run_id}/artifacts/model"
    )

    expect(page).to_have_url(f"{runlab_server.url}/runs/{run.info.run_id}")


def test_experiment_link_opens_its_runs_table(runlab_server: RunlabUiServer, page: Page) -> None:
    experiment_id = runlab_server.client.create_experiment("mlflow-links-experiment")

    page.goto(f"{runlab_server.url}/#/experiments/{experiment_id}")

    expect(page).to_have_url(f"{runlab_server.url}/experiments/{experiment_id}")
    expect(page.locator("h1")).to_contain_text("mlflow-links-experiment")


def test_model_version_link_opens_the_model_page_at_that_version(
    runlab_server: RunlabUiServer, page: Page
) -> None:
    client = runlab_server.client
    name = "mlflow links model"  # a space is legal in a model name
    client.create_registered_model(name)
    for _ in range(2):
        run = client.create_run("0")
        client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)

    page.goto(f"{runlab_server.url}/#/models/{quote(name, safe='')}/versions/2")

    expect(page).to_have_url(f"{runlab_server.url}/models/{quote(name, safe='')}#version-2")
    expect(page.locator("#version-2")).to_be_visible()
    assert page.evaluate("document.querySelector(':target')?.id") == "version-2"


def test_compare_runs_link_opens_the_compare_page(
    runlab_server: RunlabUiServer, page: Page
) -> None:
    client = runlab_server.client
    experiment_id = client.create_experiment("mlflow-links-compare")
    run_ids = [client.create_run(experiment_id).info.run_id for _ in range(2)]
    runs = quote(json.dumps(run_ids))
    experiments = quote(json.dumps([experiment_id]))

    page.goto(f"{runlab_server.url}/#/compare-runs?runs={runs}&experiments={experiments}")

    expect(page).to_have_url(re.compile(r"/compare\?runs=[0-9a-f]+&runs=[0-9a-f]+$"))
    assert all(run_id in page.url for run_id in run_ids)
    expect(page).to_have_title(re.compile("Compare"))


def test_plain_pages_and_unknown_fragments_are_left_alone(
    runlab_server: RunlabUiServer, page: Page
) -> None:
    page.goto(f"{runlab_server.url}/#/no-such-mlflow-page")
    expect(page).to_have_url(f"{runlab_server.url}/#/no-such-mlflow-page")
    expect(page).to_have_title(re.compile("Experiments"))

    page.goto(f"{runlab_server.url}/experiments#top")
    expect(page).to_have_url(f"{runlab_server.url}/experiments#top")
