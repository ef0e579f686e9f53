"""Logging a saved model to a run, and registering it: the steps every flavor's ``log_model`` shares.

The model is saved into a temporary folder by the flavor's ``save_model``, uploaded under the
run's artifacts at ``name`` and, with ``registered_model_name``, registered as a new version
whose source is that folder. The run is the active one (started if there is none), or
``run_id``'s.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runlab.artifacts.path_safety import validate_artifact_path
from runlab.errors import InvalidParameter
from runlab.models.model import Model
from runlab.models.signature import ModelSignature

__all__ = ["ModelInfo", "log_flavor_model", "model_name"]


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What ``log_model`` returns: where the model went and what its ``MLmodel`` says."""

    name: str
    artifact_path: str
    model_uri: str
    run_id: str
    flavors: dict[str, Any]
    model_uuid: str
    utc_time_created: str
    signature: ModelSignature | None
    saved_input_example_info: dict[str, Any] | None
    metadata: dict[str, Any] | None
    registered_model_version: int | None = None
    model_id: str | None = None

    @property
    def signature_dict(self) -> dict[str, Any] | None:
        """The signature in ``MLmodel``'s layout, or None."""
        return self.signature.to_dict() if self.signature is not None else None


def model_name(name: str | None, artifact_path: str | None) -> str:
    """The artifact folder a model is logged to (``name``, or MLflow's older ``artifact_path``)."""
    if name is not None and artifact_path is not None and name != artifact_path:
        raise InvalidParameter(
            f"Give name= or artifact_path= (its older spelling), not both ({name!r} and "
            f"{artifact_path!r})."
        )
    chosen = name if name is not None else artifact_path
    if chosen is None:
        chosen = "model"
    if not isinstance(chosen, str) or not chosen.strip("/"):
        raise InvalidParameter(f"A model's name must be a non-empty string, got {chosen!r}.")
    return validate_artifact_path(chosen)


def log_flavor_model(
    save_model: Callable[..., Model],
    *,
    name: str | None,
    artifact_path: str | None = None,
    registered_model_name: str | None = None,
    await_registration_for: int | None = None,
    run_id: str | None = None,
    **save_kwargs: Any,
) -> ModelInfo:
    """Save a model with a flavor's ``save_model`` and log it to a run; register it if asked.

    A flavor's ``log_model`` passes its model and options through ``save_kwargs`` by keyword;
    ``save_model(path=…, mlflow_model=…, **save_kwargs)`` receives the folder to create and a
    :class:`Model` already carrying the run id and artifact path.
    """
    from runlab.tracking.fluent import _target

    folder_name = model_name(name, artifact_path)
    if registered_model_name is not None and (
        not isinstance(registered_model_name, str) or not registered_model_name.strip()
    ):
        raise InvalidParameter(
            f"registered_model_name must be a non-empty string, got {registered_model_name!r}."
        )
    target = _target(run_id)
    client = target.client
    meta = Model(artifact_path=folder_name, run_id=target.run_id)
    with tempfile.TemporaryDirectory(prefix="runlab-log-model-") as tmp:
        local = Path(tmp) / "model"
        saved = save_model(path=local, mlflow_model=meta, **save_kwargs)
        client.log_artifacts(target.run_id, str(local), folder_name)
    model_uri = f"runs:/{target.run_id}/{folder_name}"
    version = None
    if registered_model_name is not None:
        from runlab.tracking.fluent_registry import register_model

        kwargs: dict[str, Any] = {}
        if await_registration_for is not None:
            kwargs["await_registration_for"] = await_registration_for
        version = int(register_model(model_uri, registered_model_name, **kwargs).version)
    return ModelInfo(
        name=folder_name,
        artifact_path=folder_name,
        model_uri=model_uri,
        run_id=target.run_id,
        flavors=dict(saved.flavors),
        model_uuid=saved.model_uuid,
        utc_time_created=saved.utc_time_created,
        signature=saved.signature,
        saved_input_example_info=saved.saved_input_example_info,
        metadata=saved.metadata,
        registered_model_version=version,
    )
