"""``runlab sagemaker ...`` against moto over HTTP (boto3 pointed at it by AWS_ENDPOINT_URL).

Each command runs through the real CLI (click's runner over ``runlab``'s root group, which
turns runlab's errors into one ``Error:`` line and exit code 1); the emulator's state says what
was created. support.moto_sagemaker says what it adds to moto (UpdateEndpoint,
StopTransformJob, statuses other than InService/Completed).
"""

# ruff: noqa: F811  (the fixtures imported from support.moto_sagemaker are requested by name)

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from runlab.cli.main import cli
from support.moto_sagemaker import (  # noqa: F401 (fixtures used by name)
    ACCOUNT,
    BUCKET,
    REGION,
    ROLE_ARN,
    MotoAws,
    aws,
    moto_aws,
    sagemaker_resources,
)

AWS = ["--region-name", REGION]
MODEL = ["-e", ROLE_ARN, "-b", BUCKET]


@pytest.fixture(scope="module")
def iris_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from serving.scoring_support import save_iris_model

    return save_iris_model(tmp_path_factory.mktemp("sagemaker-cli") / "iris", n_estimators=2)


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["sagemaker", *args], catch_exceptions=False)


def ok(*args: str) -> Any:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if result.stdout.strip() else None


def fails(*args: str) -> str:
    result = run(*args)
    assert result.exit_code == 1, result.output
    # Progress lines may come first; the error is the one last line.
    last = result.stderr.rstrip("\n").splitlines()[-1]
    assert last.startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    return last


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def mine(aws: MotoAws, name: str) -> dict[str, list[str]]:
    found = sagemaker_resources(aws.sagemaker_state())
    return {kind: [n for n in names if n.startswith(name)] for kind, names in found.items()}


NOTHING = {"endpoints": [], "configs": [], "models": [], "jobs": []}


def test_deploy_replace_list_delete(aws: MotoAws, iris_model: Path, tmp_path: Path) -> None:
    name = unique("cli")
    vpc = tmp_path / "vpc.json"
    vpc.write_text(json.dumps({"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]}))
    first = run("deploy", "-a", name, "-m", str(iris_model), *MODEL, *AWS, "-v", str(vpc))
    assert first.exit_code == 0, first.output
    created = json.loads(first.stdout)
    assert created["endpoint_status"] == "InService"
    # The progress display, on stderr: the upload, the model, the endpoint's status.
    assert f"endpoint {name}: InService" in first.stderr
    assert "Uploading the model to s3://" in first.stderr
    state = aws.sagemaker_state()
    assert state._models[created["model_name"]].vpc_config == {
        "SecurityGroupIds": ["sg-1"],
        "Subnets": ["subnet-1"],
    }
    replaced = ok(
        "deploy",
        "-a",
        name,
        "-m",
        str(iris_model),
        *MODEL,
        *AWS,
        "--mode",
        "replace",
        "-c",
        "3",
        "--sync",
    )
    assert mine(aws, name)["models"] == [replaced["model_name"]]
    listed = ok("list", *AWS)
    assert name in [endpoint["name"] for endpoint in listed]
    ok("delete", "-a", name, *AWS)
    assert mine(aws, name) == NOTHING
    assert name not in [endpoint["name"] for endpoint in ok("list", *AWS)]
    assert f"No SageMaker endpoint named {name!r}" in fails("delete", "-a", name, *AWS)


def test_deploy_a_registered_model_by_alias_with_trust_and_env(
    aws: MotoAws, tmp_path: Path
) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    import runlab
    import runlab.sklearn
    from runlab.tracking import config

    tracking = f"sqlite:///{tmp_path / 'reg.db'}"
    config.set_tracking_uri(tracking)
    try:
        with runlab.start_run():
            estimator = LogisticRegression().fit(np.eye(4), [0, 1, 0, 1])
            runlab.sklearn.log_model(estimator, name="model", registered_model_name="churn")
        runlab.MlflowClient().set_registered_model_alias("churn", "champion", "1")
    finally:
        config.set_tracking_uri(None)
    name = unique("reg")
    result = ok(
        "deploy",
        "-a",
        name,
        "-m",
        "models:/churn@champion",
        "--tracking-uri",
        tracking,
        *MODEL,
        *AWS,
        "--trust-model",
        "-C",
        'env={"SAGEMAKER_MODEL_SERVER_WORKERS": "2"}',
        "-C",
        'tags={"team": "ml"}',
    )
    model = aws.sagemaker_state()._models[result["model_name"]]
    assert model.primary_container["Environment"] == {
        "SAGEMAKER_MODEL_SERVER_WORKERS": "2",
        "RUNLAB_TRUSTED_MODEL_SOURCES": "/opt/ml/model",
    }
    tags = {tag["Key"]: tag["Value"] for tag in model.tags}
    assert tags == {
        "team": "ml",
        "runlab.deployment": name,
        "runlab.model_uri": "models:/churn@champion",
    }
    # Without --trust-model the container gets no trusted source.
    plain = ok(
        "push-model",
        "-n",
        unique("plain"),
        "-m",
        "models:/churn/1",
        "--tracking-uri",
        tracking,
        *MODEL,
        *AWS,
    )
    assert aws.sagemaker_state()._models[plain["name"]].primary_container["Environment"] == {}


def test_deploy_errors_are_one_line_and_create_nothing(aws: MotoAws, iris_model: Path) -> None:
    name = unique("bad")
    role = f"arn:aws:iam::{ACCOUNT}:role/missing"
    message = fails("deploy", "-a", name, "-m", str(iris_model), "-e", role, "-b", BUCKET, *AWS)
    assert "AWS refused the execution role" in message and "NoSuchEntity" in message
    message = fails("deploy", "-a", name, "-m", str(iris_model), *MODEL, *AWS, "-C", "nope=1")
    assert "Unknown SageMaker config key(s): nope" in message
    assert "not a valid SageMaker name" in fails(
        "deploy", "-a", "under_score", "-m", str(iris_model), *MODEL, *AWS
    )
    assert mine(aws, name) == NOTHING


def test_a_bad_vpc_config_file_is_refused(aws: MotoAws, iris_model: Path, tmp_path: Path) -> None:
    vpc = tmp_path / "vpc.json"
    vpc.write_text("[1, 2]")
    name = unique("vpc")
    assert "expected a JSON object" in fails(
        "deploy", "-a", name, "-m", str(iris_model), *MODEL, *AWS, "-v", str(vpc)
    )
    assert mine(aws, name) == NOTHING


TRANSFORM = [
    "--input-data-type",
    "S3Prefix",
    "-u",
    f"s3://{BUCKET}/input/",
    "--content-type",
    "text/csv",
    "-o",
    f"s3://{BUCKET}/output/",
]


def test_transform_job_runs_and_cleans_up_its_model(aws: MotoAws, iris_model: Path) -> None:
    job = unique("job")
    result = ok("deploy-transform-job", "-n", job, "-m", str(iris_model), *TRANSFORM, *MODEL, *AWS)
    assert result["status"] == "Completed"
    state = aws.sagemaker_state()
    sent = state.transform_jobs[job]
    assert sent.transform_input == {
        "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/input/"}
        },
        "ContentType": "text/csv",
        "CompressionType": "None",
        "SplitType": "Line",
    }
    assert sent.transform_output["S3OutputPath"] == f"s3://{BUCKET}/output/"
    assert sent.data_processing == {"InputFilter": "$", "OutputFilter": "$", "JoinSource": "None"}
    # The model made for the job served nothing else: deleted with its S3 archive.
    assert mine(aws, job)["models"] == []
    listed = boto3.client("s3", region_name=REGION).list_objects_v2(
        Bucket=BUCKET, Prefix=result["model_name"]
    )
    assert listed.get("KeyCount", 0) == 0
    message = fails(
        "deploy-transform-job", "-n", job, "-m", str(iris_model), *TRANSFORM, *MODEL, *AWS
    )
    assert "names cannot be reused" in message


def test_transform_job_archive_keeps_the_model_and_bad_input_is_refused(
    aws: MotoAws, iris_model: Path
) -> None:
    job = unique("arch")
    result = ok(
        "deploy-transform-job",
        "-n",
        job,
        "-m",
        str(iris_model),
        *TRANSFORM,
        *MODEL,
        *AWS,
        "--archive",
    )
    assert mine(aws, job)["models"] == [result["model_name"]]
    other = unique("badin")
    bad = [*TRANSFORM]
    bad[3] = "/local/input"
    assert "--input-uri must be an s3:// URL" in fails(
        "deploy-transform-job", "-n", other, "-m", str(iris_model), *bad, *MODEL, *AWS
    )
    assert "--split-type must be one of" in fails(
        "deploy-transform-job",
        "-n",
        other,
        "-m",
        str(iris_model),
        *TRANSFORM,
        "-s",
        "Lines",
        *MODEL,
        *AWS,
    )
    assert "keep the model (--archive)" in fails(
        "deploy-transform-job",
        "-n",
        other,
        "-m",
        str(iris_model),
        *TRANSFORM,
        *MODEL,
        *AWS,
        "--async",
    )
    assert mine(aws, other) == NOTHING


def test_a_failed_transform_job_reports_its_reason(aws: MotoAws, iris_model: Path) -> None:
    job = unique("fail")
    aws.outcomes.transform_job[job] = ("Failed", "ClientError: the input has no CSV rows")
    message = fails(
        "deploy-transform-job", "-n", job, "-m", str(iris_model), *TRANSFORM, *MODEL, *AWS
    )
    assert f"The transform job {job} is Failed: ClientError: the input has no CSV rows" in message
    assert "terminate-transform-job" in message
    # terminate on a job that already ended stops nothing and removes its model.
    assert ok("terminate-transform-job", "-n", job, *AWS) == {"name": job, "status": "Failed"}
    assert mine(aws, job)["models"] == []


def test_terminate_stops_a_running_job(aws: MotoAws, iris_model: Path) -> None:
    job = unique("run")
    aws.outcomes.transform_job[job] = ("InProgress", "")
    started = ok(
        "deploy-transform-job",
        "-n",
        job,
        "-m",
        str(iris_model),
        *TRANSFORM,
        *MODEL,
        *AWS,
        "--async",
        "--archive",
    )
    assert started["status"] == "InProgress"
    assert ok("terminate-transform-job", "-n", job, *AWS) == {"name": job, "status": "Stopped"}
    assert aws.sagemaker_state().transform_jobs[job].transform_job_status == "Stopped"
    assert mine(aws, job)["models"] == []
    assert "No transform job named 'absent-job'" in fails(
        "terminate-transform-job", "-n", "absent-job", *AWS
    )


def test_push_model_creates_a_model_without_an_endpoint(aws: MotoAws, iris_model: Path) -> None:
    name = unique("pushed")
    result = ok("push-model", "-n", name, "-m", str(iris_model), *MODEL, *AWS)
    assert mine(aws, name) == {"endpoints": [], "configs": [], "models": [name], "jobs": []}
    assert result["model_data_url"] == f"s3://{BUCKET}/{name}/model.tar.gz"
    assert "already exists" in fails("push-model", "-n", name, "-m", str(iris_model), *MODEL, *AWS)


def test_build_and_push_without_docker_writes_the_context_and_says_how(
    aws: MotoAws, tmp_path: Path, iris_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker CLI on PATH: as on a machine without
    from runlab import __version__

    repository = unique("img")
    context = tmp_path / "ctx"
    result = run(
        "build-and-push-container",
        "-c",
        repository,
        "-d",
        str(context),
        "--runlab-spec",
        "runlab[models]",
        "-m",
        str(iris_model),
        *AWS,
    )
    assert result.exit_code == 0, result.output
    registry = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
    remote = f"{registry}/{repository}:{__version__}"
    assert f"docker build -t {repository}:{__version__} {context}" in result.stderr
    assert f"--password-stdin {registry}" in result.stderr
    assert f"docker push {remote}" in result.stderr
    ecr = boto3.client("ecr", region_name=REGION)
    assert ecr.describe_repositories(repositoryNames=[repository])["repositories"]
    dockerfile = (context / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["python", "-m", "runlab.serving.sagemaker_container"]' in dockerfile
    assert 'CMD ["serve"]' in dockerfile
    assert "COPY model" not in dockerfile  # SageMaker mounts the model; the image is generic
    assert "scikit-learn" in (context / "requirements.txt").read_text()


def test_build_and_push_options(
    aws: MotoAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    context = tmp_path / "only-build"
    result = run(
        "build-and-push-container", "--no-push", "-d", str(context), "--runlab-spec", "runlab"
    )
    assert result.exit_code == 0, result.output
    assert "docker build -t runlab-pyfunc:" in result.stderr and "docker push" not in result.stderr
    assert (context / "Dockerfile").is_file()
    nothing = run("build-and-push-container", "--no-build", "--no-push")
    assert "Nothing to do" in nothing.stderr
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    assert (
        "already exists and is not an empty folder"
        in run(
            "build-and-push-container",
            "--no-push",
            "-d",
            str(tmp_path / "full"),
            "--runlab-spec",
            "r",
        ).stderr
    )


def test_the_deployments_commands_reach_the_sagemaker_target(
    aws: MotoAws, iris_model: Path, tmp_path: Path
) -> None:
    name = unique("plug")
    runner = CliRunner()
    target = ["-t", f"sagemaker:/{REGION}"]
    created = runner.invoke(
        cli,
        [
            "deployments",
            "create",
            *target,
            "--name",
            name,
            "-m",
            str(iris_model),
            "-C",
            f"execution_role_arn={ROLE_ARN}",
            "-C",
            f"bucket={BUCKET}",
            "-C",
            "instance_count=2",
        ],
        catch_exceptions=False,
    )
    assert created.exit_code == 0, created.output
    got = runner.invoke(
        cli, ["deployments", "get", *target, "--name", name], catch_exceptions=False
    )
    assert json.loads(got.stdout)["EndpointStatus"] == "InService"
    # moto answers InvokeEndpoint with a queued body (it runs no container; the container's
    # own answer is tested in tests/serving/test_sagemaker_container.py).
    aws.clear_runtime()
    aws.queue_runtime_answer(json.dumps({"predictions": [1]}))
    inputs = tmp_path / "input.json"
    inputs.write_text(json.dumps({"dataframe_records": [{"a": 1.0}]}))
    predicted = runner.invoke(
        cli,
        ["deployments", "predict", *target, "--name", name, "--input-path", str(inputs)],
        catch_exceptions=False,
    )
    assert predicted.exit_code == 0, predicted.output
    assert json.loads(predicted.stdout) == {"predictions": [1]}
    (sent,) = aws.runtime_requests()
    assert json.loads(sent["Body"]) == {"dataframe_records": [{"a": 1.0}]}
    helped = runner.invoke(cli, ["deployments", "help", *target], catch_exceptions=False)
    assert "execution_role_arn" in helped.stdout
    deleted = runner.invoke(
        cli, ["deployments", "delete", *target, "--name", name], catch_exceptions=False
    )
    assert deleted.exit_code == 0, deleted.output
    assert mine(aws, name) == NOTHING
