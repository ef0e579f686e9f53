"""Datasets of numpy arrays: ``from_numpy``."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from runlab.data.dataset import Dataset
from runlab.data.digests import numpy_digest
from runlab.data.schema import TensorDatasetSchema, infer_schema
from runlab.data.sources import DatasetSource
from runlab.errors import InvalidParameter

__all__ = ["NumpyDataset", "from_numpy"]


def _checked_arrays(data: Any, role: str) -> Any:
    import numpy as np

    if isinstance(data, np.ndarray):
        return data
    if isinstance(data, Mapping):
        if not data:
            raise InvalidParameter(f"The {role} dict is empty; give it at least one array.")
        for key, value in data.items():
            if not isinstance(key, str) or not isinstance(value, np.ndarray):
                raise InvalidParameter(
                    f"The {role} dict must map names to numpy arrays; {key!r} maps to "
                    f"{type(value).__name__}."
                )
        return dict(data)
    raise InvalidParameter(
        f"from_numpy takes {role} as a numpy array or a dict of named arrays, got "
        f"{type(data).__name__}."
    )


def _attribute(data: Any, name: str) -> Any:
    if isinstance(data, dict):
        return {key: _plain(getattr(array, name)) for key, array in data.items()}
    return _plain(getattr(data, name))


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else int(value)


class NumpyDataset(Dataset):
    """Features (an array or a dict of named arrays) and optional targets as a dataset.

    Its profile gives the shape, size and bytes of the features and targets; its schema is a
    :class:`runlab.data.schema.TensorDatasetSchema`.
    """

    def __init__(
        self,
        features: Any,
        source: DatasetSource | str | None = None,
        targets: Any = None,
        name: str | None = None,
        digest: str | None = None,
    ) -> None:
        """Check the arrays, then compute the digest unless one is given."""
        self._features = _checked_arrays(features, "features")
        self._targets = None if targets is None else _checked_arrays(targets, "targets")
        super().__init__(source, name, digest)

    def _compute_digest(self) -> str:
        return numpy_digest(self._features, self._targets)

    @property
    def features(self) -> Any:
        """The features."""
        return self._features

    @property
    def targets(self) -> Any:
        """The targets, or None."""
        return self._targets

    @property
    def profile(self) -> dict[str, Any]:
        """Shape, number of elements and bytes of the features (and targets)."""
        profile = {
            "features_shape": _attribute(self._features, "shape"),
            "features_size": _attribute(self._features, "size"),
            "features_nbytes": _attribute(self._features, "nbytes"),
        }
        if self._targets is not None:
            profile.update(
                {
                    "targets_shape": _attribute(self._targets, "shape"),
                    "targets_size": _attribute(self._targets, "size"),
                    "targets_nbytes": _attribute(self._targets, "nbytes"),
                }
            )
        return profile

    @functools.cached_property
    def schema(self) -> TensorDatasetSchema | None:
        """The tensor specs of features and targets, or None if they cannot be inferred."""
        features = infer_schema(self._features)
        targets = None if self._targets is None else infer_schema(self._targets)
        if features is None or (self._targets is not None and targets is None):
            return None
        return TensorDatasetSchema(features, targets)

    def _schema_json(self) -> str | None:
        schema = self.schema
        return None if schema is None else schema.to_json()


def from_numpy(
    features: Any,
    source: DatasetSource | str | None = None,
    targets: Any = None,
    name: str | None = None,
    digest: str | None = None,
) -> NumpyDataset:
    """A dataset of numpy features and optional targets, for :func:`runlab.log_input`.

    ``features`` and ``targets`` are arrays or dicts of named arrays. ``source`` says where they
    came from (a path, a URI or a DatasetSource; by default the running code). The digest is
    computed from the content unless given.
    """
    return NumpyDataset(features, source=source, targets=targets, name=name, digest=digest)
