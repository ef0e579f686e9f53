"""The array literals the PostgreSQL append sends, read back by PostgreSQL itself."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from conftest import POSTGRES_ADMIN_URL, _server_reachable
from runlab.store.sql.pg_metric_writes import array_literal


@pytest.fixture(scope="module")
def pg() -> Any:
    if not _server_reachable(POSTGRES_ADMIN_URL):
        pytest.skip("PostgreSQL server not reachable")
    engine = sa.create_engine(POSTGRES_ADMIN_URL)
    yield engine
    engine.dispose()


def read_back(engine: Any, literal: str, sql_type: str) -> list[Any]:
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        with raw.cursor() as cursor:
            cursor.execute(f"SELECT %s::{sql_type}[]", (literal,))
            return list(cursor.fetchone()[0])


def test_text_with_every_character_the_literal_escapes(pg: Any) -> None:
    values = ['quo"te', "back\\slash", "c,o{m}m a", "NULL", "null", "", " ", "ünï😀", '\\"', None]
    assert read_back(pg, array_literal(values, "VARCHAR(250)"), "VARCHAR(250)") == values


def test_doubles_read_back_as_the_same_double(pg: Any) -> None:
    values = [0.1, -0.0, 5e-324, 1.7976931348623157e308, math.inf, -math.inf, 1 / 3, None]
    got = read_back(pg, array_literal([*values, math.nan], "DOUBLE PRECISION"), "float8")
    assert got[:-1] == values and math.isnan(got[-1])
    assert math.copysign(1.0, got[1]) == -1.0
    # numpy's float32 prints its own short digits; the double it stands for is what is stored
    single = np.float32(0.1)
    assert read_back(pg, array_literal([single], "DOUBLE PRECISION"), "float8") == [float(single)]


def test_integers_and_booleans(pg: Any) -> None:
    big = [2**63 - 1, -(2**63), 0, np.int64(7), None]
    assert read_back(pg, array_literal(big, "BIGINT"), "BIGINT") == [
        2**63 - 1,
        -(2**63),
        0,
        7,
        None,
    ]
    flags = [True, False, np.bool_(True), None]
    assert read_back(pg, array_literal(flags, "BOOLEAN"), "BOOLEAN") == [True, False, True, None]


def test_a_type_with_no_literal_form_is_refused() -> None:
    with pytest.raises(TypeError, match="BYTEA"):  # bytes go as a list, in binary
        array_literal([b""], "BYTEA")
