"""The scoring app in-process: every request layout, every output shape, every bad input."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import runlab.pyfunc
from runlab import __version__
from runlab.models import ColSpec, ModelSignature, Schema
from runlab.serving import ScoringSettings
from serving.scoring_support import error_of, post_json, scoring_api
from support.asgi_api import Api

FIRST_TWO = [0, 0]  # the forest's classes for the first two iris rows (both setosa)


# -- health and version ---------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/ping", "/health"])
def test_ping_and_health(iris_api: Api, path: str) -> None:
    response = iris_api.get(path)
    assert response.status_code == 200
    assert response.text == "\n"


def test_version_is_runlabs(portal: object, iris_model: Path) -> None:
    api = scoring_api(portal, iris_model, ScoringSettings(version=__version__))
    response = api.get("/version")
    assert response.status_code == 200
    assert response.text == __version__


def test_invocations_takes_only_post(iris_api: Api) -> None:
    assert iris_api.get("/invocations").status_code == 405


def test_other_hosts_and_cross_origin_posts_are_refused(
    portal: object, iris_model: Path, iris_api: Api
) -> None:
    body = json.dumps({"inputs": [[5.1, 3.5, 1.4, 0.2]]})
    headers = {"Content-Type": "application/json"}
    # A DNS-rebinding page sends its own domain as Host.
    rebound = iris_api.post(
        "/invocations", content=body, headers={**headers, "Host": "evil.example"}
    )
    assert rebound.status_code == 403 and "Invalid Host header" in rebound.text
    other_page = iris_api.post(
        "/invocations", content=body, headers={**headers, "Origin": "https://evil.example"}
    )
    assert other_page.status_code == 403 and "Cross-origin" in other_page.text
    anywhere = scoring_api(portal, iris_model, ScoringSettings(allowed_hosts=("*",)))
    response = anywhere.post("/invocations", content=body, headers={**headers, "Host": "svc:8080"})
    assert response.json() == {"predictions": [0]}


# -- request layouts ------------------------------------------------------------------------------
def test_dataframe_split(iris_api: Api, iris: pd.DataFrame) -> None:
    body = {"dataframe_split": json.loads(iris.iloc[:2].to_json(orient="split"))}
    response = post_json(iris_api, body)
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": FIRST_TWO}


def test_dataframe_split_without_index(iris_api: Api, iris: pd.DataFrame) -> None:
    body = {
        "dataframe_split": {"columns": list(iris.columns), "data": iris.iloc[:2].values.tolist()}
    }
    assert post_json(iris_api, body).json() == {"predictions": FIRST_TWO}


def test_dataframe_records(iris_api: Api, iris: pd.DataFrame) -> None:
    body = {"dataframe_records": iris.iloc[:2].to_dict(orient="records")}
    assert post_json(iris_api, body).json() == {"predictions": FIRST_TWO}


def test_instances_as_records(iris_api: Api, iris: pd.DataFrame) -> None:
    body = {"instances": iris.iloc[:2].to_dict(orient="records")}
    assert post_json(iris_api, body).json() == {"predictions": FIRST_TWO}


def test_inputs_as_rows_columns_and_records(iris_api: Api, iris: pd.DataFrame) -> None:
    rows = iris.iloc[:2]
    for inputs in (
        rows.values.tolist(),  # a 2-D tensor: columns taken in the signature's order
        {name: rows[name].tolist() for name in rows.columns},
        rows.to_dict(orient="records"),
    ):
        response = post_json(iris_api, {"inputs": inputs})
        assert response.json() == {"predictions": FIRST_TWO}, response.text


def test_hundred_rows(iris_api: Api, iris: pd.DataFrame) -> None:
    response = post_json(iris_api, {"inputs": iris.iloc[:100].values.tolist()})
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == 100


def test_csv_body(iris_api: Api, iris: pd.DataFrame) -> None:
    response = iris_api.post(
        "/invocations",
        content=iris.iloc[:2].to_csv(index=False),
        headers={"Content-Type": "text/csv; charset=utf-8"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": FIRST_TWO}


def test_parquet_body(iris_api: Api, iris: pd.DataFrame) -> None:
    buffer = io.BytesIO()
    iris.iloc[:2].to_parquet(buffer)
    response = iris_api.post(
        "/invocations",
        content=buffer.getvalue(),
        headers={"Content-Type": "application/vnd.apache.parquet"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": FIRST_TWO}


def test_json_content_type_with_charset(iris_api: Api, iris: pd.DataFrame) -> None:
    response = iris_api.post(
        "/invocations",
        content=json.dumps({"inputs": iris.iloc[:2].values.tolist()}),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.json() == {"predictions": FIRST_TWO}


def test_what_the_model_receives_per_layout(echo_api: Api) -> None:
    def received(body: object) -> dict[str, object]:
        response = post_json(echo_api, body)
        assert response.status_code == 200, response.text
        result: dict[str, object] = response.json()["predictions"]["input"]
        return result

    assert received({"inputs": [[1, 2], [3, 4]]}) == {
        "type": "ndarray",
        "shape": [2, 2],
        "dtype": "i",
    }
    assert received({"inputs": "hello"}) == {"type": "ndarray", "shape": [], "dtype": "U"}
    assert received({"inputs": {"a": [1, 2], "b": [0.5, 1]}}) == {
        "type": "dict",
        "keys": ["a", "b"],
    }
    assert received({"instances": [{"a": 1}, {"a": 2}]}) == {"type": "dict", "keys": ["a"]}
    assert received({"instances": [[1.5], [2.5]]}) == {
        "type": "ndarray",
        "shape": [2, 1],
        "dtype": "f",
    }
    split = {"dataframe_split": {"columns": ["a", "b"], "data": [[1, "x"]], "index": [7]}}
    assert received(split) == {"type": "DataFrame", "columns": ["a", "b"], "rows": 1}
    assert received({"dataframe_records": [{"a": 1}, {"a": 2, "b": 3}]}) == {
        "type": "DataFrame",
        "columns": ["a", "b"],
        "rows": 2,
    }


# -- params -----------------------------------------------------------------------------------------
def test_params_reach_the_model_with_defaults(outputs_api: Api) -> None:
    rows = {"dataframe_records": [{"x": 1.0}, {"x": 2.0}]}
    assert post_json(outputs_api, {**rows, "params": {"kind": "series"}}).json() == {
        "predictions": [{"plus_one": 2.0}, {"plus_one": 3.0}]
    }
    scaled = post_json(outputs_api, {**rows, "params": {"kind": "series", "scale": 10}})
    assert scaled.json() == {"predictions": [{"plus_one": 11.0}, {"plus_one": 21.0}]}


def test_undeclared_params_are_dropped(outputs_api: Api, echo_api: Api) -> None:
    rows = {"dataframe_records": [{"x": 1.0}]}
    response = post_json(outputs_api, {**rows, "params": {"kind": "string", "unknown": 1}})
    assert response.json() == {"predictions": "1 rows"}
    # A model without a parameter schema gets none, whatever the request sends.
    echoed = post_json(echo_api, {"inputs": [1], "params": {"p": 1}}).json()
    assert echoed["predictions"]["params"] is None


def test_a_param_of_the_wrong_type_is_400(outputs_api: Api) -> None:
    body = {"dataframe_records": [{"x": 1.0}], "params": {"scale": "big"}}
    message = error_of(post_json(outputs_api, body), 400, "INVALID_PARAMETER_VALUE")
    assert "scale" in message


# -- output shapes (MLflow's) -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("frame", [{"doubled": 2.0, "label": "row0"}, {"doubled": 4.0, "label": "row1"}]),
        ("series", [{"plus_one": 2.0}, {"plus_one": 3.0}]),
        ("unnamed_series", [{"0": 2.0}, {"0": 3.0}]),
        ("array", [[1.0, 10.0], [2.0, 20.0]]),
        ("dict", {"total": 3.0, "values": [1.0, 2.0]}),
        ("string", "2 rows"),
        ("list", [1, "two", None]),
        ("scalar", 7),
        ("nan", [None, 1.5]),
        ("dates", [{"when": "2026-11-27T10:00:00"}, {"when": "2026-11-27T10:00:00"}]),
    ],
)
def test_output_shapes(outputs_api: Api, kind: str, expected: object) -> None:
    body = {"dataframe_records": [{"x": 1.0}, {"x": 2.0}], "params": {"kind": kind}}
    response = post_json(outputs_api, body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"predictions": expected}


# -- bad input ----------------------------------------------------------------------------------------
def test_malformed_json(iris_api: Api) -> None:
    response = iris_api.post(
        "/invocations", content=b'{"inputs": [1,', headers={"Content-Type": "application/json"}
    )
    assert "not valid JSON" in error_of(response, 400)


def test_python_json_spellings_are_read(echo_api: Api, outputs_api: Api) -> None:
    """NaN, Infinity and big integers, as Python's json module (MLflow's clients) writes them."""
    body = b'{"dataframe_records": [{"x": Infinity}, {"x": 1.5}], "params": {"kind": "series"}}'
    response = outputs_api.post(
        "/invocations", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.json() == {"predictions": [{"plus_one": None}, {"plus_one": 2.5}]}
    big = echo_api.post(
        "/invocations",
        content=b'{"inputs": [100000000000000000000, NaN, -Infinity]}',
        headers={"Content-Type": "application/json"},
    )
    assert big.status_code == 200, big.text


def test_deeply_nested_json_is_refused(iris_api: Api) -> None:
    body = b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = iris_api.post(
        "/invocations", content=body, headers={"Content-Type": "application/json"}
    )
    assert "not valid JSON" in error_of(response, 400)


@pytest.mark.parametrize(
    "body",
    [
        {"foo": [[1, 2, 3, 4]]},
        {"inputs": [[1, 2, 3, 4]], "instances": [[1, 2, 3, 4]]},
        {"inputs": [[1, 2, 3, 4]], "extra": 1},
        {},
        {"params": {"a": 1}},
    ],
)
def test_not_exactly_one_known_input_key(iris_api: Api, body: dict[str, object]) -> None:
    message = error_of(post_json(iris_api, body), 400)
    assert "exactly one of the keys" in message


@pytest.mark.parametrize("body", [[1, 2], "text", None, 3])
def test_body_not_an_object(iris_api: Api, body: object) -> None:
    assert "must be a JSON object" in error_of(post_json(iris_api, body), 400)


def test_params_not_an_object(outputs_api: Api) -> None:
    body = {"dataframe_records": [{"x": 1.0}], "params": [1]}
    assert "'params' must be a JSON object" in error_of(post_json(outputs_api, body), 400)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"dataframe_split": [[1, 2]]}, "'dataframe_split' must be an object"),
        ({"dataframe_split": {"columns": ["a"]}}, "needs 'data'"),
        ({"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}}, "is not a table"),
        ({"dataframe_split": {"data": [[1]], "orient": "x"}}, "takes only"),
        ({"dataframe_split": {"data": [[1]], "columns": "a"}}, "must be a list"),
        ({"dataframe_split": {"data": [[1, 2]], "columns": ["a", "a"]}}, "more than once"),
        ({"dataframe_records": {"a": 1}}, "must be a list of objects"),
        ({"dataframe_records": [1, 2]}, "must be a list of objects"),
        ({"inputs": [[1, 2], [3]]}, "not a regular tensor"),
        ({"instances": [{"a": 1}, {"b": 2}]}, "same keys"),
    ],
)
def test_malformed_layouts(echo_api: Api, body: dict[str, object], reason: str) -> None:
    assert reason in error_of(post_json(echo_api, body), 400)


def test_wrong_shape_is_a_schema_error(iris_api: Api) -> None:
    message = error_of(post_json(iris_api, {"inputs": [[1, 2]]}), 400, "INVALID_PARAMETER_VALUE")
    assert "missing required column(s) 'petal length (cm)'" in message


def test_schema_mismatch_names_the_column(iris_api: Api, iris: pd.DataFrame) -> None:
    record = {name: 1.0 for name in iris.columns} | {"petal width (cm)": "wide"}
    response = post_json(iris_api, {"dataframe_records": [record]})
    message = error_of(response, 400, "INVALID_PARAMETER_VALUE")
    assert "petal width (cm)" in message and "double" in message


def test_missing_column(iris_api: Api) -> None:
    response = post_json(iris_api, {"dataframe_records": [{"sepal length (cm)": 1.0}]})
    assert "missing required column" in error_of(response, 400, "INVALID_PARAMETER_VALUE")


def test_bad_csv(iris_api: Api) -> None:
    response = iris_api.post("/invocations", content=b"", headers={"Content-Type": "text/csv"})
    assert "CSV body cannot be read" in error_of(response, 400)


def test_bad_parquet(iris_api: Api) -> None:
    response = iris_api.post(
        "/invocations",
        content=b"not parquet",
        headers={"Content-Type": "application/vnd.apache.parquet"},
    )
    assert "Parquet body cannot be read" in error_of(response, 400)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_unsupported_content_type_is_415(iris_api: Api, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = iris_api.post("/invocations", content=b"{}", headers=headers)
    message = error_of(response, 415)
    assert "Unsupported Content-Type" in message and "text/csv" in message


def test_oversized_body_is_413(portal: object, iris_model: Path) -> None:
    api = scoring_api(portal, iris_model, ScoringSettings(max_request_bytes=100))
    body = {"inputs": [[5.1, 3.5, 1.4, 0.2]] * 20}
    assert "limit of 100 bytes" in error_of(post_json(api, body), 413, "REQUEST_LIMIT_EXCEEDED")
    assert post_json(api, {"inputs": [[5.1, 3.5, 1.4, 0.2]]}).status_code == 200


def test_oversized_streamed_body_is_413(portal: object, iris_model: Path) -> None:
    api = scoring_api(portal, iris_model, ScoringSettings(max_request_bytes=100))

    async def chunks():  # no Content-Length: the limit applies while reading
        for _ in range(10):
            yield b"[1, 2, 3, 4, 5, 6, 7, 8, 9],"

    response = api.post(
        "/invocations", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "limit of 100 bytes" in error_of(response, 413, "REQUEST_LIMIT_EXCEEDED")


# -- the model failing --------------------------------------------------------------------------------
def test_a_model_that_raises_is_an_error_response(outputs_api: Api) -> None:
    body = {"dataframe_records": [{"x": 1.0}], "params": {"kind": "explode"}}
    message = error_of(post_json(outputs_api, body), 400)
    assert "ValueError" in message and "cannot produce explode" in message


def test_an_unencodable_output_is_an_error_response(outputs_api: Api) -> None:
    body = {"dataframe_records": [{"x": 1.0}], "params": {"kind": "unencodable"}}
    message = error_of(post_json(outputs_api, body), 400)
    assert "cannot be sent as JSON" in message and "object" in message


@pytest.mark.parametrize("mode", ["batched", "thread", "inline"])
def test_every_predict_mode_gives_the_same_answers(
    portal: object, iris_model: Path, outputs_model: Path, iris: pd.DataFrame, mode: str
) -> None:
    api = scoring_api(portal, iris_model, ScoringSettings(predict_mode=mode))
    assert post_json(api, {"inputs": iris.iloc[:2].values.tolist()}).json() == {
        "predictions": FIRST_TWO
    }
    message = error_of(post_json(api, {"inputs": [[1]]}), 400, "INVALID_PARAMETER_VALUE")
    assert "missing required column" in message
    custom = scoring_api(portal, outputs_model, ScoringSettings(predict_mode=mode))
    failing = {"dataframe_records": [{"x": 1.0}], "params": {"kind": "explode"}}
    assert "cannot produce explode" in error_of(post_json(custom, failing), 400)


def test_concurrent_requests_share_model_calls(
    portal: Any, iris_model: Path, iris: pd.DataFrame
) -> None:
    """Requests that arrive while the model is busy are scored together, each with its rows."""
    import anyio
    import httpx

    import runlab.pyfunc
    from runlab.serving import build_scoring_app

    app = build_scoring_app(runlab.pyfunc.load_model(iris_model))
    bodies = [{"inputs": iris.iloc[i : i + 3].values.tolist()} for i in range(0, 60, 3)]
    answers: dict[int, object] = {}

    async def run_all() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:

            async def one(i: int) -> None:
                response = await client.post("/invocations", json=bodies[i])
                answers[i] = response.json()["predictions"]

            async with anyio.create_task_group() as group:
                for i in range(len(bodies)):
                    group.start_soon(one, i)

    portal.call(run_all)
    expected = runlab.pyfunc.load_model(iris_model).predict(iris.iloc[:60]).tolist()
    assert [answers[i] for i in range(len(bodies))] == [
        expected[i : i + 3] for i in range(0, 60, 3)
    ]


def test_a_lone_string_fits_a_one_string_column_signature(portal: Any, tmp_path: Path) -> None:
    """MLflow accepts {"inputs": "text"} for a model whose signature is one string column."""

    class Lengths(runlab.pyfunc.PythonModel):
        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return [len(text) for text in model_input.iloc[:, 0]]

    runlab.pyfunc.save_model(
        tmp_path / "m",
        python_model=Lengths(),
        signature=ModelSignature(Schema([ColSpec("string")])),
    )
    api = scoring_api(portal, tmp_path / "m")
    response = post_json(api, {"inputs": "a string"})
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": [8]}
    assert post_json(api, {"inputs": ["ab", "abc"]}).json() == {"predictions": [2, 3]}
