"""Model version sources and logged models, as MLflow 3.17.2's own server answers them.

MLflow's client (``mlflow-skinny`` 3.17.2, in this process) registers versions and searches and
reads logged models on four servers: ``runlab server`` and ``mlflow server`` 3.17.2, each once
with artifacts proxied (roots ``mlflow-artifacts:/…``) and once with a local artifact root.
Every case states MLflow's answer, so it is checked to be MLflow's and to be runlab's. A
refused registration must leave no version behind. (The MLflow server needs a virtualenv with
``mlflow==3.17.2``; without one its cases are skipped, the runlab ones still run.)
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.tracking import fluent

from support.cli_server import runlab_cli_server
from support.mlflow_models import log_mlflow_multiplier
from support.servers import mlflow_server

# One process runs the whole module (xdist's loadgroup), so its servers start once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("registry_sources_compat")]


@dataclass(frozen=True)
class Server:
    kind: str  # "runlab" or "mlflow"
    roots: str  # "proxied" or "local"
    url: str


@pytest.fixture(
    scope="module",
    params=[("runlab", "proxied"), ("runlab", "local"), ("mlflow", "proxied"), ("mlflow", "local")],
    ids=lambda p: "-".join(p),
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A running server of one kind, with proxied or local artifact roots."""
    kind, roots = request.param
    tmp = tmp_path_factory.mktemp(f"sources-{kind}-{roots}")
    process = runlab_cli_server(tmp) if kind == "runlab" else mlflow_server(tmp)
    if roots == "local":
        process.argv += ["--default-artifact-root", str(tmp / "local-artifacts")]
    process.start()
    try:
        yield Server(kind, roots, process.url)
    finally:
        process.stop()


@pytest.fixture
def client(server: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[MlflowClient]:
    """MLflow's client of the server: no settings from the environment, no retries."""
    for variable in [v for v in os.environ if v.startswith("MLFLOW_")]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    mlflow.set_tracking_uri(server.url)
    try:
        yield MlflowClient(server.url, server.url)
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]


def _name(prefix: str = "model") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class Owners:
    """A run and a logged model to register from, and their artifact roots."""

    run_id: str
    root: str
    model_id: str
    model_root: str

    def fill(self, text: str) -> str:
        return text.format(
            rid=self.run_id,
            root=self.root,
            mid=self.model_id,
            mroot=self.model_root,
            other="0123456789abcdef0123456789abcdef",
        )


@pytest.fixture
def owners(client: MlflowClient) -> Owners:
    experiment_id = client.create_experiment(_name("sources"))
    run = client.create_run(experiment_id)
    logged = client.create_logged_model(experiment_id, name="clf")
    return Owners(run.info.run_id, run.info.artifact_uri, logged.model_id, logged.artifact_location)


OK = "ok"
BAD = "INVALID_PARAMETER_VALUE"
MISSING = "RESOURCE_DOES_NOT_EXIST"

#: (source, request fields, answer with proxied roots, answer with local roots, a phrase the
#: refusal holds). The answers are MLflow 3.17.2's.
SOURCES: list[tuple[str, dict[str, str], str, str, str]] = [
    # runs:/ needs its run_id, but the run may live on another tracking server.
    ("runs:/{other}/model", {"run_id": "{other}"}, OK, OK, ""),
    ("runs:/{rid}/model", {"run_id": "{rid}"}, OK, OK, ""),
    ("runs:/{rid}/model", {}, BAD, BAD, "Invalid model version source"),
    ("runs:/{other}/model", {"run_id": "{rid}"}, BAD, BAD, "Invalid model version source"),
    ("runs:/{rid}/m", {"run_id": "{rid}", "model_id": "{mid}"}, BAD, BAD, "model_id"),
    # Object stores need no run folder, with or without a run (even an unknown one).
    ("s3://bucket/fraud/model", {"run_id": "{rid}"}, OK, OK, ""),
    ("s3://bucket/fraud/model", {"run_id": "{other}"}, OK, OK, ""),
    ("s3://bucket/fraud/model", {}, OK, OK, ""),
    ("gs://bucket/fraud/model", {}, OK, OK, ""),
    ("dbfs:/models/fraud", {}, OK, OK, ""),
    ("s3://bucket/fraud/../model", {}, BAD, BAD, "If supplying a source as an http, https,"),
    ("s3://bucket", {}, BAD, BAD, "If supplying a source as an http, https,"),
    ("javascript:alert(1)", {}, BAD, BAD, "If supplying a source as an http, https,"),
    # The run's own folder: '..' that stays inside is fine where the root is local.
    ("{root}/model", {"run_id": "{rid}"}, OK, OK, ""),
    ("{root}//model/", {"run_id": "{rid}"}, OK, OK, ""),
    ("{root}/model/..", {"run_id": "{rid}"}, BAD, OK, "If supplying a source as an http, https,"),
    ("{root}/./model", {"run_id": "{rid}"}, BAD, OK, "If supplying a source as an http, https,"),
    ("{root}/../other", {"run_id": "{rid}"}, BAD, BAD, "Invalid model version source"),
    ("{root}/model", {"run_id": "{other}"}, BAD, BAD, "Invalid model version source"),
    ("{root}/model", {}, BAD, BAD, "Invalid model version source"),
    ("file:///etc/passwd", {"run_id": "{rid}"}, BAD, BAD, "To use a local path as a model"),
    ("/tmp", {}, BAD, BAD, "To use a local path as a model version source"),
    # Hosts the server would have to connect to.
    ("https://example.com/model", {}, BAD, BAD, "cannot use the 'https' scheme"),
    ("https://example.com/model", {"run_id": "{rid}"}, BAD, BAD, "cannot use the 'https' scheme"),
    ("mlflow-artifacts://evil:9000/models", {"run_id": "{rid}"}, BAD, BAD, "cannot use the"),
    ("mlflow-artifacts:/1/models/x", {}, BAD, BAD, "Invalid model version source"),
    # Logged models.
    ("models:/{mid}", {"model_id": "{mid}"}, OK, OK, ""),
    ("{mroot}", {"model_id": "{mid}"}, OK, OK, ""),
    ("models:/{mid}", {}, BAD, BAD, "Invalid model version source"),
    ("s3://bucket/x", {"model_id": "m-00000000000000000000000000000000"}, MISSING, MISSING, ""),
]


@pytest.mark.parametrize(("source", "fields", "proxied", "local", "phrase"), SOURCES)
def test_sources_are_answered_as_mlflow_answers_them(
    client: MlflowClient,
    server: Server,
    owners: Owners,
    source: str,
    fields: dict[str, str],
    proxied: str,
    local: str,
    phrase: str,
) -> None:
    name = _name()
    client.create_registered_model(name)
    kwargs: dict[str, Any] = {key: owners.fill(value) for key, value in fields.items()}
    expected = proxied if server.roots == "proxied" else local
    if expected == OK:
        version = client.create_model_version(name, owners.fill(source), **kwargs)
        assert (version.version, version.source) == ("1", owners.fill(source))
        return
    with pytest.raises(MlflowException) as caught:
        client.create_model_version(name, owners.fill(source), **kwargs)
    assert caught.value.error_code == expected
    assert phrase in caught.value.message
    assert client.search_model_versions(f"name='{name}'") == []


def test_copy_model_version_registers_a_version_uri(client: MlflowClient, owners: Owners) -> None:
    # MLflow's copy_model_version sends "models:/<name>/<version>" with the original's run.
    source_name, copy_name = _name("src"), _name("copy")
    client.create_registered_model(source_name)
    original = client.create_model_version(
        source_name, f"runs:/{owners.run_id}/model", owners.run_id
    )
    client.set_registered_model_alias(source_name, "champion", original.version)
    copy = client.copy_model_version(f"models:/{source_name}/1", copy_name)
    assert (copy.name, copy.version, copy.source) == (copy_name, "1", f"models:/{source_name}/1")
    assert copy.run_id == owners.run_id
    assert client.get_model_version_download_uri(copy_name, "1") == original.source
    # An alias is resolved to the version number it points at.
    by_alias = client.create_model_version(copy_name, f"models:/{source_name}@champion")
    assert by_alias.source == f"models:/{source_name}/1"
    with pytest.raises(MlflowException) as caught:
        client.create_model_version(
            copy_name, f"models:/{source_name}/1", run_id=owners.fill("{other}")
        )
    assert caught.value.error_code == BAD
    assert len(client.search_model_versions(f"name='{copy_name}'")) == 2


def test_versions_are_listed_on_their_logged_model(client: MlflowClient, owners: Owners) -> None:
    # MLflow's own test (test_create_model_version_model_id) pins this exact value.
    name = _name()
    client.create_registered_model(name)
    client.create_model_version(name, owners.model_root, model_id=owners.model_id)
    tags = client.get_logged_model(owners.model_id).tags
    assert tags["mlflow.modelVersions"] == json.dumps([{"name": name, "version": 1}])
    client.create_model_version(name, f"models:/{owners.model_id}", model_id=owners.model_id)
    assert client.get_logged_model(owners.model_id).tags["mlflow.modelVersions"] == json.dumps(
        [{"name": name, "version": 1}, {"name": name, "version": 2}]
    )
    # A refused registration lists nothing.
    with pytest.raises(MlflowException):
        client.create_model_version(name, "/etc/passwd", model_id=owners.model_id)
    assert (
        len(json.loads(client.get_logged_model(owners.model_id).tags["mlflow.modelVersions"])) == 2
    )


def test_log_model_with_a_registered_name_lists_the_version(client: MlflowClient) -> None:
    # The server lists the version (version a number); MLflow's client then appends its own
    # entry (version a string), as it does against its own server.
    name = _name()
    mlflow.set_experiment(_name("log-model"))
    try:
        with mlflow.start_run():
            info = log_mlflow_multiplier(2.0, registered_model_name=name)
    finally:
        # set_experiment() remembers its choice in the process and in the environment.
        mlflow.end_run()
        fluent._active_experiment_id = None
        os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
        os.environ.pop("MLFLOW_EXPERIMENT_NAME", None)
    tags = client.get_logged_model(info.model_id).tags
    assert json.loads(tags["mlflow.modelVersions"]) == [
        {"name": name, "version": 1},
        {"name": name, "version": "1"},
    ]


def test_logged_model_with_a_run_of_another_server(client: MlflowClient) -> None:
    experiment_id = client.create_experiment(_name("elsewhere"))
    elsewhere = "f" * 32
    model = client.create_logged_model(experiment_id, name="m", source_run_id=elsewhere)
    assert client.get_logged_model(model.model_id).source_run_id == elsewhere


def test_search_logged_models_by_dataset(client: MlflowClient) -> None:
    experiment_id = client.create_experiment(_name("datasets"))
    run_id = client.create_run(experiment_id).info.run_id
    models = {name: client.create_logged_model(experiment_id, name=name) for name in "abu"}
    for name, dataset, digest in [("a", "eval", "e1"), ("b", "train", "t1")]:
        client.log_metric(
            run_id,
            "acc",
            0.5,
            dataset_name=dataset,
            dataset_digest=digest,
            model_id=models[name].model_id,
        )

    def names(datasets: list[dict[str, str]], filter_string: str | None = None) -> list[str]:
        found = client.search_logged_models(
            [experiment_id], filter_string=filter_string, datasets=datasets
        )
        return sorted(m.name for m in found)

    assert names([{"dataset_name": "eval", "dataset_digest": "e1"}]) == ["a"]
    assert names([{"dataset_name": "train", "dataset_digest": "t1"}]) == ["b"]
    assert names([{"dataset_name": "train", "dataset_digest": "zz"}]) == []
    assert names([{"dataset_name": "nowhere"}]) == []
    assert names([{"dataset_name": "eval", "dataset_digest": "e1"}], "metrics.acc > 0.6") == []
    assert names([]) == ["a", "b", "u"]


def test_logged_model_artifact_files(client: MlflowClient, server: Server, tmp_path: Path) -> None:
    # The download MLflow's UI uses for a logged model's files (ajax prefix only).
    experiment_id = client.create_experiment(_name("files"))
    model = client.create_logged_model(experiment_id, name="m")
    (tmp_path / "MLmodel").write_text("flavors: {}\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "page.html").write_text("<p>hi</p>")
    client.log_model_artifacts(model.model_id, str(tmp_path))
    url = f"{server.url}/ajax-api/2.0/mlflow/logged-models/{model.model_id}/artifacts/files"

    def get(**params: str) -> httpx.Response:
        return httpx.get(url, params=params, timeout=30)

    got = get(artifact_file_path="MLmodel")
    assert (got.status_code, got.text) == (200, "flavors: {}\n")
    assert got.headers["content-disposition"].startswith("attachment")
    page = get(artifact_file_path="sub/page.html")
    assert page.text == "<p>hi</p>" and page.headers["content-disposition"].startswith("attachment")
    for params, status, code in [
        ({}, 400, "BAD_REQUEST"),
        ({"artifact_file_path": ""}, 400, "BAD_REQUEST"),
        ({"artifact_file_path": "../secret"}, 400, BAD),
        ({"artifact_file_path": "sub"}, 400, BAD),
        ({"artifact_file_path": "missing.txt"}, 404, MISSING),
    ]:
        refused = get(**params)
        assert refused.status_code == status, (params, refused.text)
        assert refused.json()["error_code"] == code
    missing = url.replace(model.model_id, "m-" + "0" * 32)
    assert httpx.get(missing, params={"artifact_file_path": "MLmodel"}).status_code == 404
    assert (
        httpx.get(
            url.replace("/ajax-api/", "/api/"), params={"artifact_file_path": "MLmodel"}
        ).status_code
        == 404
    )
