"""The SageMaker target against moto over HTTP: deploy in each mode, get, list, delete.

boto3 reaches the emulator through AWS_ENDPOINT_URL only (see support.moto_sagemaker, which
also says which operations it adds to moto: UpdateEndpoint for the replace and add modes).
"""

# ruff: noqa: F811  (the fixtures imported from support.moto_sagemaker are requested by name)

from __future__ import annotations

import io
import tarfile
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from runlab.deployments import get_deploy_client
from runlab.errors import AlreadyExists, InvalidParameter, NotFound
from support.moto_sagemaker import (  # noqa: F401 (fixtures used by name)
    BUCKET,
    REGION,
    ROLE_ARN,
    MotoAws,
    aws,
    moto_aws,
    sagemaker_resources,
)


@pytest.fixture(scope="session")
def iris_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from serving.scoring_support import save_iris_model

    return save_iris_model(tmp_path_factory.mktemp("sagemaker-models") / "iris", n_estimators=2)


def app_name() -> str:
    return f"app-{uuid.uuid4().hex[:8]}"


def config(**extra: Any) -> dict[str, Any]:
    return {"execution_role_arn": ROLE_ARN, "bucket": BUCKET, **extra}


def mine(aws: MotoAws, name: str) -> dict[str, list[str]]:
    """The emulator's resources whose names start with ``name``."""
    found = sagemaker_resources(aws.sagemaker_state())
    return {kind: [n for n in names if n.startswith(name)] for kind, names in found.items()}


def s3_keys(prefix: str, bucket: str = BUCKET) -> list[str]:
    listed = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def test_create_makes_the_model_archive_model_config_and_endpoint(
    aws: MotoAws, iris_model: Path
) -> None:
    client = get_deploy_client(f"sagemaker:/{REGION}")
    name = app_name()
    result = client.create_deployment(name, str(iris_model), config=config(instance_count="2"))
    assert result["name"] == name
    assert result["flavor"] == "python_function"
    assert result["endpoint_status"] == "InService"
    assert mine(aws, name) == {
        "endpoints": [name],
        "configs": [result["endpoint_config_name"]],
        "models": [result["model_name"]],
        "jobs": [],
    }
    # The archive holds the model folder's contents at its top, as /opt/ml/model expects.
    key = f"{result['model_name']}/model.tar.gz"
    assert result["model_data_url"] == f"s3://{BUCKET}/{key}"
    body = boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key=key)["Body"]
    with tarfile.open(fileobj=io.BytesIO(body.read()), mode="r:gz") as archive:
        names = archive.getnames()
        assert "MLmodel" in names
        assert all(member.mode in (0o644, 0o755) for member in archive.getmembers())
    state = aws.sagemaker_state()
    model = state._models[result["model_name"]]
    assert model.execution_role_arn == ROLE_ARN
    assert model.primary_container["ModelDataUrl"] == result["model_data_url"]
    image = model.primary_container["Image"]
    assert image.startswith(f"123456789012.dkr.ecr.{REGION}.amazonaws.com/runlab-pyfunc:")
    variants = state.endpoint_configs[result["endpoint_config_name"]].production_variants
    assert variants[0]["InitialInstanceCount"] == 2
    assert variants[0]["InstanceType"] == "ml.m5.xlarge"

    described = client.get_deployment(name)
    assert described["name"] == name
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfig"]["ProductionVariants"][0]["ModelName"] == result["model_name"]
    assert name in [d["name"] for d in client.list_deployments()]

    client.delete_deployment(name)
    assert mine(aws, name) == {"endpoints": [], "configs": [], "models": [], "jobs": []}
    assert s3_keys(result["model_name"]) == []
    client.delete_deployment(name)  # gone already: no error, as the interface says
    with pytest.raises(NotFound, match="No SageMaker endpoint"):
        client.get_deployment(name)


def test_create_refuses_an_existing_endpoint_and_creates_nothing(
    aws: MotoAws, iris_model: Path
) -> None:
    client = get_deploy_client(f"sagemaker:/{REGION}")
    name = app_name()
    client.create_deployment(name, str(iris_model), config=config())
    before = mine(aws, name)
    with pytest.raises(AlreadyExists, match="mode 'replace'"):
        client.create_deployment(name, str(iris_model), config=config())
    assert mine(aws, name) == before


def test_replace_is_blue_green_and_cleans_up_the_old_resources(
    aws: MotoAws, iris_model: Path
) -> None:
    client = get_deploy_client(f"sagemaker:/{REGION}")
    name = app_name()
    first = client.create_deployment(name, str(iris_model), config=config())
    second = client.update_deployment(name, str(iris_model), config=config())
    assert second["mode"] == "replace"
    assert mine(aws, name) == {
        "endpoints": [name],
        "configs": [second["endpoint_config_name"]],
        "models": [second["model_name"]],
        "jobs": [],
    }
    endpoint = aws.sagemaker_state().endpoints[name]
    assert endpoint.endpoint_config_name == second["endpoint_config_name"]
    assert s3_keys(first["model_name"]) == []  # the replaced model's data went with it
    assert s3_keys(second["model_name"]) == [f"{second['model_name']}/model.tar.gz"]


def test_replace_with_archive_keeps_the_old_resources(aws: MotoAws, iris_model: Path) -> None:
    client = get_deploy_client(f"sagemaker:/{REGION}")
    name = app_name()
    first = client.create_deployment(name, str(iris_model), config=config())
    second = client.create_deployment(
        name, str(iris_model), config=config(mode="replace", archive=True)
    )
    found = mine(aws, name)
    assert sorted(found["models"]) == sorted([first["model_name"], second["model_name"]])
    assert len(found["configs"]) == 2


def test_add_puts_a_second_production_variant_beside_the_first(
    aws: MotoAws, iris_model: Path
) -> None:
    client = get_deploy_client(f"sagemaker:/{REGION}")
    name = app_name()
    first = client.create_deployment(name, str(iris_model), config=config())
    second = client.update_deployment(
        name, str(iris_model), config=config(mode="add", variant_name="canary")
    )
    state = aws.sagemaker_state()
    variants = state.endpoint_configs[second["endpoint_config_name"]].production_variants
    assert [v["VariantName"] for v in variants] == [first["model_name"], "canary"]
    assert [v["ModelName"] for v in variants] == [first["model_name"], second["model_name"]]
    # Both models serve; only the old configuration was deleted.
    assert mine(aws, name)["configs"] == [second["endpoint_config_name"]]
    assert sorted(mine(aws, name)["models"]) == sorted([first["model_name"], second["model_name"]])
    with pytest.raises(AlreadyExists, match="already has a variant named 'canary'"):
        client.update_deployment(
            name, str(iris_model), config=config(mode="add", variant_name="canary")
        )
    client.delete_deployment(name)
    assert mine(aws, name) == {"endpoints": [], "configs": [], "models": [], "jobs": []}


def test_update_needs_an_existing_endpoint_and_a_model(aws: MotoAws, iris_model: Path) -> None:
    client = get_deploy_client(f"sagemaker:/{REGION}")
    name = app_name()
    with pytest.raises(NotFound, match="to update"):
        client.update_deployment(name, str(iris_model), config=config())
    with pytest.raises(InvalidParameter, match="give model_uri"):
        client.update_deployment(name, None, config=config())
    with pytest.raises(InvalidParameter, match="'replace' or 'add'"):
        client.update_deployment(name, str(iris_model), config=config(mode="create"))
    assert mine(aws, name) == {"endpoints": [], "configs": [], "models": [], "jobs": []}


def test_the_default_bucket_is_created_and_used(aws: MotoAws, iris_model: Path) -> None:
    client = get_deploy_client(f"sagemaker:/{REGION}")
    name = app_name()
    result = client.create_deployment(
        name, str(iris_model), config={"execution_role_arn": ROLE_ARN}
    )
    bucket = f"runlab-sagemaker-{REGION}-123456789012"
    assert result["model_data_url"] == f"s3://{bucket}/{result['model_name']}/model.tar.gz"
    assert s3_keys(result["model_name"], bucket) == [f"{result['model_name']}/model.tar.gz"]


def test_an_assumed_role_target_uri_deploys_and_lists(aws: MotoAws, iris_model: Path) -> None:
    client = get_deploy_client(f"sagemaker:/{REGION}/{ROLE_ARN}")
    name = app_name()
    client.create_deployment(name, str(iris_model), config=config())
    assert name in [d["name"] for d in client.list_deployments()]


def test_async_create_returns_before_the_endpoint_is_in_service(
    aws: MotoAws, iris_model: Path
) -> None:
    client = get_deploy_client(f"sagemaker:/{REGION}")
    name = app_name()
    aws.outcomes.endpoint[name] = ("Creating", "")
    result = client.create_deployment(name, str(iris_model), config=config(synchronous="false"))
    assert result["endpoint_status"] == "Creating"
    assert client.get_deployment(name)["EndpointStatus"] == "Creating"


def test_serverless_data_capture_and_tags_reach_sagemaker(aws: MotoAws, iris_model: Path) -> None:
    client = get_deploy_client(f"sagemaker:/{REGION}")
    name = app_name()
    capture = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 50,
        "DestinationS3Uri": f"s3://{BUCKET}/capture",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
    }
    result = client.create_deployment(
        name,
        str(iris_model),
        config=config(
            serverless_config='{"MemorySizeInMB": 2048, "MaxConcurrency": 5}',
            data_capture_config=capture,
            tags={"team": "ml", "cost-center": 42},
        ),
    )
    endpoint_config = aws.sagemaker_state().endpoint_configs[result["endpoint_config_name"]]
    (variant,) = endpoint_config.production_variants
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    assert "InstanceType" not in variant and "InitialInstanceCount" not in variant
    assert endpoint_config.data_capture_config["DestinationS3Uri"] == f"s3://{BUCKET}/capture"
    tags = {t["Key"]: t["Value"] for t in aws.sagemaker_state().endpoints[name].tags}
    assert tags == {
        "team": "ml",
        "cost-center": "42",
        "runlab.deployment": name,
        "runlab.model_uri": str(iris_model),
    }
