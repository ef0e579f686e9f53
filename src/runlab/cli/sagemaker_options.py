"""Options and helpers shared by the ``runlab sagemaker`` commands (MLflow's option names)."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from runlab.deployments.sagemaker_aws import AwsContext
    from runlab.deployments.sagemaker_config import DeploySettings

__all__ = [
    "DEFAULT_INSTANCE_TYPE",
    "aws",
    "deploy_settings",
    "echo_json",
    "model_options",
    "progress_display",
    "region_option",
    "use_tracking",
    "vpc",
    "wait_options",
]

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_INSTANCE_TYPE = "ml.m5.xlarge"
_DEFAULT_REGION = "us-west-2"
_DEFAULT_TIMEOUT = 1200


# -- shared options -------------------------------------------------------------------------------
def region_option(func: F) -> F:
    """``--region-name/-r`` (default us-west-2)."""
    return click.option(
        "--region-name",
        "-r",
        default=_DEFAULT_REGION,
        show_default=True,
        help="AWS region of the SageMaker resources.",
    )(func)


def model_options(func: F) -> F:
    """What makes a SageMaker model: the model URI, role, bucket, image, VPC, flavor, trust."""
    options = [
        click.option(
            "--trust-model",
            is_flag=True,
            default=False,
            help="Let the serving container load a model whose files run code when loaded (a "
            "pickle); without it such a model is refused when the container starts.",
        ),
        click.option(
            "--flavor",
            "-f",
            default=None,
            help="Flavor to deploy (python_function, the default, is the one runlab serves).",
        ),
        click.option(
            "--vpc-config",
            "-v",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help="JSON file with the VPC configuration of the SageMaker model "
            "(SecurityGroupIds, Subnets).",
        ),
        click.option(
            "--image-url",
            "-i",
            default=None,
            help="Serving image. Default: $RUNLAB_SAGEMAKER_DEPLOY_IMG_URL, else "
            "<account>.dkr.ecr.<region>.amazonaws.com/runlab-pyfunc:<runlab version>.",
        ),
        click.option(
            "--bucket",
            "-b",
            default=None,
            help="S3 bucket for the model archive. Default: runlab-sagemaker-<region>-<account> "
            "(created when missing).",
        ),
        click.option(
            "--execution-role-arn",
            "-e",
            default=None,
            help="IAM role SageMaker runs the model with. Default: the role you act as.",
        ),
        click.option(
            "--registry-uri", default=None, metavar="URI", help="Model registry for models:/ URIs."
        ),
        click.option(
            "--tracking-uri", default=None, metavar="URI", help="Tracking URI for runs:/ URIs."
        ),
        click.option(
            "--model-uri", "-m", required=True, metavar="URI", help="The model to deploy."
        ),
    ]
    for option in options:
        func = option(func)
    return func


def wait_options(what: str) -> Callable[[F], F]:
    """``--archive``, ``--async/--sync`` and ``--timeout`` for a command that waits for ``what``."""

    def decorate(func: F) -> F:
        func = click.option(
            "--timeout",
            type=click.IntRange(min=0),
            default=_DEFAULT_TIMEOUT,
            show_default=True,
            help=f"Seconds to wait for the {what}; it goes on in AWS after that.",
        )(func)
        func = click.option(
            "--async/--sync",
            "asynchronous",
            default=False,
            help=f"--async returns without waiting for the {what}. Nothing is cleaned up "
            "afterwards, so where resources would be (a replaced endpoint's, a job's model) it "
            "needs --archive. Default: --sync.",
        )(func)
        return click.option(
            "--archive",
            is_flag=True,
            default=False,
            help="Keep the resources that become unused (models, configurations, their S3 "
            "data) instead of deleting them.",
        )(func)

    return decorate


# -- helpers --------------------------------------------------------------------------------------
def aws(region: str) -> AwsContext:
    """The AWS clients of ``region``."""
    from runlab.deployments.sagemaker_aws import AwsContext

    return AwsContext(region=region)


def use_tracking(tracking_uri: str | None, registry_uri: str | None) -> None:
    """Resolve runs:/ and models:/ URIs against these stores (when given)."""
    from runlab.tracking import config

    if tracking_uri:
        config.set_tracking_uri(tracking_uri)
    if registry_uri:
        config.set_registry_uri(registry_uri)


def vpc(path: Path | None) -> dict[str, Any] | None:
    """The JSON object in the --vpc-config file."""
    if path is None:
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"--vpc-config {path}: not a JSON file ({exc}).") from None
    if not isinstance(value, dict):
        raise click.ClickException(f"--vpc-config {path}: expected a JSON object.")
    return value


def deploy_settings(config: dict[str, Any]) -> DeploySettings:
    """The target's settings from the options (those left unset take their defaults)."""
    from runlab.deployments.sagemaker_config import DeploySettings, settings_from_config

    settings: DeploySettings = settings_from_config(
        DeploySettings, {k: v for k, v in config.items() if v is not None}
    )
    return settings


def echo_json(value: Any) -> None:
    """Print a result as JSON on stdout."""
    click.echo(json.dumps(value, indent=2, default=str))


@contextlib.contextmanager
def progress_display() -> Iterator[Callable[[str], None]]:
    """A live status line on stderr; each new status is also kept as a line of its own."""
    from rich.console import Console

    console = Console(file=sys.stderr, highlight=False)
    last = ""
    with console.status("Starting", spinner="dots") as status:

        def show(text: str) -> None:
            nonlocal last
            # "endpoint x: Creating (12s)": a new line only when what comes before "(" changes.
            head = text.rsplit(" (", 1)[0]
            if head != last:
                console.print(text, soft_wrap=True)
                last = head
            status.update(text)

        yield show
