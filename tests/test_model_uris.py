"""Parsing of models:/ and runs:/ URIs: every form, and the malformed ones refused clearly."""

from __future__ import annotations

import pytest

from runlab.errors import InvalidParameter
from runlab.model_uris import (
    ModelsUri,
    RunsUri,
    is_model_uri,
    parse_model_uri,
    parse_models_uri,
    parse_runs_uri,
)

RUN_ID = "0123456789abcdef0123456789abcdef"
MODEL_ID = "m-" + "ab" * 16


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("models:/clf/3", ModelsUri("version", name="clf", version=3)),
        ("models:/clf/12/", ModelsUri("version", name="clf", version=12)),
        ("models:///clf/3", ModelsUri("version", name="clf", version=3)),
        ("MODELS:/clf/3", ModelsUri("version", name="clf", version=3)),
        ("models:/clf/Production", ModelsUri("stage", name="clf", stage="Production")),
        ("models:/clf/production", ModelsUri("stage", name="clf", stage="Production")),
        ("models:/clf/STAGING", ModelsUri("stage", name="clf", stage="Staging")),
        ("models:/clf/archived", ModelsUri("stage", name="clf", stage="Archived")),
        ("models:/clf/None", ModelsUri("stage", name="clf", stage="None")),
        ("models:/clf/latest", ModelsUri("latest", name="clf")),
        ("models:/clf/Latest", ModelsUri("latest", name="clf")),
        ("models:/clf@latest", ModelsUri("latest", name="clf")),
        ("models:/clf@LATEST/MLmodel", ModelsUri("latest", name="clf", path="MLmodel")),
        ("models:/clf@champion", ModelsUri("alias", name="clf", alias="champion")),
        ("models:/clf@Champ_1-b", ModelsUri("alias", name="clf", alias="Champ_1-b")),
        (f"models:/{MODEL_ID}", ModelsUri("logged_model", model_id=MODEL_ID)),
        ("models:/m-abc", ModelsUri("logged_model", model_id="m-abc")),
        # Names may hold spaces, dots, '@' (the last '@' starts the alias) and non-ASCII letters.
        ("models:/fraud model v2/1", ModelsUri("version", name="fraud model v2", version=1)),
        ("models:/a.b-c_d/2", ModelsUri("version", name="a.b-c_d", version=2)),
        ("models:/team@corp@prod", ModelsUri("alias", name="team@corp", alias="prod")),
        ("models:/modèle/4", ModelsUri("version", name="modèle", version=4)),
        # Only an id of the exact logged-model shape may be followed by a path.
        ("models:/m-abc/3", ModelsUri("version", name="m-abc", version=3)),
    ],
)
def test_models_uri_forms(uri: str, expected: ModelsUri) -> None:
    assert parse_models_uri(uri) == expected
    assert parse_model_uri(uri) == expected
    assert is_model_uri(uri)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("models:/clf/3/MLmodel", ModelsUri("version", name="clf", version=3, path="MLmodel")),
        (
            "models:/clf/production/data/model.pkl",
            ModelsUri("stage", name="clf", stage="Production", path="data/model.pkl"),
        ),
        ("models:/clf/latest/a", ModelsUri("latest", name="clf", path="a")),
        (
            "models:/clf@champion/MLmodel",
            ModelsUri("alias", "clf", alias="champion", path="MLmodel"),
        ),
        (
            f"models:/{MODEL_ID}/MLmodel",
            ModelsUri("logged_model", model_id=MODEL_ID, path="MLmodel"),
        ),
        ("models:/clf/3/./sub/", ModelsUri("version", name="clf", version=3, path="sub")),
    ],
)
def test_models_uri_with_a_path_inside_the_model(uri: str, expected: ModelsUri) -> None:
    assert parse_models_uri(uri) == expected


@pytest.mark.parametrize(
    "uri",
    [
        "models:/clf/3",
        "models:/clf/Production",
        "models:/clf/latest",
        "models:/clf@champion",
        f"models:/{MODEL_ID}",
        "models:/clf/3/MLmodel",
        "models:/clf@champion/data/x.bin",
    ],
)
def test_canonical_spelling_round_trips(uri: str) -> None:
    assert str(parse_models_uri(uri)) == uri


def test_str_canonicalises_stage_and_latest() -> None:
    assert str(parse_models_uri("models:/clf/production")) == "models:/clf/Production"
    assert str(parse_models_uri("models:/clf/LATEST")) == "models:/clf/latest"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("models:/clf", "say which version"),
        ("models:/clf/", "say which version"),
        ("models:/", "name is empty"),
        ("models:", "expected the form"),
        ("models:clf/3", "expected the form"),
        ("models://host/clf/3", "names the host 'host'"),
        ("models:/clf/Prod", "'Prod' is not a version number, a stage"),
        ("models:/clf/v3", "not a version number"),
        ("models:/clf/-1", "not a version number"),
        ("models:/clf/0", "version numbers start at 1"),
        ("models:/clf/1.5", "not a version number"),
        ("models:/clf@", "Invalid alias"),
        ("models:/clf@V2", "reserved"),
        ("models:/clf@bad alias", "Invalid alias"),
        ("models:/@champion", "name is empty"),
        ("models:/ /1", "name is empty"),
        ("models:/../1", "not a valid registered model name"),
        ("models:/clf/3/../../etc/passwd", "'..'"),
        ("models:/clf/3/%2e%2e/x", "'..'"),
        ("models:/clf/3/a%2fb", "encoded '/'"),
        ("models:/clf/3/a//x", "empty part"),
        ("models:/clf/3//etc/passwd", "absolute"),
        ("models:/clf@champion/a\\b", "backslash"),
        (f"models:/{MODEL_ID}/../other", "'..'"),
        ("runs:/abc/x", "not a models:/ URI"),
        ("s3://bucket/model", "not a models:/ URI"),
    ],
)
def test_malformed_models_uris_are_refused_clearly(uri: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        parse_models_uri(uri)
    assert message in info.value.message
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_non_string_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="must be a string"):
        parse_models_uri(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (f"runs:/{RUN_ID}/model", RunsUri(RUN_ID, "model")),
        (f"runs:/{RUN_ID}/models/clf/", RunsUri(RUN_ID, "models/clf")),
        (f"runs:/{RUN_ID}", RunsUri(RUN_ID, "")),
        (f"runs:/{RUN_ID}/", RunsUri(RUN_ID, "")),
        (f"runs:///{RUN_ID}/model", RunsUri(RUN_ID, "model")),
        (f"RUNS:/{RUN_ID}/model", RunsUri(RUN_ID, "model")),
        ("runs:/my-run_1/a b/c.txt", RunsUri("my-run_1", "a b/c.txt")),
    ],
)
def test_runs_uri_forms(uri: str, expected: RunsUri) -> None:
    assert parse_runs_uri(uri) == expected
    assert parse_model_uri(uri) == expected
    assert is_model_uri(uri)


def test_runs_uri_str() -> None:
    assert str(RunsUri(RUN_ID, "model")) == f"runs:/{RUN_ID}/model"
    assert str(RunsUri(RUN_ID)) == f"runs:/{RUN_ID}"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("runs:/", "run id is missing"),
        ("runs://", "run id is missing"),
        ("runs:", "expected the form"),
        (f"runs:{RUN_ID}/model", "expected the form"),
        (f"runs://host/{RUN_ID}/model", "names the host"),
        ("runs:/bad id!/model", "Invalid run id"),
        ("runs:/-x/model", "Invalid run id"),
        (f"runs:/{RUN_ID}/../other-run/model", "'..'"),
        (f"runs:/{RUN_ID}/%252e%252e/secret", "'..'"),
        (f"runs:/{RUN_ID}/model%00", "control character"),
        (f"runs:/{RUN_ID}/a?b", "'?'"),
        (f"runs:/{RUN_ID}/C:/x", "drive letter"),
        (f"runs:/{RUN_ID}/\uff0e\uff0e/x", "Unicode normalization"),
        ("models:/clf/1", "not a runs:/ URI"),
    ],
)
def test_malformed_runs_uris_are_refused_clearly(uri: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        parse_runs_uri(uri)
    assert message in info.value.message


@pytest.mark.parametrize(
    "uri", ["s3://b/model", "/tmp/model", "file:///tmp/m", "mlflow-artifacts:/1"]
)
def test_other_uris_are_not_model_uris(uri: str) -> None:
    assert not is_model_uri(uri)
    with pytest.raises(InvalidParameter, match="is not a model URI"):
        parse_model_uri(uri)
