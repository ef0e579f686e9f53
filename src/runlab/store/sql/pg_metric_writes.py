"""A log-batch's metric reads and writes on PostgreSQL, each in one statement.

On SQLite a statement costs a function call; on PostgreSQL it costs a round trip to the
database process, and a row of an executemany costs psycopg a message of its own. A batch of
ten keys appended one chunk each used to take two executemany calls of ten rows (the new chunks
and the keys' summaries) and a tails query of ten UNION ALL branches, long enough that psycopg
parsed it anew on every call. Here:

* the tails (each key's last chunk and its summary) come from one short statement that takes
  the keys as one array and probes the chunks' primary key once per key (``LATERAL ... LIMIT
  1``), however long the series;
* every write of the batch (new chunks, rewritten tail chunks, new and updated summaries) is
  one statement: four data-modifying CTEs, each reading its rows from arrays (``unnest``) that
  psycopg sends in binary. They touch disjoint rows (new chunks take sequence numbers past the
  tail, rewritten chunks are tails, new summaries are for keys with none), so running them
  together in one snapshot is the same as running them one after the other.
* each array of numbers, flags or keys goes as one text parameter in PostgreSQL's
  array-literal form, built here from the column's known type. psycopg would otherwise adapt
  every element of every list in Python, choosing a dumper per list from its values: about
  0.3 ms for a batch of ten keys, against 0.06 ms for the literals, which the database parses
  in C. The chunks' bytes go the other way, as a list psycopg sends in binary: written out in
  hex they would be twice the size, and parsing them cost the database more (0.15 ms a batch)
  than psycopg spends sending them as they are.

The statements are plain SQL with bound parameters only; the column lists come from the
schema's tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from runlab.store.sql.schema import latest_metrics, metric_chunks

__all__ = [
    "GUARD_SQL",
    "TAILS_SQL",
    "array_literal",
    "guard_parameters",
    "tails_parameters",
    "write_parameters",
    "write_sql",
]

#: Each key's last chunk and its summary, for keys given as one array (``keys``), in the tails
#: query's column order, then the id of the transaction that wrote the summary row (``xmin``,
#: as text). A key has a summary exactly when it has chunks: they are written together.
TAILS_SQL = (
    "SELECT s.key, c.seq, c.count AS chunk_count, c.max_step, c.data, s.value, s.is_nan, "
    "s.timestamp, s.step, s.min_value, s.max_value, s.count, s.xmin::text "
    "FROM latest_metrics AS s "
    "CROSS JOIN LATERAL (SELECT m.seq, m.count, m.max_step, m.data FROM metric_chunks AS m "
    "WHERE m.run_id = s.run_id AND m.key = s.key ORDER BY m.seq DESC LIMIT 1) AS c "
    "WHERE s.run_id = %(run_id)s AND s.key = ANY(%(keys)s::varchar[])"
)


#: Refuses the transaction (division by zero, SQLSTATE 22012) unless the run is active and
#: every key's summary row is still the version a kept tail was taken from: the same writing
#: transaction (``xmin``) and the same count. Run after the run's lock, so no other writer can
#: change the rows between this check and the batch's write.
GUARD_SQL = (
    "SELECT 1 / coalesce((SELECT CASE WHEN r.lifecycle_stage = %(active)s AND "
    "(SELECT count(*) FROM latest_metrics AS s JOIN unnest(%(keys)s::varchar[], "
    "%(xmins)s::text[], %(counts)s::bigint[]) AS e(key, xmin, count) ON s.key = e.key "
    "AND s.xmin::text = e.xmin AND s.count = e.count WHERE s.run_id = %(run_id)s) "
    "= %(n)s::bigint THEN 1 ELSE 0 END FROM runs AS r WHERE r.run_id = %(run_id)s), 0)"
)


def guard_parameters(
    run_id: str, active: str, kept: Sequence[tuple[str, str, int]]
) -> dict[str, str]:
    """The parameters of :data:`GUARD_SQL` for ``kept`` tails, each (key, xmin, count)."""
    return {
        "run_id": run_id,
        "active": active,
        "keys": array_literal([key for key, _, _ in kept], "VARCHAR"),
        "xmins": array_literal([xmin for _, xmin, _ in kept], "VARCHAR"),
        "counts": array_literal([count for _, _, count in kept], "BIGINT"),
        "n": str(len(kept)),
    }


def tails_parameters(run_id: str, keys: Sequence[str]) -> dict[str, str]:
    """The parameters of :data:`TAILS_SQL` (the keys as one array literal)."""
    return {"run_id": run_id, "keys": array_literal(keys, "VARCHAR")}


def _pg_type(column: Any) -> str:
    """The SQL type an array of ``column``'s values is cast to (its own type)."""
    from sqlalchemy.dialects import postgresql

    return str(column.type.compile(dialect=postgresql.dialect()))


def _quoted(value: str) -> str:
    # Inside double quotes an array literal takes any character but these two unescaped.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _element_writer(sql_type: str) -> Callable[[Any], str]:
    """How one non-NULL value of a column of ``sql_type`` is written in an array literal."""
    if sql_type.startswith("VARCHAR") or sql_type == "TEXT":
        return _quoted
    if sql_type == "BOOLEAN":
        return lambda flag: "t" if flag else "f"
    if sql_type in ("INTEGER", "BIGINT", "SMALLINT"):
        return lambda number: str(int(number))
    if sql_type in ("DOUBLE PRECISION", "FLOAT"):
        # repr of a float is the shortest text that reads back as the same double, and
        # PostgreSQL reads "nan", "inf" and "-inf" too. float() first: numpy's float32 would
        # print its own shorter digits.
        return lambda number: repr(float(number))
    raise TypeError(f"no array-literal form for a column of type {sql_type}")


def array_literal(values: Sequence[Any], sql_type: str) -> str:
    """``values`` as PostgreSQL's text form of an array of ``sql_type`` (None is NULL)."""
    write = _WRITERS.get(sql_type) or _WRITERS.setdefault(sql_type, _element_writer(sql_type))
    return "{" + ",".join("NULL" if value is None else write(value) for value in values) + "}"


_WRITERS: dict[str, Callable[[Any], str]] = {}


def _columns(table: Any, skip: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(c.name, _pg_type(c)) for c in table.columns if c.name not in skip]


_CHUNK_COLUMNS = _columns(metric_chunks, ("run_id",))
_SUMMARY_COLUMNS = _columns(latest_metrics, ("run_id",))


def _unnest(prefix: str, columns: list[tuple[str, str]]) -> str:
    arrays = ", ".join(
        f"%({prefix}{name}){'b' if sql_type == 'BYTEA' else 's'}::{sql_type}[]"
        for name, sql_type in columns
    )
    names = ", ".join(f'"{name}"' for name, _ in columns)
    return f"unnest({arrays}) AS v({names})"


def _insert(table: str, prefix: str, columns: list[tuple[str, str]]) -> str:
    names = ", ".join(f'"{name}"' for name, _ in columns)
    return (
        f"INSERT INTO {table} (run_id, {names}) SELECT %(run_id)s, {names} "
        f"FROM {_unnest(prefix, columns)}"
    )


def _update(table: str, prefix: str, columns: list[tuple[str, str]], keys: Sequence[str]) -> str:
    sets = ", ".join(f'"{name}" = v."{name}"' for name, _ in columns if name not in keys)
    match = " AND ".join(f't."{name}" = v."{name}"' for name in keys)
    return (
        f"UPDATE {table} AS t SET {sets} FROM {_unnest(prefix, columns)} "
        f"WHERE t.run_id = %(run_id)s AND {match}"
    )


#: The parts of the write statement: (writes field, parameter prefix, columns, SQL). The two
#: summary parts return the writing transaction's id, which the statement returns once.
_PARTS = (
    ("chunk_inserts", "ci_", _CHUNK_COLUMNS, _insert("metric_chunks", "ci_", _CHUNK_COLUMNS)),
    (
        "chunk_updates",
        "cu_",
        _CHUNK_COLUMNS,
        _update("metric_chunks", "cu_", _CHUNK_COLUMNS, ("key", "seq")),
    ),
    (
        "summary_inserts",
        "si_",
        _SUMMARY_COLUMNS,
        _insert("latest_metrics", "si_", _SUMMARY_COLUMNS) + " RETURNING xmin",
    ),
    (
        "summary_updates",
        "su_",
        _SUMMARY_COLUMNS,
        _update("latest_metrics", "su_", _SUMMARY_COLUMNS, ("key",)) + " RETURNING t.xmin",
    ),
)

_WRITE_SQL: dict[tuple[bool, ...], str] = {}


def write_sql(present: tuple[bool, ...]) -> str:
    """The one statement that makes the writes whose parts are ``present`` (in _PARTS order).

    Its one row holds the id of the transaction that wrote the summary rows (``xmin``, as
    text), or NULL if it wrote none (every key written gets its summary written too).
    """
    found = _WRITE_SQL.get(present)
    if found is None:
        ctes = [
            f"w{i} AS ({sql})"
            for i, ((_, _, _, sql), used) in enumerate(zip(_PARTS, present, strict=True))
            if used
        ]
        xmins = [f"(SELECT xmin::text FROM w{i} LIMIT 1)" for i in (2, 3) if present[i]]
        written = f"coalesce({', '.join(xmins)})" if xmins else "NULL"
        found = _WRITE_SQL[present] = f"WITH {', '.join(ctes)} SELECT {written}"
    return found


def write_parameters(run_id: str, writes: Any) -> tuple[tuple[bool, ...], dict[str, Any]]:
    """Which parts ``writes`` (a metric_series._Writes) needs, and the statement's parameters:
    one array per column of each part's rows (rows as metric_series builds them, whose update
    rows name the row they rewrite ``w_key``/``w_seq``)."""
    present: list[bool] = []
    values: dict[str, Any] = {"run_id": run_id}
    for field_name, prefix, columns, _ in _PARTS:
        rows: list[dict[str, Any]] = getattr(writes, field_name)
        present.append(bool(rows))
        if not rows:
            continue
        for name, sql_type in columns:
            source = f"w_{name}" if name in ("key", "seq") and "w_key" in rows[0] else name
            column = [row[source] for row in rows]
            values[f"{prefix}{name}"] = (
                column if sql_type == "BYTEA" else array_literal(column, sql_type)
            )
    return tuple(present), values
