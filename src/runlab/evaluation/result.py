"""What :func:`runlab.evaluate` returns: metrics, artifacts (plots, tables) and the run they went to."""

from __future__ import annotations

import io
import json
import posixpath
from collections.abc import Mapping
from typing import Any

__all__ = ["EvaluationArtifact", "EvaluationResult"]


class EvaluationArtifact:
    """One file an evaluation logged: ``uri`` says where it is, ``content`` loads it.

    The bytes are kept from when the evaluation wrote them, so ``content`` reads no store.
    ``content`` is a PIL image for ``.png`` files (the raw bytes when Pillow is missing), a
    pandas DataFrame for ``.csv`` files and the parsed document for ``.json`` files.
    """

    def __init__(self, uri: str, data: bytes) -> None:
        """``uri`` is the artifact's location in the run; ``data`` its bytes."""
        self.uri = uri
        self._data = data
        self._content: Any = None
        self._loaded = False

    @property
    def file_name(self) -> str:
        """The artifact's file name (``roc_curve_plot.png``)."""
        return posixpath.basename(self.uri.rstrip("/"))

    @property
    def data(self) -> bytes:
        """The file's bytes."""
        return self._data

    @property
    def content(self) -> Any:
        """The artifact loaded as a Python object (see the class docstring)."""
        if not self._loaded:
            self._content = self._load()
            self._loaded = True
        return self._content

    def _load(self) -> Any:
        name = self.file_name
        if name.endswith(".json"):
            return json.loads(self._data)
        if name.endswith(".csv"):
            import pandas as pd

            return pd.read_csv(io.BytesIO(self._data))
        if name.endswith(".png"):
            try:
                from PIL import Image
            except ImportError:  # the bytes are still a faithful answer
                return self._data
            image = Image.open(io.BytesIO(self._data))
            image.load()
            return image
        return self._data

    def __repr__(self) -> str:
        return f"EvaluationArtifact(uri={self.uri!r})"


class EvaluationResult:
    """The outcome of one evaluation.

    - ``metrics``: metric name -> value, as logged to the run;
    - ``artifacts``: artifact name (``roc_curve_plot``, ``eval_results_table`` …) ->
      :class:`EvaluationArtifact`;
    - ``baseline_model_metrics``: the baseline model's metrics (computed, not logged), or None;
    - ``tables``: table name -> pandas DataFrame (``eval_results_table``: one row per example);
    - ``run_id``: the run the evaluation logged to.
    """

    def __init__(
        self,
        metrics: Mapping[str, Any],
        artifacts: Mapping[str, EvaluationArtifact],
        run_id: str | None = None,
        baseline_model_metrics: Mapping[str, Any] | None = None,
        tables: Mapping[str, Any] | None = None,
    ) -> None:
        """Hold the evaluation's outcome."""
        self.metrics: dict[str, Any] = dict(metrics)
        self.artifacts: dict[str, EvaluationArtifact] = dict(artifacts)
        self.run_id = run_id
        self.baseline_model_metrics = (
            None if baseline_model_metrics is None else dict(baseline_model_metrics)
        )
        self.tables: dict[str, Any] = dict(tables or {})

    def __repr__(self) -> str:
        return (
            f"EvaluationResult(run_id={self.run_id!r}, metrics={sorted(self.metrics)}, "
            f"artifacts={sorted(self.artifacts)})"
        )
