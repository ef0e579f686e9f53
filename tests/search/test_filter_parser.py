"""The filter grammar: every accepted spelling, every rejection with its token and position."""

from __future__ import annotations

import re

import pytest

from runlab.errors import InvalidParameter
from runlab.search import (
    And,
    Comparison,
    Expr,
    Key,
    KeyType,
    Not,
    Or,
    parse_experiment_filter,
    parse_run_filter,
)
from runlab.search.parser import MAX_COMPARISONS, MAX_NESTING

M, P, T, A, D = KeyType.METRIC, KeyType.PARAM, KeyType.TAG, KeyType.ATTRIBUTE, KeyType.DATASET


def cmp(key_type: KeyType, name: str, op: str, value: object) -> Comparison:
    return Comparison(Key(key_type, name), op, value)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", [None, "", "   ", "\t\n"])
def test_empty_filter_is_none(text: str | None) -> None:
    assert parse_run_filter(text) is None
    assert parse_experiment_filter(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # metrics: both prefixes, every numeric operator, number forms
        ("metrics.acc > 0.9", cmp(M, "acc", ">", 0.9)),
        ("metric.acc >= 1", cmp(M, "acc", ">=", 1)),
        ("metrics.acc < -2", cmp(M, "acc", "<", -2)),
        ("metrics.acc <= 1e-3", cmp(M, "acc", "<=", 0.001)),
        ("metrics.acc = 2.5E+2", cmp(M, "acc", "=", 250.0)),
        ("metrics.acc != .5", cmp(M, "acc", "!=", 0.5)),
        ("metrics.acc=-1.5", cmp(M, "acc", "=", -1.5)),
        ("metrics.acc > +3", cmp(M, "acc", ">", 3)),
        ("metrics.acc>1.", cmp(M, "acc", ">", 1.0)),
        ("metrics.val/loss:1 < 3", cmp(M, "val/loss:1", "<", 3)),
        ("metrics.top-1.acc > 0", cmp(M, "top-1.acc", ">", 0)),
        ("metrics.`my metric` > 0", cmp(M, "my metric", ">", 0)),
        ('metrics."my metric" > 0', cmp(M, "my metric", ">", 0)),
        ("METRICS.acc > 0", cmp(M, "acc", ">", 0)),
        # params: all four prefixes, string operators, null checks
        ("params.lr = '0.1'", cmp(P, "lr", "=", "0.1")),
        ('param.lr = "0.1"', cmp(P, "lr", "=", "0.1")),
        ("parameters.lr != 'a'", cmp(P, "lr", "!=", "a")),
        ("parameter.lr LIKE '0.%'", cmp(P, "lr", "LIKE", "0.%")),
        ("params.lr ilike 'A%'", cmp(P, "lr", "ILIKE", "A%")),
        ("params.lr IS NULL", cmp(P, "lr", "IS NULL", None)),
        ("params.lr is not null", cmp(P, "lr", "IS NOT NULL", None)),
        # tags
        ("tags.`mlflow.runName` = 'x'", cmp(T, "mlflow.runName", "=", "x")),
        ("tag.team LIKE '%v%'", cmp(T, "team", "LIKE", "%v%")),
        ("tags.mlflow.user = 'bob'", cmp(T, "mlflow.user", "=", "bob")),
        ("tags.t IS NOT NULL", cmp(T, "t", "IS NOT NULL", None)),
        # attributes: all prefixes, aliases
        ("run_id = 'abc'", cmp(A, "run_id", "=", "abc")),
        ("attributes.run_id IN ('a', 'b')", cmp(A, "run_id", "IN", ("a", "b"))),
        ("attribute.run_id NOT IN ('a')", cmp(A, "run_id", "NOT IN", ("a",))),
        ("attr.run_id in (\"a\",'b')", cmp(A, "run_id", "IN", ("a", "b"))),
        ("run.status = 'FINISHED'", cmp(A, "status", "=", "FINISHED")),
        ("user_id LIKE 'a%'", cmp(A, "user_id", "LIKE", "a%")),
        ("artifact_uri ILIKE 's3://%'", cmp(A, "artifact_uri", "ILIKE", "s3://%")),
        ("run_name = 'x'", cmp(A, "run_name", "=", "x")),
        ("`run name` = 'x'", cmp(A, "run_name", "=", "x")),
        ("Run name = 'x'", cmp(A, "run_name", "=", "x")),
        ("Run Name != 'x'", cmp(A, "run_name", "!=", "x")),
        ("\"Run name\" = 'x'", cmp(A, "run_name", "=", "x")),
        ("attributes.`Run Name` = 'x'", cmp(A, "run_name", "=", "x")),
        ("start_time >= 1700000000000", cmp(A, "start_time", ">=", 1700000000000)),
        ("end_time < 5", cmp(A, "end_time", "<", 5)),
        ("created > 5", cmp(A, "start_time", ">", 5)),
        ("attributes.Created > 5", cmp(A, "start_time", ">", 5)),
        # datasets
        ("datasets.name = 'mnist'", cmp(D, "name", "=", "mnist")),
        ("dataset.digest != 'abc'", cmp(D, "digest", "!=", "abc")),
        ("datasets.context IN ('train', 'eval')", cmp(D, "context", "IN", ("train", "eval"))),
        ("datasets.context NOT IN ('train')", cmp(D, "context", "NOT IN", ("train",))),
        ("datasets.name LIKE 'm%'", cmp(D, "name", "LIKE", "m%")),
        ("datasets.name ILIKE 'M%'", cmp(D, "name", "ILIKE", "M%")),
    ],
)
def test_accepted_run_comparisons(text: str, expected: Comparison) -> None:
    assert parse_run_filter(text) == expected


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("params.p = 'it''s'", "it's"),
        ("params.p = 'it\\'s'", "it's"),
        ('params.p = "say ""hi"""', 'say "hi"'),
        ("params.p = 'a\\_b'", "a\\_b"),  # other backslashes stay for the LIKE translator
        ("params.p = ''", ""),
        ("params.p = 'AND OR ( ) = '", "AND OR ( ) = "),
        ("params.p = 'héllo ✓'", "héllo ✓"),
    ],
)
def test_string_values(text: str, value: str) -> None:
    parsed = parse_run_filter(text)
    assert isinstance(parsed, Comparison)
    assert parsed.value == value


def test_and_is_case_insensitive_and_flattened() -> None:
    expected = And((cmp(M, "a", ">", 1), cmp(P, "b", "=", "x"), cmp(T, "c", "IS NULL", None)))
    assert parse_run_filter("metrics.a > 1 AND params.b = 'x' and tags.c IS NULL") == expected
    assert parse_run_filter("metrics.a > 1 aNd (params.b = 'x' AND tags.c IS NULL)") == expected


def _a(n: int) -> Comparison:
    return cmp(M, f"m{n}", ">", n)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.m1 > 1 OR metrics.m2 > 2", Or((_a(1), _a(2)))),
        # AND binds tighter than OR
        (
            "metrics.m1 > 1 OR metrics.m2 > 2 AND metrics.m3 > 3",
            Or((_a(1), And((_a(2), _a(3))))),
        ),
        (
            "metrics.m1 > 1 AND metrics.m2 > 2 OR metrics.m3 > 3",
            Or((And((_a(1), _a(2))), _a(3))),
        ),
        # parentheses override
        (
            "metrics.m1 > 1 AND (metrics.m2 > 2 OR metrics.m3 > 3)",
            And((_a(1), Or((_a(2), _a(3))))),
        ),
        # NOT binds tighter than AND
        ("NOT metrics.m1 > 1 AND metrics.m2 > 2", And((Not(_a(1)), _a(2)))),
        ("NOT (metrics.m1 > 1 AND metrics.m2 > 2)", Not(And((_a(1), _a(2))))),
        ("not not metrics.m1 > 1", Not(Not(_a(1)))),
        ("((metrics.m1 > 1))", _a(1)),
        (
            "metrics.m1 > 1 or metrics.m2 > 2 OR metrics.m3 > 3",
            Or((_a(1), _a(2), _a(3))),
        ),
        (
            "(metrics.m1 > 1 OR metrics.m2 > 2) OR NOT metrics.m3 > 3",
            Or((_a(1), _a(2), Not(_a(3)))),
        ),
    ],
)
def test_boolean_precedence(text: str, expected: Expr) -> None:
    assert parse_run_filter(text) == expected


def test_ast_nodes_are_frozen_and_hashable() -> None:
    parsed = parse_run_filter("metrics.a > 1 AND NOT params.b = 'x'")
    assert hash(parsed) == hash(parse_run_filter("metrics.a > 1 AND NOT params.b = 'x'"))
    with pytest.raises(AttributeError):
        parsed.items = ()  # type: ignore[misc, union-attr]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name = 'exp'", cmp(A, "name", "=", "exp")),
        ("attributes.name LIKE 'e%'", cmp(A, "name", "LIKE", "e%")),
        ("attribute.name ILIKE 'E%'", cmp(A, "name", "ILIKE", "E%")),
        ("name != 'x'", cmp(A, "name", "!=", "x")),
        ("experiment_id = '3'", cmp(A, "experiment_id", "=", "3")),
        ("experiment_id = 3", cmp(A, "experiment_id", "=", "3")),
        ("experiment_id IN ('1', 2)", cmp(A, "experiment_id", "IN", ("1", "2"))),
        ("experiment_id NOT IN ('1')", cmp(A, "experiment_id", "NOT IN", ("1",))),
        ("creation_time > 5", cmp(A, "creation_time", ">", 5)),
        ("last_update_time <= 5", cmp(A, "last_update_time", "<=", 5)),
        ("tags.team = 'a'", cmp(T, "team", "=", "a")),
        ("tag.team LIKE 'a%'", cmp(T, "team", "LIKE", "a%")),
        ("tags.`my key` ILIKE 'a%'", cmp(T, "my key", "ILIKE", "a%")),
        ("tags.team IS NULL", cmp(T, "team", "IS NULL", None)),
        ("tags.team IS NOT NULL", cmp(T, "team", "IS NOT NULL", None)),
    ],
)
def test_accepted_experiment_comparisons(text: str, expected: Comparison) -> None:
    assert parse_experiment_filter(text) == expected


def test_experiment_filter_boolean_extensions() -> None:
    assert parse_experiment_filter("name = 'a' OR NOT tags.t IS NULL") == Or(
        (cmp(A, "name", "=", "a"), Not(cmp(T, "t", "IS NULL", None)))
    )


def _error(parse: object, text: str) -> str:
    with pytest.raises(InvalidParameter) as info:
        parse(text)  # type: ignore[operator]
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    message = str(info.value)
    assert message.startswith(f"Invalid filter {text!r}: ")
    return message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("metrics.acc >> 1", "unexpected token '>' at position 13; expected a number"),
        ("metrics.acc > 'x'", "unexpected token \"'x'\" at position 14; expected a number"),
        ("metrics.acc LIKE '1'", "operator 'LIKE' at position 12 is not supported for metric"),
        ("metrics.acc IS NULL", "operator 'IS NULL' at position 12 is not supported"),
        ("metrics.acc IN (1)", "operator 'IN' at position 12"),
        ("metrics.acc > abc", "unexpected token 'abc' at position 14; expected a number"),
        ("params.lr = 0.1", "unexpected token '0.1' at position 12; expected a quoted string"),
        ("params.lr = abc", "unexpected token 'abc' at position 12; expected a quoted string"),
        ("params.lr > '1'", "operator '>' at position 10 is not supported for param 'lr'"),
        ("params.lr IN ('1')", "operator 'IN' at position 10 is not supported"),
        ("tags.t < '1'", "operator '<' at position 7"),
        ("run_name IN ('a')", "operator 'IN' at position 9 is not supported for attribute"),
        ("status NOT IN ('a')", "operator 'NOT IN' at position 7"),
        ("start_time LIKE '1'", "operator 'LIKE' at position 11"),
        ("start_time = '1'", "unexpected token \"'1'\" at position 13; expected a number"),
        ("run_id = 1", "unexpected token '1' at position 9; expected a quoted string"),
        ("run_id IS NULL", "operator 'IS NULL' at position 7"),
        ("datasets.name IS NULL", "operator 'IS NULL' at position 14"),
        ("datasets.name > 'a'", "operator '>' at position 14"),
        (
            "datasets.source = 'a'",
            "invalid key 'datasets.source' at position 0: unknown dataset key",
        ),
        ("foo.bar = 'a'", "invalid key 'foo.bar' at position 0: unknown key prefix 'foo'"),
        ("lifecycle_stage = 'a'", "unknown run attribute 'lifecycle_stage'"),
        ("Status = 'a'", "unknown run attribute 'Status'"),
        ("metrics. = 1", "empty key name"),
        ("= 1", "unexpected token '=' at position 0; expected a key"),
        ("AND metrics.a > 1", "unexpected token 'AND' at position 0; expected a key"),
        ("metrics.a", "unexpected end of input at position 9; expected an operator"),
        ("metrics.a 1", "unexpected token '1' at position 10; expected an operator"),
        ("metrics.a ==1", "unexpected token '=' at position 11; expected a number"),
        ("metrics.a <> 1", "unexpected token '>' at position 11; expected a number"),
        ("metrics.a >", "unexpected end of input at position 11; expected a number"),
        ("metrics.a > 1 AND", "unexpected end of input at position 17; expected a key"),
        ("metrics.a > 1 OR", "unexpected end of input at position 16; expected a key"),
        (
            "metrics.a > 1 metrics.b > 2",
            "unexpected token 'metrics.b' at position 14; expected AND, OR",
        ),
        ("metrics.a > 1 AND AND metrics.b > 2", "unexpected token 'AND' at position 18"),
        ("(metrics.a > 1", "unexpected end of input at position 14; expected AND, OR or ')'"),
        ("metrics.a > 1)", "unexpected token ')' at position 13; expected AND, OR or the end"),
        ("()", "unexpected token ')' at position 1; expected a key"),
        ("NOT", "unexpected end of input at position 3; expected a key"),
        ("params.a IS", "unexpected end of input at position 11; expected NULL or NOT NULL"),
        ("params.a IS NOT 'x'", "unexpected token \"'x'\" at position 16; expected NULL"),
        ("params.a IS 'x'", "at position 12; expected NULL or NOT NULL"),
        ("params.a NOT LIKE 'x'", "unexpected token 'LIKE' at position 13; expected IN after NOT"),
        ("run_id IN 'a'", "unexpected token \"'a'\" at position 10; expected '('"),
        ("run_id IN ()", "unexpected token ')' at position 11; expected a quoted string"),
        ("run_id IN ('a',)", "unexpected token ')' at position 15; expected a quoted string"),
        ("run_id IN ('a' 'b')", "unexpected token \"'b'\" at position 15; expected ',' or ')'"),
        ("run_id IN ('a', 1)", "unexpected token '1' at position 16; expected a quoted string"),
        ("params.a = 'x", "unterminated string starting at position 11"),
        ('params.a = "x', "unterminated string starting at position 11"),
        ("tags.`a = 'x'", "unterminated quoted name starting at position 5"),
        ("metrics.a > 1; DROP TABLE runs", "unexpected character ';' at position 13"),
        ("metrics.a > 1 && metrics.b > 1", "unexpected character '&' at position 14"),
        ("metrics.a ! 1", "unexpected character '!' at position 10"),
        ("metrics.a > 1 AND params.b = 'x' | 1", "unexpected character '|' at position 33"),
    ],
)
def test_rejected_run_filters(text: str, fragment: str) -> None:
    message = _error(parse_run_filter, text)
    assert fragment in message, message
    assert "position" in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("metrics.a > 1", "invalid key 'metrics.a' at position 0: unknown key prefix 'metrics'"),
        ("params.a = 'x'", "unknown key prefix 'params'"),
        ("run_id = 'x'", "unknown experiment attribute 'run_id'"),
        ("name > 'a'", "operator '>' at position 5 is not supported for attribute 'name'"),
        ("name IN ('a')", "operator 'IN' at position 5"),
        ("experiment_id LIKE '1'", "operator 'LIKE' at position 14"),
        ("experiment_id > 1", "operator '>' at position 14"),
        ("experiment_id = 1.5", "unexpected token '1.5' at position 16; expected a quoted id"),
        ("creation_time = '5'", "unexpected token \"'5'\" at position 16; expected a number"),
        ("tags.t IN ('a')", "operator 'IN' at position 7"),
        ("tags.t < 'a'", "operator '<' at position 7"),
        ("name = 'a' AND", "unexpected end of input at position 14"),
    ],
)
def test_rejected_experiment_filters(text: str, fragment: str) -> None:
    message = _error(parse_experiment_filter, text)
    assert fragment in message, message


def test_brief_example_message() -> None:
    with pytest.raises(
        InvalidParameter,
        match=re.escape(
            "Invalid filter 'metrics.acc >> 1': unexpected token '>' at position 13; expected"
        ),
    ):
        parse_run_filter("metrics.acc >> 1")


def test_deep_nesting_is_rejected_not_a_crash() -> None:
    deep = "(" * 5000 + "metrics.a > 1" + ")" * 5000
    with pytest.raises(InvalidParameter, match="nesting deeper than"):
        parse_run_filter(deep)
    with pytest.raises(InvalidParameter, match="nesting deeper than"):
        parse_run_filter("NOT " * 5000 + "metrics.a > 1")
    assert parse_run_filter("(" * 20 + "metrics.a > 1" + ")" * 20) == cmp(M, "a", ">", 1)


def test_nesting_limit_is_exact() -> None:
    at_limit = "NOT " * MAX_NESTING + "metrics.a > 1"
    assert parse_run_filter(at_limit) is not None
    with pytest.raises(InvalidParameter, match=f"nesting deeper than {MAX_NESTING} levels"):
        parse_run_filter("NOT " + at_limit)


@pytest.mark.parametrize("joiner", [" AND ", " OR "])
def test_comparison_count_is_bounded(joiner: str) -> None:
    terms = [f"params.p{i} = 'x'" for i in range(MAX_COMPARISONS + 1)]
    parsed = parse_run_filter(joiner.join(terms[:MAX_COMPARISONS]))
    assert isinstance(parsed, (And, Or)) and len(parsed.items) == MAX_COMPARISONS
    with pytest.raises(InvalidParameter) as refused:
        parse_run_filter(joiner.join(terms))
    message = refused.value.message
    assert f"more than {MAX_COMPARISONS} comparisons" in message
    # The position points at the first comparison over the limit.
    assert f"at position {len(joiner.join(terms[:MAX_COMPARISONS])) + len(joiner)}" in message
    # The same bound holds for every entity's filter (they share the parser).
    with pytest.raises(InvalidParameter, match="comparisons"):
        parse_experiment_filter(" AND ".join(f"name = 'x{i}'" for i in range(1000)))
