"""The binary tensor data extension (Triton's; tritonclient's default), written by hand here.

A body is the JSON header (its length in ``Inference-Header-Content-Length``) followed by each
binary input's bytes in order: little-endian, row-major; BOOL one byte a value; BYTES a 4-byte
little-endian length before each element. Outputs come back that way when asked for.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest

from serving.test_open_inference_models import (
    outputs_of,
    save_columns_model,
    save_pair_model,
    save_total_model,
    tensor,
    v2_api,
    v2_error,
)
from support.asgi_api import Api

HEADER = "Inference-Header-Content-Length"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("v2-binary")


@pytest.fixture(scope="module")
def total(portal: Any, folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Api:
    return v2_api(portal, save_total_model(folder / "total"), tmp_path_factory)


@pytest.fixture(scope="module")
def pair(portal: Any, folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Api:
    return v2_api(portal, save_pair_model(folder / "pair"), tmp_path_factory)


@pytest.fixture(scope="module")
def columns(portal: Any, folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Api:
    return v2_api(portal, save_columns_model(folder / "columns"), tmp_path_factory)


def binary_input(name: str, datatype: str, shape: list[int], raw: bytes) -> dict[str, Any]:
    return {
        "name": name,
        "shape": shape,
        "datatype": datatype,
        "parameters": {"binary_data_size": len(raw)},
    }


def strings(*items: bytes) -> bytes:
    """BYTES elements as the extension writes them: a little-endian length before each."""
    return b"".join(struct.pack("<I", len(item)) + item for item in items)


def post(api: Api, document: dict[str, Any], *blobs: bytes, header: str | None = None) -> Any:
    head = orjson.dumps(document)
    headers = {HEADER: header if header is not None else str(len(head))}
    return api.post("/v2/models/model/infer", content=head + b"".join(blobs), headers=headers)


def binary_outputs(response: httpx.Response) -> dict[str, tuple[dict[str, Any], bytes]]:
    """Each output's JSON and its raw bytes, read as a client of the extension reads them."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    length = int(response.headers[HEADER])
    document = orjson.loads(response.content[:length])
    rest, out = response.content[length:], {}
    for output in document["outputs"]:
        size = output.get("parameters", {}).get("binary_data_size")
        raw = b""
        if size is not None:
            raw, rest = rest[:size], rest[size:]
        out[output["name"]] = (output, raw)
    assert rest == b""
    return out


def test_binary_fp32_in_and_json_out(total: Api) -> None:
    raw = np.arange(6, dtype="<f4").tobytes()
    response = post(total, {"inputs": [binary_input("x", "FP32", [2, 3], raw)]}, raw)
    assert outputs_of(response)["total"]["data"] == [3.0, 12.0]


def test_binary_outputs_when_the_request_asks_for_them(pair: Api) -> None:
    a = np.array([[1.0, 2.0], [3.0, 4.0]], dtype="<f8").tobytes()
    b = np.array([10, 20], dtype="<i4").tobytes()
    inputs = [binary_input("a", "FP64", [2, 2], a), binary_input("b", "INT32", [2], b)]
    everything = post(pair, {"inputs": inputs, "parameters": {"binary_data_output": True}}, a, b)
    got = binary_outputs(everything)
    assert got["sum"][0] == {
        "name": "sum",
        "datatype": "FP64",
        "shape": [2],
        "parameters": {"binary_data_size": 16},
    }
    assert np.frombuffer(got["sum"][1], dtype="<f8").tolist() == [13.0, 27.0]
    assert np.frombuffer(got["b_twice"][1], dtype="<i4").tolist() == [20, 40]
    # One output binary, the other as JSON data: the per-output setting wins.
    mixed = {
        "inputs": inputs,
        "parameters": {"binary_data_output": True},
        "outputs": [
            {"name": "b_twice", "parameters": {"binary_data": False}},
            {"name": "sum"},
        ],
    }
    got = binary_outputs(post(pair, mixed, a, b))
    assert got["b_twice"] == (
        {"name": "b_twice", "datatype": "INT32", "shape": [2], "data": [20, 40]},
        b"",
    )
    assert np.frombuffer(got["sum"][1], dtype="<f8").tolist() == [13.0, 27.0]


def test_binary_bool_bytes_and_json_inputs_mix(columns: Api) -> None:
    flag = bytes([1, 0])
    label = strings("é".encode(), b"b")
    blob = strings(b"\xff\x00", b"")
    inputs = [
        binary_input("flag", "BOOL", [2], flag),
        tensor("small", "INT8", [1, 2]),
        tensor("count", "INT64", [1, 2]),
        tensor("ratio", "FP32", [1.0, 2.0]),
        tensor("amount", "FP64", [1.0, 2.0]),
        binary_input("label", "BYTES", [2], label),
        binary_input("blob", "BYTES", [2], blob),
        tensor("when", "BYTES", ["2026-01-01T00:00:00", "2026-01-02T00:00:00"]),
        tensor("vector", "FP64", [[1.0], [2.0]]),
    ]
    asked = [
        {"name": n, "parameters": {"binary_data": True}} for n in ("flag", "label", "blob", "when")
    ]
    got = binary_outputs(post(columns, {"inputs": inputs, "outputs": asked}, flag, label, blob))
    assert got["flag"][1] == flag
    assert got["label"][1] == label
    # Bytes that are not UTF-8 text travel only as binary data.
    assert got["blob"][1] == blob
    assert got["when"][1] == strings(b"2026-01-01T00:00:00.000000", b"2026-01-02T00:00:00.000000")


def test_non_text_bytes_cannot_be_json(columns: Api) -> None:
    blob = strings(b"\xff", b"\xfe")
    inputs = [
        tensor("flag", "BOOL", [True, False]),
        tensor("small", "INT8", [1, 2]),
        tensor("count", "INT64", [1, 2]),
        tensor("ratio", "FP32", [1.0, 2.0]),
        tensor("amount", "FP64", [1.0, 2.0]),
        tensor("label", "BYTES", ["a", "b"]),
        binary_input("blob", "BYTES", [2], blob),
        tensor("when", "BYTES", ["2026-01-01T00:00:00", "2026-01-02T00:00:00"]),
        tensor("vector", "FP64", [[1.0], [2.0]]),
    ]
    message = v2_error(post(columns, {"inputs": inputs}, blob))
    assert message.startswith("The model's output 'blob' holds bytes that are not UTF-8 text")
    assert '"binary_data": true' in message


FP32_SIX = np.arange(6, dtype="<f4").tobytes()


@pytest.mark.parametrize(
    ("document", "blobs", "header", "message"),
    [
        (
            {"inputs": [binary_input("x", "FP32", [2, 3], FP32_SIX)]},
            [FP32_SIX],
            "10000",
            "The Inference-Header-Content-Length header ('10000') must be the length",
        ),
        (
            {"inputs": [binary_input("x", "FP32", [2, 3], FP32_SIX)]},
            [FP32_SIX],
            "x",
            "The Inference-Header-Content-Length header ('x')",
        ),
        (
            {"inputs": [binary_input("x", "FP32", [2, 3], FP32_SIX)]},
            [FP32_SIX[:12]],
            None,
            "Input 'x' says it has 24 bytes of binary data; the body holds only 12 more.",
        ),
        (
            {"inputs": [binary_input("x", "FP32", [2, 2], FP32_SIX)]},
            [FP32_SIX],
            None,
            "Input 'x' has 24 bytes of binary data; shape [2, 2] of FP32 takes 16.",
        ),
        (
            {"inputs": [binary_input("x", "FP32", [1, 3], FP32_SIX[:12])]},
            [FP32_SIX],
            None,
            "The body holds 12 bytes of binary data after the inputs' binary_data_size",
        ),
        (
            {"inputs": [{**binary_input("x", "FP32", [2, 3], FP32_SIX), "data": [1.0]}]},
            [FP32_SIX],
            None,
            "Input 'x' has both 'data' and binary_data_size; send one.",
        ),
        (
            {
                "inputs": [
                    {
                        **binary_input("x", "FP32", [2, 3], b""),
                        "parameters": {"binary_data_size": -1},
                    }
                ]
            },
            [],
            None,
            "Input 'x': binary_data_size must be a non-negative integer.",
        ),
        (
            {"inputs": [binary_input("x", "BYTES", [2, 3], strings(b"a", b"b"))]},
            [strings(b"a", b"b")],
            None,
            "does not hold exactly 6 length-prefixed element(s)",
        ),
        (
            {"inputs": [binary_input("x", "BYTES", [1, 3], b"\x09\x00\x00\x00ab")]},
            [b"\x09\x00\x00\x00ab"],
            None,
            "does not hold exactly 3 length-prefixed element(s)",
        ),
    ],
)
def test_broken_binary_data_is_refused(
    total: Api, document: dict[str, Any], blobs: list[bytes], header: str | None, message: str
) -> None:
    assert message in v2_error(post(total, document, *blobs, header=header))


def test_binary_data_without_the_header_is_refused(total: Api) -> None:
    document = {"inputs": [binary_input("x", "FP32", [2, 3], FP32_SIX)]}
    response = total.post("/v2/models/model/infer", content=orjson.dumps(document) + FP32_SIX)
    # Without the header the whole body is taken for JSON, which it is not.
    assert "The inference request is not valid JSON" in v2_error(response)
    alone = total.post("/v2/models/model/infer", content=orjson.dumps(document))
    assert v2_error(alone) == (
        "Input 'x' has binary data but the request has no Inference-Header-Content-Length "
        "header saying where its JSON ends."
    )
