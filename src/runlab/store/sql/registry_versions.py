"""Model versions in the SQL registry store: create, read, update, delete, stages, tags, search.

A new version takes its number from its model's ``next_version`` counter, incremented in the
version's transaction while the model's row is locked: concurrent registrations get distinct,
consecutive numbers. A deleted version's row stays, redacted, so its number is never reused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from runlab.entities import ModelVersion, ModelVersionStatus, PagedList
from runlab.entities.registry import STAGE_EVENT, canonical_stage
from runlab.errors import InvalidParameter
from runlab.store.base import (
    SEARCH_MODEL_VERSIONS_MAX_RESULTS_DEFAULT,
    SEARCH_MODEL_VERSIONS_MAX_RESULTS_THRESHOLD,
    ReadableSet,
)
from runlab.store.sql import registry_validation as check
from runlab.store.sql import schema as t
from runlab.store.sql.registry_base import NO_STAGE, RegistryBase, now_ms
from runlab.store.sql.registry_loader import load_versions
from runlab.store.sql.registry_search import select_model_versions
from runlab.store.sql.registry_sources import link_logged_model, resolve_source
from runlab.store.sql.upserts import upsert_rows

__all__ = ["ModelVersionMethods"]

#: Stages that ``archive_existing_versions`` may be used with.
_ARCHIVING_STAGES = ("Staging", "Production")
_ARCHIVED = "Archived"


class ModelVersionMethods(RegistryBase):
    """The model-version half of :class:`~runlab.store.sql.registry.SqlRegistryStore`."""

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        model_id: str | None = None,
        user_id: str | None = None,
    ) -> ModelVersion:
        """Register ``source`` as the next version of ``name`` (the model must exist).

        The source is checked before anything is written (see
        :mod:`runlab.store.sql.registry_sources` and :mod:`runlab.artifacts.model_sources`):
        InvalidParameter for a source that is not allowed, ModelNotFound for a logged model
        that does not exist. A run this store does not hold is not an error unless the source
        must lie inside its artifacts. A version made from a logged model is listed in the
        model's ``mlflow.modelVersions`` tag.
        """
        check.model_name(name)
        run = check.run_id(run_id)
        logged_model = check.model_id(model_id)
        tag_map = check.tags(tags)
        link = check.run_link(run_link)
        text = check.description(description)
        who = check.user_id(user_id)

        def work(conn: Connection) -> ModelVersion:
            model = self._model_row(conn, name, lock=True)
            origin = resolve_source(self, conn, source, run, logged_model)
            now = now_ms()
            # The UPDATE makes concurrent registrations of this model wait for each other.
            self._touch_model(conn, model, now, next_version=t.registered_models.c.next_version + 1)
            number = (
                conn.execute(
                    sa.select(t.registered_models.c.next_version).where(
                        t.registered_models.c.name == model.name
                    )
                ).scalar_one()
                - 1
            )
            row = {
                "name": model.name,
                "version": number,
                "creation_timestamp": now,
                "last_updated_timestamp": now,
                "current_stage": NO_STAGE,
                "description": text or None,
                "user_id": who or None,
                "source": origin.source,
                "run_id": origin.run_id,
                "run_link": link or None,
                "status": ModelVersionStatus.READY,
                "status_message": None,
                "storage_location": origin.storage_location,
                "model_id": origin.model_id,
                "deleted": False,
            }
            conn.execute(t.model_versions.insert().values(**row))
            if tag_map:
                conn.execute(
                    t.model_version_tags.insert(),
                    [
                        {"name": model.name, "version": number, "key": k, "value": v}
                        for k, v in tag_map.items()
                    ],
                )
            if origin.model_id is not None:
                link_logged_model(conn, origin.model_id, model.name, number)
            return load_versions(conn, [self._version_row(conn, model.name, number)])[0]

        return self._db.write(work)

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        """ModelNotFound if the version is absent or deleted."""
        check.model_name(name)
        number = check.version(version)
        with self._db.read() as conn:
            model = self._model_row(conn, name, version=number)
            return load_versions(conn, [self._version_row(conn, model.name, number)])[0]

    def update_model_version(
        self, name: str, version: int | str, description: str | None
    ) -> ModelVersion:
        """Set the description (None clears it)."""
        check.model_name(name)
        text = check.description(description)

        def work(conn: Connection) -> ModelVersion:
            model, row = self._locked_version(conn, name, version)
            self._update_version(conn, row, now_ms(), description=text or None)
            return load_versions(conn, [self._version_row(conn, model.name, row.version)])[0]

        return self._db.write(work)

    @staticmethod
    def _update_version(conn: Connection, row: Any, now: int, **values: Any) -> None:
        conn.execute(
            t.model_versions.update()
            .where(t.model_versions.c.name == row.name, t.model_versions.c.version == row.version)
            .values(last_updated_timestamp=now, **values)
        )

    def delete_model_version(self, name: str, version: int | str) -> None:
        """Delete a version: its aliases and tags go (alias removals and its leaving its stage
        are recorded); the row stays, redacted, so the number is never reused."""
        check.model_name(name)

        def work(conn: Connection) -> None:
            model, row = self._locked_version(conn, name, version)
            now = now_ms()
            self._remove_aliases(conn, model, row.version, now, "")
            if row.current_stage != NO_STAGE:
                self._record(
                    conn, model, STAGE_EVENT, row.version, row.current_stage, None, now, ""
                )
            conn.execute(
                t.model_version_tags.delete().where(
                    t.model_version_tags.c.name == model.name,
                    t.model_version_tags.c.version == row.version,
                )
            )
            self._update_version(
                conn,
                row,
                now,
                deleted=True,
                current_stage=NO_STAGE,
                description=None,
                user_id=None,
                source=None,
                run_id=None,
                run_link=None,
                status_message=None,
                storage_location=None,
                model_id=None,
            )
            self._touch_model(conn, model, now)

        self._db.write(work)

    def transition_model_version_stage(
        self,
        name: str,
        version: int | str,
        stage: str,
        archive_existing_versions: bool = False,
        user_id: str | None = None,
    ) -> ModelVersion:
        """Move a version to ``stage`` (any case). With ``archive_existing_versions`` (only for
        Staging and Production) the other versions in that stage move to Archived. Every move is
        recorded; moving a version to the stage it is in changes nothing."""
        check.model_name(name)
        target = canonical_stage(stage)
        if not isinstance(archive_existing_versions, bool):
            raise InvalidParameter(
                f"archive_existing_versions must be true or false, got "
                f"{archive_existing_versions!r}."
            )
        if archive_existing_versions and target not in _ARCHIVING_STAGES:
            raise InvalidParameter(
                f"archive_existing_versions applies only to transitions to Staging or "
                f"Production, not to {target!r}; leave it false."
            )
        who = check.user_id(user_id)

        def work(conn: Connection) -> ModelVersion:
            model, row = self._locked_version(conn, name, version)
            now = now_ms()
            if row.current_stage != target:
                self._update_version(conn, row, now, current_stage=target)
                self._record(
                    conn, model, STAGE_EVENT, row.version, row.current_stage, target, now, who
                )
            if archive_existing_versions:
                others = conn.execute(
                    sa.select(t.model_versions.c.version)
                    .where(
                        t.model_versions.c.name == model.name,
                        t.model_versions.c.current_stage == target,
                        t.model_versions.c.version != row.version,
                        t.model_versions.c.deleted == sa.false(),
                    )
                    .order_by(t.model_versions.c.version)
                ).all()
                for (other,) in others:
                    self._record(conn, model, STAGE_EVENT, other, target, _ARCHIVED, now, who)
                if others:
                    conn.execute(
                        t.model_versions.update()
                        .where(
                            t.model_versions.c.name == model.name,
                            t.model_versions.c.version.in_([other for (other,) in others]),
                        )
                        .values(current_stage=_ARCHIVED, last_updated_timestamp=now)
                    )
            self._touch_model(conn, model, now)
            return load_versions(conn, [self._version_row(conn, model.name, row.version)])[0]

        return self._db.write(work)

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_MODEL_VERSIONS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        *,
        readable: ReadableSet | None = None,
    ) -> PagedList[ModelVersion]:
        """One page of live versions matching the filter (``name``, ``run_id``,
        ``source_path``, ``version_number``, ``tags.<key>``); default order name ASC,
        version DESC; with ``readable``, only versions of models of those names."""
        return self._search_page(
            "model_versions",
            filter_string,
            order_by,
            max_results,
            SEARCH_MODEL_VERSIONS_MAX_RESULTS_THRESHOLD,
            page_token,
            select_model_versions,
            load_versions,
            readable,
        )

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        """The version's storage location if it has one, else its source."""
        row = self.get_model_version(name, version)
        return row.storage_location or row.source

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        """Set (or overwrite) one tag of a live version."""
        check.model_name(name)
        key, value = check.tag(key, value, allow_none=False)

        def work(conn: Connection) -> None:
            model, row = self._locked_version(conn, name, version)
            upsert_rows(
                conn,
                t.model_version_tags,
                [{"name": model.name, "version": row.version, "key": key, "value": value}],
            )

        self._db.write(work)

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        """Remove one tag of a live version (a tag that is not there is not an error)."""
        check.model_name(name)
        check.tag(key, "", allow_none=True)

        def work(conn: Connection) -> None:
            model, row = self._locked_version(conn, name, version)
            conn.execute(
                t.model_version_tags.delete().where(
                    t.model_version_tags.c.name == model.name,
                    t.model_version_tags.c.version == row.version,
                    self._is(t.model_version_tags.c.key, key),
                )
            )

        self._db.write(work)
