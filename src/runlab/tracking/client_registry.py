"""The model registry half of :class:`runlab.Client`: registered models, versions, stages,
aliases, tags and the change history, with MLflow's method names and signatures.

The registry store comes from the client's registry URI (by default its tracking URI), so a
client can keep runs in one place and models in another, as with MLflow.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Mapping, Sequence
from typing import Any

from runlab.entities import (
    STAGES,
    ModelVersion,
    ModelVersionStatus,
    PagedList,
    RegisteredModel,
    RegistryEvent,
)
from runlab.errors import AlreadyExists, InvalidParameter
from runlab.model_uris import parse_models_uri
from runlab.store.base import (
    SEARCH_MODEL_VERSIONS_MAX_RESULTS_DEFAULT,
    SEARCH_REGISTERED_MODELS_MAX_RESULTS_DEFAULT,
    RegistryStore,
)
from runlab.tracking.model_uris import get_model_version_for_uri
from runlab.tracking.store_factory import get_registry_store
from runlab.tracking.system_tags import MLFLOW_USER, default_run_tags

__all__ = ["DEFAULT_AWAIT_MAX_SLEEP_SECONDS", "RegistryClientMethods"]

#: How long ``create_model_version`` waits, by default, for a pending version to become READY.
DEFAULT_AWAIT_MAX_SLEEP_SECONDS = 300
_POLL_INTERVAL_S = 1.0


def model_version_number(version: Any) -> int:
    """A version number as an int; MLflow passes them as ``3`` or ``"3"``."""
    if isinstance(version, bool):
        raise InvalidParameter(f"Model version {version!r} must be an integer such as 3.")
    if isinstance(version, int):
        return version
    if isinstance(version, str) and version.strip().isdigit():
        return int(version)
    raise InvalidParameter(f"Model version {version!r} must be an integer such as 3.")


def _tag_text(key: Any, value: Any) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidParameter(f"A tag key must be a non-empty string, got {key!r}.")
    # MLflow stores every tag value as text; None is refused rather than written as "None".
    if value is None:
        raise InvalidParameter(f"Tag {key!r} has no value; pass a string.")
    return str(value)


def _string_tags(tags: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not tags:
        return None
    return {key: _tag_text(key, value) for key, value in tags.items()}


def _millis(moment: int | float | dt.datetime | None, what: str) -> int | None:
    if moment is None:
        return None
    if isinstance(moment, dt.datetime):
        if moment.tzinfo is None:  # a naive datetime is local time, as datetime.now() gives
            moment = moment.astimezone()
        return int(moment.timestamp() * 1000)
    if isinstance(moment, (int, float)) and not isinstance(moment, bool):
        return int(moment)
    raise InvalidParameter(
        f"{what} must be milliseconds since the epoch or a datetime, got {moment!r}."
    )


class RegistryClientMethods:
    """Registry methods of the client; :class:`runlab.Client` inherits them."""

    _registry_uri: str
    _registry_store: RegistryStore | None

    @property
    def registry_uri(self) -> str:
        """The registry URI this client talks to (by default its tracking URI)."""
        return self._registry_uri

    @property
    def registry_store(self) -> RegistryStore:
        """The registry store behind this client."""
        if self._registry_store is None:
            self._registry_store = get_registry_store(self._registry_uri)
        return self._registry_store

    @staticmethod
    def _user_id() -> str:
        # Recorded with stage and alias changes, so the history says who made them.
        return default_run_tags()[MLFLOW_USER]

    # -- registered models ---------------------------------------------------------------------
    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> RegisteredModel:
        """Create an empty registered model; AlreadyExists if the name is taken."""
        return self.registry_store.create_registered_model(
            name, tags=_string_tags(tags), description=description
        )

    def get_registered_model(self, name: str) -> RegisteredModel:
        """The registered model with its tags, aliases and newest version per stage."""
        return self.registry_store.get_registered_model(name)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Give a model a new, unused name; its versions, aliases and history move along."""
        return self.registry_store.rename_registered_model(name, new_name)

    def update_registered_model(self, name: str, description: str | None = None) -> RegisteredModel:
        """Set a model's description."""
        return self.registry_store.update_registered_model(name, description)

    def delete_registered_model(self, name: str) -> None:
        """Delete a model with its versions, tags and aliases (its history is kept)."""
        self.registry_store.delete_registered_model(name)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_REGISTERED_MODELS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        """One page of models matching ``filter_string`` (``name LIKE 'fraud%'``,
        ``tags.team = 'risk'``); pass ``.token`` back as ``page_token`` for the next."""
        return self.registry_store.search_registered_models(
            filter_string=filter_string or None,
            max_results=max_results,
            order_by=order_by,
            page_token=page_token,
        )

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        """The newest version in each of ``stages`` (all four stages when none are given)."""
        if isinstance(stages, str):  # a lone "Production" would otherwise become P, r, o, ...
            stages = [stages]
        return self.registry_store.get_latest_versions(name, list(stages) if stages else None)

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        """Set one tag of a model (the value is stringified)."""
        self.registry_store.set_registered_model_tag(name, key, _tag_text(key, value))

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Remove one tag of a model."""
        self.registry_store.delete_registered_model_tag(name, key)

    # -- aliases -------------------------------------------------------------------------------
    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None:
        """Point ``alias`` at a version, moving it if it pointed elsewhere (recorded)."""
        self.registry_store.set_registered_model_alias(
            name, alias, model_version_number(version), user_id=self._user_id()
        )

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """Remove an alias (recorded)."""
        self.registry_store.delete_registered_model_alias(name, alias, user_id=self._user_id())

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version ``alias`` points at; InvalidParameter for an unknown alias."""
        return self.registry_store.get_model_version_by_alias(name, alias)

    # -- versions ------------------------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        await_creation_for: int = DEFAULT_AWAIT_MAX_SLEEP_SECONDS,
        local_model_path: str | None = None,
        model_id: str | None = None,
    ) -> ModelVersion:
        """Register ``source`` as the next version of the existing model ``name``.

        ``source`` must lie inside the artifacts of ``run_id`` (or of the logged model
        ``model_id``); anything else is refused with InvalidParameter. A version still
        pending registration is polled for up to ``await_creation_for`` seconds.
        ``local_model_path`` is accepted for MLflow compatibility and not used.
        """
        del local_model_path  # MLflow uses it only for Databricks' Unity Catalog uploads
        if not isinstance(source, str) or not source:
            raise InvalidParameter(f"A model version needs a source URI, got {source!r}.")
        version = self.registry_store.create_model_version(
            name,
            source,
            run_id=run_id or None,
            tags=_string_tags(tags),
            run_link=run_link,
            description=description,
            model_id=model_id,
            user_id=self._user_id(),
        )
        return self._await_ready(version, await_creation_for)

    def _await_ready(self, version: ModelVersion, timeout_s: float) -> ModelVersion:
        # runlab's stores register at once; another server may report PENDING first.
        deadline = time.monotonic() + max(0.0, timeout_s or 0)
        while (
            version.status == ModelVersionStatus.PENDING_REGISTRATION
            and time.monotonic() < deadline
        ):
            time.sleep(_POLL_INTERVAL_S)
            version = self.registry_store.get_model_version(version.name, version.version)
        if version.status == ModelVersionStatus.FAILED_REGISTRATION:
            raise InvalidParameter(
                f"Registering version {version.version} of {version.name!r} failed: "
                f"{version.status_message or 'no reason given'}."
            )
        return version

    def copy_model_version(self, src_model_uri: str, dst_name: str) -> ModelVersion:
        """Copy a registered version to ``dst_name`` as its next version and return the copy.

        ``src_model_uri`` names the version: ``models:/name/3``, a stage, ``latest`` or an
        alias. ``dst_name`` is created when missing. The copy has the original's source, run,
        logged model, tags, description and run link; its stage starts at None.
        """
        parsed = parse_models_uri(src_model_uri)
        if parsed.kind == "logged_model" or parsed.path:
            raise InvalidParameter(
                f"{src_model_uri!r} does not name one registered model version; use "
                "models:/<name>/<version>, a stage, latest or an alias."
            )
        original = get_model_version_for_uri(parsed, self)
        # Copying into an existing model adds a version to it.
        with contextlib.suppress(AlreadyExists):
            self.create_registered_model(dst_name)
        return self.create_model_version(
            dst_name,
            original.source,
            run_id=original.run_id or None,
            tags=original.tags,
            run_link=original.run_link or None,
            description=original.description or None,
            model_id=original.model_id,
        )

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        """One version; ModelNotFound if it does not exist (or was deleted)."""
        return self.registry_store.get_model_version(name, model_version_number(version))

    def update_model_version(
        self, name: str, version: int | str, description: str | None = None
    ) -> ModelVersion:
        """Set a version's description."""
        return self.registry_store.update_model_version(
            name, model_version_number(version), description
        )

    def delete_model_version(self, name: str, version: int | str) -> None:
        """Delete a version; its number is never reused and its aliases go away."""
        self.registry_store.delete_model_version(name, model_version_number(version))

    def transition_model_version_stage(
        self,
        name: str,
        version: int | str,
        stage: str,
        archive_existing_versions: bool = False,
    ) -> ModelVersion:
        """Move a version to None, Staging, Production or Archived (any case; recorded).

        With ``archive_existing_versions`` (Staging and Production only) the versions
        already in that stage move to Archived.
        """
        return self.registry_store.transition_model_version_stage(
            name,
            model_version_number(version),
            stage,
            archive_existing_versions=archive_existing_versions,
            user_id=self._user_id(),
        )

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_MODEL_VERSIONS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        """One page of versions matching ``filter_string`` (``name = 'clf'``,
        ``run_id = '…'``, ``tags.k = 'v'``); newest version first within a name."""
        return self.registry_store.search_model_versions(
            filter_string=filter_string or None,
            max_results=max_results,
            order_by=order_by,
            page_token=page_token,
        )

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        """Where a version's files are: its storage location, else its source."""
        return self.registry_store.get_model_version_download_uri(
            name, model_version_number(version)
        )

    def get_model_version_stages(self, name: str, version: int | str) -> list[str]:
        """The stages a version can be in (MLflow's, unchanged since the registry began)."""
        self.get_model_version(name, version)  # NotFound for a version that is not there
        return list(STAGES)

    def _version_of(self, name: str, version: int | str | None, stage: str | None) -> int:
        # MLflow lets tag calls name the version by stage: the newest version in it.
        if (version is None) == (stage is None):
            raise InvalidParameter("Pass exactly one of version and stage.")
        if version is not None:
            return model_version_number(version)
        found = self.get_latest_versions(name, [stage or ""])
        if not found:
            raise InvalidParameter(f"Registered model {name!r} has no version in stage {stage!r}.")
        return max(mv.version for mv in found)

    def set_model_version_tag(
        self,
        name: str,
        version: int | str | None = None,
        key: str | None = None,
        value: Any = None,
        stage: str | None = None,
    ) -> None:
        """Set one tag of a version, named by ``version`` or (the newest in) ``stage``."""
        text = _tag_text(key, value)
        assert key is not None
        self.registry_store.set_model_version_tag(
            name, self._version_of(name, version, stage), key, text
        )

    def delete_model_version_tag(
        self,
        name: str,
        version: int | str | None = None,
        key: str | None = None,
        stage: str | None = None,
    ) -> None:
        """Remove one tag of a version, named by ``version`` or (the newest in) ``stage``."""
        if not isinstance(key, str) or not key:
            raise InvalidParameter(f"A tag key must be a non-empty string, got {key!r}.")
        self.registry_store.delete_model_version_tag(
            name, self._version_of(name, version, stage), key
        )

    # -- history (runlab's own) ----------------------------------------------------------------
    def get_registry_history(
        self,
        name: str,
        since: int | float | dt.datetime | None = None,
        until: int | float | dt.datetime | None = None,
    ) -> list[RegistryEvent]:
        """Every stage transition and alias change of a model, oldest first.

        ``since``/``until`` (milliseconds since the epoch, or datetimes) keep the events with
        ``since <= timestamp < until``. Replaying the stage events up to a moment tells which
        version was in Production then.
        """
        return self.registry_store.get_registry_history(
            name, since=_millis(since, "since"), until=_millis(until, "until")
        )
