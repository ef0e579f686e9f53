"""Every way an Open Inference Protocol request can be wrong, and the 4xx it gets.

Each bad request gets the protocol's ``{"error": "..."}`` body naming what was wrong, and the
model never sees it: the model here records every input it is given, and the record stays
empty through all of them. The server's limits (body size, rows, columns) apply to v2 requests
as to /invocations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from runlab.models.trust import TRUSTED_SOURCES_ENV
from runlab.serving import ScoringSettings
from serving.scoring_support import load_for_serving, save_recorder_model, scoring_client
from serving.test_open_inference_models import (
    infer,
    outputs_of,
    save_pair_model,
    save_total_model,
    tensor,
    v2_api,
    v2_error,
)
from support.asgi_api import Api

X = tensor("x", "FP64", [1.0, 2.0])


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("v2-errors")


@pytest.fixture(scope="module")
def recorder_model(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The Recorder (required double x, optional double y), loaded once for this module."""
    path = save_recorder_model(folder / "recorder")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(TRUSTED_SOURCES_ENV, str(tmp_path_factory.getbasetemp()))
        return load_for_serving(path)


@pytest.fixture(scope="module")
def recorder(portal: Any, recorder_model: Any) -> Api:
    settings = ScoringSettings(max_rows=3, max_columns=4, max_request_bytes=4096)
    return Api(portal, scoring_client(recorder_model, settings))


@pytest.fixture
def seen(recorder_model: Any) -> list[Any]:
    """The inputs the model has been given; emptied for each test."""
    inputs: list[Any] = recorder_model.unwrap_python_model().inputs
    inputs.clear()
    return inputs


@pytest.fixture(scope="module")
def total(portal: Any, folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Api:
    return v2_api(portal, save_total_model(folder / "total"), tmp_path_factory)


@pytest.fixture(scope="module")
def pair(portal: Any, folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Api:
    return v2_api(portal, save_pair_model(folder / "pair"), tmp_path_factory)


def test_a_good_request_reaches_the_model(recorder: Api, seen: list[Any]) -> None:
    answer = outputs_of(infer(recorder, {"inputs": [X, tensor("y", "FP32", [0.5, None])]}))
    assert answer["output-0"]["data"] == [1.5, 2.0]
    assert seen == [{"x": [1.0, 2.0], "y": [0.5, pytest.approx(float("nan"), nan_ok=True)]}]


BAD_BODIES: list[tuple[str, Any, str]] = [
    # The document.
    ("not JSON", b"{inputs", "The inference request is not valid JSON"),
    ("an array", [X], "The inference request must be a JSON object with 'inputs'."),
    ("no inputs", {}, "The inference request needs 'inputs', a non-empty list of tensors."),
    ("empty inputs", {"inputs": []}, "needs 'inputs', a non-empty list"),
    ("inputs an object", {"inputs": {"x": [1.0]}}, "needs 'inputs', a non-empty list"),
    ("unknown field", {"inputs": [X], "instances": []}, "unknown field(s) ['instances']"),
    ("id a number", {"id": 7, "inputs": [X]}, "The request's 'id' must be a string."),
    ("parameters a list", {"inputs": [X], "parameters": []}, "'parameters' must be an object"),
    # One input's header.
    ("input a list", {"inputs": [[1.0]]}, "inputs[0] must be an object with name, shape"),
    ("no name", {"inputs": [{**X, "name": ""}]}, "inputs[0] needs a 'name'"),
    ("datatype", {"inputs": [{**X, "datatype": "FP128"}]}, "Input 'x' has datatype 'FP128'"),
    ("lower case", {"inputs": [{**X, "datatype": "fp64"}]}, "the protocol's datatypes are BOOL"),
    ("shape missing", {"inputs": [{**X, "shape": None}]}, "Input 'x' has shape None"),
    ("shape negative", {"inputs": [{**X, "shape": [-1]}]}, "Input 'x' has shape [-1]"),
    ("shape float", {"inputs": [{**X, "shape": [2.0]}]}, "non-negative integers"),
    ("no data", {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64"}]}, "has no 'data'"),
    ("extra field", {"inputs": [{**X, "content": 1}]}, "Input 'x' has unknown field(s)"),
    ("input parameters", {"inputs": [{**X, "parameters": 1}]}, "'parameters' must be an object"),
    ("duplicate", {"inputs": [X, X]}, "The request has several inputs named 'x'."),
    # Data against the shape.
    ("too few", {"inputs": [{**X, "shape": [3]}]}, "has 2 data element(s) but its shape [3]"),
    ("too many", {"inputs": [{**X, "shape": [1]}]}, "has 2 data element(s) but its shape [1]"),
    (
        "nested wrong",
        {"inputs": [tensor("x", "FP64", [[1.0, 2.0]], [2, 1])]},
        "Input 'x' has nested data of shape [1, 2], not its shape [2, 1].",
    ),
    (
        "ragged",
        {"inputs": [tensor("x", "FP64", [[1.0], [2.0, 3.0]], [2, 1])]},
        "has nested data of shape ragged",
    ),
    (
        "half nested",
        {"inputs": [tensor("x", "FP64", [1.0, [2.0]], [2])]},
        "Input 'x' mixes values and lists in its data",
    ),
    # Data against the datatype.
    ("bool", {"inputs": [tensor("x", "BOOL", [1, 0])]}, "BOOL data are true or false."),
    ("int", {"inputs": [tensor("x", "INT64", [1.5])]}, "is INT64 and holds 1.5"),
    ("int8 range", {"inputs": [tensor("x", "INT8", [300])]}, "holds 300, outside the range"),
    ("uint range", {"inputs": [tensor("x", "UINT8", [-1])]}, "holds -1, outside the range"),
    ("int64 range", {"inputs": [tensor("x", "INT64", [2**63])]}, "outside the range of INT64"),
    ("fp text", {"inputs": [tensor("x", "FP64", ["1.5"])]}, "FP64 data are numbers"),
    ("fp bool", {"inputs": [tensor("x", "FP32", [True])]}, "FP32 data are numbers"),
    ("fp16 huge", {"inputs": [tensor("x", "FP16", [1e6])]}, "a value too large for FP16"),
    ("bytes number", {"inputs": [tensor("x", "BYTES", [1])]}, "BYTES data are strings"),
    # Against the model's signature.
    ("unknown input", {"inputs": [X, tensor("z", "FP64", [1.0, 2.0])]}, "no input 'z'"),
    ("missing input", {"inputs": [tensor("y", "FP64", [1.0])]}, "missing the model's input"),
    (
        "text for double",
        {"inputs": [tensor("x", "BYTES", ["1.5"])]},
        "Input 'x' is BYTES, but the model's column 'x' is double: send UINT8, UINT16, "
        "UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32 or FP64.",
    ),
    ("bool for double", {"inputs": [tensor("x", "BOOL", [True])]}, "is BOOL, but the model's"),
    ("matrix column", {"inputs": [tensor("x", "FP64", [[1.0, 2.0]])]}, "send shape [rows]"),
    (
        "rows differ",
        {"inputs": [X, tensor("y", "FP64", [1.0])]},
        "The input columns must have one length (rows); they have 'x': 2, 'y': 1.",
    ),
    ("missing value", {"inputs": [tensor("x", "FP64", [None])]}, "it is required but has 1"),
    # The outputs it asks for.
    ("outputs object", {"inputs": [X], "outputs": {"name": "a"}}, "'outputs' must be a list"),
    ("output no name", {"inputs": [X], "outputs": [{}]}, "outputs[0] needs a 'name'"),
    (
        "binary_data text",
        {"inputs": [X], "outputs": [{"name": "a", "parameters": {"binary_data": "yes"}}]},
        "Requested output 'a': binary_data must be true or false.",
    ),
    # The server's limits: 3 rows, 4 columns.
    ("rows", {"inputs": [tensor("x", "FP64", [1.0] * 4)]}, "more than 3 rows"),
    ("columns", {"inputs": [tensor("x", "FP64", [[1.0] * 5], [1, 5])]}, "more than 4 columns"),
    (
        "inputs as columns",
        {"inputs": [tensor(f"c{i}", "FP64", [1.0]) for i in range(5)]},
        "--max-columns N",
    ),
]


@pytest.mark.parametrize(
    ("body", "message"),
    [pytest.param(body, message, id=name) for name, body, message in BAD_BODIES],
)
def test_a_bad_request_is_refused_before_the_model_sees_it(
    recorder: Api, seen: list[Any], body: Any, message: str
) -> None:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    response = recorder.post("/v2/models/model/infer", content=content)
    assert message in v2_error(response), v2_error(response)
    assert seen == []


def test_an_unknown_output_is_refused(recorder: Api) -> None:
    body = {"inputs": [X], "outputs": [{"name": "probabilities"}]}
    assert v2_error(infer(recorder, body)) == (
        "The model has no output 'probabilities'; its outputs are 'output-0'."
    )


def test_a_body_over_the_size_limit_is_413(recorder: Api, seen: list[Any]) -> None:
    big = {"inputs": [tensor("x", "FP64", [1.0] * 3)], "id": "a" * 5000}
    assert "larger than the server's limit of 4096 bytes" in v2_error(infer(recorder, big), 413)
    assert seen == []


def test_a_compressed_body_is_415(recorder: Api, seen: list[Any]) -> None:
    response = infer(recorder, {"inputs": [X]}, headers={"Content-Encoding": "gzip"})
    assert v2_error(response, 415) == (
        "Content-Encoding 'gzip' is not supported: send the body uncompressed."
    )
    assert seen == []


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (
            [tensor("x", "FP64", [1.0, 2.0, 3.0], [1, 3])],
            "Input 'x' is FP64, but the model takes float32; send UINT8, UINT16, INT8, INT16, "
            "FP16 or FP32.",
        ),
        ([tensor("x", "BOOL", [True, False, True], [1, 3])], "Input 'x' is BOOL"),
        ([tensor("x", "BYTES", ["a", "b", "c"], [1, 3])], "Input 'x' is BYTES"),
        (
            [tensor("x", "FP32", [1.0, 2.0], [1, 2])],
            "Input 'x' has shape [1, 2]; the model takes shape [-1, 3] (-1: any size).",
        ),
        ([tensor("x", "FP32", [1.0, 2.0, 3.0])], "Input 'x' has shape [3]"),
        (
            [tensor("x", "FP32", [1.0, 2.0, 3.0], [1, 3]), tensor("y", "FP32", [1.0])],
            "The model takes one tensor (dtype float32, shape [-1, 3]); the request has 2 inputs.",
        ),
    ],
)
def test_a_tensor_of_the_wrong_type_or_shape_is_refused(
    total: Api, inputs: list[Any], message: str
) -> None:
    assert message in v2_error(infer(total, {"inputs": inputs}))


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([tensor("a", "FP64", [[1.0, 2.0]])], "The request is missing the model's input(s) ['b']."),
        (
            [
                tensor("a", "FP64", [[1.0, 2.0]]),
                tensor("b", "INT32", [1]),
                tensor("c", "INT32", [1]),
            ],
            "The model has no input 'c'; its inputs are 'a', 'b'.",
        ),
        (
            [tensor("a", "FP64", [[1.0, 2.0]]), tensor("b", "INT64", [1])],
            "Input 'b' is INT64, but the model takes int32; send UINT8, UINT16, INT8, INT16 or "
            "INT32.",
        ),
    ],
)
def test_named_tensors_must_match_the_signature(pair: Api, inputs: list[Any], message: str) -> None:
    assert v2_error(infer(pair, {"inputs": inputs})) == message
