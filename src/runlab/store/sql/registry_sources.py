"""Where a new model version's source leads, worked out inside the version's transaction.

:func:`resolve_source` turns the request's ``source``, ``run_id`` and ``model_id`` into what is
stored, and has :func:`~runlab.artifacts.model_sources.check_model_source` decide whether the
source is allowed:

- a ``models:/<name>/<version>`` source (or a stage, ``latest``, an alias) names another
  registered version, as MLflow's ``copy_model_version`` sends it: it is stored as
  ``models:/<name>/<number>``, its files are that version's, and the new version takes that
  version's run and logged model, unless the request names them (then they must match);
- the artifact roots of the run and the logged model are read from the tracking tables, which
  share the registry's database. A run this store does not hold is not an error by itself (the
  tracking server may be another one): only a source that must lie inside the run's artifacts
  is refused then. A logged model must exist (ModelNotFound), as on MLflow's server.

:func:`link_logged_model` records a version registered from a logged model in the model's
``mlflow.modelVersions`` tag, as MLflow's server does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from runlab import uris
from runlab.artifacts.model_sources import check_model_source, names_registered_version
from runlab.entities import LifecycleStage
from runlab.errors import InvalidParameter, ModelNotFound
from runlab.model_uris import parse_models_uri
from runlab.store.sql import schema as t

if TYPE_CHECKING:
    from runlab.store.sql.registry_base import RegistryBase

__all__ = ["MODEL_VERSIONS_TAG", "VersionSource", "link_logged_model", "resolve_source"]

#: The logged-model tag that lists the registered versions made from the model.
MODEL_VERSIONS_TAG = "mlflow.modelVersions"


@dataclass(frozen=True)
class VersionSource:
    """What a new version stores about where it came from."""

    source: str
    run_id: str | None
    model_id: str | None
    storage_location: str | None


def _referenced_version(store: RegistryBase, conn: Connection, source: str) -> Any:
    """The live version row a ``models:/<name>/…`` source names."""
    parsed = parse_models_uri(source)
    assert parsed.name is not None
    if parsed.path:
        raise InvalidParameter(
            f"Invalid model version source: {source!r}. A models:/<name>/<version> source "
            "names a whole version; leave out the path after it."
        )
    model = store._model_row(conn, parsed.name)
    versions = t.model_versions
    live = (versions.c.name == model.name, versions.c.deleted == sa.false())
    if parsed.kind == "version":
        assert parsed.version is not None
        return store._version_row(conn, model.name, parsed.version)
    if parsed.kind == "alias":
        number = conn.execute(
            sa.select(t.registered_model_aliases.c.version).where(
                t.registered_model_aliases.c.name == model.name,
                store._is(t.registered_model_aliases.c.alias, parsed.alias or ""),
            )
        ).scalar_one_or_none()
        if number is None:
            raise InvalidParameter(
                f"Invalid model version source: {source!r}. Registered model {model.name!r} "
                f"has no alias {parsed.alias!r}."
            )
        return store._version_row(conn, model.name, number)
    where = [*live]
    if parsed.kind == "stage":
        where.append(versions.c.current_stage == parsed.stage)
    number = conn.execute(sa.select(sa.func.max(versions.c.version)).where(*where)).scalar()
    if number is None:
        which = "any stage" if parsed.kind == "latest" else f"stage {parsed.stage}"
        raise ModelNotFound(
            f"Registered model {model.name!r} has no version in {which}, so the source "
            f"{source!r} names nothing."
        )
    return store._version_row(conn, model.name, number)


def _lineage(
    store: RegistryBase, conn: Connection, source: str, run_id: str | None, model_id: str | None
) -> VersionSource:
    """A registered-version source, its run and logged model, and where its files are."""
    row = _referenced_version(store, conn, source)
    for given, theirs in ((run_id, row.run_id or None), (model_id, row.model_id or None)):
        if given is not None and given != theirs:
            raise InvalidParameter(
                f"Invalid model version source: {source!r}. The run_id and model_id request "
                f"parameters must match the referenced model version (version {row.version} of "
                f"{row.name!r} has run_id {row.run_id or ''!r} and model_id "
                f"{row.model_id or ''!r}); leave them out to take the version's."
            )
    return VersionSource(
        source=f"models:/{row.name}/{row.version}",
        run_id=run_id if run_id is not None else row.run_id or None,
        model_id=model_id if model_id is not None else row.model_id or None,
        storage_location=row.storage_location or row.source,
    )


def _logged_model_storage(source: str, model_root: str) -> str | None:
    """Where a ``models:/m-<id>[/path]`` source's files are: under the logged model's root."""
    if not source.startswith("models:/"):
        return None
    path = source[len("models:/") :].partition("/")[2]
    return uris.append_to_uri_path(model_root, path) if path else model_root


def resolve_source(
    store: RegistryBase,
    conn: Connection,
    source: str,
    run_id: str | None,
    model_id: str | None,
) -> VersionSource:
    """Check ``source`` for a new version and work out what the version stores.

    ``run_id`` and ``model_id`` are the request's (None when not given). Raises
    InvalidParameter for a source that is not allowed, ModelNotFound for a logged model (or a
    referenced registered version) that does not exist.
    """
    if names_registered_version(source):
        resolved = _lineage(store, conn, source, run_id, model_id)
    else:
        resolved = VersionSource(source, run_id, model_id, None)
    run_root = None
    if resolved.run_id is not None:
        run_root = conn.execute(
            sa.select(t.runs.c.artifact_uri).where(t.runs.c.run_id == resolved.run_id)
        ).scalar_one_or_none()
    logged: Any = None
    if resolved.model_id is not None:
        logged = conn.execute(
            sa.select(t.logged_models.c.artifact_location, t.logged_models.c.source_run_id).where(
                t.logged_models.c.model_id == resolved.model_id,
                t.logged_models.c.lifecycle_stage == LifecycleStage.ACTIVE,
            )
        ).first()
        if logged is None:
            raise ModelNotFound(f"No logged model with id {resolved.model_id!r}.")
    check_model_source(
        resolved.source,
        run_id=resolved.run_id,
        run_artifact_uri=run_root or None,
        model_id=resolved.model_id,
        model_artifact_uri=logged.artifact_location if logged is not None else None,
    )
    if logged is None:
        return resolved
    return VersionSource(
        source=resolved.source,
        # A version of a logged model is linked to the run that produced the model.
        run_id=resolved.run_id if resolved.run_id is not None else logged.source_run_id,
        model_id=resolved.model_id,
        storage_location=resolved.storage_location
        or _logged_model_storage(resolved.source, logged.artifact_location),
    )


def link_logged_model(conn: Connection, model_id: str, name: str, version: int) -> None:
    """Add ``{"name": name, "version": version}`` to the logged model's ``mlflow.modelVersions``
    tag (a JSON list, as MLflow writes it), in the caller's transaction.

    A value that is not such a list is started afresh. When the list outgrows a tag value,
    the oldest entries give way: the newest registrations are the ones a reader looks for.
    """
    tags = t.logged_model_tags
    where = (tags.c.model_id == model_id, tags.c.key == MODEL_VERSIONS_TAG)
    row = conn.execute(sa.select(tags.c.value).where(*where)).first()
    current = row.value if row is not None else None
    entries: list[Any] = []
    if current:
        try:
            loaded = json.loads(current)
        except ValueError:
            loaded = None
        if isinstance(loaded, list):
            entries = loaded
    entry = {"name": name, "version": version}
    if entry not in entries:
        entries.append(entry)
    value = json.dumps(entries)
    while len(value) > t.TAG_VALUE_MAX and len(entries) > 1:
        entries.pop(0)
        value = json.dumps(entries)
    if row is None:
        conn.execute(tags.insert().values(model_id=model_id, key=MODEL_VERSIONS_TAG, value=value))
    else:
        conn.execute(tags.update().where(*where).values(value=value))
