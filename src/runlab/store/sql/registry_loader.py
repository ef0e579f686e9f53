"""Read registry rows into entities: versions with their tags and aliases, models with theirs
and their newest version per stage. A handful of queries per page, batched, never one per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from runlab.entities import STAGES, ModelVersion, RegisteredModel
from runlab.store.sql import schema as t

__all__ = ["load_models", "load_versions", "newest_per_stage", "version_from_row"]

# Keeps IN lists well below every backend's bound-parameter limit.
_BATCH = 400

_STAGE_ORDER = {stage: index for index, stage in enumerate(STAGES)}


def _batches(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _BATCH):
        yield items[start : start + _BATCH]


def version_from_row(
    row: Any, tags: dict[str, str] | None = None, aliases: Iterable[str] = ()
) -> ModelVersion:
    """A ModelVersion from a ``model_versions`` row plus its tags and aliases."""
    return ModelVersion(
        name=row.name,
        version=row.version,
        creation_timestamp=row.creation_timestamp,
        last_updated_timestamp=row.last_updated_timestamp,
        current_stage=row.current_stage,
        description=row.description or "",
        user_id=row.user_id or "",
        source=row.source or "",
        run_id=row.run_id or "",
        run_link=row.run_link or "",
        status=row.status,
        status_message=row.status_message or "",
        tags=tags or {},
        aliases=tuple(sorted(aliases)),
        model_id=row.model_id,
        storage_location=row.storage_location,
    )


def load_versions(conn: Connection, rows: Sequence[Any]) -> list[ModelVersion]:
    """Entities for ``model_versions`` rows, in the same order."""
    keys = [(row.name, row.version) for row in rows]
    tags: dict[tuple[str, int], dict[str, str]] = {}
    aliases: dict[tuple[str, int], list[str]] = {}
    for batch in _batches(keys):
        for tag in conn.execute(
            sa.select(t.model_version_tags).where(
                sa.tuple_(t.model_version_tags.c.name, t.model_version_tags.c.version).in_(batch)
            )
        ):
            tags.setdefault((tag.name, tag.version), {})[tag.key] = tag.value or ""
        for alias in conn.execute(
            sa.select(t.registered_model_aliases).where(
                sa.tuple_(
                    t.registered_model_aliases.c.name, t.registered_model_aliases.c.version
                ).in_(batch)
            )
        ):
            aliases.setdefault((alias.name, alias.version), []).append(alias.alias)
    return [
        version_from_row(row, tags.get(key), aliases.get(key, ()))
        for row, key in zip(rows, keys, strict=True)
    ]


def newest_per_stage(
    conn: Connection, names: Sequence[str], stages: Sequence[str] = STAGES
) -> list[ModelVersion]:
    """The highest live version of each model in each of ``stages``, by model then stage."""
    found: list[Any] = []
    for batch in _batches(list(names)):
        newest = (
            sa.select(
                t.model_versions.c.name,
                t.model_versions.c.current_stage,
                sa.func.max(t.model_versions.c.version).label("version"),
            )
            .where(
                t.model_versions.c.name.in_(batch),
                t.model_versions.c.current_stage.in_(list(stages)),
                t.model_versions.c.deleted == sa.false(),
            )
            .group_by(t.model_versions.c.name, t.model_versions.c.current_stage)
            .subquery()
        )
        found += conn.execute(
            sa.select(t.model_versions).join(
                newest,
                sa.and_(
                    t.model_versions.c.name == newest.c.name,
                    t.model_versions.c.version == newest.c.version,
                ),
            )
        ).all()
    found.sort(key=lambda row: (row.name, _STAGE_ORDER.get(row.current_stage, len(STAGES))))
    return load_versions(conn, found)


def load_models(conn: Connection, names: Sequence[str]) -> list[RegisteredModel]:
    """Entities for the models named, in the same order (names must exist)."""
    rows: dict[str, Any] = {}
    tags: dict[str, dict[str, str]] = {}
    aliases: dict[str, dict[str, int]] = {}
    for batch in _batches(list(names)):
        for row in conn.execute(
            sa.select(t.registered_models).where(t.registered_models.c.name.in_(batch))
        ):
            rows[row.name] = row
        for tag in conn.execute(
            sa.select(t.registered_model_tags).where(t.registered_model_tags.c.name.in_(batch))
        ):
            tags.setdefault(tag.name, {})[tag.key] = tag.value or ""
        for alias in conn.execute(
            sa.select(t.registered_model_aliases).where(
                t.registered_model_aliases.c.name.in_(batch)
            )
        ):
            aliases.setdefault(alias.name, {})[alias.alias] = alias.version
    latest: dict[str, list[ModelVersion]] = {}
    for version in newest_per_stage(conn, names):
        latest.setdefault(version.name, []).append(version)
    return [
        RegisteredModel(
            name=name,
            creation_timestamp=rows[name].creation_timestamp,
            last_updated_timestamp=rows[name].last_updated_timestamp,
            description=rows[name].description or "",
            tags=tags.get(name, {}),
            aliases=dict(sorted(aliases.get(name, {}).items())),
            latest_versions=tuple(latest.get(name, ())),
        )
        for name in names
    ]
