"""The store's own checks (store_validation): MLflow's wording where its tests match on it."""

from __future__ import annotations

from typing import Any

import pytest

from runlab.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from runlab.errors import InvalidParameter
from runlab.store.sql import store_validation


def _message(call: Any, *args: Any) -> str:
    with pytest.raises(InvalidParameter) as info:
        call(*args)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    return info.value.message


def test_max_results() -> None:
    store_validation.max_results(50_000, 50_000)
    # MLflow's test_search_validation matches "Invalid value 123456789 for parameter
    # 'max_results' supplied".
    assert _message(store_validation.max_results, 123456789, 50_000).startswith(
        "Invalid value 123456789 for parameter 'max_results' supplied. It must be at most 50000"
    )
    for bad in (0, -3, True, "5", None):
        message = _message(store_validation.max_results, bad, 100)
        assert "for parameter 'max_results' supplied. It must be a positive integer" in message


def test_tag_values_must_be_strings() -> None:
    assert _message(store_validation.run_tag, "t", 5).startswith(
        "Invalid value 5 for parameter 'value' supplied"
    )
    assert "experiment tag 't'" in _message(store_validation.experiment_tag, "t", None)


def test_run_names_and_timestamps() -> None:
    assert _message(store_validation.run_name, "r" * 251).startswith(
        "'run_name' exceeds the maximum length of 250 characters"
    )
    assert "for parameter 'run_name' supplied" in _message(store_validation.run_name, 7)
    assert _message(store_validation.timestamp, -1, "start_time").startswith(
        "Invalid value -1 for parameter 'start_time' supplied"
    )


def test_search_experiment_ids() -> None:
    assert store_validation.search_experiment_id("12") == 12
    assert _message(store_validation.search_experiment_id, "abc").startswith(
        'Invalid experiment ID "abc". Experiment ID must be a valid integer'
    )


def _dataset(**fields: str) -> DatasetInput:
    values = {"name": "d", "digest": "x", "source_type": "local", "source": "s", **fields}
    return DatasetInput(Dataset(**values), [])


@pytest.mark.parametrize(
    ("field", "limit"), [("name", 500), ("digest", 36), ("source_type", 36), ("source", 65535)]
)
def test_dataset_limits(field: str, limit: int) -> None:
    store_validation.dataset_input(_dataset(**{field: "v" * limit}))
    message = _message(store_validation.dataset_input, _dataset(**{field: "v" * (limit + 1)}))
    # MLflow: "'name' exceeds the maximum length of 500 characters".
    assert message.startswith(f"'{field}' exceeds the maximum length of {limit} characters")
    assert "cannot be None or empty" in _message(
        store_validation.dataset_input, _dataset(**{field: ""})
    )


def test_input_tag_limits() -> None:
    long_key = DatasetInput(_dataset().dataset, [InputTag("k" * 256, "v")])
    long_value = DatasetInput(_dataset().dataset, [InputTag("k", "v" * 501)])
    assert _message(store_validation.dataset_input, long_key).startswith(
        "'key' exceeds the maximum length of 255 characters"
    )
    assert _message(store_validation.dataset_input, long_value).startswith(
        "'value' exceeds the maximum length of 500 characters"
    )


def test_batch_messages() -> None:
    duplicate = [Param("p", "1"), Param("p", "2")]
    assert _message(store_validation.batch, [], duplicate, []).startswith(
        "Duplicate parameter keys have been submitted: ['p']"
    )
    too_many = [RunTag(f"t{i}", "v") for i in range(101)]
    assert _message(store_validation.batch, [], [], too_many).startswith(
        "A batch logging request can contain at most 100 tags. Got 101 tags"
    )
    huge_step = [Metric("m", 1.0, 0, 2**63)]
    assert _message(store_validation.batch, huge_step, [], []).startswith(
        f"Invalid value {2**63} for parameter 'step' supplied"
    )
