"""Deploying models to serving platforms: MLflow's ``mlflow.deployments`` API.

::

    from runlab.deployments import get_deploy_client

    client = get_deploy_client("sagemaker:/us-west-2")
    client.create_deployment("churn", "models:/churn@champion", config={"instance_count": 2})
    client.predict("churn", frame)

Targets are plugins found through the ``runlab.deployments`` entry-point group (see
:mod:`runlab.deployments.targets`); the built-in ones (``sagemaker``, ``azureml``,
``kubernetes``, ``kserve``) are registered the same way. Importing this package loads no target
and no cloud SDK.

Helpers for writing a target: :mod:`runlab.deployments.config` (``-C key=value`` pairs),
:mod:`runlab.deployments.deployable` (resolving and checking the model to deploy) and
:mod:`runlab.deployments.scoring` (what ``predict`` sends and answers).
"""

from __future__ import annotations

from typing import Any

from runlab.deployments.base import BaseDeploymentClient, PredictionsResponse
from runlab.deployments.targets import client_class, load_target, target_function

__all__ = [
    "BaseDeploymentClient",
    "PredictionsResponse",
    "get_deploy_client",
    "run_local",
    "target_help",
]


def get_deploy_client(target_uri: str) -> BaseDeploymentClient:
    """A client of the deployment target ``target_uri`` (``sagemaker:/us-west-2``, ``kserve``)."""
    return client_class(load_target(target_uri))(target_uri)


def run_local(
    target: str,
    name: str,
    model_uri: str,
    flavor: str | None = None,
    config: dict[str, Any] | None = None,
) -> Any:
    """Serve ``model_uri`` on this machine the way ``target`` would (its container's command).

    Usually blocks while the model is served. ``config`` holds the target's own settings, as for
    :meth:`BaseDeploymentClient.create_deployment`.
    """
    return target_function(load_target(target), "run_local")(
        target, name, model_uri, flavor, config
    )


def target_help(target: str) -> str:
    """What ``target``'s URI and ``config`` keys mean."""
    text = target_function(load_target(target), "target_help")()
    return str(text)
