"""What ``predict`` sends and answers, for every target: MLflow's scoring protocol.

A target's ``predict(deployment_name, inputs)`` gets ``inputs`` as a pandas DataFrame or
Series, a numpy array, a list, or a JSON document already in the scoring protocol (what
``runlab deployments predict --input-path`` reads from a ``.json`` file). A target that scores
over HTTP sends :func:`scoring_request` of it as the body of ``POST /invocations`` (the
endpoint of ``runlab models serve`` and of the serving image) and wraps the JSON answer with
:func:`predictions_response`. A target that scores on this machine calls
:func:`predict_locally`, which decodes the same document the way the scoring server does, so
both answer alike.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from runlab.deployments.base import PredictionsResponse
from runlab.errors import InvalidParameter

__all__ = ["predict_locally", "predictions_response", "scoring_request"]

# The scoring protocol's input keys (runlab.serving.payload.INPUT_KEYS, spelled out here so
# that building a request does not import the server's codecs).
_INPUT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def scoring_request(inputs: Any, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``inputs`` as a scoring-protocol JSON document (``{"dataframe_split": …}`` and so on).

    A DataFrame (or Series) becomes ``dataframe_split`` with its columns in order; a document
    that already has one of the protocol's keys is kept as it is; anything else (an array, a
    list, a dict of arrays, a scalar) becomes ``inputs``. ``params`` are added as ``params``.
    """
    from runlab.serving.predictions import jsonable

    document: dict[str, Any]
    if _is_pandas(inputs, "Series"):
        inputs = inputs.to_frame()
    if _is_pandas(inputs, "DataFrame"):
        rows = list(inputs.itertuples(index=False, name=None))
        document = {
            "dataframe_split": {
                "columns": [str(column) for column in inputs.columns],
                "data": jsonable(rows),
            }
        }
    elif isinstance(inputs, Mapping) and any(key in inputs for key in _INPUT_KEYS):
        document = dict(inputs)
    elif inputs is None:
        raise InvalidParameter("predict needs inputs (a DataFrame, an array or a JSON document).")
    else:
        document = {"inputs": jsonable(inputs)}
    if params:
        document["params"] = jsonable(dict(params))
    return document


def predictions_response(answer: Any) -> PredictionsResponse:
    """A :class:`PredictionsResponse` of a scoring server's decoded JSON answer.

    An object is kept as it is (``{"predictions": …}`` from MLflow's and runlab's servers); any
    other JSON value is put under ``predictions``.
    """
    if isinstance(answer, Mapping):
        return PredictionsResponse(answer)
    return PredictionsResponse({"predictions": answer})


def predict_locally(
    model_uri: str, inputs: Any, params: Mapping[str, Any] | None = None, trusted: bool = False
) -> PredictionsResponse:
    """Score ``inputs`` with the model at ``model_uri`` in this process, as the server would.

    The inputs go through :func:`scoring_request` and the scoring server's own decoder, and the
    output through its encoder, so the answer is what ``POST /invocations`` would return. The
    model loads through ``runlab.pyfunc.load_model``: a format that runs code when loaded needs
    ``trusted=True`` or a trusted source (see :mod:`runlab.models.trust`).
    """
    from runlab.models.pyfunc import load_model
    from runlab.serving.payload import parse_json_document
    from runlab.serving.predictions import jsonable

    data, request_params = parse_json_document(scoring_request(inputs, params))
    model = load_model(model_uri, trusted=trusted)
    return PredictionsResponse(
        {"predictions": jsonable(model.predict(data, params=request_params))}
    )


def _is_pandas(value: Any, kind: str) -> bool:
    # A caller holding a frame has imported pandas; nobody else should pay for importing it.
    pandas = sys.modules.get("pandas")
    cls = getattr(pandas, kind, None)
    return cls is not None and isinstance(value, cls)
