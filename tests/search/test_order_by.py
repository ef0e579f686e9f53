"""order_by items: ``<key> [ASC|DESC]`` for runs and experiments."""

from __future__ import annotations

import pytest

from runlab.errors import InvalidParameter
from runlab.search import (
    Key,
    KeyType,
    OrderBy,
    parse_experiment_order_by,
    parse_run_order_by,
)

M, P, T, A = KeyType.METRIC, KeyType.PARAM, KeyType.TAG, KeyType.ATTRIBUTE


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.acc", OrderBy(Key(M, "acc"), True)),
        ("metrics.acc DESC", OrderBy(Key(M, "acc"), False)),
        ("metric.acc asc", OrderBy(Key(M, "acc"), True)),
        ("metrics.`my metric` Desc", OrderBy(Key(M, "my metric"), False)),
        ('metrics."my metric" DESC', OrderBy(Key(M, "my metric"), False)),
        ("params.lr", OrderBy(Key(P, "lr"), True)),
        ("parameters.lr DESC", OrderBy(Key(P, "lr"), False)),
        ("tags.`mlflow.runName` ASC", OrderBy(Key(T, "mlflow.runName"), True)),
        ("tag.team", OrderBy(Key(T, "team"), True)),
        ("start_time DESC", OrderBy(Key(A, "start_time"), False)),
        ("attributes.end_time", OrderBy(Key(A, "end_time"), True)),
        ("created DESC", OrderBy(Key(A, "start_time"), False)),
        ("Created", OrderBy(Key(A, "start_time"), True)),
        ("run_id", OrderBy(Key(A, "run_id"), True)),
        ("attr.run_name DESC", OrderBy(Key(A, "run_name"), False)),
        ("Run Name DESC", OrderBy(Key(A, "run_name"), False)),
        ("`Run name`", OrderBy(Key(A, "run_name"), True)),
        ("run.status", OrderBy(Key(A, "status"), True)),
        ("user_id ASC", OrderBy(Key(A, "user_id"), True)),
        ("artifact_uri", OrderBy(Key(A, "artifact_uri"), True)),
        ("  metrics.acc   DESC  ", OrderBy(Key(M, "acc"), False)),
    ],
)
def test_run_order_by_accepted(text: str, expected: OrderBy) -> None:
    assert parse_run_order_by([text]) == (expected,)


def test_run_order_by_lists() -> None:
    assert parse_run_order_by(None) == ()
    assert parse_run_order_by([]) == ()
    assert parse_run_order_by(["metrics.a DESC", "params.b"]) == (
        OrderBy(Key(M, "a"), False),
        OrderBy(Key(P, "b"), True),
    )
    # A bare string is one item, not a sequence of one-character items.
    assert parse_run_order_by("metrics.a DESC") == (OrderBy(Key(M, "a"), False),)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty clause"),
        ("   ", "empty clause"),
        (
            "metrics.acc DESCENDING",
            "unexpected token 'DESCENDING' at position 12; expected ASC, DESC",
        ),
        ("metrics.acc DESC ASC", "unexpected token 'ASC' at position 17"),
        ("metrics.acc, params.b", "unexpected token ',' at position 11; expected ASC, DESC"),
        ("DESC", "invalid key 'DESC' at position 0: unknown run attribute 'DESC'"),
        ("LIKE", "unexpected token 'LIKE' at position 0; expected a key"),
        ("foo.bar", "invalid key 'foo.bar' at position 0: unknown key prefix 'foo'"),
        ("lifecycle_stage", "unknown run attribute 'lifecycle_stage'"),
        ("datasets.name", "key 'datasets.name' at position 0 cannot be sorted on"),
        ("metrics.acc > 1", "unexpected token '>' at position 12"),
        ("tags.`x", "unterminated quoted name starting at position 5"),
    ],
)
def test_run_order_by_rejected(text: str, fragment: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        parse_run_order_by([text])
    message = str(info.value)
    assert message.startswith(f"Invalid order_by clause {text!r}: ")
    assert fragment in message, message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name", OrderBy(Key(A, "name"), True)),
        ("name DESC", OrderBy(Key(A, "name"), False)),
        ("attributes.experiment_id", OrderBy(Key(A, "experiment_id"), True)),
        ("attribute.creation_time desc", OrderBy(Key(A, "creation_time"), False)),
        ("last_update_time ASC", OrderBy(Key(A, "last_update_time"), True)),
    ],
)
def test_experiment_order_by_accepted(text: str, expected: OrderBy) -> None:
    assert parse_experiment_order_by([text]) == (expected,)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("tags.team", "key 'tags.team' at position 0 cannot be sorted on"),
        ("metrics.a", "unknown key prefix 'metrics'"),
        ("start_time", "unknown experiment attribute 'start_time'"),
        ("name UP", "unexpected token 'UP' at position 5"),
    ],
)
def test_experiment_order_by_rejected(text: str, fragment: str) -> None:
    with pytest.raises(InvalidParameter, match="Invalid order_by clause") as info:
        parse_experiment_order_by([text])
    assert fragment in str(info.value), str(info.value)
