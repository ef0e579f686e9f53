"""Datasets of pandas DataFrames: ``from_pandas``."""

from __future__ import annotations

import functools
import json
from typing import Any

from runlab.data.dataset import Dataset
from runlab.data.digests import pandas_digest
from runlab.data.schema import infer_schema
from runlab.data.sources import DatasetSource
from runlab.errors import InvalidParameter

__all__ = ["PandasDataset", "from_pandas"]


def _is_data_frame(value: Any) -> bool:
    # By class name, so that checking never imports pandas.
    return any(
        c.__name__ == "DataFrame" and c.__module__.startswith("pandas") for c in type(value).__mro__
    )


class PandasDataset(Dataset):
    """A pandas DataFrame as a dataset, with optional target and prediction columns.

    Its profile is ``{"num_rows": ..., "num_elements": ...}``; its schema is the frame's column
    spec (``{"mlflow_colspec": [...]}`` when recorded).
    """

    def __init__(
        self,
        df: Any,
        source: DatasetSource | str | None = None,
        targets: str | None = None,
        name: str | None = None,
        digest: str | None = None,
        predictions: str | None = None,
    ) -> None:
        """Check the frame and columns, then compute the digest unless one is given."""
        if not _is_data_frame(df):
            raise InvalidParameter(
                f"from_pandas takes a pandas DataFrame, got {type(df).__name__}."
            )
        for role, column in (("targets", targets), ("predictions", predictions)):
            if column is not None and column not in df.columns:
                raise InvalidParameter(
                    f"The DataFrame has no {role} column {column!r}; its columns are "
                    f"{[str(c) for c in df.columns]}."
                )
        self._df = df
        self._targets = targets
        self._predictions = predictions
        super().__init__(source, name, digest)

    def _compute_digest(self) -> str:
        return pandas_digest(self._df)

    @property
    def df(self) -> Any:
        """The DataFrame."""
        return self._df

    @property
    def targets(self) -> str | None:
        """The name of the target column, or None."""
        return self._targets

    @property
    def predictions(self) -> str | None:
        """The name of the column of model predictions, or None."""
        return self._predictions

    @property
    def profile(self) -> dict[str, int]:
        """Number of rows and of cells."""
        return {"num_rows": len(self._df), "num_elements": int(self._df.size)}

    @functools.cached_property
    def schema(self) -> Any:
        """The :class:`runlab.models.Schema` of the columns, or None if it cannot be inferred."""
        return infer_schema(self._df)

    def _schema_json(self) -> str | None:
        schema = self.schema
        return None if schema is None else json.dumps({"mlflow_colspec": schema.to_dict()})


def from_pandas(
    df: Any,
    source: DatasetSource | str | None = None,
    targets: str | None = None,
    name: str | None = None,
    digest: str | None = None,
    predictions: str | None = None,
) -> PandasDataset:
    """A dataset of a pandas DataFrame, for :func:`runlab.log_input`.

    ``source`` says where the frame came from: a path, a URI (``s3://…``, ``https://…``) or a
    DatasetSource; without one, the running code is the source. ``targets`` and
    ``predictions`` name columns of the frame. The digest is computed from the content unless
    given.
    """
    return PandasDataset(
        df, source=source, targets=targets, name=name, digest=digest, predictions=predictions
    )
