"""A RegistryStore that talks to a tracking server (runlab's or MLflow's) over REST.

Everything MLflow's registry API has works against either server; the change history is
runlab's own (``/api/2.0/runlab/registered-models/history``) and raises a clear error against a
server without it.

Retries: reads, tag and alias writes and description updates give the same result when sent
twice, so they are retried like any idempotent call. Creates, renames, deletes and stage
transitions are not: a second copy would make a second version, answer 404 for a rename or
delete that already happened, or record a transition twice in the history. They are retried
only when the request certainly never reached the server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from runlab.entities import PagedList
from runlab.entities.registry import (
    ModelVersion,
    ModelVersionStatus,
    RegisteredModel,
    RegistryEvent,
    canonical_stage,
)
from runlab.errors import InvalidParameter, ModelNotFound, NotFound, RunlabError, RunNotFound
from runlab.protocol import API, RUNLAB_API
from runlab.store.base import (
    SEARCH_MODEL_VERSIONS_MAX_RESULTS_DEFAULT,
    SEARCH_REGISTERED_MODELS_MAX_RESULTS_DEFAULT,
)
from runlab.store.rest.http import HttpSession, RestConfig, http_status

__all__ = ["RestRegistryStore"]

#: MLflow's client sends enum values by name; older servers may answer with numbers.
_STATUS_NUMBERS = {
    1: ModelVersionStatus.PENDING_REGISTRATION,
    2: ModelVersionStatus.FAILED_REGISTRATION,
    3: ModelVersionStatus.READY,
}


class RestRegistryStore:
    """The RegistryStore protocol over MLflow's REST API (plus runlab's history endpoint)."""

    def __init__(self, config: RestConfig, session: HttpSession | None = None) -> None:
        """``session`` shares the connection pool of a tracking store of the same server."""
        self.config = config
        self._owns_session = session is None
        self.http = session if session is not None else HttpSession(config)

    def close(self) -> None:
        """Close pooled connections (unless the session was handed in by its owner)."""
        if self._owns_session:
            self.http.close()

    def _call(
        self, method: str, endpoint: str, body: dict[str, Any], idempotent: bool = True
    ) -> dict[str, Any]:
        """Call an MLflow registry endpoint; anything missing comes back as ModelNotFound."""
        try:
            return self.http.call(method, f"{API}/{endpoint}", body, idempotent=idempotent)
        except NotFound as exc:
            if exc.error_code == "ENDPOINT_NOT_FOUND":
                # The server's bare 404 says nothing useful; say which call it does not know.
                raise NotFound(
                    f"The server at {self.config.base_url} has no {method} {API}/{endpoint}: it "
                    "does not serve the model registry (or not this call of it).",
                    "ENDPOINT_NOT_FOUND",
                ) from None
            raise _as_model_not_found(exc) from None

    def _search(self, endpoint: str, body: dict[str, Any]) -> tuple[list[Any], str | None]:
        """One page of a registry search: the raw items and the next page's token."""
        data = self._call("GET", f"{endpoint}/search", body)
        key = "registered_models" if endpoint == "registered-models" else "model_versions"
        return list(data.get(key, ())), data.get("next_page_token") or None

    # -- registered models -----------------------------------------------------------------------

    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
    ) -> RegisteredModel:
        """Create a registered model; AlreadyExists if the name is taken."""
        body: dict[str, Any] = {"name": name, "tags": _tag_list(tags)}
        if description is not None:
            body["description"] = description
        data = self._call("POST", "registered-models/create", body, idempotent=False)
        return _registered_model(data["registered_model"])

    def get_registered_model(self, name: str) -> RegisteredModel:
        """The registered model; ModelNotFound if absent."""
        data = self._call("GET", "registered-models/get", {"name": name})
        return _registered_model(data["registered_model"])

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename a model; its versions follow."""
        data = self._call(
            "POST",
            "registered-models/rename",
            {"name": name, "new_name": new_name},
            idempotent=False,
        )
        return _registered_model(data["registered_model"])

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        """Set the description."""
        body: dict[str, Any] = {"name": name, "description": description or ""}
        data = self._call("PATCH", "registered-models/update", body)
        return _registered_model(data["registered_model"])

    def delete_registered_model(self, name: str) -> None:
        """Delete the model with its versions, tags and aliases."""
        self._call("DELETE", "registered-models/delete", {"name": name}, idempotent=False)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_REGISTERED_MODELS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        """One page of registered models."""
        body = _search_body(filter_string, max_results, order_by, page_token)
        items, token = self._search("registered-models", body)
        return PagedList([_registered_model(m) for m in items], token)

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        """The newest version in each requested stage (all four when none are given)."""
        body: dict[str, Any] = {"name": name}
        if stages:
            body["stages"] = [canonical_stage(s) for s in stages]
        try:
            data = self._call("POST", "registered-models/get-latest-versions", body)
        except NotFound as exc:
            # Servers that predate the POST form answer it as an unknown endpoint.
            if exc.error_code != "ENDPOINT_NOT_FOUND":
                raise
            data = self._call("GET", "registered-models/get-latest-versions", body)
        return [_model_version(v) for v in data.get("model_versions", ())]

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        """Set one tag."""
        self._call("POST", "registered-models/set-tag", {"name": name, "key": key, "value": value})

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Remove one tag."""
        self._call(
            "DELETE",
            "registered-models/delete-tag",
            {"name": name, "key": key},
            idempotent=False,
        )

    # -- aliases -----------------------------------------------------------------------------------

    def set_registered_model_alias(
        self, name: str, alias: str, version: int | str, user_id: str | None = None
    ) -> None:
        """Point ``alias`` at ``version``."""
        body = _with_user(
            {"name": name, "alias": alias, "version": _version_text(version)}, user_id
        )
        self._call("POST", "registered-models/alias", body)

    def delete_registered_model_alias(
        self, name: str, alias: str, user_id: str | None = None
    ) -> None:
        """Remove an alias."""
        body = _with_user({"name": name, "alias": alias}, user_id)
        self._call("DELETE", "registered-models/alias", body, idempotent=False)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version the alias points at; InvalidParameter for an unknown alias."""
        data = self._call("GET", "registered-models/alias", {"name": name, "alias": alias})
        return _model_version(data["model_version"])

    # -- versions ----------------------------------------------------------------------------------

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
        """Register ``source`` as the next version of ``name``.

        ModelNotFound when the registered model (or ``model_id``'s logged model) does not
        exist; RunNotFound when the run the version comes from does not, as from a local store.
        """
        body: dict[str, Any] = {"name": name, "source": source, "tags": _tag_list(tags)}
        optional = {
            "run_id": run_id,
            "run_link": run_link,
            "description": description,
            "model_id": model_id,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        try:
            data = self._call(
                "POST", "model-versions/create", _with_user(body, user_id), idempotent=False
            )
        except ModelNotFound as exc:
            # The wire says only "does not exist". Without a logged model, the one other thing
            # that can be missing is the run; one more read (on this failure path only) tells.
            if model_id is None and self._registered_model_exists(name):
                raise RunNotFound(exc.message, exc.error_code) from None
            raise
        return _model_version(data["model_version"])

    def _registered_model_exists(self, name: str) -> bool:
        try:
            self.get_registered_model(name)
        except ModelNotFound:
            return False
        return True

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        """The version; ModelNotFound if absent or deleted."""
        data = self._call(
            "GET", "model-versions/get", {"name": name, "version": _version_text(version)}
        )
        return _model_version(data["model_version"])

    def update_model_version(
        self, name: str, version: int | str, description: str | None
    ) -> ModelVersion:
        """Set the description."""
        body = {"name": name, "version": _version_text(version), "description": description or ""}
        data = self._call("PATCH", "model-versions/update", body)
        return _model_version(data["model_version"])

    def delete_model_version(self, name: str, version: int | str) -> None:
        """Delete a version (its number is not reused)."""
        self._call(
            "DELETE",
            "model-versions/delete",
            {"name": name, "version": _version_text(version)},
            idempotent=False,
        )

    def transition_model_version_stage(
        self,
        name: str,
        version: int | str,
        stage: str,
        archive_existing_versions: bool = False,
        user_id: str | None = None,
    ) -> ModelVersion:
        """Move a version to ``stage``, optionally archiving the others in that stage."""
        target = canonical_stage(stage)
        if archive_existing_versions and target not in ("Staging", "Production"):
            # Checked here too: MLflow's server answers this with a 500, not a 400.
            raise InvalidParameter(
                "archive_existing_versions may be true only when moving to Staging or "
                f"Production, not to {target!r}."
            )
        body = {
            "name": name,
            "version": _version_text(version),
            "stage": target,
            "archive_existing_versions": bool(archive_existing_versions),
        }
        data = self._call(
            "POST",
            "model-versions/transition-stage",
            _with_user(body, user_id),
            idempotent=False,
        )
        return _model_version(data["model_version"])

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_MODEL_VERSIONS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        """One page of versions."""
        body = _search_body(filter_string, max_results, order_by, page_token)
        items, token = self._search("model-versions", body)
        return PagedList([_model_version(v) for v in items], token)

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        """Where the version's files are."""
        data = self._call(
            "GET",
            "model-versions/get-download-uri",
            {"name": name, "version": _version_text(version)},
        )
        return str(data["artifact_uri"])

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        """Set one tag."""
        body = {"name": name, "version": _version_text(version), "key": key, "value": value}
        self._call("POST", "model-versions/set-tag", body)

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        """Remove one tag."""
        body = {"name": name, "version": _version_text(version), "key": key}
        self._call("DELETE", "model-versions/delete-tag", body, idempotent=False)

    # -- history (runlab's own) --------------------------------------------------------------------

    def get_registry_history(
        self, name: str, since: int | None = None, until: int | None = None
    ) -> list[RegistryEvent]:
        """Every stage transition and alias change of the model, oldest first.

        Only a runlab server keeps this history; against another server (MLflow's) this raises
        a RunlabError with code NOT_IMPLEMENTED saying so.
        """
        body: dict[str, Any] = {"name": name, "since": since, "until": until}
        try:
            data = self.http.call("GET", f"{RUNLAB_API}/registered-models/history", body)
        except NotFound as exc:
            if exc.error_code != "ENDPOINT_NOT_FOUND":
                raise _as_model_not_found(exc) from None
            raise RunlabError(
                f"The server at {self.config.base_url} keeps no registry history (it is not a "
                "runlab server, or one without a registry). Stage and alias history is a runlab "
                "feature; point the client at a runlab server to use it.",
                "NOT_IMPLEMENTED",
            ) from None
        return [_event(e) for e in data.get("events", ())]


# -- request and response codecs ------------------------------------------------------------------


def _as_model_not_found(exc: NotFound) -> NotFound:
    """The wire has one code for every missing object; everything missing here is a registered
    model or version (or the run a version names), so callers can catch ModelNotFound against
    any server. ENDPOINT_NOT_FOUND (no such API on this server) is left as it is."""
    if isinstance(exc, ModelNotFound) or exc.error_code == "ENDPOINT_NOT_FOUND":
        return exc
    error = ModelNotFound(exc.message, exc.error_code)
    vars(error)["http_status"] = http_status(exc)
    return error


def _version_text(version: int | str) -> str:
    # A version is a string on the wire; an int is sent as its decimal text.
    return str(version)


def _with_user(body: dict[str, Any], user_id: str | None) -> dict[str, Any]:
    # MLflow's server ignores the unknown field; runlab's records it in the history.
    if user_id:
        body["user_id"] = user_id
    return body


def _tag_list(tags: Mapping[str, str] | None) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in (tags or {}).items()]


def _search_body(
    filter_string: str | None,
    max_results: int,
    order_by: Sequence[str] | None,
    page_token: str | None,
) -> dict[str, Any]:
    optional = {"filter": filter_string, "order_by": list(order_by or ()), "page_token": page_token}
    return {"max_results": max_results, **{k: v for k, v in optional.items() if v}}


def _pairs(items: Sequence[dict[str, Any]] | None) -> dict[str, str]:
    return {item["key"]: item.get("value") or "" for item in items or ()}


def _status(value: Any) -> str:
    if isinstance(value, int):
        return _STATUS_NUMBERS.get(value, ModelVersionStatus.READY)
    return str(value) if value else ModelVersionStatus.READY


def _model_version(data: dict[str, Any]) -> ModelVersion:
    """A ModelVersion message (as either server sends it)."""
    return ModelVersion(
        name=data["name"],
        version=int(data["version"]),
        creation_timestamp=int(data.get("creation_timestamp", 0)),
        last_updated_timestamp=int(data.get("last_updated_timestamp", 0)),
        current_stage=data.get("current_stage") or "None",
        description=data.get("description") or "",
        user_id=data.get("user_id") or "",
        source=data.get("source") or "",
        run_id=data.get("run_id") or "",
        run_link=data.get("run_link") or "",
        status=_status(data.get("status")),
        status_message=data.get("status_message") or "",
        tags=_pairs(data.get("tags")),
        aliases=tuple(data.get("aliases") or ()),
        model_id=data.get("model_id") or None,
    )


def _registered_model(data: dict[str, Any]) -> RegisteredModel:
    """A RegisteredModel message (as either server sends it)."""
    return RegisteredModel(
        name=data["name"],
        creation_timestamp=int(data.get("creation_timestamp", 0)),
        last_updated_timestamp=int(data.get("last_updated_timestamp", 0)),
        description=data.get("description") or "",
        tags=_pairs(data.get("tags")),
        aliases={a["alias"]: int(a["version"]) for a in data.get("aliases") or ()},
        latest_versions=tuple(_model_version(v) for v in data.get("latest_versions") or ()),
    )


def _event(data: dict[str, Any]) -> RegistryEvent:
    """One event of runlab's history endpoint."""
    return RegistryEvent(
        name=data["name"],
        kind=data["kind"],
        subject=str(data["subject"]),
        from_value=data.get("from_value"),
        to_value=data.get("to_value"),
        timestamp=int(data["timestamp"]),
        user_id=data.get("user_id") or "",
        event_id=int(data.get("event_id", 0)),
    )
