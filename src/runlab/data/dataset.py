"""The dataset interface, and the records a run keeps of the datasets it used.

A :class:`Dataset` knows its data's ``name``, ``digest`` (a content hash), ``source``, ``schema``
and ``profile``. :func:`dataset_input` turns one into the :class:`runlab.entities.DatasetInput`
that :func:`runlab.log_input` stores: the dataset's fields as strings (``source``, ``schema`` and
``profile`` hold JSON) plus input tags, the context among them as ``mlflow.data.context``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from runlab.data.sources import DatasetSource, resolve_source
from runlab.entities import Dataset as DatasetEntity
from runlab.entities import DatasetInput, InputTag
from runlab.errors import InvalidParameter

__all__ = [
    "CONTEXT_TAG",
    "DEFAULT_NAME",
    "MAX_DIGEST_LENGTH",
    "MAX_NAME_LENGTH",
    "Dataset",
    "dataset_input",
    "get_source",
]

#: The input tag that holds the context a dataset was used in ("training", "evaluation", …).
CONTEXT_TAG = "mlflow.data.context"
#: The name of a dataset created without one (MLflow's default).
DEFAULT_NAME = "dataset"
#: The limits of the tracking stores (MLflow's).
MAX_NAME_LENGTH = 500
MAX_DIGEST_LENGTH = 36
_MAX_SOURCE = 65535
_MAX_SCHEMA = 1048575
_MAX_PROFILE = 16777215
_MAX_INPUT_TAG_KEY = 255
_MAX_INPUT_TAG_VALUE = 500


def _checked_text(value: Any, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidParameter(f"A dataset's {what} must be a non-empty string, got {value!r}.")
    if len(value) > limit:
        raise InvalidParameter(
            f"A dataset's {what} may have at most {limit} characters; {value[:40]!r}… has "
            f"{len(value)}."
        )
    return value


class Dataset:
    """A dataset a run can record as its input: name, digest, source, schema and profile.

    Subclasses hold the data and say how to digest, describe and profile it; see
    :class:`runlab.data.PandasDataset` and :class:`runlab.data.NumpyDataset`.
    """

    def __init__(
        self, source: DatasetSource | str | None, name: str | None = None, digest: str | None = None
    ) -> None:
        """Subclasses call this once the data the digest needs is set."""
        self._source = resolve_source(source)
        self._name = None if name is None else _checked_text(name, "name", MAX_NAME_LENGTH)
        self._digest = (
            self._compute_digest()
            if digest is None
            else _checked_text(digest, "digest", MAX_DIGEST_LENGTH)
        )

    def _compute_digest(self) -> str:
        raise NotImplementedError

    @property
    def name(self) -> str:
        """The dataset's name (``"dataset"`` when none was given)."""
        return self._name if self._name is not None else DEFAULT_NAME

    @property
    def digest(self) -> str:
        """A short fingerprint of the content, e.g. ``"3f2a9c1e"``."""
        return self._digest

    @property
    def source(self) -> DatasetSource:
        """Where the data came from."""
        return self._source

    @property
    def schema(self) -> Any:
        """The data's column or tensor schema, or None when it cannot be inferred."""
        return None

    @property
    def profile(self) -> Any:
        """Summary figures of the data (sizes, counts), or None."""
        return None

    def _schema_json(self) -> str | None:
        return None

    def to_dict(self) -> dict[str, str | None]:
        """The record of the dataset: name, digest, source, source_type, schema, profile.

        ``source``, ``schema`` and ``profile`` are JSON strings (or None), as MLflow keeps them.
        """
        profile = self.profile
        return {
            "name": self.name,
            "digest": self.digest,
            "source": self.source.to_json(),
            "source_type": self.source.source_type,
            "schema": self._schema_json(),
            "profile": None if profile is None else json.dumps(profile),
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as one JSON string."""
        return json.dumps(self.to_dict())

    def to_entity(self) -> DatasetEntity:
        """The :class:`runlab.entities.Dataset` a tracking store keeps for this dataset."""
        record = self.to_dict()
        return DatasetEntity(
            name=str(record["name"]),
            digest=str(record["digest"]),
            source_type=str(record["source_type"]),
            source=str(record["source"]),
            schema=record["schema"],
            profile=record["profile"],
        )

    # MLflow's name for to_entity; integrations written for MLflow call it.
    _to_mlflow_entity = to_entity

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} digest={self.digest!r}>"


def _checked_entity(entity: DatasetEntity) -> DatasetEntity:
    """``entity`` when the tracking stores can keep it; checked here so that a call logging
    several inputs fails before it writes any of them."""
    _checked_text(entity.name, "name", MAX_NAME_LENGTH)
    _checked_text(entity.digest, "digest", MAX_DIGEST_LENGTH)
    _checked_text(entity.source_type, "source type", MAX_NAME_LENGTH)
    _checked_text(entity.source, "source", _MAX_SOURCE)
    for what, value, limit in (
        ("schema", entity.schema, _MAX_SCHEMA),
        ("profile", entity.profile, _MAX_PROFILE),
    ):
        if value is not None and len(value) > limit:
            raise InvalidParameter(
                f"The {what} of dataset {entity.name!r} is {len(value)} characters of JSON; the "
                f"limit is {limit}."
            )
    return entity


def _record_of(dataset: Any) -> DatasetEntity:
    """The entity of a runlab dataset, an entity already, or any MLflow-style dataset object."""
    if isinstance(dataset, DatasetEntity):
        return _checked_entity(dataset)
    if isinstance(dataset, Dataset):
        return _checked_entity(dataset.to_entity())
    to_dict = getattr(dataset, "to_dict", None)
    record = to_dict() if callable(to_dict) else None
    if not isinstance(record, Mapping) or not {"name", "digest", "source", "source_type"} <= set(
        record
    ):
        raise InvalidParameter(
            f"log_input takes a dataset from runlab.data (from_pandas, from_numpy), got "
            f"{type(dataset).__name__}."
        )
    schema, profile = record.get("schema"), record.get("profile")
    for field_name in ("name", "digest", "source", "source_type"):
        if not isinstance(record[field_name], str):
            raise InvalidParameter(
                f"The dataset's {field_name} must be a string, got {record[field_name]!r}."
            )
    return _checked_entity(
        DatasetEntity(
            name=record["name"],
            digest=record["digest"],
            source_type=record["source_type"],
            source=record["source"],
            schema=None if schema is None else str(schema),
            profile=None if profile is None else str(profile),
        )
    )


def dataset_input(
    dataset: Any, context: str | None = None, tags: Mapping[str, Any] | None = None
) -> DatasetInput:
    """The run input that records ``dataset``, with ``context`` and ``tags`` as input tags.

    Tag values are stored as strings (at most 500 characters; keys at most 255). The context
    may not also be given as the tag ``mlflow.data.context``.
    """
    entity = _record_of(dataset)
    if tags is not None and not isinstance(tags, Mapping):
        raise InvalidParameter(f"Dataset tags must be a dict, got {type(tags).__name__}.")
    pairs: dict[str, str] = {}
    if context is not None:
        if tags and CONTEXT_TAG in tags:
            raise InvalidParameter(
                f"Pass the context either as context= or as the tag {CONTEXT_TAG}, not both."
            )
        pairs[CONTEXT_TAG] = _tag_value(CONTEXT_TAG, context)
    for key, value in (tags or {}).items():
        if not isinstance(key, str) or not key or len(key) > _MAX_INPUT_TAG_KEY:
            raise InvalidParameter(
                f"A dataset tag key must be a non-empty string of at most {_MAX_INPUT_TAG_KEY} "
                f"characters, got {key!r}."
            )
        pairs[key] = _tag_value(key, value)
    return DatasetInput(entity, [InputTag(k, v) for k, v in pairs.items()])


def _tag_value(key: str, value: Any) -> str:
    if value is None:
        raise InvalidParameter(f"Dataset tag {key!r} has no value (None).")
    text = value if isinstance(value, str) else str(value)
    if len(text) > _MAX_INPUT_TAG_VALUE:
        raise InvalidParameter(
            f"Dataset tag {key!r} has a value of {len(text)} characters; the limit is "
            f"{_MAX_INPUT_TAG_VALUE}."
        )
    return text


def get_source(dataset: Any) -> DatasetSource:
    """The source of a dataset, of a recorded dataset (entity), or of a run's dataset input."""
    from runlab.data.sources import source_from_json

    if isinstance(dataset, DatasetInput):
        dataset = dataset.dataset
    if isinstance(dataset, DatasetEntity):
        return source_from_json(dataset.source_type, dataset.source)
    if isinstance(dataset, Dataset):
        return dataset.source
    raise InvalidParameter(
        f"get_source takes a runlab.data dataset, a runlab.entities.Dataset or a DatasetInput, "
        f"got {type(dataset).__name__}."
    )
