"""The SageMaker serving image: its build context, its ECR address, and pushing it.

One image serves any runlab model on SageMaker: the model is not in it. SageMaker unpacks the
model's ``model.tar.gz`` into ``/opt/ml/model`` and runs ``docker run <image> serve``; the image's
entry point is :mod:`runlab.serving.sagemaker_container`, whose ``serve`` answers ``GET /ping``
and ``POST /invocations`` on port 8080. The image holds runlab with its ``models`` extra and,
when built for a model (``--model-uri``), that model's requirements.

``runlab sagemaker build-and-push-container`` builds it with Docker and pushes it to ECR as
``<account>.dkr.ecr.<region>.amazonaws.com/runlab-pyfunc:<runlab version>``, the image
``deploy`` uses by default. Without a Docker engine it writes the build context and prints the
commands that build and push it elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from runlab.deployments.sagemaker_aws import AwsContext, aws_errors, error_code
from runlab.errors import InvalidParameter

__all__ = [
    "CONTAINER_COMMAND",
    "DEFAULT_IMAGE_NAME",
    "IMAGE_URL_ENVS",
    "ImageContext",
    "build_and_push",
    "check_image",
    "default_image_url",
    "docker_push",
    "ensure_repository",
    "generate_image_context",
    "image_tag",
    "push_commands",
]

DEFAULT_IMAGE_NAME = "runlab-pyfunc"
#: Environment variables naming the image ``deploy`` uses without --image-url (first set wins).
IMAGE_URL_ENVS = ("RUNLAB_SAGEMAKER_DEPLOY_IMG_URL", "MLFLOW_SAGEMAKER_DEPLOY_IMG_URL")
#: The image's entry point and default argument: SageMaker runs ``<entry point> serve``.
CONTAINER_COMMAND = ("python", "-m", "runlab.serving.sagemaker_container")


def _version() -> str:
    from runlab import __version__

    return __version__


def default_image_url(ctx: AwsContext) -> str:
    """The image ``deploy`` uses: an environment override, else this account's ECR image."""
    for name in IMAGE_URL_ENVS:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return f"{ctx.ecr_registry()}/{DEFAULT_IMAGE_NAME}:{_version()}"


def _split_image(image_url: str) -> tuple[str, str, str]:
    """(registry host, repository, tag or digest) of an image URL."""
    host, _, rest = image_url.partition("/")
    if not rest:
        raise InvalidParameter(
            f"{image_url!r} is not an image URL (expected <registry>/<repository>:<tag>)."
        )
    if "@" in rest:
        repository, _, reference = rest.partition("@")
    else:
        repository, _, reference = rest.rpartition(":") if ":" in rest else (rest, "", "latest")
    return host, repository, reference


def check_image(ctx: AwsContext, image_url: str) -> None:
    """Refuse an image of this account's ECR registry that is not there.

    SageMaker would only find out minutes later, with the endpoint failing. An image elsewhere
    (another account, another registry), or one the caller may not look up, is left for
    SageMaker to check.
    """
    from botocore.exceptions import ClientError

    host, repository, reference = _split_image(image_url)
    if host != ctx.ecr_registry():
        return
    image_id = {"imageDigest": reference} if reference.startswith("sha256:") else {}
    image_id = image_id or {"imageTag": reference}
    try:
        ctx.client("ecr").describe_images(repositoryName=repository, imageIds=[image_id])
    except ClientError as exc:
        if error_code(exc) in ("AccessDeniedException", "AccessDenied"):
            return
        with aws_errors(
            f"the serving image {image_url}",
            "Build and push it with `runlab sagemaker build-and-push-container`, or pass "
            "--image-url (config image_url) with an image that exists",
        ):
            raise


def ensure_repository(ctx: AwsContext, repository: str = DEFAULT_IMAGE_NAME) -> str:
    """Create the ECR repository unless it exists; its URI."""
    from botocore.exceptions import ClientError

    ecr = ctx.client("ecr")
    try:
        found = ecr.describe_repositories(repositoryNames=[repository])["repositories"]
        return str(found[0]["repositoryUri"])
    except ClientError as exc:
        if error_code(exc) != "RepositoryNotFoundException":
            with aws_errors(f"looking up the ECR repository {repository!r}"):
                raise
    with aws_errors(f"creating the ECR repository {repository!r}"):
        created = ecr.create_repository(repositoryName=repository)["repository"]
    return str(created["repositoryUri"])


@dataclass(frozen=True)
class ImageContext:
    """What :func:`generate_image_context` wrote."""

    directory: Path
    dockerfile: Path
    runlab_install: str


def generate_image_context(
    directory: str | os.PathLike[str],
    *,
    model_dir: str | os.PathLike[str] | None = None,
    runlab_spec: str | None = None,
    base_image: str | None = None,
) -> ImageContext:
    """Write the SageMaker image's build context into ``directory`` (new or empty).

    ``model_dir`` adds that model's requirements (never the model itself); its Python version
    also picks the base image, else this interpreter's does. ``runlab_spec`` installs runlab
    with pip (default: a wheel of the running runlab, built into the context).
    """
    from runlab.serving.docker import write_build_context

    target = Path(directory)
    install = write_build_context(
        target,
        header=(
            "Generated by `runlab sagemaker build-and-push-container`: serves runlab models on "
            "SageMaker.\nSageMaker unpacks a model's model.tar.gz into /opt/ml/model and runs "
            "`<image> serve`."
        ),
        entrypoint=CONTAINER_COMMAND,
        command=["serve"],
        model_dir=model_dir,
        requirements_comment=(
            "The requirements of the model the image was built for (empty when built for none)."
        ),
        runlab_spec=runlab_spec,
        base_image=base_image,
    )
    return ImageContext(target, target / "Dockerfile", install)


def push_commands(context_dir: Path, image: str, repository_uri: str, region: str) -> list[str]:
    """The shell commands that build the context and push it as ``repository_uri:<tag>``."""
    registry = repository_uri.partition("/")[0]
    remote = f"{repository_uri}:{image_tag(image)}"
    return [
        f"docker build -t {image} {context_dir}",
        f"aws ecr get-login-password --region {region} | docker login --username AWS "
        f"--password-stdin {registry}",
        f"docker tag {image} {remote}",
        f"docker push {remote}",
    ]


def docker_push(ctx: AwsContext, image: str, repository_uri: str) -> str:
    """Log Docker in to ECR and push the local ``image`` as ``repository_uri:<tag>``."""
    import base64

    from runlab.serving.docker import require_docker

    docker = require_docker()
    with aws_errors("an ECR login token"):
        data = ctx.client("ecr").get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    registry = repository_uri.partition("/")[0]
    login = subprocess.run(
        [docker, "login", "--username", user, "--password-stdin", registry],
        input=password,
        text=True,
        capture_output=True,
        check=False,
    )
    if login.returncode != 0:
        raise InvalidParameter(f"docker login to {registry} failed: {login.stderr.strip()}")
    remote = f"{repository_uri}:{image_tag(image)}"
    for argv in ([docker, "tag", image, remote], [docker, "push", remote]):
        if subprocess.run(argv, check=False).returncode != 0:
            raise InvalidParameter(f"{' '.join(argv[1:2])} failed for {remote}; see above.")
    return remote


def build_and_push(
    *,
    build: bool,
    push: bool,
    container: str,
    network: str | None,
    output_directory: Path | None,
    model_uri: str | None,
    runlab_spec: str | None,
    base_image: str | None,
    region_name: str | None,
    say: Callable[[str], None],
) -> ImageContext | None:
    """``runlab sagemaker build-and-push-container``: build the image, push it to ECR.

    With a Docker engine the image is built (from a temporary context unless
    ``output_directory``) and pushed to the ECR repository named like it, created when missing.
    Without one, the context is written (to ``output_directory``, else ``./<name>-context``)
    and the commands that build and push it are given to ``say``. Returns the context written.
    """
    from runlab.errors import Unavailable
    from runlab.serving.docker import require_docker

    name = container.rpartition(":")[0] if ":" in container.rpartition("/")[2] else container
    image = f"{name}:{image_tag(container)}"
    if not (build or push):
        say("Nothing to do: --no-build and --no-push.")
        return None
    why = ""
    try:
        docker: str | None = require_docker()
    except Unavailable as exc:
        docker, why = None, exc.message
    repository_uri = ""
    region = region_name or _configured_region()
    ctx = AwsContext(region=region)
    if push:
        repository_uri = ensure_repository(ctx, name.rpartition("/")[2])
        say(f"ECR repository: {repository_uri}")
    context: ImageContext | None = None
    with contextlib.ExitStack() as stack:
        if build:
            folder = output_directory
            if folder is None:
                folder = (
                    Path(stack.enter_context(tempfile.TemporaryDirectory())) / "context"
                    if docker
                    else Path(f"{name.rpartition('/')[2]}-context")
                )
            model_dir = None
            if model_uri:
                from runlab.deployments.deployable import deployable_model

                model_dir = stack.enter_context(deployable_model(model_uri)).path
            context = generate_image_context(
                folder, model_dir=model_dir, runlab_spec=runlab_spec, base_image=base_image
            )
            if docker is None:
                say(f"Wrote the image's build context to {context.directory}.")
        if docker is not None:
            if context is not None:
                argv = [docker, "build", "-t", image]
                argv += ["--network", network] if network else []
                if subprocess.run([*argv, str(context.directory)], check=False).returncode:
                    raise InvalidParameter("docker build failed; see above.")
                say(f"Built {image}.")
            if push:
                say(f"Pushed {docker_push(ctx, image, repository_uri)}.")
            return context
    say(f"No Docker engine here ({why}) Build and push the image where one runs:")
    directory = context.directory if context else Path("<context>")
    commands = push_commands(directory, image, repository_uri or f"<registry>/{name}", region)
    if network and build:
        commands[0] = commands[0].replace(" -t ", f" --network {network} -t ", 1)
    for line in (commands if push else commands[:1]) if build else commands[1:]:
        say(f"  {line}")
    return context


def _configured_region() -> str:
    from runlab.deployments.sagemaker_aws import new_session

    region: str | None = new_session().region_name
    return region or "us-west-2"


def image_tag(image: str) -> str:
    """The tag of a local image name (``name:tag``), else runlab's version."""
    last = image.rpartition("/")[2]
    return last.rpartition(":")[2] if ":" in last else _version()
