"""upsert_rows: one statement that inserts new rows and replaces existing ones, per backend."""

from __future__ import annotations

import sqlalchemy as sa

from runlab.store.sql.schema import tags
from runlab.store.sql.tracking import SqlTrackingStore
from runlab.store.sql.upserts import upsert_rows


def test_inserts_and_replaces(store: SqlTrackingStore) -> None:
    run_id = store.create_run("0", "u", 0, [], "upserts").info.run_id
    db = store._db

    def rows(**values: str) -> list[dict[str, str]]:
        return [{"run_id": run_id, "key": k, "value": v} for k, v in values.items()]

    db.write(lambda conn: upsert_rows(conn, tags, rows(a="1", b="2")))
    db.write(lambda conn: upsert_rows(conn, tags, rows(b="3", c="4")))
    db.write(lambda conn: upsert_rows(conn, tags, []))
    with db.read() as conn:
        stored = dict(
            conn.execute(
                sa.select(tags.c.key, tags.c.value).where(
                    tags.c.run_id == run_id, tags.c.key.in_(["a", "b", "c"])
                )
            ).all()
        )
    assert stored == {"a": "1", "b": "3", "c": "4"}
