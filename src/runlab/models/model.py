"""The ``MLmodel`` file at the root of a saved-model directory, in MLflow's YAML layout.

Keys runlab does not know (written by a newer MLflow, or by a third-party flavor) are kept on load
and written back on save, so reading and re-saving a model never loses data.
"""

from __future__ import annotations

import datetime as _dt
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runlab.errors import InvalidParameter, NotFound
from runlab.models.signature import ModelSignature

__all__ = ["MLMODEL_FILE_NAME", "Model"]

MLMODEL_FILE_NAME = "MLmodel"

# MLflow writes the creation time in UTC as "YYYY-MM-DD HH:MM:SS.ffffff" (str() of a naive datetime).
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"

# Keys this class models as attributes; everything else in a file lands in ``extra``.
_KNOWN_KEYS = (
    "artifact_path",
    "flavors",
    "run_id",
    "model_uuid",
    "utc_time_created",
    "signature",
    "saved_input_example_info",
    "model_id",
    "mlflow_version",
    "runlab_version",
    "metadata",
)


def _runlab_version() -> str:
    from runlab import __version__

    return __version__


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None).strftime(_TIME_FORMAT)


class Model:
    """An ``MLmodel`` file: flavors, provenance, signature and anything else the file holds."""

    def __init__(
        self,
        artifact_path: str | None = None,
        run_id: str | None = None,
        utc_time_created: str | None = None,
        flavors: Mapping[str, Mapping[str, Any]] | None = None,
        signature: ModelSignature | None = None,
        saved_input_example_info: Mapping[str, Any] | None = None,
        model_uuid: str | None = None,
        model_id: str | None = None,
        mlflow_version: str | None = None,
        runlab_version: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        self.artifact_path = artifact_path
        self.run_id = run_id
        self.utc_time_created = utc_time_created or _now()
        self.flavors: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (flavors or {}).items()}
        self.signature = signature
        self.saved_input_example_info = (
            dict(saved_input_example_info) if saved_input_example_info is not None else None
        )
        self.model_uuid = model_uuid or uuid.uuid4().hex
        self.model_id = model_id
        # mlflow_version is only kept when a file already has it: runlab does not claim to be MLflow.
        self.mlflow_version = mlflow_version
        self.runlab_version = runlab_version or _runlab_version()
        self.metadata = dict(metadata) if metadata is not None else None
        self.extra: dict[str, Any] = dict(extra)

    def add_flavor(self, name: str, **params: Any) -> Model:
        """Record a flavor and its configuration (replacing an earlier one of the same name)."""
        self.flavors[name] = dict(params)
        return self

    def get_input_schema(self) -> Any:
        """The signature's input schema, or None."""
        return self.signature.inputs if self.signature is not None else None

    def get_output_schema(self) -> Any:
        """The signature's output schema, or None."""
        return self.signature.outputs if self.signature is not None else None

    def to_dict(self) -> dict[str, Any]:
        """The file's contents as plain data (what :meth:`to_yaml` writes)."""
        out: dict[str, Any] = dict(self.extra)
        out.update(
            artifact_path=self.artifact_path,
            flavors={k: dict(v) for k, v in self.flavors.items()},
            run_id=self.run_id,
            model_uuid=self.model_uuid,
            utc_time_created=self.utc_time_created,
            model_id=self.model_id,
            runlab_version=self.runlab_version,
        )
        if self.mlflow_version is not None:
            out["mlflow_version"] = self.mlflow_version
        if self.signature is not None:
            out["signature"] = self.signature.to_dict()
        if self.saved_input_example_info is not None:
            out["saved_input_example_info"] = dict(self.saved_input_example_info)
        if self.metadata is not None:
            out["metadata"] = dict(self.metadata)
        return out

    def to_yaml(self) -> str:
        """The YAML text of the file (sorted keys, block style, as MLflow writes it)."""
        import yaml

        return yaml.safe_dump(self.to_dict(), default_flow_style=False, sort_keys=True)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the file to ``path`` (a file path, or a directory to hold ``MLmodel``)."""
        target = Path(path)
        if target.is_dir():
            target = target / MLMODEL_FILE_NAME
        # Write to a temporary file and rename, so a reader never sees half a file.
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(self.to_yaml(), encoding="utf-8")
        os.replace(tmp, target)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Model:
        """Build a model from the plain data of a file; unknown keys are kept in ``extra``."""
        data = dict(data)
        signature = data.get("signature")
        if signature is not None and not isinstance(signature, Mapping):
            raise InvalidParameter("The MLmodel 'signature' entry must be a mapping.")
        flavors = data.get("flavors") or {}
        if not isinstance(flavors, Mapping):
            raise InvalidParameter("The MLmodel 'flavors' entry must be a mapping.")
        created = data.get("utc_time_created")
        if isinstance(created, _dt.datetime):  # an unquoted timestamp parses as a datetime
            created = created.strftime(_TIME_FORMAT)
        extra = {k: v for k, v in data.items() if k not in _KNOWN_KEYS}
        return cls(
            artifact_path=data.get("artifact_path"),
            run_id=data.get("run_id"),
            utc_time_created=str(created) if created is not None else None,
            flavors=flavors,
            signature=ModelSignature.from_dict(signature) if signature else None,
            saved_input_example_info=data.get("saved_input_example_info"),
            model_uuid=data.get("model_uuid"),
            model_id=data.get("model_id"),
            mlflow_version=data.get("mlflow_version"),
            runlab_version=data.get("runlab_version"),
            metadata=data.get("metadata"),
            **extra,
        )

    @classmethod
    def from_yaml(cls, text: str) -> Model:
        """Parse the YAML text of an ``MLmodel`` file."""
        import yaml

        data = yaml.safe_load(text)
        if not isinstance(data, Mapping):
            raise InvalidParameter("An MLmodel file must hold a YAML mapping.")
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Model:
        """Read an ``MLmodel`` file, or the one inside a model directory."""
        source = Path(path)
        if source.is_dir():
            source = source / MLMODEL_FILE_NAME
        if not source.is_file():
            # RESOURCE_DOES_NOT_EXIST, as MLflow reports a directory that holds no model.
            raise NotFound(
                f"No {MLMODEL_FILE_NAME} file at '{source}': is this a saved-model directory?"
            )
        return cls.from_yaml(source.read_text(encoding="utf-8"))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Model) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Model(artifact_path={self.artifact_path!r}, flavors={sorted(self.flavors)!r})"
