"""Writing a model's predictions as an Open Inference Protocol (v2) inference response.

The predictions become named output tensors: a DataFrame one per column, a dict one per key, a
named Series one of its name; anything else (an array, a list, an unnamed Series, a scalar) is
one output, named after the signature's output when it has exactly one named output, else
``output-0``. The request's ``outputs``, when given, picks which are sent and in which order
(an unknown name is a 400), and which go as binary data. The response echoes the request's
``id`` and names the model and its version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from runlab.serving.open_inference_binary import binary_data
from runlab.serving.open_inference_metadata import DEFAULT_OUTPUT_NAME, ModelIdentity
from runlab.serving.open_inference_request import InferRequest
from runlab.serving.open_inference_tensors import V2Error, json_data, output_tensor

__all__ = ["EncodedResponse", "encode_infer_response", "named_outputs"]


@dataclass(frozen=True)
class EncodedResponse:
    """A response body, and the length of its JSON part when binary data follows it."""

    body: bytes
    json_length: int | None = None


def named_outputs(predictions: Any, signature_names: list[str]) -> dict[str, Any]:
    """The model's predictions as output name → values."""
    default = signature_names[0] if len(signature_names) == 1 else DEFAULT_OUTPUT_NAME
    module = type(predictions).__module__
    if module.startswith("pandas"):
        import pandas as pd

        if isinstance(predictions, pd.DataFrame):
            return {str(c): predictions.iloc[:, i] for i, c in enumerate(predictions.columns)}
        if isinstance(predictions, pd.Series):
            name = predictions.name
            return {str(name) if name is not None else default: predictions}
    if isinstance(predictions, dict):
        return {str(k): v for k, v in predictions.items()}
    return {default: predictions}


def encode_infer_response(
    predictions: Any,
    request: InferRequest,
    identity: ModelIdentity,
    signature_names: list[str],
) -> EncodedResponse:
    """The response body for ``predictions`` answering ``request``."""
    outputs = named_outputs(predictions, signature_names)
    chosen: list[tuple[str, bool | None]]
    if request.outputs is None:
        chosen = [(name, None) for name in outputs]
    else:
        unknown = [o.name for o in request.outputs if o.name not in outputs]
        if unknown:
            raise V2Error(
                f"The model has no output {unknown[0]!r}; its outputs are "
                f"{', '.join(repr(n) for n in outputs)}."
            )
        chosen = [(o.name, o.binary) for o in request.outputs]
    documents: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, binary in chosen:
        datatype, array = output_tensor(name, outputs[name])
        document: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if binary if binary is not None else request.binary_output:
            blob = binary_data(datatype, array)
            document["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            document["data"] = json_data(name, datatype, array)
        documents.append(document)
    response: dict[str, Any] = {"model_name": identity.name}
    if identity.version is not None:
        response["model_version"] = identity.version
    if request.id is not None:
        response["id"] = request.id
    response["outputs"] = documents
    # orjson writes NaN and infinities as null, the only JSON spelling of a missing number.
    head = orjson.dumps(response)
    if not blobs:
        return EncodedResponse(head)
    return EncodedResponse(head + b"".join(blobs), len(head))
