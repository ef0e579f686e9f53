"""RestTrackingStore's logged-model methods against real server processes: runlab's and MLflow's.

Every test runs against both servers (MLflow 3.17.2 from the virtualenv of support/servers.py;
those cases skip, saying why, only if it cannot be installed), so the store speaks the protocol
as either server answers it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from runlab.entities import LoggedModelInput, LoggedModelOutput, Metric, RunTag
from runlab.errors import InvalidParameter, ModelNotFound, NotFound
from runlab.store.base import LoggedModelStore
from runlab.store.rest.http import RestConfig
from runlab.store.rest.tracking import RestTrackingStore
from support.servers import mlflow_server, runlab_server, running

# One process runs the whole module (xdist's loadgroup), so its servers start once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("logged_models_rest")]

MISSING = "m-0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module", params=["runlab", "mlflow"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RestTrackingStore]:
    """A REST store of a server process (runlab's or MLflow's) shared by the module."""
    folder = tmp_path_factory.mktemp(f"rest-logged-models-{request.param}")
    make = runlab_server if request.param == "runlab" else mlflow_server
    with running(make(folder)) as server:
        rest = RestTrackingStore(RestConfig(server.url, max_retries=1, backoff_factor=0.01))
        try:
            yield rest
        finally:
            rest.close()


@pytest.fixture
def kind(request: pytest.FixtureRequest, store: RestTrackingStore) -> str:
    """Which server the store talks to: "runlab" or "mlflow"."""
    return str(request.node.callspec.params["store"])


@pytest.fixture
def experiment_id(store: RestTrackingStore) -> str:
    """A fresh experiment, so searches see only this test's models."""
    return store.create_experiment(f"lm-{uuid.uuid4().hex[:10]}")


def _run(store: RestTrackingStore, experiment_id: str) -> str:
    return store.create_run(experiment_id, "tester", 1_000, [RunTag("k", "v")], None).info.run_id


def test_the_rest_store_is_a_logged_model_store(store: RestTrackingStore) -> None:
    assert isinstance(store, LoggedModelStore)


def test_create_get_and_finalize(store: RestTrackingStore, experiment_id: str) -> None:
    run_id = _run(store, experiment_id)
    created = store.create_logged_model(
        experiment_id,
        name="clf",
        source_run_id=run_id,
        tags={"team": "a"},
        params=[("alpha", "0.5")],
        model_type="sklearn",
    )
    assert created.model_id.startswith("m-")
    assert created.status == "LOGGED_MODEL_PENDING"
    assert (created.name, created.experiment_id, created.source_run_id) == (
        "clf",
        experiment_id,
        run_id,
    )
    assert (created.tags, created.params, created.model_type) == (
        {"team": "a"},
        {"alpha": "0.5"},
        "sklearn",
    )
    assert created.artifact_location.endswith(f"/models/{created.model_id}/artifacts")
    assert created.creation_timestamp > 0

    assert store.get_logged_model(created.model_id) == created
    ready = store.finalize_logged_model(created.model_id, "READY")
    assert ready.status == "LOGGED_MODEL_READY"
    assert store.get_logged_model(created.model_id).status == "LOGGED_MODEL_READY"
    failed = store.finalize_logged_model(created.model_id, 3, status_message="upload broke")
    assert failed.status == "LOGGED_MODEL_UPLOAD_FAILED"
    with pytest.raises(InvalidParameter, match="finalized as"):
        store.finalize_logged_model(created.model_id, "LOGGED_MODEL_PENDING")


def test_a_missing_name_is_made_up(store: RestTrackingStore, experiment_id: str) -> None:
    assert store.create_logged_model(experiment_id).name


def test_tags_and_params(store: RestTrackingStore, experiment_id: str, kind: str) -> None:
    model_id = store.create_logged_model(experiment_id, name="m").model_id
    updated = store.set_logged_model_tags(model_id, {"a": "1", "b": "2"})
    assert updated.tags == {"a": "1", "b": "2"}
    assert store.set_logged_model_tags(model_id, [RunTag("a", "3")]).tags == {"a": "3", "b": "2"}
    store.delete_logged_model_tag(model_id, "b")
    assert store.get_logged_model(model_id).tags == {"a": "3"}
    with pytest.raises(NotFound):
        store.delete_logged_model_tag(model_id, "b")

    # More params than one request carries: sent in batches, all arrive.
    params = {f"p{i:03d}": str(i) for i in range(150)}
    store.log_logged_model_params(model_id, params)
    assert store.get_logged_model(model_id).params == params
    with pytest.raises(InvalidParameter):
        store.log_logged_model_params(model_id, {"p000": "changed"})
    if kind == "runlab":  # MLflow's server refuses even the same value again (a 400)
        store.log_logged_model_params(model_id, {"p000": "0"})


def test_delete_hides_the_model(store: RestTrackingStore, experiment_id: str, kind: str) -> None:
    model_id = store.create_logged_model(experiment_id, name="gone").model_id
    store.delete_logged_model(model_id)
    with pytest.raises(ModelNotFound):
        store.get_logged_model(model_id)
    assert store.get_logged_model(model_id, allow_deleted=True).model_id == model_id
    assert store.search_logged_models([experiment_id]) == []
    if kind == "runlab":  # MLflow's server deletes a deleted model again without a word
        with pytest.raises(ModelNotFound):
            store.delete_logged_model(model_id)


def test_unknown_ids_raise_model_not_found(store: RestTrackingStore) -> None:
    calls = [
        lambda: store.get_logged_model(MISSING),
        lambda: store.finalize_logged_model(MISSING, "READY"),
        lambda: store.set_logged_model_tags(MISSING, {"a": "1"}),
        lambda: store.log_logged_model_params(MISSING, {"a": "1"}),
        lambda: store.delete_logged_model(MISSING),
    ]
    for call in calls:
        with pytest.raises(ModelNotFound, match=MISSING) as caught:
            call()
        assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_create_in_a_missing_experiment_or_run(
    store: RestTrackingStore, experiment_id: str
) -> None:
    with pytest.raises(NotFound):
        store.create_logged_model("987654321", name="m")
    # Neither server checks the source run: it may live in another tracking store.
    elsewhere = store.create_logged_model(experiment_id, name="m", source_run_id="f" * 32)
    assert store.get_logged_model(elsewhere.model_id).source_run_id == "f" * 32
    with pytest.raises(InvalidParameter):
        store.create_logged_model(experiment_id, name="no/slashes")


def test_search_filters_orders_and_pages(store: RestTrackingStore, experiment_id: str) -> None:
    ids = [
        store.create_logged_model(experiment_id, name=f"m{i}", tags={"i": str(i)}).model_id
        for i in range(5)
    ]
    store.finalize_logged_model(ids[1], "READY")

    pages = []
    token = None
    while True:
        page = store.search_logged_models(
            [experiment_id], max_results=2, order_by=["name ASC"], page_token=token
        )
        pages.append([m.name for m in page])
        token = page.token
        if not token:
            break
    assert pages == [["m0", "m1"], ["m2", "m3"], ["m4"]]

    newest_first = store.search_logged_models(
        [experiment_id], order_by=[{"field_name": "name", "ascending": False}]
    )
    assert [m.name for m in newest_first] == ["m4", "m3", "m2", "m1", "m0"]
    named = store.search_logged_models([experiment_id], filter_string="name = 'm1'")
    assert [(m.model_id, m.status) for m in named] == [(ids[1], "LOGGED_MODEL_READY")]
    assert [m.name for m in store.search_logged_models([experiment_id], "tags.i = '3'")] == ["m3"]
    assert store.search_logged_models([]) == []
    with pytest.raises(InvalidParameter):
        store.search_logged_models([experiment_id], filter_string="name ~~ 'x'")


def test_run_outputs_inputs_and_model_metrics(store: RestTrackingStore, experiment_id: str) -> None:
    run_id = _run(store, experiment_id)
    model_id = store.create_logged_model(experiment_id, name="m", source_run_id=run_id).model_id
    used = store.create_logged_model(experiment_id, name="used").model_id
    store.log_outputs(run_id, [LoggedModelOutput(model_id, 3)])
    store.log_model_inputs(run_id, [LoggedModelInput(used)])
    run = store.get_run(run_id)
    assert run.outputs.model_outputs == [LoggedModelOutput(model_id, 3)]
    assert run.inputs.model_inputs == [LoggedModelInput(used)]

    point = Metric("acc", 0.9, 1_000, 2, "eval", "d1", model_id)
    store.log_model_metrics(run_id, [point, Metric("loss", 1.0, 1_000, 2)])
    metrics = store.get_logged_model(model_id).metrics
    assert [(m.key, m.value, m.step, m.dataset_name, m.run_id) for m in metrics] == [
        ("acc", 0.9, 2, "eval", run_id)
    ]
    # A run metric logged with model_id reaches the model as well.
    store.log_batch(run_id, metrics=[Metric("f1", 0.5, 2_000, 4, model_id=model_id)])
    assert {m.key for m in store.get_logged_model(model_id).metrics} == {"acc", "f1"}
    with pytest.raises(InvalidParameter, match="log_batch"):
        store.record_logged_model_metrics(model_id, [point])
