"""The shared part of the SQL registry store: the database, and the row helpers its methods use.

Every write first locks its registered model's row (``SELECT ... FOR UPDATE``; SQLite's writers
are serialised anyway), so writes to one model take turns and always lock in the same order.
Every stage transition and alias change is recorded through :meth:`RegistryBase._record`, in the
transaction that makes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from runlab.entities import PagedList
from runlab.entities.registry import ALIAS_EVENT
from runlab.errors import AlreadyExists, ModelNotFound
from runlab.search.page_token import decode_page_token, encode_page_token, query_fingerprint
from runlab.store.base import ReadableSet
from runlab.store.sql import migrations, store_validation
from runlab.store.sql import registry_validation as check
from runlab.store.sql import schema as t
from runlab.store.sql.engine import Database
from runlab.store.sql.search_compiler import _Dialect

__all__ = ["NO_STAGE", "RegistryBase", "now_ms"]

T = TypeVar("T")
E = TypeVar("E")

#: The stage of a version nobody has staged.
NO_STAGE = "None"


def now_ms() -> int:
    """Milliseconds since the epoch, the registry's timestamps."""
    return int(time.time() * 1000)


def _version_not_found(name: str, version: int) -> ModelNotFound:
    """MLflow's error for a model version that does not exist (or whose model does not)."""
    return ModelNotFound(f"Model Version (name={name}, version={version}) not found")


class RegistryBase:
    """The database, its dialect quirks and the row helpers of the registry store."""

    #: Its searches take ``readable=`` (see ReadableRegistrySearch).
    filters_readable = True

    def __init__(self, db_uri: str) -> None:
        self.db_uri = db_uri
        self._db = Database(db_uri)
        self._dialect = _Dialect(self._db.backend)
        migrations.ensure_schema(self._db.engine)

    def close(self) -> None:
        """Release database connections."""
        self._db.dispose()

    # -- helpers -------------------------------------------------------------------------------

    def _is(self, column: Any, value: str) -> sa.ColumnElement[bool]:
        """Exact equality of a name column."""
        return self._dialect.str_equal(column, value)

    def _write(self, work: Callable[[Connection], T], name: str | None = None) -> T:
        """Run ``work`` in a write transaction; a key clash on ``name`` is AlreadyExists."""
        try:
            return self._db.write(work)
        except sa.exc.IntegrityError:
            # Another writer took the name between our check and our insert.
            raise AlreadyExists(f"A registered model named {name!r} already exists.") from None

    def _model_row(
        self, conn: Connection, name: str, lock: bool = False, version: int | None = None
    ) -> Any:
        """The model's row; with ``lock``, held until the transaction ends.

        ``version`` says that the caller wants that version of the model: a missing model is
        then reported as a missing version, as MLflow does.
        """
        query = sa.select(t.registered_models).where(self._is(t.registered_models.c.name, name))
        if lock:
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            if version is not None:
                raise _version_not_found(name, version)
            raise ModelNotFound(f"Registered Model with name={name} not found")
        return row

    def _version_row(self, conn: Connection, name: str, version: int) -> Any:
        row = conn.execute(
            sa.select(t.model_versions).where(
                t.model_versions.c.name == name,
                t.model_versions.c.version == version,
                t.model_versions.c.deleted == sa.false(),
            )
        ).first()
        if row is None:
            raise _version_not_found(name, version)
        return row

    def _locked_version(self, conn: Connection, name: str, version: int | str) -> tuple[Any, Any]:
        """Lock the model, then read the live version: (model row, version row)."""
        number = check.version(version)
        model = self._model_row(conn, name, lock=True, version=number)
        return model, self._version_row(conn, model.name, number)

    @staticmethod
    def _touch_model(conn: Connection, model: Any, now: int, **values: Any) -> None:
        conn.execute(
            t.registered_models.update()
            .where(t.registered_models.c.name == model.name)
            .values(last_updated_timestamp=now, **values)
        )

    @staticmethod
    def _record(
        conn: Connection,
        model: Any,
        kind: str,
        subject: str | int,
        from_value: str | int | None,
        to_value: str | int | None,
        now: int,
        user_id: str,
    ) -> None:
        conn.execute(
            t.registry_events.insert().values(
                name=model.name,
                model_uid=model.model_uid,
                kind=kind,
                subject=str(subject),
                from_value=None if from_value is None else str(from_value),
                to_value=None if to_value is None else str(to_value),
                timestamp=now,
                user_id=user_id or None,
            )
        )

    def _remove_aliases(
        self, conn: Connection, model: Any, version: int | None, now: int, user_id: str
    ) -> None:
        """Delete the aliases of one version (or of every version), recording each removal."""
        where = [t.registered_model_aliases.c.name == model.name]
        if version is not None:
            where.append(t.registered_model_aliases.c.version == version)
        aliases = t.registered_model_aliases
        query = sa.select(aliases).where(*where).order_by(aliases.c.version, aliases.c.alias)
        for alias in conn.execute(query).all():
            self._record(conn, model, ALIAS_EVENT, alias.alias, alias.version, None, now, user_id)
        conn.execute(t.registered_model_aliases.delete().where(*where))

    def _search_page(
        self,
        scope: str,
        filter_string: str | None,
        order_by: Sequence[str] | str | None,
        max_results: int,
        limit: int,
        page_token: str | None,
        select: Callable[
            [str | None, Sequence[str] | None, int, int, str, ReadableSet | None], sa.Select[Any]
        ],
        load: Callable[[Connection, Sequence[Any]], list[E]],
        readable: ReadableSet | None = None,
    ) -> PagedList[E]:
        """One page of a search: ``select`` builds the statement, ``load`` makes the entities.

        One row more than the page is read, to tell whether a next page exists; the page token
        is an offset bound to the query (filter, order and ``scope``). ``readable`` restricts
        the statement itself (never the page after it), so the offset counts only rows the
        caller was shown.
        """
        store_validation.max_results(max_results, limit)
        if isinstance(order_by, str):
            order_by = [order_by]
        fingerprint = query_fingerprint(filter_string, order_by, (scope,))
        offset = decode_page_token(page_token, fingerprint)
        query = select(filter_string, order_by, max_results + 1, offset, self._db.backend, readable)
        with self._db.read() as conn:
            rows = conn.execute(query).all()
            found = load(conn, rows[:max_results])
        more = len(rows) > max_results
        return PagedList(
            found, encode_page_token(offset + max_results, fingerprint) if more else None
        )
