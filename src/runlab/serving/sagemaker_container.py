"""The command a SageMaker serving image runs: SageMaker's container contract over runlab's server.

SageMaker starts an inference container as ``docker run <image> serve`` after unpacking the
model's ``model.tar.gz`` into ``/opt/ml/model``, and then expects ``GET /ping`` (200 when ready)
and ``POST /invocations`` on port 8080. The image built by ``runlab sagemaker
build-and-push-container`` has this module as its entry point, so ``serve`` lands in
:func:`main`, which loads the model folder and runs the scoring server of
:mod:`runlab.serving.app` (it already answers ``/ping`` and ``/invocations``).

The environment it reads is SageMaker's, plus one variable of its own:

- ``SAGEMAKER_BIND_TO_PORT``: the port (SageMaker sets it for multi-container endpoints;
  default 8080);
- ``SAGEMAKER_MODEL_SERVER_WORKERS``: worker processes (default: one per CPU);
- ``SAGEMAKER_MAX_PAYLOAD_IN_MB``: set by batch transform; raises the body limit to match;
- ``RUNLAB_SAGEMAKER_MODEL_DIR``: where the model is (default ``/opt/ml/model``), so the same
  command can be run outside a container.

Whether a model whose files run code when loaded (a pickle) may load is decided, as everywhere,
by :mod:`runlab.models.trust`: ``runlab sagemaker deploy --trust-model`` sets
``RUNLAB_TRUSTED_MODEL_SOURCES`` to the model folder in the SageMaker model's environment.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_MODEL_DIR",
    "DEFAULT_PORT",
    "MODEL_DIR_ENV",
    "ContainerSettings",
    "main",
    "read_settings",
]

DEFAULT_MODEL_DIR = "/opt/ml/model"
DEFAULT_PORT = 8080
MODEL_DIR_ENV = "RUNLAB_SAGEMAKER_MODEL_DIR"
_PORT_ENV = "SAGEMAKER_BIND_TO_PORT"
_WORKERS_ENV = "SAGEMAKER_MODEL_SERVER_WORKERS"
_PAYLOAD_ENV = "SAGEMAKER_MAX_PAYLOAD_IN_MB"


class ContainerError(Exception):
    """The container cannot start: a message for SageMaker's log, and exit code 2."""


@dataclass(frozen=True)
class ContainerSettings:
    """What :func:`read_settings` found in the environment."""

    model_dir: Path
    port: int
    workers: int
    max_request_bytes: int


def _positive_int(env: Mapping[str, str], name: str, default: int, upper: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ContainerError(f"{name} must be a whole number, got {raw!r}.") from None
    if not 1 <= value <= upper:
        raise ContainerError(f"{name} must be between 1 and {upper}, got {value}.")
    return value


def read_settings(env: Mapping[str, str] | None = None) -> ContainerSettings:
    """The container's settings from ``env`` (default: this process's environment)."""
    from runlab.serving.settings import DEFAULT_MAX_REQUEST_BYTES

    env = os.environ if env is None else env
    model_dir = Path(env.get(MODEL_DIR_ENV, "").strip() or DEFAULT_MODEL_DIR)
    if not (model_dir / "MLmodel").is_file():
        raise ContainerError(
            f"No model in {model_dir} (no MLmodel file). SageMaker unpacks the model's "
            "model.tar.gz there: check the model's ModelDataUrl, which `runlab sagemaker "
            "deploy` and `push-model` set."
        )
    payload_mb = _positive_int(env, _PAYLOAD_ENV, 0, 100_000) if env.get(_PAYLOAD_ENV) else 0
    return ContainerSettings(
        model_dir=model_dir,
        port=_positive_int(env, _PORT_ENV, DEFAULT_PORT, 65535),
        workers=_positive_int(env, _WORKERS_ENV, os.cpu_count() or 1, 1024),
        # Batch transform sends up to MaxPayloadInMB in one request: never refuse less.
        max_request_bytes=max(DEFAULT_MAX_REQUEST_BYTES, payload_mb * 1024 * 1024),
    )


def _serve(settings: ContainerSettings) -> None:
    import uvicorn

    from runlab import __version__
    from runlab.models.trust import ModelTrust
    from runlab.server.heap import settle_heap
    from runlab.serving.app import build_scoring_app
    from runlab.serving.factory import SERVING_CONFIG_ENV, ServingConfig, load_serving_model
    from runlab.serving.settings import ScoringSettings

    scoring = ScoringSettings(
        # SageMaker reaches the container by names it alone knows.
        allowed_hosts=("*",),
        max_request_bytes=settings.max_request_bytes,
        version=__version__,
    )
    folder = str(settings.model_dir)
    trust = ModelTrust.of(folder)
    # Loaded here even with several workers, so that a model that cannot load fails once, in
    # one line of the endpoint's log, before the port opens.
    model = load_serving_model(folder, trust=trust)
    common = {"host": "0.0.0.0", "port": settings.port, "log_level": "info"}
    print(
        f"runlab {__version__} serving {folder} on port {settings.port} "
        f"({settings.workers} worker(s))",
        flush=True,
    )
    if settings.workers == 1:
        app = build_scoring_app(model, scoring)
        settle_heap()
        uvicorn.run(app, server_header=False, **common)  # type: ignore[arg-type]
        return
    del model
    config = ServingConfig(folder, scoring, trusted=trust.allows())
    os.environ[SERVING_CONFIG_ENV] = config.to_json()
    uvicorn.run(
        "runlab.serving.factory:create_app",
        factory=True,
        workers=settings.workers,
        server_header=False,
        **common,  # type: ignore[arg-type]
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the container command in ``argv`` (``serve``); the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args != ["serve"]:
        what = " ".join(args) or "no command"
        print(
            f"This image serves a runlab model on SageMaker; it runs `serve` only (got {what}). "
            "Training jobs need a training image.",
            file=sys.stderr,
        )
        return 2
    try:
        settings = read_settings()
        _serve(settings)
    except ContainerError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a model that cannot load: one line in the endpoint's log
        from runlab.errors import RunlabError

        message = exc.message if isinstance(exc, RunlabError) else f"{type(exc).__name__}: {exc}"
        print(f"Error: cannot serve the model: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover - the image's entry point
    sys.exit(main())
