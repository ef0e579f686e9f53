"""The log-batch fast path: metrics of the plain shape become columns in a few passes, and
anything else is left (None) to the field-by-field path and its precise messages."""

from __future__ import annotations

from typing import Any

import pytest

from runlab.server.routes.runs import plain_metrics


def _point(i: int, **extra: Any) -> dict[str, Any]:
    return {"key": f"m{i % 3}", "value": i / 7, "timestamp": 1000 + i, "step": i, **extra}


def test_plain_points_become_columns() -> None:
    columns = plain_metrics([_point(i) for i in range(5)] + [{**_point(5), "value": 5}])
    assert columns is not None
    assert columns.keys == ["m0", "m1", "m2", "m0", "m1", "m2"]
    assert columns.values == [i / 7 for i in range(5)] + [5.0]
    assert type(columns.values[-1]) is float
    assert columns.timestamps == [1000 + i for i in range(6)]
    assert columns.steps == list(range(6))
    empty = plain_metrics([])
    assert empty is not None and len(empty) == 0


def test_a_missing_step_is_zero() -> None:
    items = [_point(i) for i in range(4)]
    del items[0]["step"], items[2]["step"]
    columns = plain_metrics(items)
    assert columns is not None and columns.steps == [0, 1, 0, 3]


@pytest.mark.parametrize(
    "change",
    [
        lambda items: items[3].update(dataset_name="train"),  # a fifth field
        lambda items: items[3].pop("step") and items[3].update(model_id="m"),  # other 4th field
        lambda items: items[3].pop("key") and items[3].update(name="m"),
        lambda items: items[0].pop("timestamp") and items[0].update(ts=1),
        lambda items: items.__setitem__(0, ["key", "m"]),  # not an object, first
        lambda items: items.__setitem__(5, "m"),  # not an object, later
        lambda items: items.__setitem__(5, None),
        lambda items: items[2].update(value=True),
        lambda items: items[2].update(value="NaN"),
        lambda items: items[2].update(timestamp=-1),
        lambda items: items[2].update(timestamp=1.0),
        lambda items: items[2].update(step=2**63),
        lambda items: items[2].update(step=False),
        lambda items: items[2].update(key="bad/../key"),
        lambda items: items[2].update(key=5),
    ],
)
def test_anything_else_takes_the_field_by_field_path(change: Any) -> None:
    items = [_point(i) for i in range(6)]
    assert plain_metrics(items) is not None
    change(items)
    assert plain_metrics(items) is None
    # The same with some steps left out, which takes the other way of reading steps.
    for item in items[1:2]:
        if isinstance(item, dict) and len(item) == 4:
            del item["step"]
    assert plain_metrics(items) is None
