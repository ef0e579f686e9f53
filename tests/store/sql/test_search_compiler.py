"""The search compiler against real SQLite, PostgreSQL and MariaDB databases.

Rows are inserted with SQLAlchemy Core straight into the store's tables, so these tests depend
only on the schema and the compiler, not on the tracking store.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from conftest import fresh_database
from runlab.entities import ViewType
from runlab.errors import InvalidParameter
from runlab.store.sql import schema, search_plan
from runlab.store.sql.search_compiler import (
    DATASET_CONTEXT_TAG,
    run_query,
    select_experiment_ids,
    select_run_ids,
)
from runlab.store.sql.search_plan import RunSearchPlan

R1, R2, R3, R4, R5, R6 = (f"{i:032x}" for i in range(1, 7))
DBL_MAX = 1.7976931348623157e308


def _run(run_id: str, experiment_id: int, **fields: object) -> dict[str, object]:
    row: dict[str, object] = {
        "run_id": run_id,
        "experiment_id": experiment_id,
        "name": None,
        "user_id": None,
        "status": "FINISHED",
        "start_time": None,
        "end_time": None,
        "artifact_uri": f"file:///artifacts/{run_id}",
        "lifecycle_stage": "active",
        "deleted_time": None,
    }
    row.update(fields)
    return row


def _metric(run_id: str, key: str, value: float | None) -> dict[str, object]:
    return {
        "run_id": run_id,
        "key": key,
        "value": value,
        "is_nan": value is None,  # the store writes NaN as NULL + is_nan
        "timestamp": 0,
        "step": 0,
        "min_value": value,
        "max_value": value,
        "count": 1,
    }


def _populate(conn: sa.Connection) -> None:
    conn.execute(
        sa.insert(schema.experiments),
        [
            {"experiment_id": 0, "name": "Default", "lifecycle_stage": "active",
             "creation_time": 10, "last_update_time": 10},
            {"experiment_id": 1, "name": "exp-one", "lifecycle_stage": "active",
             "creation_time": 30, "last_update_time": 40},
            {"experiment_id": 2, "name": "Exp-Two", "lifecycle_stage": "deleted",
             "creation_time": 20, "last_update_time": 20},
            {"experiment_id": 3, "name": "other", "lifecycle_stage": "active",
             "creation_time": 30, "last_update_time": None},
        ],
    )  # fmt: skip
    conn.execute(
        sa.insert(schema.experiment_tags),
        [
            {"experiment_id": 1, "key": "team", "value": "Vision"},
            {"experiment_id": 3, "key": "team", "value": "vision"},
        ],
    )
    conn.execute(
        sa.insert(schema.runs),
        [
            _run(R1, 1, name="alpha", user_id="alice", start_time=100, end_time=200),
            _run(R2, 1, name="Alpha", user_id="bob", status="RUNNING", start_time=300),
            _run(R3, 1, name="beta", user_id="alice", status="FAILED", start_time=200,
                 end_time=250),
            _run(R4, 1, name="gamma", user_id="carol", start_time=200, end_time=300,
                 lifecycle_stage="deleted", deleted_time=400),
            _run(R5, 3),
            _run(R6, 2, name="alpha", start_time=50),
        ],
    )  # fmt: skip
    conn.execute(
        sa.insert(schema.params),
        [
            {"run_id": R1, "key": "lr", "value": "0.1"},
            {"run_id": R2, "key": "lr", "value": "0.01"},
            {"run_id": R3, "key": "lr", "value": "0.1 "},  # trailing space: MySQL PAD SPACE
            {"run_id": R4, "key": "lr", "value": "0.1"},
            {"run_id": R1, "key": "model", "value": "CNN"},
            {"run_id": R2, "key": "model", "value": "cnn"},
            {"run_id": R3, "key": "model", "value": "rnn_x"},
            {"run_id": R5, "key": "model", "value": "rnnAx"},
            # Code-point order is "a" < "a\tb" < "a "; MySQL's PAD SPACE collation disagrees.
            {"run_id": R1, "key": "sep", "value": "a"},
            {"run_id": R2, "key": "sep", "value": "a\tb"},
            {"run_id": R3, "key": "sep", "value": "a "},
        ],
    )
    conn.execute(
        sa.insert(schema.tags),
        [
            {"run_id": R1, "key": "mlflow.runName", "value": "alpha"},
            {"run_id": R1, "key": "team", "value": "Vision"},
            {"run_id": R2, "key": "team", "value": "vision"},
            {"run_id": R1, "key": "note", "value": "50 done"},
            {"run_id": R3, "key": "note", "value": "50%_done"},
            {"run_id": R2, "key": "note", "value": "x*y?[z]"},
        ],
    )
    conn.execute(
        sa.insert(schema.latest_metrics),
        [
            _metric(R1, "acc", 0.9),
            _metric(R2, "acc", None),  # NaN
            _metric(R3, "acc", 0.7),
            _metric(R4, "acc", 0.95),
            _metric(R5, "acc", DBL_MAX),  # +Inf
            _metric(R1, "loss", 0.2),
            _metric(R2, "loss", 0.5),
        ],
    )
    conn.execute(
        sa.insert(schema.datasets),
        [
            {"dataset_id": "d1", "experiment_id": 1, "name": "mnist", "digest": "abc",
             "source_type": "local", "source": "{}"},
            {"dataset_id": "d2", "experiment_id": 1, "name": "cifar", "digest": "def",
             "source_type": "local", "source": "{}"},
        ],
    )  # fmt: skip
    conn.execute(
        sa.insert(schema.inputs),
        [
            {"run_id": R1, "dataset_id": "d1"},
            {"run_id": R1, "dataset_id": "d2"},
            {"run_id": R2, "dataset_id": "d1"},
            {"run_id": R3, "dataset_id": "d2"},
        ],
    )
    conn.execute(
        sa.insert(schema.input_tags),
        [
            {"run_id": R1, "dataset_id": "d1", "key": DATASET_CONTEXT_TAG, "value": "train"},
            {"run_id": R1, "dataset_id": "d2", "key": DATASET_CONTEXT_TAG, "value": "eval"},
            {"run_id": R2, "dataset_id": "d1", "key": DATASET_CONTEXT_TAG, "value": "eval"},
        ],
    )


@dataclass
class Db:
    """A populated database and helpers that run compiled searches against it."""

    engine: sa.Engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def runs(
        self,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        *,
        view_type: int = ViewType.ACTIVE_ONLY,
        experiment_ids: Sequence[int] = (1, 3),
        limit: int = 100,
        offset: int = 0,
    ) -> list[str]:
        stmt = select_run_ids(
            experiment_ids, filter_string, view_type, order_by, limit, offset, self.dialect
        )
        query = run_query(experiment_ids, filter_string, view_type, order_by, self.dialect)
        plan = RunSearchPlan(query, limit, offset)
        with self.engine.connect() as conn:
            found = list(conn.execute(stmt).scalars())
            # Where the order splits, both branches together must give the same page.
            split = plan.split()
            if split is not None:
                assert plan.split_run_ids(conn, split) == found, (filter_string, order_by)
            assert plan.run_ids(conn) == found
        return found

    def experiments(
        self,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        *,
        view_type: int = ViewType.ACTIVE_ONLY,
        limit: int = 100,
        offset: int = 0,
    ) -> list[int]:
        stmt = select_experiment_ids(
            filter_string, view_type, order_by, limit, offset, self.dialect
        )
        with self.engine.connect() as conn:
            return [int(i) for i in conn.execute(stmt).scalars()]


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "mysql"])
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Db]:
    """One populated database per backend for the whole module: every test here only reads
    (the hostile-filter test checks the tables are still whole), and creating, migrating and
    filling a database per test cost most of this module's time."""
    folder = tmp_path_factory.mktemp("search-compiler")
    with fresh_database(request.param, folder) as url:
        engine = sa.create_engine(url)
        schema.metadata.create_all(engine)
        with engine.begin() as conn:
            _populate(conn)
        try:
            yield Db(engine)
        finally:
            engine.dispose()


def _check(db: Db, cases: Sequence[tuple[str, list[str]]], **kwargs: object) -> None:
    failures = []
    for filter_string, expected in cases:
        got = db.runs(filter_string, **kwargs)  # type: ignore[arg-type]
        if got != expected:
            failures.append(f"{filter_string!r}: expected {expected}, got {got}")
    assert not failures, f"on {db.dialect}:\n" + "\n".join(failures)


def test_scope_view_type_and_default_order(db: Db) -> None:
    # start_time DESC with NULLs last, run_id ASC breaking the R3/R4 tie.
    assert db.runs() == [R2, R3, R1, R5]
    assert db.runs(view_type=ViewType.ALL) == [R2, R3, R4, R1, R5]
    assert db.runs(view_type=ViewType.DELETED_ONLY) == [R4]
    assert db.runs(experiment_ids=[1]) == [R2, R3, R1]
    assert db.runs(experiment_ids=[2]) == [R6]
    assert db.runs(experiment_ids=[]) == []


def test_string_attributes_are_case_sensitive_except_ilike(db: Db) -> None:
    _check(
        db,
        [
            ("run_name = 'alpha'", [R1]),
            ("attributes.run_name = 'Alpha'", [R2]),
            ("`Run name` = 'ALPHA'", []),
            ("run_name LIKE 'alpha'", [R1]),
            ("run_name LIKE 'a%'", [R1]),
            ("run_name LIKE 'A%'", [R2]),
            ("run_name ILIKE 'a%'", [R2, R1]),
            ("run.`Run Name` ILIKE 'ALPHA'", [R2, R1]),
            ("run_name != 'alpha'", [R2, R3]),  # NULL names match no comparison
            ("NOT run_name = 'alpha'", [R2, R3, R5]),  # ... so NOT of one is true for them
            ("status = 'FINISHED'", [R1, R5]),
            ("status = 'finished'", []),
            ("user_id = 'alice'", [R3, R1]),
            ("attr.artifact_uri LIKE '%0001'", [R1]),
        ],
    )


def test_run_id_in_and_not_in(db: Db) -> None:
    _check(
        db,
        [
            (f"run_id IN ('{R1}', '{R3}')", [R3, R1]),
            (f"run_id NOT IN ('{R1}', '{R3}')", [R2, R5]),
            (f"run_id = '{R5}'", [R5]),
            (f"run_id IN ('{R4}')", []),  # deleted
            ("run_id IN ('nope')", []),
        ],
    )


def test_numeric_attributes(db: Db) -> None:
    _check(
        db,
        [
            ("attributes.start_time >= 200", [R2, R3]),
            ("created < 200", [R1]),
            ("start_time = 100", [R1]),
            ("end_time != 200", [R3]),
            ("NOT end_time > 210", [R2, R1, R5]),
            ("start_time > -1e3", [R2, R3, R1]),
        ],
    )


def test_params_and_tags(db: Db) -> None:
    _check(
        db,
        [
            ("params.lr = '0.1'", [R1]),  # not R3's '0.1 ' (MySQL would pad), not deleted R4
            ("params.lr = '0.1 '", [R3]),
            ("params.sep = 'a'", [R1]),
            ("params.sep != 'a'", [R2, R3]),
            ("params.lr != '0.1'", [R2, R3]),  # key must exist: not R5
            ("params.lr IS NULL", [R5]),
            ("param.lr IS NOT NULL", [R2, R3, R1]),
            ("params.model = 'cnn'", [R2]),
            ("parameters.model LIKE 'c%'", [R2]),
            ("params.model ILIKE 'C%'", [R2, R1]),
            ("params.model LIKE 'rnn\\_%'", [R3]),  # escaped _ is literal
            ("params.model LIKE 'rnn_%'", [R3, R5]),
            ("params.missing = 'x'", []),
            ("tags.`mlflow.runName` = 'alpha'", [R1]),
            ('tags."mlflow.runName" = "alpha"', [R1]),
            ("tags.team = 'vision'", [R2]),
            ("tag.team ILIKE 'VISION'", [R2, R1]),
            ("tags.note LIKE '50%'", [R3, R1]),
            ("tags.note LIKE '50\\%%'", [R3]),  # escaped % is literal
            ("tags.note LIKE 'x*y?[z]'", [R2]),  # GLOB metacharacters are literal on SQLite
            ("tags.note LIKE 'x_y_[z]'", [R2]),
            ("tags.note LIKE 'xay%'", []),
            ("tags.note = 'x*y?[z]'", [R2]),
            ("tags.team IS NULL", [R3, R5]),
        ],
    )


def test_metrics(db: Db) -> None:
    _check(
        db,
        [
            ("metrics.acc > 0.8", [R1, R5]),  # R5 has no start_time: last
            ("metric.acc > 0.8 AND metrics.acc < 1", [R1]),
            ("metrics.acc != 0.9", [R2, R3, R5]),  # NaN differs from every number
            ("metrics.acc = 0.9", [R1]),
            ("metrics.acc >= 1e308", [R5]),
            ("metrics.acc < 1e309", [R3, R1]),  # huge values are clamped, not an error
            ("metrics.loss <= 0.2", [R1]),
            ("metrics.acc = -1", []),
            ("metrics.missing > 0", []),
        ],
    )
    _check(db, [("metrics.acc > 0.8", [R4, R1, R5])], view_type=ViewType.ALL)


def test_datasets_match_one_input(db: Db) -> None:
    _check(
        db,
        [
            ("datasets.name = 'mnist'", [R2, R1]),
            ("datasets.name = 'mnist' AND datasets.context = 'train'", [R1]),
            # R1 has cifar (eval) and mnist (train): no single input matches both clauses.
            ("datasets.name = 'cifar' AND datasets.context = 'train'", []),
            ("datasets.name = 'cifar' OR datasets.context = 'train'", [R3, R1]),
            ("dataset.digest IN ('def')", [R3, R1]),
            ("datasets.context NOT IN ('train')", [R2, R1]),
            ("datasets.name LIKE 'M%'", []),
            ("datasets.name ILIKE 'M%'", [R2, R1]),
            ("datasets.digest != 'abc' AND datasets.name = 'cifar'", [R3, R1]),
        ],
    )


def test_or_not_and_precedence(db: Db) -> None:
    _check(
        db,
        [
            ("run_name = 'alpha' OR run_name = 'beta'", [R3, R1]),
            ("run_name = 'beta' OR run_name = 'alpha' AND status = 'RUNNING'", [R3]),
            ("(run_name = 'beta' OR run_name = 'alpha') AND status = 'FINISHED'", [R1]),
            ("NOT params.lr IS NULL", [R2, R3, R1]),
            ("NOT (metrics.acc > 0.8 OR params.lr = '0.01')", [R3]),
            ("NOT metrics.acc > 0.8 AND NOT params.lr = '0.01'", [R3]),
            ("params.lr = '0.01' or tags.team = 'Vision' or metrics.acc > 1", [R2, R1, R5]),
        ],
    )


ORDER_CASES: list[tuple[list[str], list[str]]] = [
    (["metrics.acc DESC"], [R5, R1, R3, R2]),  # NaN (R2) last
    (["metrics.acc ASC"], [R3, R1, R5, R2]),
    (["metrics.loss"], [R1, R2, R3, R5]),  # missing last, ties by run_id
    (["metrics.loss DESC"], [R2, R1, R3, R5]),
    (["params.lr ASC"], [R2, R1, R3, R5]),
    (["params.lr DESC"], [R3, R1, R2, R5]),
    (["params.model"], [R1, R2, R5, R3]),  # code-point order: C < c, A < _
    (["params.sep"], [R1, R2, R3, R5]),
    (["params.sep DESC"], [R3, R2, R1, R5]),
    (["run_name ASC"], [R2, R1, R3, R5]),
    (["attributes.run_name DESC"], [R3, R1, R2, R5]),
    (["start_time ASC"], [R1, R3, R2, R5]),
    (["created DESC"], [R2, R3, R1, R5]),
    (["tags.team DESC"], [R2, R1, R3, R5]),
    (["tags.`mlflow.runName`"], [R1, R2, R3, R5]),
    (["status", "start_time DESC"], [R3, R1, R5, R2]),
    (["user_id"], [R1, R3, R2, R5]),
    (["end_time desc"], [R3, R1, R2, R5]),
]


def test_order_by_with_missing_and_nan_last(db: Db) -> None:
    failures = []
    for order_by, expected in ORDER_CASES:
        got = db.runs(order_by=order_by)
        if got != expected:
            failures.append(f"{order_by}: expected {expected}, got {got}")
    assert not failures, f"on {db.dialect}:\n" + "\n".join(failures)


def test_paging_with_offset(db: Db) -> None:
    assert db.runs(limit=2) == [R2, R3]
    assert db.runs(limit=2, offset=2) == [R1, R5]
    assert db.runs(limit=2, offset=4) == []
    pages = [db.runs(order_by=["metrics.acc DESC"], limit=1, offset=i) for i in range(5)]
    assert pages == [[R5], [R1], [R3], [R2], []]
    assert db.runs("metrics.acc > 0", limit=0) == []


SPLIT_ORDERS: list[list[str]] = [
    ["metrics.acc DESC"],
    ["metrics.acc"],
    ["metrics.loss", "params.lr DESC"],
    ["metrics.loss DESC", "start_time"],
    ["metrics.acc", "tags.team DESC"],
    ["start_time DESC"],
    ["start_time", "params.model"],
]


@pytest.mark.parametrize("order_by", SPLIT_ORDERS, ids=", ".join)
def test_split_pages_equal_slices_of_the_full_order(db: Db, order_by: list[str]) -> None:
    # Db.runs also checks each page against the one-statement plan.
    for experiment_ids, view_type in (([1], ViewType.ACTIVE_ONLY), ([1, 3], ViewType.ALL)):
        full = db.runs(order_by=order_by, experiment_ids=experiment_ids, view_type=view_type)
        for limit in range(5):
            for offset in range(len(full) + 2):
                page = db.runs(
                    order_by=order_by,
                    experiment_ids=experiment_ids,
                    view_type=view_type,
                    limit=limit,
                    offset=offset,
                )
                assert page == full[offset : offset + limit], (experiment_ids, limit, offset)


def _populated_sqlite(url: str) -> sa.Engine:
    """An SQLite engine over ``url`` holding the schema and :func:`_populate`'s rows."""
    engine = sa.create_engine(url)
    schema.metadata.create_all(engine)
    with engine.begin() as conn:
        _populate(conn)
    return engine


def test_sqlite_walks_a_metric_index_only_when_the_scope_owns_enough_of_it(
    sqlite_url: str,
) -> None:
    engine = _populated_sqlite(sqlite_url)
    with engine.begin() as conn:
        # 20 more `acc` rows in experiment 1: experiment 3's one run owns 1 of 25 of them.
        extra = [_run(f"{i:032x}", 1, start_time=i) for i in range(100, 120)]
        conn.execute(sa.insert(schema.runs), extra)
        conn.execute(
            sa.insert(schema.latest_metrics), [_metric(str(r["run_id"]), "acc", 1.0) for r in extra]
        )
    with engine.connect() as conn:
        small = run_query([3], None, 1, ["metrics.acc"], "sqlite")
        large = run_query([1], None, 1, ["metrics.acc"], "sqlite")
        assert not search_plan._metric_walk_pays_off(conn, small)
        assert search_plan._metric_walk_pays_off(conn, large)
        assert RunSearchPlan(small, 10, 0).run_ids(conn) == [R5]
    engine.dispose()


def test_walk_decisions_are_reused_for_their_scope_and_key_until_they_expire(
    sqlite_url: str,
) -> None:
    engine = _populated_sqlite(sqlite_url)
    small = run_query([3], None, 1, ["metrics.acc"], "sqlite")
    decisions = search_plan.WalkDecisions(ttl_s=3600)
    with engine.connect() as conn:
        assert RunSearchPlan(small, 10, 0, decisions).run_ids(conn) == [R5]
        key = (small.scope_key, "acc")
        remembered = decisions.get(key)
        assert remembered == search_plan._metric_walk_pays_off(conn, small)
        # A remembered answer is used as is: the opposite answer still gives the same page
        # (both plans are exact), which shows the plan read the cache, not the database.
        decisions.put(key, not remembered)
        assert RunSearchPlan(small, 10, 0, decisions).run_ids(conn) == [R5]
        assert decisions.get(key) is (not remembered)
        # Another scope or metric is decided on its own.
        assert (
            decisions.get((run_query([1], None, 1, ["metrics.acc"], "sqlite").scope_key, "acc"))
            is None
        )
        assert decisions.get((small.scope_key, "loss")) is None
    stale = search_plan.WalkDecisions(ttl_s=0.0)
    stale.put(key, True)
    assert stale.get(key) is None
    bounded = search_plan.WalkDecisions(size=2)
    for i in range(3):
        bounded.put(("scope", i), True)
    assert bounded.get(("scope", 2)) is True
    assert sum(bounded.get(("scope", i)) is not None for i in range(3)) <= 2
    engine.dispose()


def test_prepared_searches_are_reused_by_exact_arguments_and_bounded() -> None:
    searches = search_plan.PreparedSearches(size=2)
    first = searches.get([1], "metrics.acc > 0.5", 1, ["metrics.acc"], "sqlite")
    assert searches.get([1], "metrics.acc > 0.5", 1, ["metrics.acc"], "sqlite") is first
    assert first.split is not None  # ordered by a metric: the two-branch plan
    # Any other argument is another search.
    others = [
        searches.get([1, 3], "metrics.acc > 0.5", 1, ["metrics.acc"], "sqlite"),
        searches.get([1], "metrics.acc > 0.6", 1, ["metrics.acc"], "sqlite"),
    ]
    assert all(o is not first for o in others)
    # Past its size the least recently used search is dropped (and parsed again when asked).
    assert searches.get([1], "metrics.acc > 0.5", 1, ["metrics.acc"], "sqlite") is not first
    # A bad filter raises every time and is never kept.
    for _ in range(2):
        with pytest.raises(InvalidParameter):
            searches.get([1], "metrics.acc >", 1, None, "sqlite")


def test_a_prepared_search_pages_like_a_fresh_one(db: Db) -> None:
    searches = search_plan.PreparedSearches()
    order = ["metrics.acc DESC"]
    full = db.runs(order_by=order, view_type=ViewType.ALL)
    assert len(full) > 3
    with db.engine.connect() as conn:
        for _ in range(2):  # the second round reuses the statements the first one built
            for offset in range(len(full) + 1):
                prepared = searches.get([1, 3], None, ViewType.ALL, order, db.dialect)
                plan = RunSearchPlan(prepared.query, 2, offset, None, prepared)
                assert plan.run_ids(conn) == full[offset : offset + 2]
    assert len(prepared.statements) > 1


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()], ids=["sqlite", "pg"])
def test_ranked_branch_tests_the_filter_on_the_index_entry_before_the_run(dialect: Any) -> None:
    """The filter's subqueries name sort_0.run_id, so they can run before the runs lookup."""
    query = run_query(
        [1],
        "metrics.m0 > 0.3 and params.p0 = 'adam' and tags.t0 = 'v' and attributes.status = 'X'",
        ViewType.ACTIVE_ONLY,
        ["metrics.m1"],
        dialect.name,
    )
    split = RunSearchPlan(query, 10, 0).split()
    assert split is not None
    text = " ".join(str(split.ranked(10, 0).compile(dialect=dialect)).split())
    for table in ("latest_metrics", "params", "tags"):
        assert f"{table}.run_id = sort_0.run_id" in text
        assert f"{table}.run_id = runs.run_id" not in text
    # Attributes and the scope are the run's own columns.
    assert "runs.status" in text and "runs.experiment_id" in text


def test_experiments(db: Db) -> None:
    cases: list[tuple[str | None, list[str] | None, int, list[int]]] = [
        (None, None, ViewType.ACTIVE_ONLY, [1, 3, 0]),
        (None, None, ViewType.ALL, [1, 3, 2, 0]),
        (None, None, ViewType.DELETED_ONLY, [2]),
        ("name = 'exp-one'", None, ViewType.ALL, [1]),
        ("name = 'EXP-ONE'", None, ViewType.ALL, []),
        ("name LIKE 'exp%'", None, ViewType.ALL, [1]),
        ("attributes.name ILIKE 'exp%'", None, ViewType.ALL, [1, 2]),
        ("name != 'other'", None, ViewType.ACTIVE_ONLY, [1, 0]),
        ("experiment_id IN ('0', '3')", None, ViewType.ACTIVE_ONLY, [3, 0]),
        ("experiment_id = 1", None, ViewType.ACTIVE_ONLY, [1]),
        ("experiment_id = '1'", None, ViewType.ACTIVE_ONLY, [1]),
        ("experiment_id NOT IN ('1')", None, ViewType.ACTIVE_ONLY, [3, 0]),
        ("experiment_id = 'abc'", None, ViewType.ACTIVE_ONLY, []),
        ("experiment_id != 'abc'", None, ViewType.ACTIVE_ONLY, [1, 3, 0]),
        ("tags.team = 'vision'", None, ViewType.ACTIVE_ONLY, [3]),
        ("tag.team ILIKE 'VISION'", None, ViewType.ACTIVE_ONLY, [1, 3]),
        ("tags.team IS NULL", None, ViewType.ACTIVE_ONLY, [0]),
        ("tags.team IS NOT NULL AND tags.team LIKE 'V%'", None, ViewType.ACTIVE_ONLY, [1]),
        ("creation_time > 15", None, ViewType.ACTIVE_ONLY, [1, 3]),
        ("NOT creation_time > 15 OR name = 'other'", None, ViewType.ACTIVE_ONLY, [3, 0]),
        ("last_update_time < 100", None, ViewType.ACTIVE_ONLY, [1, 0]),
        (None, ["name ASC"], ViewType.ACTIVE_ONLY, [0, 1, 3]),
        (None, ["name"], ViewType.ALL, [0, 2, 1, 3]),  # code points: D < E < e < o
        (None, ["name DESC"], ViewType.ACTIVE_ONLY, [3, 1, 0]),
        (None, ["last_update_time DESC"], ViewType.ACTIVE_ONLY, [1, 0, 3]),
        (None, ["last_update_time ASC"], ViewType.ACTIVE_ONLY, [0, 1, 3]),
        (None, ["experiment_id DESC"], ViewType.ALL, [3, 2, 1, 0]),
        (None, ["creation_time", "name DESC"], ViewType.ACTIVE_ONLY, [0, 3, 1]),
    ]
    failures = []
    for filter_string, order_by, view_type, expected in cases:
        got = db.experiments(filter_string, order_by, view_type=view_type)
        if got != expected:
            failures.append(f"{filter_string!r} {order_by}: expected {expected}, got {got}")
    assert not failures, f"on {db.dialect}:\n" + "\n".join(failures)
    assert db.experiments(limit=1, offset=1) == [3]


def test_hostile_values_are_bound_not_spliced(db: Db) -> None:
    hostile = [
        "run_name = 'x'' OR 1=1 --'",
        "params.lr = \"0.1' OR '1'='1\"",
        "tags.`a'; DROP TABLE runs; --` = 'x'",
        "run_id IN ('x'') OR 1=1 --')",
        "metrics.`acc') OR 1=1 --` > 0",
        "datasets.name LIKE '%'' OR 1=1 --'",
    ]
    for filter_string in hostile:
        assert db.runs(filter_string) == [], filter_string
    assert db.runs() == [R2, R3, R1, R5]  # the tables are intact


@pytest.mark.parametrize(
    "dialect",
    [sqlite.dialect(), postgresql.dialect(), mysql.dialect()],
    ids=["sqlite", "postgresql", "mysql"],
)
def test_compiled_sql_holds_no_user_text(dialect: sa.Dialect) -> None:
    marker = "zq_marker"
    run_stmt = select_run_ids(
        [1],
        f"run_name = '{marker}'' OR 1=1 --' AND tags.`{marker}_k` LIKE '{marker}%' "
        f"AND params.`{marker}_p` ILIKE '{marker}' AND run_id IN ('{marker}') "
        f"AND metrics.`{marker}_m` > 0 AND datasets.name = '{marker}'",
        ViewType.ALL,
        [f"tags.`{marker}_sort` DESC", f"metrics.`{marker}_msort`"],
        10,
        5,
        dialect.name,
    )
    query = run_query(
        [1],
        f"params.`{marker}_p` = '{marker}'",
        ViewType.ACTIVE_ONLY,
        [f"metrics.`{marker}_msort`", f"tags.`{marker}_sort` DESC"],
        dialect.name,
    )
    split = RunSearchPlan(query, 10, 5).split()
    assert split is not None
    split_stmts = [split.ranked(10, 5), split.ranked_count(), split.unranked(10, 5)]
    experiment_stmt = select_experiment_ids(
        f"name = '{marker}' AND tags.`{marker}` = '{marker}' AND experiment_id IN ('7')",
        ViewType.ALL,
        ["name"],
        10,
        0,
        dialect.name,
    )
    for stmt in (run_stmt, *split_stmts, experiment_stmt):
        text = str(stmt.compile(dialect=dialect))
        assert marker not in text
        assert "1=1" not in text
        params = stmt.compile(dialect=dialect).params
        assert any(marker in str(value) for value in params.values())


def test_bad_input_raises_invalid_parameter() -> None:
    with pytest.raises(InvalidParameter, match="position 13"):
        select_run_ids([1], "metrics.acc >> 1", 1, None, 10, 0, "sqlite")
    with pytest.raises(InvalidParameter, match="order_by"):
        select_run_ids([1], None, 1, ["metrics.acc sideways"], 10, 0, "sqlite")
    with pytest.raises(InvalidParameter, match="limit"):
        select_run_ids([1], None, 1, None, -1, 0, "sqlite")
    with pytest.raises(InvalidParameter, match="offset"):
        select_experiment_ids(None, 1, None, 10, -5, "sqlite")
    with pytest.raises(InvalidParameter, match="offset"):
        RunSearchPlan(run_query([1], None, 1, ["metrics.acc"], "sqlite"), 10, -1)
    with pytest.raises(InvalidParameter, match="params"):
        select_experiment_ids("params.x = 'a'", 1, None, 10, 0, "sqlite")
    with pytest.raises(InvalidParameter, match="sorted"):
        select_experiment_ids(None, 1, ["tags.team"], 10, 0, "sqlite")
