"""A transformers pipeline behind pyfunc ``predict``, shaped as MLflow's transformers flavor does.

Inputs: a string, a list of strings, a list of dicts, a dict, or a DataFrame (one column: its
values; several columns, e.g. ``text`` and ``text_pair``: one dict per row). Outputs by task:

- text-classification: a DataFrame with ``label`` and ``score`` columns;
- zero-shot-classification (a dict or DataFrame of ``sequences``, ``candidate_labels`` and
  ``hypothesis_template``): a DataFrame of ``sequence``, ``labels``, ``scores``, a row per label;
- text-generation (and summarization, translation, text2text-generation where transformers
  still has them): a list of generated strings;
- fill-mask: the best token for each input, as a list of strings;
- token-classification: the entity labels of each input, comma-joined;
- feature-extraction: a numpy array of embeddings (MLflow's shape: the first input's).

Keyword arguments for the pipeline call come from the model's ``model_config``, overridden by
``params`` (which pyfunc has already checked against the signature).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from runlab.errors import InvalidParameter
from runlab.models.schema import ColSpec, Schema, TensorSpec
from runlab.models.signature import ModelSignature

__all__ = ["TransformersPyfunc", "default_signature", "has_pyfunc"]

# Generation pipelines and the key of their output text, most specific class first (the
# summarization and translation pipelines derive from text2text-generation in transformers 4).
_GENERATORS = (
    ("SummarizationPipeline", "summary_text"),
    ("TranslationPipeline", "translation_text"),
    ("Text2TextGenerationPipeline", "generated_text"),
    ("TextGenerationPipeline", "generated_text"),
)
# Pipelines MLflow saves without a pyfunc flavor: their inputs are images, video or documents.
_NO_PYFUNC = {
    "DocumentQuestionAnsweringPipeline",
    "ImageToTextPipeline",
    "VisualQuestionAnsweringPipeline",
    "ImageSegmentationPipeline",
    "DepthEstimationPipeline",
    "ObjectDetectionPipeline",
    "VideoClassificationPipeline",
    "ZeroShotImageClassificationPipeline",
    "ZeroShotObjectDetectionPipeline",
    "ZeroShotAudioClassificationPipeline",
}
_ZERO_SHOT_KEYS = ("sequences", "candidate_labels", "hypothesis_template")
# Options of the pyfunc wrapper itself, never passed to the pipeline.
_WRAPPER_OPTIONS = ("include_prompt", "collapse_whitespace")

_TEXT = ModelSignature(Schema([ColSpec("string")]), Schema([ColSpec("string")]))
_DEFAULT_SIGNATURES = {
    "text-classification": ModelSignature(
        Schema([ColSpec("string")]),
        Schema([ColSpec("string", name="label"), ColSpec("double", name="score")]),
    ),
    "zero-shot-classification": ModelSignature(
        Schema([ColSpec("string", name=key) for key in _ZERO_SHOT_KEYS]),
        Schema(
            [
                ColSpec("string", name="sequence"),
                ColSpec("string", name="labels"),
                ColSpec("double", name="scores"),
            ]
        ),
    ),
    "feature-extraction": ModelSignature(
        Schema([ColSpec("string")]), Schema([TensorSpec("float64", (-1,))])
    ),
    **dict.fromkeys(
        (
            "text-generation",
            "text2text-generation",
            "summarization",
            "translation",
            "fill-mask",
            "token-classification",
        ),
        _TEXT,
    ),
}


def has_pyfunc(pipeline: Any) -> bool:
    """Whether the pipeline is saved with a pyfunc flavor (MLflow leaves image tasks out)."""
    return type(pipeline).__name__ not in _NO_PYFUNC


def default_signature(task: str) -> ModelSignature | None:
    """MLflow's default signature for a task, or None when it has none."""
    if task.startswith("translation"):
        task = "translation"
    return _DEFAULT_SIGNATURES.get(task)


def _is(pipeline: Any, class_name: str) -> bool:
    import transformers

    cls = getattr(transformers, class_name, None)  # some pipelines are gone in transformers 5
    return isinstance(cls, type) and isinstance(pipeline, cls)


def _to_pipeline_input(data: Any) -> Any:
    """pyfunc input (often a DataFrame after signature enforcement) → what a pipeline takes."""
    if type(data).__name__ == "DataFrame":
        if len(data.columns) == 1:
            return [_plain(value) for value in data.iloc[:, 0].tolist()]
        return [
            {str(k): _plain(v) for k, v in row.items()} for row in data.to_dict(orient="records")
        ]
    if type(data).__name__ in ("Series", "ndarray"):
        return [_plain(value) for value in data.tolist()]
    if isinstance(data, (str, dict, list)):
        return data
    raise InvalidParameter(
        "A transformers model predicts for a string, a list of strings or dicts, a dict or a "
        f"DataFrame, got {type(data).__name__}."
    )


def _plain(value: Any) -> Any:
    # numpy scalars and arrays inside a frame become Python values the tokenizer accepts.
    return value.tolist() if hasattr(value, "tolist") else value


def _strings(data: Any) -> Any:
    if isinstance(data, list) and all(isinstance(item, dict) and len(item) == 1 for item in data):
        data = [next(iter(item.values())) for item in data]
    if isinstance(data, str) or (
        isinstance(data, list) and data and all(isinstance(item, str) for item in data)
    ):
        return data
    raise InvalidParameter(
        "This transformers model predicts for a string or a list of strings (or a one-column "
        f"DataFrame of strings), got {type(data).__name__}."
    )


class TransformersPyfunc:
    """Runs the pipeline for pyfunc ``predict`` and shapes its output by task."""

    def __init__(
        self,
        pipeline: Any,
        flavor_conf: Mapping[str, Any],
        model_config: Mapping[str, Any] | None = None,
    ) -> None:
        self.raw_model = pipeline
        self.pipeline = pipeline
        self.flavor_config = dict(flavor_conf)
        self.model_config = dict(model_config or {})

    def predict(self, model_input: Any, params: Mapping[str, Any] | None = None) -> Any:
        """Run the pipeline on ``model_input`` with ``model_config`` and ``params`` as keywords."""
        options = {**self.model_config, **dict(params or {})}
        wrapper = {key: options.pop(key) for key in _WRAPPER_OPTIONS if key in options}
        data = _to_pipeline_input(model_input)
        pipe = self.pipeline
        for class_name, key in _GENERATORS:
            if _is(pipe, class_name):
                texts = _generated(data, self._call(_strings(data), options), key)
                if wrapper.get("collapse_whitespace"):
                    texts = [re.sub(r"\s+", " ", text) for text in texts]
                return [text.strip() for text in texts]
        if _is(pipe, "TextClassificationPipeline"):
            import pandas as pd

            return pd.DataFrame(self._call(_classification_input(data), options))
        if _is(pipe, "ZeroShotClassificationPipeline"):
            return _zero_shot_frame(self._call(_zero_shot_input(model_input), options))
        if _is(pipe, "FillMaskPipeline"):
            return _best_tokens(self._call(_strings(data), options))
        if _is(pipe, "TokenClassificationPipeline"):
            return _entities(self._call(_strings(data), options))
        if _is(pipe, "FeatureExtractionPipeline"):
            return _embeddings(self._call(_strings(data), options))
        raise InvalidParameter(
            f"pyfunc predict is not available for a {type(pipe).__name__}; load the model with "
            "runlab.transformers.load_model and call the pipeline."
        )

    def _call(self, data: Any, options: Mapping[str, Any]) -> Any:
        try:
            if isinstance(data, dict):
                return self.pipeline(**data, **options)
            return self.pipeline(data, **options)
        except (TypeError, ValueError) as err:
            if options and ("model_kwargs" in str(err) or "unexpected keyword" in str(err)):
                raise InvalidParameter(
                    f"The params {sorted(options)} are not valid for a "
                    f"{type(self.pipeline).__name__}: {err}"
                ) from err
            raise


def _classification_input(data: Any) -> Any:
    if isinstance(data, str):
        return data
    rows = [data] if isinstance(data, dict) else data
    if not isinstance(rows, list) or not all(isinstance(row, (str, dict)) for row in rows):
        raise InvalidParameter(
            "A text-classification model predicts for strings or {text, text_pair} dicts, got "
            f"{type(data).__name__}."
        )
    for row in rows:
        if isinstance(row, dict) and not set(row) <= {"text", "text_pair"}:
            raise InvalidParameter(
                "A text-classification input dict may have only the keys text and text_pair, "
                f"got {sorted(row)}."
            )
    return data


def _zero_shot_input(data: Any) -> dict[str, Any]:
    if type(data).__name__ == "DataFrame":
        # One pipeline call for the whole frame, read as MLflow does: a column holding one value
        # on every row (the labels, the template) is that value, else the list of its values.
        data = {str(k): _distinct(v) for k, v in data.to_dict(orient="list").items()}
    if not isinstance(data, dict) or not {"sequences", "candidate_labels"} <= set(data):
        raise InvalidParameter(
            "A zero-shot-classification model predicts for a dict or DataFrame with sequences "
            "and candidate_labels (a list, or a JSON-encoded list) and optionally "
            f"hypothesis_template, got {type(data).__name__}."
        )
    unknown = sorted(set(data) - set(_ZERO_SHOT_KEYS))
    if unknown:
        raise InvalidParameter(
            f"A zero-shot-classification input has only {', '.join(_ZERO_SHOT_KEYS)}; got also "
            f"{', '.join(unknown)}."
        )
    labels = data["candidate_labels"]
    if isinstance(labels, str):
        # A signature's string column carries the label list JSON-encoded, as in MLflow.
        try:
            decoded = json.loads(labels)
        except json.JSONDecodeError:
            decoded = labels
        labels = decoded if isinstance(decoded, list) else labels
    return {**data, "candidate_labels": labels}


def _distinct(values: list[Any]) -> Any:
    unique: list[Any] = []
    for value in (_plain(v) for v in values):
        if value not in unique:
            unique.append(value)
    if len(unique) > 1 and all(isinstance(value, str) for value in unique):
        return unique
    return unique[0] if unique else None


def _zero_shot_frame(output: Any) -> Any:
    import pandas as pd

    rows = [output] if isinstance(output, dict) else output
    return pd.DataFrame(
        [
            {"sequence": row["sequence"], "labels": label, "scores": score}
            for row in rows
            for label, score in zip(row["labels"], row["scores"], strict=True)
        ]
    )


def _generated(data: Any, output: Any, key: str) -> list[str]:
    # A single prompt gives its first generated text (as MLflow does); a list, all of them.
    if isinstance(data, str):
        first = output[0]
        return [str((first[0] if isinstance(first, list) else first)[key])]
    texts: list[str] = []
    for item in output:
        for entry in item if isinstance(item, list) else [item]:
            texts.append(str(entry[key]))
    return texts


def _best_tokens(output: Any) -> list[str]:
    if output and isinstance(output[0], list):
        return [str(candidates[0]["token_str"]) for candidates in output]
    return [str(output[0]["token_str"])]


def _entities(output: Any) -> Any:
    if output and isinstance(output[0], list):
        return [_entities(item) for item in output]
    if not output:
        return ""
    key = "entity_group" if "entity_group" in output[0] else "entity"
    return ",".join(str(entry[key]) for entry in output)


def _embeddings(output: Any) -> Any:
    import numpy as np

    if isinstance(output, np.ndarray):
        return output
    # MLflow returns output[0][0]: for one string the first token's embedding, for a list the
    # first input's token embeddings. Kept so a model predicts the same in runlab and MLflow.
    return np.array(output[0][0])
