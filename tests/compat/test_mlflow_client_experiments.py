"""MLflow's client against runlab server: experiments (create, get, search, lifecycle, tags)."""

from __future__ import annotations

import uuid

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException


def _name(prefix: str = "exp") -> str:
    """A fresh experiment name, so tests sharing one server never collide."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_create_with_tags_and_get() -> None:
    client = MlflowClient()
    name = _name()
    exp_id = client.create_experiment(name, tags={"team": "vision", "stage": "dev"})
    exp = client.get_experiment(exp_id)
    assert exp.experiment_id == exp_id
    assert exp.name == name
    assert exp.lifecycle_stage == "active"
    assert exp.tags == {"team": "vision", "stage": "dev"}
    # The server proxies artifacts, so it hands out mlflow-artifacts:/ locations.
    assert exp.artifact_location == f"mlflow-artifacts:/{exp_id}"
    assert exp.creation_time is not None and exp.creation_time > 0
    by_name = client.get_experiment_by_name(name)
    assert by_name is not None and by_name.experiment_id == exp_id


def test_create_with_artifact_location() -> None:
    client = MlflowClient()
    location = "mlflow-artifacts:/custom/place"
    exp_id = client.create_experiment(_name(), artifact_location=location)
    assert client.get_experiment(exp_id).artifact_location == location


def test_default_experiment_exists() -> None:
    default = MlflowClient().get_experiment("0")
    assert default.name == "Default"
    assert default.artifact_location == "mlflow-artifacts:/0"


def test_get_by_name_missing_is_none() -> None:
    assert MlflowClient().get_experiment_by_name(_name("missing")) is None
    assert mlflow.get_experiment_by_name(_name("missing")) is None


def test_unknown_experiment_id_does_not_exist() -> None:
    with pytest.raises(MlflowException) as info:
        MlflowClient().get_experiment("987654321")
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_duplicate_name_already_exists() -> None:
    client = MlflowClient()
    name = _name()
    client.create_experiment(name)
    with pytest.raises(MlflowException) as info:
        client.create_experiment(name)
    assert info.value.error_code == "RESOURCE_ALREADY_EXISTS"


def test_set_experiment_creates_then_reuses() -> None:
    name = _name("fluent")
    created = mlflow.set_experiment(name)
    again = mlflow.set_experiment(name)
    assert created.experiment_id == again.experiment_id
    assert mlflow.set_experiment(experiment_id=created.experiment_id).name == name


def test_search_filter_order_and_paging() -> None:
    client = MlflowClient()
    marker = uuid.uuid4().hex[:8]
    names = [f"search-{marker}-{i:02d}" for i in range(7)]
    ids = [
        client.create_experiment(n, tags={"marker": marker, "i": str(i)})
        for i, n in enumerate(names)
    ]
    client.create_experiment(f"other-{marker}", tags={"marker": "someone-else"})

    found = client.search_experiments(filter_string=f"name LIKE 'search-{marker}-%'")
    assert sorted(e.name for e in found) == names

    ascending = client.search_experiments(
        filter_string=f"tags.marker = '{marker}'", order_by=["name ASC"]
    )
    assert [e.name for e in ascending] == names
    descending = client.search_experiments(
        filter_string=f"tags.marker = '{marker}'", order_by=["name DESC"]
    )
    assert [e.name for e in descending] == names[::-1]

    # Paging: pages of 3 with the server's opaque token, in a stable order, no duplicates.
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page = client.search_experiments(
            max_results=3,
            filter_string=f"tags.marker = '{marker}'",
            order_by=["name ASC"],
            page_token=token,
        )
        pages += 1
        seen.extend(e.name for e in page)
        token = page.token
        if not token:
            break
    assert pages == 3
    assert seen == names

    # The fluent helper pages on its own.
    fluent = mlflow.search_experiments(filter_string=f"tags.marker = '{marker}'")
    assert {e.experiment_id for e in fluent} == set(ids)


def test_search_invalid_filter_is_invalid_parameter() -> None:
    with pytest.raises(MlflowException) as info:
        # (runlab accepts OR as an extension; an unquoted string is wrong everywhere.)
        MlflowClient().search_experiments(filter_string="name = unquoted")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_delete_restore_and_view_types() -> None:
    client = MlflowClient()
    marker = uuid.uuid4().hex[:8]
    name = f"lifecycle-{marker}"
    exp_id = client.create_experiment(name, tags={"marker": marker})
    run = client.create_run(exp_id)

    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    # A deleted experiment keeps its name: get-by-name finds it, a new one cannot take it.
    deleted = client.get_experiment_by_name(name)
    assert deleted is not None and deleted.lifecycle_stage == "deleted"
    with pytest.raises(MlflowException) as info:
        client.create_experiment(name)
    assert info.value.error_code == "RESOURCE_ALREADY_EXISTS"
    # Its runs are deleted with it, and no new run can start in it.
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    with pytest.raises(MlflowException) as info:
        client.create_run(exp_id)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"

    flt = f"tags.marker = '{marker}'"
    assert client.search_experiments(filter_string=flt) == []
    only_deleted = client.search_experiments(view_type=ViewType.DELETED_ONLY, filter_string=flt)
    assert [e.experiment_id for e in only_deleted] == [exp_id]
    every = client.search_experiments(view_type=ViewType.ALL, filter_string=flt)
    assert [e.experiment_id for e in every] == [exp_id]

    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "active"
    assert [e.experiment_id for e in client.search_experiments(filter_string=flt)] == [exp_id]


def test_rename() -> None:
    client = MlflowClient()
    old, new = _name("old"), _name("new")
    exp_id = client.create_experiment(old)
    client.rename_experiment(exp_id, new)
    assert client.get_experiment(exp_id).name == new
    assert client.get_experiment_by_name(old) is None
    taken = client.create_experiment(_name("taken"))
    with pytest.raises(MlflowException) as info:
        client.rename_experiment(taken, new)
    assert info.value.error_code == "RESOURCE_ALREADY_EXISTS"


def test_experiment_tags_set_and_delete() -> None:
    client = MlflowClient()
    exp_id = client.create_experiment(_name())
    client.set_experiment_tag(exp_id, "owner", "ana")
    client.set_experiment_tag(exp_id, "note", "x" * 5000)
    mlflow.set_experiment(experiment_id=exp_id)
    mlflow.set_experiment_tags({"fluent": "yes"})
    assert client.get_experiment(exp_id).tags == {
        "owner": "ana",
        "note": "x" * 5000,
        "fluent": "yes",
    }
    client.delete_experiment_tag(exp_id, "owner")
    assert "owner" not in client.get_experiment(exp_id).tags
