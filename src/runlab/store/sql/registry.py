"""The SQL model registry: registered models, versions, stages, aliases, tags and history.

Every public method is one transaction on the tracking store's :class:`Database` helper (SQLite
writers queue, deadlocks and lock timeouts are retried from the start) over the same schema and
migrations. Arguments are checked before a transaction starts and sources inside it, before
anything is written, so a refused call leaves nothing behind. Database errors never leave this
module: they become :mod:`runlab.errors` classes.

Concurrency: every write first locks its registered model's row (``SELECT ... FOR UPDATE``;
SQLite's writers are serialised anyway), so writes to one model take turns and always lock in
the same order. A new version takes its number from the model's ``next_version`` counter in
that transaction: concurrent registrations get distinct, consecutive numbers, and a deleted
version's number is never given out again (its row stays, redacted).

History: every stage transition (including the automatic archiving, and a version leaving its
stage because it or its model was deleted, recorded with ``to_value`` None) and every alias
set, move or removal is a row in ``registry_events`` written in the same transaction as the
change. Events outlive their model and follow it through renames.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from runlab.entities import STAGES, ModelVersion, PagedList, RegisteredModel, RegistryEvent
from runlab.entities.registry import ALIAS_EVENT, STAGE_EVENT, canonical_stage, validate_alias
from runlab.errors import AlreadyExists, InvalidParameter
from runlab.store.base import (
    SEARCH_REGISTERED_MODELS_MAX_RESULTS_DEFAULT,
    SEARCH_REGISTERED_MODELS_MAX_RESULTS_THRESHOLD,
    ReadableSet,
)
from runlab.store.sql import registry_validation as check
from runlab.store.sql import schema as t
from runlab.store.sql.registry_base import NO_STAGE, now_ms
from runlab.store.sql.registry_loader import load_models, load_versions, newest_per_stage
from runlab.store.sql.registry_search import select_registered_model_names
from runlab.store.sql.registry_versions import ModelVersionMethods
from runlab.store.sql.upserts import upsert_rows

__all__ = ["SqlRegistryStore"]

#: ``models:/name@latest`` names the highest live version; no alias row holds it.
_LATEST_ALIAS = "latest"


class SqlRegistryStore(ModelVersionMethods):
    """A RegistryStore on SQLite, PostgreSQL or MySQL/MariaDB.

    It shares its database (and schema) with :class:`~runlab.store.sql.tracking.SqlTrackingStore`:
    sources are checked against the artifact roots of runs and logged models found there.
    """

    # -- registered models ---------------------------------------------------------------------

    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
    ) -> RegisteredModel:
        """Create a model with no versions; AlreadyExists if the name is taken."""
        check.model_name(name)
        tag_map = check.tags(tags, allow_none=True)
        text = check.description(description)
        now = now_ms()

        def work(conn: Connection) -> None:
            if conn.execute(
                sa.select(t.registered_models.c.name).where(
                    self._is(t.registered_models.c.name, name)
                )
            ).first():
                raise AlreadyExists(f"A registered model named {name!r} already exists.")
            conn.execute(
                t.registered_models.insert().values(
                    name=name,
                    model_uid=uuid.uuid4().hex,
                    creation_timestamp=now,
                    last_updated_timestamp=now,
                    description=text or None,
                    next_version=1,
                )
            )
            if tag_map:
                conn.execute(
                    t.registered_model_tags.insert(),
                    [{"name": name, "key": k, "value": v} for k, v in tag_map.items()],
                )

        self._write(work, name)
        return RegisteredModel(name, now, now, description=text, tags=tag_map)

    def get_registered_model(self, name: str) -> RegisteredModel:
        """The model with its tags, aliases and newest version per stage; ModelNotFound if absent."""
        check.model_name(name)
        with self._db.read() as conn:
            row = self._model_row(conn, name)
            return load_models(conn, [row.name])[0]

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename a model; its versions, tags, aliases and history move with it."""
        check.model_name(name)
        check.model_name(new_name, "new registered model name")

        def work(conn: Connection) -> RegisteredModel:
            model = self._model_row(conn, name, lock=True)
            if new_name != model.name:
                if conn.execute(
                    sa.select(t.registered_models.c.name).where(
                        self._is(t.registered_models.c.name, new_name)
                    )
                ).first():
                    raise AlreadyExists(f"A registered model named {new_name!r} already exists.")
                # ON UPDATE CASCADE carries versions, tags and aliases along; the history is
                # not tied by a key (it outlives the model) and is moved here.
                self._touch_model(conn, model, now_ms(), name=new_name)
                conn.execute(
                    t.registry_events.update()
                    .where(t.registry_events.c.model_uid == model.model_uid)
                    .values(name=new_name)
                )
            return load_models(conn, [new_name])[0]

        return self._write(work, new_name)

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        """Set the description (None clears it)."""
        check.model_name(name)
        text = check.description(description)

        def work(conn: Connection) -> RegisteredModel:
            model = self._model_row(conn, name, lock=True)
            self._touch_model(conn, model, now_ms(), description=text or None)
            return load_models(conn, [model.name])[0]

        return self._db.write(work)

    def delete_registered_model(self, name: str) -> None:
        """Remove the model with its versions, tags and aliases; its history is kept, with the
        removal of each alias and each staged version recorded."""
        check.model_name(name)

        def work(conn: Connection) -> None:
            model = self._model_row(conn, name, lock=True)
            now = now_ms()
            self._remove_aliases(conn, model, None, now, "")
            staged = conn.execute(
                sa.select(t.model_versions.c.version, t.model_versions.c.current_stage)
                .where(
                    t.model_versions.c.name == model.name,
                    t.model_versions.c.deleted == sa.false(),
                    t.model_versions.c.current_stage != NO_STAGE,
                )
                .order_by(t.model_versions.c.version)
            ).all()
            for version, stage in staged:
                self._record(conn, model, STAGE_EVENT, version, stage, None, now, "")
            # Children first, so no backend has to rely on cascading deletes.
            for table in (t.model_version_tags, t.model_versions, t.registered_model_tags):
                conn.execute(table.delete().where(table.c.name == model.name))
            conn.execute(
                t.registered_models.delete().where(t.registered_models.c.name == model.name)
            )

        self._db.write(work)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_REGISTERED_MODELS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        *,
        readable: ReadableSet | None = None,
    ) -> PagedList[RegisteredModel]:
        """One page of models matching the filter (``name``, ``tags.<key>``), in order;
        with ``readable``, only models of those names."""
        return self._search_page(
            "registered_models",
            filter_string,
            order_by,
            max_results,
            SEARCH_REGISTERED_MODELS_MAX_RESULTS_THRESHOLD,
            page_token,
            select_registered_model_names,
            lambda conn, rows: load_models(conn, [row.name for row in rows]),
            readable,
        )

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        """The newest version in each requested stage (all four when none are given), in the
        order None, Staging, Production, Archived."""
        check.model_name(name)
        if isinstance(stages, str):
            stages = [stages]
        wanted = {canonical_stage(stage) for stage in stages or ()} or set(STAGES)
        with self._db.read() as conn:
            model = self._model_row(conn, name)
            return newest_per_stage(
                conn, [model.name], [stage for stage in STAGES if stage in wanted]
            )

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        """Set (or overwrite) one tag."""
        check.model_name(name)
        key, value = check.tag(key, value, allow_none=True)

        def work(conn: Connection) -> None:
            model = self._model_row(conn, name, lock=True)
            upsert_rows(
                conn, t.registered_model_tags, [{"name": model.name, "key": key, "value": value}]
            )

        self._db.write(work)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Remove one tag (a tag that is not there is not an error, as in MLflow)."""
        check.model_name(name)
        check.tag(key, "", allow_none=True)

        def work(conn: Connection) -> None:
            model = self._model_row(conn, name, lock=True)
            conn.execute(
                t.registered_model_tags.delete().where(
                    t.registered_model_tags.c.name == model.name,
                    self._is(t.registered_model_tags.c.key, key),
                )
            )

        self._db.write(work)

    # -- aliases -------------------------------------------------------------------------------

    def _alias(
        self, conn: Connection, model: Any, alias: str
    ) -> tuple[tuple[sa.ColumnElement[bool], ...], int | None]:
        """The condition that finds the alias row, and the version it points at (or None)."""
        where = (
            t.registered_model_aliases.c.name == model.name,
            self._is(t.registered_model_aliases.c.alias, alias),
        )
        current = conn.execute(
            sa.select(t.registered_model_aliases.c.version).where(*where)
        ).scalar_one_or_none()
        return where, current

    def set_registered_model_alias(
        self, name: str, alias: str, version: int | str, user_id: str | None = None
    ) -> None:
        """Point ``alias`` at a live ``version`` (moving it if it pointed elsewhere); recorded."""
        check.model_name(name)
        validate_alias(alias)
        who = check.user_id(user_id)

        def work(conn: Connection) -> None:
            model, row = self._locked_version(conn, name, version)
            where, current = self._alias(conn, model, alias)
            if current == row.version:
                return
            if current is None:
                conn.execute(
                    t.registered_model_aliases.insert().values(
                        name=model.name, alias=alias, version=row.version
                    )
                )
            else:
                conn.execute(
                    t.registered_model_aliases.update().where(*where).values(version=row.version)
                )
            self._record(conn, model, ALIAS_EVENT, alias, current, row.version, now_ms(), who)

        self._db.write(work)

    def delete_registered_model_alias(
        self, name: str, alias: str, user_id: str | None = None
    ) -> None:
        """Remove an alias (one that is not set is not an error); recorded."""
        check.model_name(name)
        validate_alias(alias)
        who = check.user_id(user_id)

        def work(conn: Connection) -> None:
            model = self._model_row(conn, name, lock=True)
            where, current = self._alias(conn, model, alias)
            if current is None:
                return
            conn.execute(t.registered_model_aliases.delete().where(*where))
            self._record(conn, model, ALIAS_EVENT, alias, current, None, now_ms(), who)

        self._db.write(work)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version ``alias`` points at; ``latest`` (any case) is the highest live version.

        InvalidParameter for an alias that is not set (as MLflow answers, 400 not 404).
        """
        check.model_name(name)
        if not isinstance(alias, str):
            raise InvalidParameter(f"Invalid alias {alias!r}: expected a string.")
        with self._db.read() as conn:
            model = self._model_row(conn, name)
            if alias.lower() == _LATEST_ALIAS:
                number = conn.execute(
                    sa.select(sa.func.max(t.model_versions.c.version)).where(
                        t.model_versions.c.name == model.name,
                        t.model_versions.c.deleted == sa.false(),
                    )
                ).scalar_one_or_none()
                missing = f"Registered model {name!r} has no versions, so 'latest' names none."
            else:
                number = conn.execute(
                    sa.select(t.registered_model_aliases.c.version).where(
                        t.registered_model_aliases.c.name == model.name,
                        self._is(t.registered_model_aliases.c.alias, alias),
                    )
                ).scalar_one_or_none()
                missing = f"Registered model {name!r} has no alias {alias!r}."
            if number is None:
                raise InvalidParameter(missing)
            return load_versions(conn, [self._version_row(conn, model.name, number)])[0]

    # -- history -------------------------------------------------------------------------------

    def get_registry_history(
        self, name: str, since: int | None = None, until: int | None = None
    ) -> list[RegistryEvent]:
        """Every stage transition and alias change recorded under ``name``, oldest first,
        optionally limited to ``since <= timestamp < until`` (milliseconds).

        The history outlives the model: a deleted model's events stay listed under its last
        name (and a new model of that name continues the list).
        """
        check.model_name(name)
        start = check.optional_int(since, "since")
        end = check.optional_int(until, "until")
        events = t.registry_events
        where = [self._is(events.c.name, name)]
        if start is not None:
            where.append(events.c.timestamp >= start)
        if end is not None:
            where.append(events.c.timestamp < end)
        with self._db.read() as conn:
            rows = conn.execute(sa.select(events).where(*where).order_by(events.c.event_id)).all()
        return [
            RegistryEvent(
                name=row.name,
                kind=row.kind,
                subject=row.subject,
                from_value=row.from_value,
                to_value=row.to_value,
                timestamp=row.timestamp,
                user_id=row.user_id or "",
                event_id=row.event_id,
            )
            for row in rows
        ]
