"""The Open Inference Protocol (v2) routes of the scoring app, in-process.

Requests are written from the protocol's REST spec (KServe v2 / Open Inference Protocol JSON):
health, server and model metadata, and inference on typed tensors for a column signature
(scikit-learn on iris, a column of every type), a tensor signature (one unnamed tensor, two
named ones), a model without a signature, and a model with inference params. The error paths
are in test_open_inference_errors.py, the binary extension in test_open_inference_binary.py.
"""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest

from runlab.serving import ScoringSettings
from runlab.serving.factory import SERVING_CONFIG_ENV, ServingConfig, create_app
from serving.scoring_support import iris_features, save_iris_model, save_outputs_model
from serving.test_open_inference_models import (
    COLUMN_TYPES,
    infer,
    outputs_of,
    save_columns_model,
    save_describe_model,
    save_pair_model,
    save_positional_model,
    save_total_model,
    tensor,
    v2_api,
    v2_error,
)
from support.asgi_api import Api

IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5]]
IRIS_CLASSES = [0, 2]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("v2-models")


@pytest.fixture(scope="module")
def iris_path(folder: Path) -> Path:
    return save_iris_model(folder / "iris")


@pytest.fixture(scope="module")
def iris(portal: Any, iris_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Api:
    settings = ScoringSettings(model_name="iris", model_version="3", version="1.2.3")
    return v2_api(portal, iris_path, tmp_path_factory, settings)


@pytest.fixture(scope="module")
def total(portal: Any, folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Api:
    return v2_api(portal, save_total_model(folder / "total"), tmp_path_factory)


@pytest.fixture(scope="module")
def pair(portal: Any, folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Api:
    return v2_api(portal, save_pair_model(folder / "pair"), tmp_path_factory)


@pytest.fixture(scope="module")
def columns(portal: Any, folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Api:
    return v2_api(portal, save_columns_model(folder / "columns"), tmp_path_factory)


@pytest.fixture(scope="module")
def describe(portal: Any, folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Api:
    return v2_api(portal, save_describe_model(folder / "describe"), tmp_path_factory)


@pytest.fixture(scope="module")
def outputs(portal: Any, folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Api:
    return v2_api(portal, save_outputs_model(folder / "outputs"), tmp_path_factory)


def iris_inputs(rows: list[list[float]], datatype: str = "FP64") -> list[dict[str, Any]]:
    """One column tensor per iris feature, named as the model's signature names them."""
    names = list(iris_features().columns)
    return [tensor(name, datatype, [row[i] for row in rows]) for i, name in enumerate(names)]


# -- health and metadata ------------------------------------------------------------------------------
def test_health_and_server_metadata(iris: Api) -> None:
    assert iris.get("/v2/health/live").json() == {"live": True}
    assert iris.get("/v2/health/ready").json() == {"ready": True}
    assert iris.get("/v2").json() == {
        "name": "runlab",
        "version": "1.2.3",
        "extensions": ["binary_tensor_data"],
    }


def test_the_host_and_origin_guard_covers_v2(iris: Api) -> None:
    assert iris.get("/v2/health/live", headers={"Host": "evil.example"}).status_code == 403
    body = {"inputs": iris_inputs(IRIS_ROWS)}
    posted = iris.post(
        "/v2/models/iris/infer", json=body, headers={"Origin": "https://evil.example"}
    )
    assert posted.status_code == 403


def test_model_metadata_lists_the_signature_as_v2_tensors(iris: Api) -> None:
    expected = {
        "name": "iris",
        "versions": ["3"],
        "platform": "runlab_pyfunc",
        "inputs": [
            {"name": name, "datatype": "FP64", "shape": [-1]} for name in iris_features().columns
        ],
        "outputs": [{"name": "output-0", "datatype": "INT64", "shape": [-1]}],
    }
    assert iris.get("/v2/models/iris").json() == expected
    assert iris.get("/v2/models/iris/versions/3").json() == expected
    assert iris.get("/v2/models/iris/ready").json() == {"name": "iris", "ready": True}
    assert iris.get("/v2/models/iris/versions/3/ready").status_code == 200


def test_metadata_of_tensor_and_typed_column_signatures(
    total: Api, pair: Api, columns: Api
) -> None:
    assert total.get("/v2/models/model").json() == {
        "name": "model",
        "versions": [],
        "platform": "runlab_pyfunc",
        "inputs": [{"name": "input-0", "datatype": "FP32", "shape": [-1, 3]}],
        "outputs": [{"name": "total", "datatype": "FP32", "shape": [-1]}],
    }
    assert pair.get("/v2/models/model").json()["inputs"] == [
        {"name": "a", "datatype": "FP64", "shape": [-1, 2]},
        {"name": "b", "datatype": "INT32", "shape": [-1]},
    ]
    by_name = {t["name"]: t for t in columns.get("/v2/models/model").json()["inputs"]}
    assert {name: by_name[name]["datatype"] for name in COLUMN_TYPES} == {
        "flag": "BOOL",
        "small": "INT32",
        "count": "INT64",
        "ratio": "FP32",
        "amount": "FP64",
        "label": "BYTES",
        "blob": "BYTES",
        "when": "BYTES",
    }
    assert by_name["vector"] == {"name": "vector", "datatype": "FP64", "shape": [-1, -1]}


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/v2/models/other", "No model named 'other' here: this server serves 'iris'."),
        ("/v2/models/other/ready", "No model named 'other' here"),
        ("/v2/models/iris/versions/4", "Model 'iris' has no version '4': its version is '3'."),
        ("/v2/models/iris/versions/4/ready", "has no version '4'"),
    ],
)
def test_only_the_served_model_and_version_answer(iris: Api, path: str, message: str) -> None:
    assert message in v2_error(iris.get(path), 404)
    posted = iris.post(f"{path.removesuffix('/ready')}/infer", json={"inputs": []})
    assert message.split(":")[0] in v2_error(posted, 404)


def test_a_model_without_a_version_has_no_version_routes(total: Api) -> None:
    assert v2_error(total.get("/v2/models/model/versions/1"), 404) == (
        "Model 'model' has no version '1': it has no versions."
    )


# -- inference: column signatures --------------------------------------------------------------------
def test_iris_scores_as_on_invocations_and_echoes_the_id(iris: Api) -> None:
    body = {"id": "req-1", "inputs": iris_inputs(IRIS_ROWS)}
    response = iris.post("/v2/models/iris/infer", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "model_name": "iris",
        "model_version": "3",
        "id": "req-1",
        "outputs": [{"name": "output-0", "shape": [2], "datatype": "INT64", "data": IRIS_CLASSES}],
    }
    assert iris.post("/invocations", json={"inputs": IRIS_ROWS}).json() == {
        "predictions": IRIS_CLASSES
    }
    versioned = iris.post("/v2/models/iris/versions/3/infer", json=body)
    assert versioned.json() == response.json()


def test_column_tensors_may_be_nested_columns_and_any_lossless_datatype(iris: Api) -> None:
    # [rows, 1] nested columns, FP32 and INT32 for double columns: each fits without loss.
    inputs = iris_inputs(IRIS_ROWS, "FP32")
    for entry in inputs:
        entry["data"] = [[v] for v in entry["data"]]
        entry["shape"] = [2, 1]
    inputs[0] = tensor(inputs[0]["name"], "INT32", [5, 6])
    answer = outputs_of(iris.post("/v2/models/iris/infer", json={"inputs": inputs}))
    assert answer["output-0"]["data"] == IRIS_CLASSES
    assert "id" not in iris.post("/v2/models/iris/infer", json={"inputs": inputs}).json()


def every_type_inputs() -> list[dict[str, Any]]:
    return [
        tensor("flag", "BOOL", [True, False]),
        tensor("small", "INT16", [1, -2]),
        tensor("count", "UINT32", [[3], [4]]),
        tensor("ratio", "FP16", [0.5, 1.5]),
        tensor("amount", "FP64", [2.25, -1e300]),
        tensor("label", "BYTES", ["a", "é"]),
        tensor("blob", "BYTES", ["xy", "z"]),
        tensor("when", "BYTES", ["2026-01-02T03:04:05", "2026-01-03T00:00:00"]),
        tensor("vector", "FP64", [1, 2, 3, 4, 5, 6], [2, 3]),
    ]


def test_every_column_type_maps_to_and_from_its_datatype(columns: Api) -> None:
    answer = outputs_of(infer(columns, {"inputs": every_type_inputs()}))
    assert {name: (o["datatype"], o["shape"], o["data"]) for name, o in answer.items()} == {
        "flag": ("BOOL", [2], [True, False]),
        "small": ("INT32", [2], [1, -2]),
        "count": ("INT64", [2], [3, 4]),
        "ratio": ("FP32", [2], [0.5, 1.5]),
        "amount": ("FP64", [2], [2.25, -1e300]),
        "label": ("BYTES", [2], ["a", "é"]),
        # A binary column holds bytes: they come back as their UTF-8 text in JSON.
        "blob": ("BYTES", [2], ["xy", "z"]),
        "when": ("BYTES", [2], ["2026-01-02T03:04:05.000000", "2026-01-03T00:00:00.000000"]),
        "vector": ("FP64", [2, 3], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
    }


def test_an_optional_column_may_be_given_with_missing_values(columns: Api) -> None:
    inputs = [*every_type_inputs(), tensor("optional", "FP64", [None, 1.5])]
    answer = outputs_of(infer(columns, {"inputs": inputs}))
    # NaN has no JSON spelling: a missing number is null.
    assert answer["optional"] == {
        "name": "optional",
        "datatype": "FP64",
        "shape": [2],
        "data": [None, 1.5],
    }


def test_a_binary_column_takes_base64_text(columns: Api) -> None:
    inputs = every_type_inputs()
    inputs[6] = tensor("blob", "BYTES", [base64.b64encode(b"xy").decode(), "eg=="])
    inputs[6]["parameters"] = {"content_type": "base64"}
    answer = outputs_of(infer(columns, {"inputs": inputs}))
    assert answer["blob"]["data"] == ["xy", "z"]


def test_a_requested_output_list_picks_and_orders_outputs(columns: Api) -> None:
    body = {"inputs": every_type_inputs(), "outputs": [{"name": "label"}, {"name": "flag"}]}
    response = infer(columns, body)
    assert [o["name"] for o in response.json()["outputs"]] == ["label", "flag"]


# -- inference: tensor signatures --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("datatype", "data"),
    [
        ("FP32", [1, 2, 3, 4, 5, 6]),
        ("FP32", [[1, 2, 3], [4, 5, 6]]),
        ("INT16", [[1, 2, 3], [4, 5, 6]]),
        ("UINT8", [1, 2, 3, 4, 5, 6]),
        ("FP16", [1, 2, 3, 4, 5, 6]),
    ],
)
def test_one_tensor_becomes_an_array_of_its_shape(total: Api, datatype: str, data: Any) -> None:
    body = {"inputs": [tensor("whatever", datatype, data, [2, 3])]}
    answer = outputs_of(infer(total, body))
    assert answer == {
        "total": {"name": "total", "datatype": "FP32", "shape": [2], "data": [6.0, 15.0]}
    }


def test_named_tensors_become_a_dict_and_outputs_are_picked(pair: Api) -> None:
    inputs = [tensor("b", "INT32", [10, 20]), tensor("a", "FP64", [[1, 2], [3, 4]])]
    answer = outputs_of(infer(pair, {"inputs": inputs}))
    assert answer == {
        "sum": {"name": "sum", "datatype": "FP64", "shape": [2], "data": [13.0, 27.0]},
        "b_twice": {"name": "b_twice", "datatype": "INT32", "shape": [2], "data": [20, 40]},
    }
    picked = infer(pair, {"inputs": inputs, "outputs": [{"name": "b_twice"}]}).json()
    assert [o["name"] for o in picked["outputs"]] == ["b_twice"]


# -- inference: no signature, params, output kinds ---------------------------------------------------
def described(response: httpx.Response) -> tuple[str, str, str]:
    answer = outputs_of(response)
    return answer["type"]["data"][0], answer["shape"]["data"][0], answer["params"]["data"][0]


def test_without_a_signature_one_tensor_is_an_array(describe: Api) -> None:
    body = {"inputs": [tensor("x", "INT8", [[1, 2], [3, 4], [5, 6]])]}
    assert described(infer(describe, body))[:2] == ("ndarray", "shape=[3, 2] dtype=int8")


EVERY_DATATYPE = [
    ("BOOL", [True, False, True, True], "bool"),
    ("UINT8", [0, 1, 2, 255], "uint8"),
    ("UINT16", [0, 1, 2, 65535], "uint16"),
    ("UINT32", [0, 1, 2, 2**32 - 1], "uint32"),
    ("UINT64", [0, 1, 2, 2**64 - 1], "uint64"),
    ("INT8", [-128, 0, 1, 127], "int8"),
    ("INT16", [-32768, 0, 1, 32767], "int16"),
    ("INT32", [-(2**31), 0, 1, 2**31 - 1], "int32"),
    ("INT64", [-(2**63), 0, 1, 2**63 - 1], "int64"),
    ("FP16", [-1.5, 0.0, 0.25, 65504.0], "float16"),
    ("FP32", [-1.5, 0.0, 0.25, 3.0e38], "float32"),
    ("FP64", [-1.5, 0.0, 0.25, 1.0e308], "float64"),
    ("BYTES", ["a", "", "é", "text"], "object"),
]


@pytest.mark.parametrize(("datatype", "data", "dtype"), EVERY_DATATYPE)
@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_every_datatype_is_read_into_its_dtype_and_written_back(
    describe: Api, datatype: str, data: list[Any], dtype: str, binary: bool
) -> None:
    """Each datatype, in JSON and as binary data, reaches the model as a [2, 2] array of its
    numpy dtype and comes back (as the same datatype, shape and values) in either form."""
    import struct

    import numpy as np

    entry = tensor("x", datatype, data, [2, 2])
    blob = b""
    if binary:
        if datatype == "BYTES":
            blob = b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in data)
        else:
            wire = "u1" if datatype == "BOOL" else np.dtype(dtype).newbyteorder("<")
            blob = np.array(data, dtype=dtype).astype(wire).tobytes()
        del entry["data"]
        entry["parameters"] = {"binary_data_size": len(blob)}
    document = {"inputs": [entry], "outputs": [{"name": "shape"}, {"name": "echo"}]}
    head = orjson.dumps(document)
    headers = {"Inference-Header-Content-Length": str(len(head))} if binary else {}
    answer = outputs_of(
        describe.post("/v2/models/model/infer", content=head + blob, headers=headers)
    )
    assert answer["shape"]["data"] == [f"shape=[2, 2] dtype={dtype}"]
    echo = answer["echo"]
    assert (echo["datatype"], echo["shape"]) == (datatype, [2, 2])
    if datatype == "FP16":
        assert echo["data"] == [float(np.float16(v)) for v in data]
    elif datatype == "FP32":
        assert echo["data"] == [float(np.float32(v)) for v in data]
    else:
        assert echo["data"] == data


def test_without_a_signature_columns_are_a_frame_else_a_dict(describe: Api) -> None:
    columns = [tensor("x", "FP64", [1.0, 2.0]), tensor("y", "BYTES", ["a", "b"])]
    assert described(infer(describe, {"inputs": columns}))[:2] == (
        "DataFrame",
        "columns=['x', 'y'] rows=2",
    )
    mixed = [tensor("x", "FP64", [1.0, 2.0]), tensor("image", "UINT8", [[1, 2], [3, 4]])]
    mixed[1]["shape"] = [1, 2, 2]
    mixed[1]["data"] = [[[1, 2], [3, 4]]]
    assert described(infer(describe, {"inputs": mixed}))[:2] == ("dict", "keys=['image', 'x']")
    # MLServer's pandas codec marks the request "pd": one column is a frame too.
    one = {"inputs": [tensor("x", "FP64", [1.0])], "parameters": {"content_type": "pd"}}
    assert described(infer(describe, one))[:2] == ("DataFrame", "columns=['x'] rows=1")


def test_unnamed_columns_take_one_tensor_of_rows(
    portal: Any, folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    api = v2_api(portal, save_positional_model(folder / "positional"), tmp_path_factory)
    assert api.get("/v2/models/model").json()["inputs"] == [
        {"name": "input-0", "datatype": "FP64", "shape": [-1, 2]}
    ]
    rows = {"inputs": [tensor("anything", "FP32", [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])]}
    assert described(infer(api, rows))[:2] == ("DataFrame", "columns=[0, 1] rows=3")
    wide = {"inputs": [tensor("x", "FP64", [[1.0, 2.0, 3.0]])]}
    assert v2_error(infer(api, wide)) == (
        "Input 'x' must have shape [rows, 2] (one value per column of the model), got [1, 3]."
    )
    two = {"inputs": [tensor("a", "FP64", [1.0]), tensor("b", "FP64", [2.0])]}
    assert v2_error(infer(api, two)) == (
        "The model takes one tensor of shape [rows, 2] (its columns have no names); the "
        "request has 2 inputs."
    )
    text = {"inputs": [tensor("x", "BYTES", [["a", "b"]])]}
    assert v2_error(infer(api, text)).startswith("Input 'x' is BYTES, but the model's column 0")


def test_request_parameters_are_the_models_params(outputs: Api) -> None:
    x = [tensor("x", "FP64", [1.0, 2.0])]
    series = outputs_of(infer(outputs, {"inputs": x, "parameters": {"kind": "series"}}))
    assert series == {
        "plus_one": {"name": "plus_one", "datatype": "FP64", "shape": [2], "data": [2.0, 3.0]}
    }
    scaled = {"kind": "array", "scale": 2.0, "content_type": "np", "binary_data_output": False}
    array = outputs_of(infer(outputs, {"inputs": x, "parameters": scaled}))
    assert array["output-0"]["shape"] == [2, 2]
    assert array["output-0"]["data"] == [2.0, 20.0, 4.0, 40.0]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (
            "frame",
            {"doubled": ("FP64", [2], [2.0, 4.0]), "label": ("BYTES", [2], ["row0", "row1"])},
        ),
        ("unnamed_series", {"output-0": ("FP64", [2], [2.0, 3.0])}),
        ("dict", {"total": ("FP64", [1], [3.0]), "values": ("FP64", [2], [1.0, 2.0])}),
        ("string", {"output-0": ("BYTES", [1], ["2 rows"])}),
        ("scalar", {"output-0": ("INT64", [1], [7])}),
        ("nan", {"output-0": ("FP64", [2], [None, 1.5])}),
        ("dates", {"when": ("BYTES", [2], ["2026-11-27T10:00:00.000000"] * 2)}),
    ],
)
def test_each_kind_of_prediction_becomes_typed_outputs(
    outputs: Api, kind: str, expected: dict[str, Any]
) -> None:
    body = {"inputs": [tensor("x", "FP64", [1.0, 2.0])], "parameters": {"kind": kind}}
    answer = outputs_of(infer(outputs, body))
    got = {name: (o["datatype"], o["shape"], o["data"]) for name, o in answer.items()}
    if kind == "dates":
        got = {k: (d, s, [v[:26] for v in data]) for k, (d, s, data) in got.items()}
    assert got == expected


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("list", "The model's output 'output-0' mixes values of several types"),
        ("unencodable", "The model's output 'obj' mixes values of several types"),
        ("explode", "The model raised ValueError while predicting: cannot produce explode."),
    ],
)
def test_a_model_failure_is_a_protocol_error(outputs: Api, kind: str, message: str) -> None:
    body = {"inputs": [tensor("x", "FP64", [1.0])], "parameters": {"kind": kind}}
    assert v2_error(infer(outputs, body)).startswith(message)


def test_a_params_type_error_names_the_parameter(outputs: Api) -> None:
    body = {"inputs": [tensor("x", "FP64", [1.0])], "parameters": {"scale": "big"}}
    assert v2_error(infer(outputs, body)).startswith("Parameter 'scale' expects type 'double'")


# -- predict modes and the micro-batcher --------------------------------------------------------------
@pytest.mark.parametrize("mode", ["batched", "thread", "inline"])
def test_every_predict_mode_answers(
    portal: Any, iris_path: Path, tmp_path_factory: pytest.TempPathFactory, mode: str
) -> None:
    api = v2_api(portal, iris_path, tmp_path_factory, ScoringSettings(predict_mode=mode))
    answer = outputs_of(infer(api, {"inputs": iris_inputs(IRIS_ROWS)}))
    assert answer["output-0"]["data"] == IRIS_CLASSES
    bad = {"inputs": iris_inputs(IRIS_ROWS)[:3]}
    assert "missing the model's input(s) ['petal width (cm)']" in v2_error(infer(api, bad))


def test_both_protocols_share_the_batcher_and_each_gets_its_own_answer(
    portal: Any, iris_path: Path
) -> None:
    """Concurrent /invocations and v2 requests (scored together when they queue up) are each
    encoded in their own protocol, with their own rows."""
    from serving.scoring_support import load_for_serving, scoring_client

    rows = [[r] for r in IRIS_ROWS] * 10

    async def burst() -> list[Any]:
        async with scoring_client(load_for_serving(iris_path)) as client:
            answers: list[Any] = [None] * len(rows)

            async def one(i: int) -> None:
                if i % 2:
                    response = await client.post("/invocations", json={"inputs": rows[i]})
                    answers[i] = response.json()["predictions"]
                else:
                    body = {"id": str(i), "inputs": iris_inputs(rows[i])}
                    response = await client.post("/v2/models/model/infer", json=body)
                    document = response.json()
                    assert document["id"] == str(i)
                    answers[i] = document["outputs"][0]["data"]

            async with anyio.create_task_group() as group:
                for i in range(len(rows)):
                    group.start_soon(one, i)
            return answers

    assert portal.call(burst) == [[0], [2]] * 10


def test_workers_serve_under_the_name_the_cli_gave(
    monkeypatch: pytest.MonkeyPatch, portal: Any, iris_path: Path
) -> None:
    settings = ScoringSettings(model_name="iris-classifier", model_version="7")
    config = ServingConfig(str(iris_path), settings)
    assert ServingConfig.from_json(config.to_json()) == config
    monkeypatch.setenv(SERVING_CONFIG_ENV, config.to_json())
    app = create_app()

    async def ask() -> Any:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            path = "/v2/models/iris-classifier/versions/7/infer"
            return (await client.post(path, json={"inputs": iris_inputs(IRIS_ROWS)})).json()

    answer = portal.call(ask)
    assert (answer["model_name"], answer["model_version"]) == ("iris-classifier", "7")
    assert answer["outputs"][0]["data"] == IRIS_CLASSES
    assert not math.isnan(answer["outputs"][0]["data"][0])
