"""``runlab models serve | predict | generate-dockerfile | build-docker``: using a model.

The registry commands live in :mod:`runlab.cli.models`; these four serve and score one model
given by any model URI (``runs:/…``, ``models:/…``, a path). A remote model is downloaded once
into a temporary folder, so ``serve``'s workers and the Docker context read local files only.
A model whose files run code when loaded (a pickle) is served or scored only with
``--trust-model`` or from a source listed in ``RUNLAB_TRUSTED_MODEL_SOURCES``; the Docker
commands take ``--trust-model`` to put it in the image's start command. Heavy imports (pandas,
the model's framework, uvicorn) happen inside the commands, so that
``runlab --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from runlab.cli.options import F, OneLineErrors, positive_int_option, tracking_uri_option
from runlab.cli.server import LOG_LEVELS, check_port_free
from runlab.errors import RunlabError

if TYPE_CHECKING:
    from runlab.models.model_location import FetchedModel
    from runlab.models.trust import ModelTrust

__all__ = ["SERVING_COMMANDS", "add_serving_commands"]

_BATCH_FORMATS = ("json", "csv", "parquet")
_ALL_INTERFACES = ("0.0.0.0", "::")


def model_options(func: F) -> F:
    """``-m/--model-uri`` and the URIs that resolve ``runs:/`` and ``models:/`` model URIs."""
    func = click.option(
        "--registry-uri",
        default=None,
        metavar="URI",
        help="Model registry for models:/ URIs. Default: as the API resolves it.",
    )(func)
    func = tracking_uri_option(func)
    return click.option(
        "--model-uri",
        "-m",
        required=True,
        metavar="URI",
        help="The model: runs:/<run_id>/<path>, models:/<name>/<version|stage|@alias>, "
        "models:/<model_id>, a folder or a file: URI, or a remote artifact URI.",
    )(func)


def trust_model_option(func: F) -> F:
    """``--trust-model``: let the model run code from its files (pickles) when it loads."""
    return click.option(
        "--trust-model",
        is_flag=True,
        default=False,
        help="Trust the model's source: load formats that run code embedded in the file when "
        "loaded (cloudpickle custom models, pickled scikit-learn/LightGBM estimators, whole "
        "PyTorch modules). Without it such a model is refused unless "
        "RUNLAB_TRUSTED_MODEL_SOURCES lists a prefix of its URI.",
    )(func)


@contextlib.contextmanager
def local_model(
    model_uri: str, tracking_uri: str | None, registry_uri: str | None
) -> Iterator[FetchedModel]:
    """The model's local copy and the names it was found by; a download is removed at the end."""
    from runlab.models.model_location import fetch_model
    from runlab.tracking import config

    if tracking_uri:
        config.set_tracking_uri(tracking_uri)
    if registry_uri:
        config.set_registry_uri(registry_uri)
    with tempfile.TemporaryDirectory(prefix="runlab-model-") as scratch:
        fetched = fetch_model(model_uri, scratch)
        if not (fetched.path / "MLmodel").is_file():
            raise click.ClickException(
                f"{model_uri!r} is not a model: {fetched.path} has no MLmodel file."
            )
        yield fetched


def _load(fetched: FetchedModel, trust: ModelTrust, warm_up: bool = True) -> Any:
    from runlab.serving.factory import load_serving_model

    folder = fetched.path
    try:
        return load_serving_model(str(folder), warm_up, trust)
    except ModuleNotFoundError as exc:
        raise click.ClickException(
            f"Cannot load the model: {exc}. Install its requirements "
            f"(pip install -r {folder / 'requirements.txt'})."
        ) from None
    except RunlabError:
        raise
    except Exception as exc:  # the flavor's loader failed (a corrupt file, a foreign pickle)
        raise click.ClickException(f"Cannot load the model: {type(exc).__name__}: {exc}") from None


def env_manager_option(func: F) -> F:
    """``--env-manager local``, accepted as MLflow's commands take it."""
    return click.option(
        "--env-manager",
        type=click.Choice(["local"]),
        default="local",
        show_default=True,
        help="Accepted for MLflow compatibility: runlab uses the current environment.",
    )(func)


# -- serve ----------------------------------------------------------------------------------------
@click.command("serve", cls=OneLineErrors)
@model_options
@click.option(
    "--port", "-p", type=click.IntRange(1, 65535), default=5001, show_default=True, help="Port."
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    metavar="HOST",
    help="Interface to listen on; 0.0.0.0 listens on every interface (the server has no "
    "authentication).",
)
@click.option(
    "--workers",
    "-w",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    metavar="N",
    help="Worker processes sharing the port; each loads the model once at start-up.",
)
@click.option(
    "--allowed-hosts",
    default=None,
    metavar="HOST,...",
    help="Host header values to accept besides localhost, 127.0.0.1, [::1] and --host "
    "(against DNS rebinding), comma-separated; * accepts any. Default: any host when --host "
    "is 0.0.0.0 or ::, else none more.",
)
@positive_int_option(
    "--max-request-bytes",
    help="Largest request body accepted (larger ones get 413). Default: 16 MiB.",
)
@positive_int_option(
    "--max-columns",
    help="Most columns one request may carry, counted before it is read (more get 400). "
    "Default: 10,000.",
)
@positive_int_option(
    "--max-rows", help="Most rows one request may carry (more get 400). Default: 1,000,000."
)
@click.option(
    "--predict-mode",
    type=click.Choice(["batched", "thread", "inline"]),
    default="batched",
    show_default=True,
    help="How predict runs: batched (one prediction thread; requests that queue up meanwhile "
    "are scored in one call when the model's rows are independent, e.g. scikit-learn), thread "
    "(the thread pool, one call per request) or inline (on the event loop).",
)
@click.option(
    "--name",
    "model_name",
    default=None,
    metavar="NAME",
    help="The model's name in the Open Inference Protocol's /v2/models/NAME routes. Default: "
    "the registered model's name for a models:/ URI, else 'model'.",
)
@trust_model_option
@env_manager_option
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="info",
    show_default=True,
    help="uvicorn's log level; info and below also log every request.",
)
def serve(
    model_uri: str,
    tracking_uri: str | None,
    registry_uri: str | None,
    port: int,
    host: str,
    workers: int,
    allowed_hosts: str | None,
    max_request_bytes: int | None,
    max_columns: int | None,
    max_rows: int | None,
    predict_mode: str,
    model_name: str | None,
    trust_model: bool,
    env_manager: str,
    log_level: str,
) -> None:
    """Serve a model over HTTP: POST /invocations, GET /ping, /health and /version, and the
    Open Inference Protocol (v2) under /v2.

    /invocations takes MLflow's scoring bodies (JSON with dataframe_split, dataframe_records,
    instances or inputs, and optional params; text/csv; Parquet) and answers
    {"predictions": ...}. /v2/models/NAME/infer takes typed tensors (KServe, MLServer, Triton
    clients). See docs/serving.md.
    """
    import uvicorn

    from runlab import __version__
    from runlab.server.heap import settle_heap
    from runlab.serving.app import build_scoring_app
    from runlab.serving.factory import SERVING_CONFIG_ENV, ServingConfig
    from runlab.serving.open_inference_metadata import served_model_identity
    from runlab.serving.settings import (
        DEFAULT_MAX_COLUMNS,
        DEFAULT_MAX_REQUEST_BYTES,
        DEFAULT_MAX_ROWS,
        ScoringSettings,
    )

    check_port_free(host, port)
    settings = ScoringSettings(
        allowed_hosts=serving_allowed_hosts(allowed_hosts, host),
        max_request_bytes=max_request_bytes or DEFAULT_MAX_REQUEST_BYTES,
        max_columns=max_columns or DEFAULT_MAX_COLUMNS,
        max_rows=max_rows or DEFAULT_MAX_ROWS,
        predict_mode=predict_mode,
        version=__version__,
    )
    common: dict[str, Any] = {
        "host": host.strip("[]"),
        "port": port,
        "log_level": log_level,
        "server_header": False,
    }
    with local_model(model_uri, tracking_uri, registry_uri) as fetched:
        identity = served_model_identity(model_uri, model_name)
        settings = dataclasses.replace(
            settings, model_name=identity.name, model_version=identity.version
        )
        # Loaded here even with several workers: a model that cannot load (or is not trusted)
        # fails now, in one line, instead of in every worker over and over.
        trust = fetched.trust(trust_model)
        model = _load(fetched, trust)
        if host in _ALL_INTERFACES:
            click.echo(
                f"Warning: listening on every network interface ({host}); the scoring server "
                "has no authentication.",
                err=True,
            )
        click.echo(
            f"runlab {__version__} serving {model_uri} at http://{host}:{port} ({workers} worker(s))"
        )
        click.echo(f"Open Inference Protocol (v2): /v2/models/{identity.name}/infer")
        if workers == 1:
            app = build_scoring_app(model, settings)
            settle_heap()
            uvicorn.run(app, **common)
            return
        del model
        # The workers see only the local folder: they get the decision, not the names it was
        # made on.
        config = ServingConfig(str(fetched.path), settings, trusted=trust.allows())
        os.environ[SERVING_CONFIG_ENV] = config.to_json()
        uvicorn.run("runlab.serving.factory:create_app", factory=True, workers=workers, **common)


def serving_allowed_hosts(value: str | None, host: str) -> tuple[str, ...]:
    """The Host allow-list of the scoring server.

    As the tracking server's (loopback names, ``--host``, the given names), except that a server
    listening on every interface without ``--allowed-hosts`` accepts any host: it is then
    reached by names this process cannot know (a container's, a load balancer's).
    """
    from runlab.cli.server import resolve_allowed_hosts

    if value is None and host in _ALL_INTERFACES:
        return ("*",)
    return resolve_allowed_hosts(value, host)


# -- predict --------------------------------------------------------------------------------------
@click.command("predict")
@model_options
@click.option(
    "--input-path",
    "-i",
    required=True,
    type=click.Path(path_type=Path),
    help="Input file: .json (any /invocations body, or a list of records), .csv or .parquet. "
    "With --spark also a folder (Parquet, or CSV/JSON lines with --content-type).",
)
@click.option(
    "--output-path",
    "-o",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to write the predictions. Default: JSON on stdout. With --spark: a new "
    "Parquet folder (required).",
)
@click.option(
    "--content-type",
    "-t",
    "input_format",
    type=click.Choice(_BATCH_FORMATS),
    default=None,
    help="Format of the input file (MLflow's -t). Default: from its extension.",
)
@click.option(
    "--output-format",
    type=click.Choice(_BATCH_FORMATS),
    default=None,
    help="Format of the output file. Default: from its extension.",
)
@env_manager_option
@click.option(
    "--chunk-size",
    type=click.IntRange(min=0),
    default=None,
    metavar="ROWS",
    help="Rows scored per call to the model; 0 scores the whole input in one call. Default: "
    "10,000 for models whose rows are scored independently (scikit-learn), else one call.",
)
@trust_model_option
@click.option(
    "--spark",
    "use_spark",
    is_flag=True,
    default=False,
    help="Read, score and write with Spark (runlab.pyfunc.spark_udf): the input may be a "
    "Parquet folder, CSV with a header or JSON lines; the output is a Parquet folder with a "
    "'prediction' column added. Needs pyspark (pip install 'runlab[spark]') and Java 17+.",
)
@click.option(
    "--spark-master",
    default="local[*]",
    show_default=True,
    metavar="URL",
    help="With --spark: the Spark master to run on.",
)
@click.option(
    "--result-type",
    default="double",
    show_default=True,
    metavar="TYPE",
    help="With --spark: the prediction column's Spark type (double, float, int, long, string, "
    "boolean, array<double>, or a struct such as 'label string, score double').",
)
def predict(
    model_uri: str,
    tracking_uri: str | None,
    registry_uri: str | None,
    input_path: Path,
    output_path: Path | None,
    input_format: str | None,
    output_format: str | None,
    env_manager: str,
    chunk_size: int | None,
    trust_model: bool,
    use_spark: bool,
    spark_master: str,
    result_type: str,
) -> None:
    """Score a file with a model and write the predictions.

    JSON output is exactly what the scoring server answers ({"predictions": ...}); CSV and
    Parquet output hold one row per input row. The output file is written only when every row
    was scored. With --spark, Spark reads the input and writes a Parquet folder.
    """
    from runlab.serving import batch

    if use_spark:
        _predict_with_spark(
            model_uri,
            tracking_uri,
            registry_uri,
            input_path,
            output_path,
            input_format,
            output_format,
            chunk_size,
            trust_model,
            result_type,
            spark_master,
        )
        return
    for given in (input_path, output_path):
        if given is not None and given.is_dir():
            raise click.ClickException(
                f"{given} is a folder; predict reads and writes files (a folder of Parquet "
                "files needs --spark)."
            )
    out_format = batch.format_of(output_path, output_format) if output_path else "json"
    data, params = batch.read_input(input_path, input_format)
    with local_model(model_uri, tracking_uri, registry_uri) as fetched:
        model = _load(fetched, fetched.trust(trust_model), warm_up=False)
        predictions = _predict_with_progress(model, data, params, chunk_size)
    if output_path is None:
        from runlab.serving.predictions import encode_predictions

        sys.stdout.buffer.write(encode_predictions(predictions) + b"\n")
        sys.stdout.flush()
        return
    batch.write_predictions(predictions, output_path, out_format)
    click.echo(f"Wrote predictions to {output_path}.", err=True)


def _predict_with_spark(
    model_uri: str,
    tracking_uri: str | None,
    registry_uri: str | None,
    input_path: Path,
    output_path: Path | None,
    input_format: str | None,
    output_format: str | None,
    chunk_size: int | None,
    trust_model: bool,
    result_type: str,
    master: str,
) -> None:
    from runlab.cli.models_spark_predict import predict_with_spark
    from runlab.tracking import config

    if output_format not in (None, "parquet"):
        raise click.ClickException("--spark writes Parquet; drop --output-format.")
    if chunk_size is not None:
        raise click.ClickException(
            "--chunk-size does not apply to --spark (Spark scores in Arrow batches)."
        )
    if tracking_uri:
        config.set_tracking_uri(tracking_uri)
    if registry_uri:
        config.set_registry_uri(registry_uri)
    written = predict_with_spark(
        model_uri, input_path, output_path, input_format, trust_model, result_type, master
    )
    click.echo(f"Wrote predictions to {written} (a Parquet folder).", err=True)


def _predict_with_progress(model: Any, data: Any, params: Any, chunk_size: int | None) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from runlab.serving import batch

    size = batch.chunk_rows(model, chunk_size)
    rows = batch.rows_of(data)
    if rows is None or size is None or rows <= size:
        return batch.predict_in_chunks(model, data, params, size)
    columns = ("Scoring", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("rows", total=rows)

        def advance(done: int, _total: int) -> None:
            progress.update(task, completed=done)

        return batch.predict_in_chunks(model, data, params, size, on_progress=advance)


# -- docker ---------------------------------------------------------------------------------------
def docker_options(func: F) -> F:
    """The options that shape the image: how runlab gets in, the base image, and whether the
    container trusts the model."""
    func = click.option(
        "--trust-model",
        is_flag=True,
        default=False,
        help="The container serves with --trust-model, so that it loads a model whose files "
        "run code when loaded (a pickle). Without it such a model is refused at start-up "
        "unless the container's RUNLAB_TRUSTED_MODEL_SOURCES lists /opt/ml/model.",
    )(func)
    func = click.option(
        "--base-image",
        default=None,
        metavar="IMAGE",
        help="Base image. Default: python:<the model's Python major.minor>-slim.",
    )(func)
    return click.option(
        "--runlab-spec",
        default=None,
        metavar="SPEC",
        help="Install runlab in the image with pip from SPEC (e.g. 'runlab[models]==0.1.0' or "
        "'runlab[models] @ git+https://…'). Default: a wheel of this runlab, built into the "
        "context.",
    )(func)


@click.command("generate-dockerfile")
@model_options
@click.option(
    "--output-directory",
    "-d",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="New (or empty) folder for the build context.",
)
@docker_options
def generate_dockerfile(
    model_uri: str,
    tracking_uri: str | None,
    registry_uri: str | None,
    output_directory: Path,
    runlab_spec: str | None,
    base_image: str | None,
    trust_model: bool,
) -> None:
    """Write a Docker build context that serves the model on port 8080.

    The folder gets the model, its requirements, runlab (a wheel, or --runlab-spec) and a
    Dockerfile whose command is `runlab models serve -m /opt/ml/model --host 0.0.0.0 -p 8080`
    (with --trust-model when given). Build it with `docker build -t NAME DIR`.
    """
    from runlab.serving.docker import generate_build_context

    with local_model(model_uri, tracking_uri, registry_uri) as fetched:
        context = generate_build_context(
            fetched.path,
            output_directory,
            runlab_spec=runlab_spec,
            base_image=base_image,
            trust_model=trust_model,
        )
    click.echo(f"Wrote a Docker build context to {context.directory}.")
    click.echo(f"Build it with: docker build -t <name> {context.directory}")


@click.command("build-docker")
@model_options
@click.option("--name", "-n", required=True, metavar="NAME", help="Image name (docker build -t).")
@docker_options
def build_docker(
    model_uri: str,
    tracking_uri: str | None,
    registry_uri: str | None,
    name: str,
    runlab_spec: str | None,
    base_image: str | None,
    trust_model: bool,
) -> None:
    """Build a Docker image NAME that serves the model on port 8080.

    Generates the context of `runlab models generate-dockerfile` in a temporary folder and runs
    `docker build -t NAME` on it; needs the docker CLI and a running Docker daemon. Run the
    image with `docker run -p 8080:8080 NAME`.
    """
    from runlab.serving.docker import docker_build, generate_build_context, require_docker

    require_docker()
    with (
        local_model(model_uri, tracking_uri, registry_uri) as fetched,
        tempfile.TemporaryDirectory(prefix="runlab-docker-") as scratch,
    ):
        context = generate_build_context(
            fetched.path,
            Path(scratch) / "context",
            runlab_spec=runlab_spec,
            base_image=base_image,
            trust_model=trust_model,
        )
        docker_build(context.directory, name)
    click.echo(f"Built image {name}. Run it with: docker run -p 8080:8080 {name}")


SERVING_COMMANDS = (serve, predict, generate_dockerfile, build_docker)


def add_serving_commands(group: click.Group) -> None:
    """Attach the serving commands to the ``runlab models`` group."""
    for command in SERVING_COMMANDS:
        group.add_command(command)
