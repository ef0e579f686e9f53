"""The SageMaker target's refusals: what AWS refused (code and message), bad input refused
before anything is created, and the wait loop's failure, rollback and timeout paths driven by
real emulated resources (support.moto_sagemaker's Outcomes)."""

# ruff: noqa: F811  (the fixtures imported from support.moto_sagemaker are requested by name)

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from runlab.deployments import get_deploy_client
from runlab.deployments.sagemaker_config import parse_target_uri
from runlab.errors import InvalidParameter, InvalidState, NotFound, PermissionDenied, Unavailable
from support.moto_sagemaker import (  # noqa: F401 (fixtures used by name)
    BUCKET,
    REGION,
    ROLE_ARN,
    MotoAws,
    aws,
    moto_aws,
    sagemaker_resources,
)

NOTHING = {"endpoints": [], "configs": [], "models": [], "jobs": []}


@pytest.fixture(scope="session")
def iris_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from serving.scoring_support import save_iris_model

    return save_iris_model(tmp_path_factory.mktemp("sagemaker-errors") / "iris", n_estimators=2)


def app_name() -> str:
    return f"err-{uuid.uuid4().hex[:8]}"


def config(**extra: Any) -> dict[str, Any]:
    return {"execution_role_arn": ROLE_ARN, "bucket": BUCKET, **extra}


def mine(aws: MotoAws, name: str) -> dict[str, list[str]]:
    found = sagemaker_resources(aws.sagemaker_state())
    return {kind: [n for n in names if n.startswith(name)] for kind, names in found.items()}


def uploads(name: str) -> list[str]:
    listed = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET, Prefix=name)
    return [item["Key"] for item in listed.get("Contents", [])]


def client() -> Any:
    return get_deploy_client(f"sagemaker:/{REGION}")


# -- what AWS refused ---------------------------------------------------------------------------


def test_a_missing_execution_role_is_named_with_iams_answer(aws: MotoAws, iris_model: Path) -> None:
    name = app_name()
    role = "arn:aws:iam::123456789012:role/no-such-role"
    with pytest.raises(NotFound) as caught:
        client().create_deployment(name, str(iris_model), config=config(execution_role_arn=role))
    message = caught.value.message
    assert "the execution role arn:aws:iam::123456789012:role/no-such-role" in message
    assert "(GetRole): NoSuchEntity" in message
    assert "--execution-role-arn" in message
    assert mine(aws, name) == NOTHING and uploads(name) == []


def test_without_a_role_a_user_identity_is_refused(aws: MotoAws, iris_model: Path) -> None:
    name = app_name()
    with pytest.raises(InvalidParameter, match="not a role SageMaker could use"):
        client().create_deployment(name, str(iris_model), config={"bucket": BUCKET})
    assert mine(aws, name) == NOTHING and uploads(name) == []


def test_without_a_role_an_assumed_role_identity_is_used(aws: MotoAws, iris_model: Path) -> None:
    name = app_name()
    assumed = get_deploy_client(f"sagemaker:/{REGION}/{ROLE_ARN}")
    result = assumed.create_deployment(name, str(iris_model), config={"bucket": BUCKET})
    assert aws.sagemaker_state()._models[result["model_name"]].execution_role_arn == ROLE_ARN


def test_a_missing_bucket_is_named_with_s3s_answer(aws: MotoAws, iris_model: Path) -> None:
    name = app_name()
    with pytest.raises(NotFound) as caught:
        client().create_deployment(name, str(iris_model), config=config(bucket="no-such-bucket-x"))
    assert "uploading the model to s3://no-such-bucket-x/" in caught.value.message
    assert "NoSuchBucket" in caught.value.message
    assert mine(aws, name) == NOTHING


def test_a_missing_image_in_this_accounts_ecr_is_refused_before_anything(
    aws: MotoAws, iris_model: Path
) -> None:
    name = app_name()
    image = f"123456789012.dkr.ecr.{REGION}.amazonaws.com/runlab-pyfunc:no-such-tag"
    with pytest.raises(NotFound) as caught:
        client().create_deployment(name, str(iris_model), config=config(image_url=image))
    assert "ImageNotFoundException" in caught.value.message
    assert "build-and-push-container" in caught.value.message
    assert mine(aws, name) == NOTHING and uploads(name) == []


def test_a_quota_refusal_is_named_and_leaves_nothing_behind(aws: MotoAws, iris_model: Path) -> None:
    name = app_name()
    limit = (
        "The account-level service limit 'ml.p3.8xlarge for endpoint usage' is 0 Instances, "
        "with current utilization of 0 Instances and a request delta of 1 Instances."
    )
    aws.outcomes.refuse_endpoint[name] = ("ResourceLimitExceeded", limit)
    with pytest.raises(InvalidParameter) as caught:
        client().create_deployment(
            name, str(iris_model), config=config(instance_type="ml.p3.8xlarge")
        )
    message = caught.value.message
    assert f"AWS refused creating the endpoint {name} (CreateEndpoint): ResourceLimitExceeded" in (
        message
    )
    assert "'ml.p3.8xlarge for endpoint usage' is 0 Instances" in message
    assert "Service Quotas" in message
    # The configuration and model made for it are deleted again, with the model's archive.
    assert mine(aws, name) == NOTHING and uploads(name) == []


def test_a_refused_endpoint_configuration_deletes_the_model_again(
    aws: MotoAws, iris_model: Path
) -> None:
    name = app_name()
    with pytest.raises(InvalidParameter) as caught:
        client().create_deployment(name, str(iris_model), config=config(instance_type="ml.x.big"))
    assert "(CreateEndpointConfig): ValidationException" in caught.value.message
    assert "ml.x.big" in caught.value.message
    assert mine(aws, name) == NOTHING and uploads(name) == []


def test_an_image_of_another_registry_is_left_to_sagemaker(aws: MotoAws, iris_model: Path) -> None:
    name = app_name()
    image = "999999999999.dkr.ecr.eu-west-1.amazonaws.com/serving:1"
    result = client().create_deployment(name, str(iris_model), config=config(image_url=image))
    assert result["image_url"] == image


def test_no_credentials_is_a_clear_error(
    aws: MotoAws, iris_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(variable)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-role lookup
    for variable in (
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    ):
        monkeypatch.delenv(variable, raising=False)
    name = app_name()
    with pytest.raises(PermissionDenied, match="No usable AWS credentials"):
        client().create_deployment(name, str(iris_model), config=config())
    assert mine(aws, name) == NOTHING


# -- refused before anything is sent ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "extra", "message"),
    [
        ("bad_name", {}, "not a valid SageMaker name"),
        ("x" * 64, {}, "not a valid SageMaker name"),
        ("ok", {"instance_count": "two"}, "instance_count must be a whole number"),
        ("ok", {"instance_count": 0}, "instance_count must be 1 or more"),
        ("ok", {"mode": "upsert"}, "mode must be one of create, add, replace"),
        ("ok", {"synchronous": "maybe"}, "synchronous must be true or false"),
        ("ok", {"tags": "[1]"}, "tags must be a JSON object"),
        ("ok", {"instance_typo": "ml.m5.large"}, "Unknown SageMaker config key"),
        ("ok", {"variant_name": "no_underscores"}, "The variant name"),
    ],
)
def test_bad_names_and_config_are_refused(
    aws: MotoAws, iris_model: Path, name: str, extra: dict[str, Any], message: str
) -> None:
    before = sagemaker_resources(aws.sagemaker_state())
    with pytest.raises(InvalidParameter, match=message):
        client().create_deployment(name, str(iris_model), config=config(**extra))
    assert sagemaker_resources(aws.sagemaker_state()) == before


def test_bad_models_are_refused_before_anything(aws: MotoAws, tmp_path: Path) -> None:
    name = app_name()
    with pytest.raises(NotFound, match="No model at"):
        client().create_deployment(name, str(tmp_path / "absent"), config=config())
    with pytest.raises(InvalidParameter, match="no MLmodel"):
        client().create_deployment(name, str(tmp_path), config=config())
    assert mine(aws, name) == NOTHING and uploads(name) == []


def test_only_the_python_function_flavor_is_deployed(aws: MotoAws, iris_model: Path) -> None:
    name = app_name()
    with pytest.raises(InvalidParameter, match="cannot deploy the flavor 'sklearn'"):
        client().create_deployment(name, str(iris_model), flavor="sklearn", config=config())
    assert mine(aws, name) == NOTHING


def test_target_uris() -> None:
    assert parse_target_uri("sagemaker") == ("us-west-2", None)
    assert parse_target_uri("sagemaker:/eu-west-1") == ("eu-west-1", None)
    assert parse_target_uri(f"sagemaker:/eu-west-1/{ROLE_ARN}") == ("eu-west-1", ROLE_ARN)
    with pytest.raises(InvalidParameter, match="names a role without a region"):
        get_deploy_client(f"sagemaker:/{ROLE_ARN}")
    with pytest.raises(InvalidParameter, match="leave endpoint unset"):
        client().list_deployments(endpoint="e")


def test_a_symlink_out_of_the_model_folder_is_refused(
    aws: MotoAws, iris_model: Path, tmp_path: Path
) -> None:
    import shutil

    model = tmp_path / "model"
    shutil.copytree(iris_model, model)
    secret = tmp_path / "secret.txt"
    secret.write_text("not the model's")
    (model / "extra.txt").symlink_to(secret)
    name = app_name()
    with pytest.raises(InvalidParameter, match=r"symbolic link extra\.txt"):
        client().create_deployment(name, str(model), config=config())
    assert mine(aws, name) == NOTHING and uploads(name) == []


# -- waiting ------------------------------------------------------------------------------------


def test_an_endpoint_that_fails_is_reported_with_its_reason(aws: MotoAws, iris_model: Path) -> None:
    name = app_name()
    aws.outcomes.endpoint[name] = ("Failed", "The primary container did not pass the ping check")
    with pytest.raises(InvalidState) as caught:
        client().create_deployment(name, str(iris_model), config=config())
    message = caught.value.message
    assert f"The endpoint {name} is Failed: The primary container did not pass" in message
    assert f"runlab sagemaker delete --app-name {name} --region-name {REGION}" in message
    # Kept for diagnosis, then removed whole by delete.
    assert mine(aws, name)["endpoints"] == [name]
    client().delete_deployment(name)
    assert mine(aws, name) == NOTHING


def test_a_timeout_names_the_last_status(aws: MotoAws, iris_model: Path) -> None:
    name = app_name()
    aws.outcomes.endpoint[name] = ("Creating", "")
    seen: list[str] = []
    from runlab.deployments.sagemaker_aws import AwsContext
    from runlab.deployments.sagemaker_config import DeploySettings
    from runlab.deployments.sagemaker_endpoints import deploy

    settings = DeploySettings(
        region_name=REGION, execution_role_arn=ROLE_ARN, bucket=BUCKET, timeout_seconds=1
    )
    with pytest.raises(Unavailable, match="after 1s; it is still Creating"):
        deploy(AwsContext(REGION), name, str(iris_model), None, settings, seen.append)
    # The progress display saw every look.
    assert [line for line in seen if line.startswith(f"endpoint {name}: Creating")]
    assert len([line for line in seen if "Creating (" in line]) >= 2


def test_an_update_sagemaker_rolls_back_deletes_what_it_made(
    aws: MotoAws, iris_model: Path
) -> None:
    name = app_name()
    first = client().create_deployment(name, str(iris_model), config=config())
    aws.outcomes.endpoint[name] = ("RolledBack", "Insufficient capacity for ml.p5.48xlarge")
    with pytest.raises(InvalidState) as caught:
        client().update_deployment(name, str(iris_model), config=config())
    assert "Insufficient capacity" in caught.value.message
    assert "keeps its previous configuration" in caught.value.message
    assert mine(aws, name) == {
        "endpoints": [name],
        "configs": [first["endpoint_config_name"]],
        "models": [first["model_name"]],
        "jobs": [],
    }
    assert (
        aws.sagemaker_state().endpoints[name].endpoint_config_name
        == (first["endpoint_config_name"])
    )


def test_updating_without_waiting_needs_archive(aws: MotoAws, iris_model: Path) -> None:
    name = app_name()
    client().create_deployment(name, str(iris_model), config=config())
    before = mine(aws, name)
    with pytest.raises(InvalidParameter, match=r"drop --async\) or keep them \(--archive"):
        client().update_deployment(name, str(iris_model), config=config(synchronous=False))
    assert mine(aws, name) == before


def test_delete_async_keeps_the_rest_only_with_archive(aws: MotoAws, iris_model: Path) -> None:
    name = app_name()
    created = client().create_deployment(name, str(iris_model), config=config())
    with pytest.raises(InvalidParameter, match="--archive"):
        client().delete_deployment(name, config={"synchronous": "false"})
    client().delete_deployment(name, config={"synchronous": "false", "archive": "true"})
    assert mine(aws, name) == {
        "endpoints": [],
        "configs": [created["endpoint_config_name"]],
        "models": [created["model_name"]],
        "jobs": [],
    }


# -- predict ------------------------------------------------------------------------------------


def test_predict_sends_the_scoring_protocol_and_reads_the_answer(aws: MotoAws) -> None:
    # moto does not run containers: it answers InvokeEndpoint with what the test queues, and
    # the container's own answer is tested in tests/serving/test_sagemaker_container.py.
    import pandas as pd

    aws.clear_runtime()
    aws.queue_runtime_answer(json.dumps({"predictions": [0, 2]}))
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    response = client().predict("some-endpoint", frame, params={"k": 1})
    assert response["predictions"] == [0, 2]
    assert response.get_predictions(predictions_format="ndarray").tolist() == [0, 2]
    (sent,) = aws.runtime_requests()
    assert json.loads(sent["Body"]) == {
        "dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 3.0], [2.0, 4.0]]},
        "params": {"k": 1},
    }
    assert sent["Accept"] == "application/json"


def test_predict_refuses_an_answer_that_is_not_json(aws: MotoAws) -> None:
    aws.clear_runtime()
    aws.queue_runtime_answer("<html>oops</html>")
    with pytest.raises(InvalidParameter, match="not JSON"):
        client().predict("other-endpoint", {"inputs": [[1.0]]})
