"""``runlab run``: run a project's entry point as a tracked run (MLflow's ``mlflow run``).

The entry point's own output goes to this command's stdout and stderr as it is printed; what
runlab does (the run it created, the command it runs, how it ended) is said on stderr. With
``--no-wait`` the run id is printed on stdout and the command returns at once.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import click

from runlab.cli.options import tracking_uri_option

#: The values of --env-manager (runlab.projects.environments.ENV_MANAGERS; a test keeps the
#: two equal, this module stays free of project imports so that `runlab --help` stays fast).
ENV_MANAGER_CHOICES = ("local", "uv", "virtualenv", "conda")

#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED_EXIT_CODE = 130


def _pairs(values: Sequence[str], option: str, *, flags: bool = False) -> dict[str, Any]:
    """``key=value`` words as a dict; with ``flags``, a bare ``key`` means True."""
    result: dict[str, Any] = {}
    for word in values:
        key, sep, value = word.partition("=")
        if not sep and not flags:
            raise click.BadParameter(f"{word!r} is not KEY=VALUE.", param_hint=option)
        if not key:
            raise click.BadParameter(f"{word!r} has no name before '='.", param_hint=option)
        if key in result:
            raise click.BadParameter(f"{key!r} is given twice.", param_hint=option)
        result[key] = value if sep else True
    return result


def _load_http_client_without_trio() -> None:
    """Import httpcore (under the tracking client's httpx) with trio hidden from it.

    httpcore imports trio whenever it is installed, to support trio event loops; that costs
    about 45 ms (and an ``ldconfig`` run) before the entry point can start, for async code
    this command never runs. trio stays importable afterwards; only this process's httpcore
    goes without trio support.
    """
    if "httpcore" in sys.modules or "trio" in sys.modules:
        return
    sys.modules["trio"] = None  # type: ignore[assignment]  # makes `import trio` fail
    try:
        import httpcore  # noqa: F401
    except ImportError:
        pass  # reported where the tracking client needs it
    finally:
        del sys.modules["trio"]


@contextlib.contextmanager
def _progress_on_stderr() -> Iterator[None]:
    """Show the runner's progress messages on stderr while the command runs."""
    logger = logging.getLogger("runlab.projects")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    previous_level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)


@click.command("run")
@click.argument("uri", required=False, metavar="[URI]")
@click.option(
    "-e",
    "--entry-point",
    default=None,
    metavar="NAME",
    help="The entry point to run (default: main), or a .py or .sh file of the project.",
)
@click.option(
    "-v",
    "--version",
    "version",
    default=None,
    metavar="GIT_REF",
    help="Branch, tag or commit to check out (git projects, or a local directory in git).",
)
@click.option(
    "-P",
    "--param-list",
    "param_list",
    multiple=True,
    metavar="KEY=VALUE",
    help="A parameter value (repeatable). Undeclared names are passed as --KEY VALUE.",
)
@click.option(
    "-A",
    "--docker-args",
    "docker_args",
    multiple=True,
    metavar="NAME[=VALUE]",
    help="A `docker run` option for docker_env projects (repeatable): -A gpus=all, -A t.",
)
@click.option(
    "--experiment-name",
    default=None,
    help="Experiment to run in (created if missing). Default: the current experiment.",
)
@click.option("--experiment-id", default=None, help="Id of the experiment to run in.")
@click.option("--run-name", default=None, help="Name of the new run.")
@click.option(
    "--env-manager",
    type=click.Choice(ENV_MANAGER_CHOICES),
    default=None,
    help="How to make the environment: uv (default when installed), virtualenv, conda, or "
    "local (the current interpreter). docker_env projects always use Docker.",
)
@click.option(
    "-b",
    "--backend",
    default="local",
    show_default=True,
    metavar="BACKEND",
    help="Where to run; runlab runs projects locally only.",
)
@click.option(
    "--run-id",
    default=None,
    help="Resume this existing run instead of creating one.",
)
@click.option(
    "--build-image",
    is_flag=True,
    help="docker_env only: build an image with the project in it instead of mounting it.",
)
@click.option(
    "--storage-dir",
    default=None,
    metavar="DIR",
    help="Where path parameters given as URIs are downloaded (default: a temporary folder).",
)
@click.option(
    "--no-wait",
    is_flag=True,
    help="Start the run in the background, print its id and return.",
)
@click.option(
    "--from-run",
    default=None,
    metavar="RUN_ID",
    help="Re-run a recorded project run exactly: the same code version, entry point, "
    "parameters and environment lock, as a new run tagged runlab.project.reproducesRun.",
)
@tracking_uri_option
def run(
    uri: str | None,
    entry_point: str | None,
    version: str | None,
    param_list: tuple[str, ...],
    docker_args: tuple[str, ...],
    experiment_name: str | None,
    experiment_id: str | None,
    run_name: str | None,
    env_manager: str | None,
    backend: str,
    run_id: str | None,
    build_image: bool,
    storage_dir: str | None,
    no_wait: bool,
    from_run: str | None,
    tracking_uri: str | None,
) -> None:
    """Run a project: a local directory or a git repository (file://, https://, git@host:path),
    optionally with #subdirectory.

    The run is created before the entry point starts, and the entry point's start_run() (runlab
    or MLflow) logs into it. The command's exit status makes the run FINISHED or FAILED; Ctrl-C
    stops the command and everything it started and marks the run KILLED.
    """
    parameters = _pairs(param_list, "-P/--param-list")
    arguments: dict[str, Any] = {
        "uri": uri,
        "entry_point": entry_point or "main",
        "version": version,
        "parameters": parameters,
        "docker_args": _pairs(docker_args, "-A/--docker-args", flags=True) or None,
        "experiment_name": experiment_name,
        "experiment_id": experiment_id,
        "run_name": run_name,
        "env_manager": env_manager,
        "backend": backend,
        "run_id": run_id,
        "build_image": build_image,
        "storage_dir": storage_dir,
        "tracking_uri": tracking_uri,
    }
    _load_http_client_without_trio()
    if from_run is not None:
        given = {
            "URI": uri is not None,
            "--entry-point": entry_point is not None,
            "--version": version is not None,
            "--param-list": bool(param_list),
            "--run-id": run_id is not None,
        }
        clashes = [name for name, is_given in given.items() if is_given]
        if clashes:
            raise click.UsageError(
                f"--from-run re-runs the recorded code, entry point and parameters; drop "
                f"{', '.join(clashes)}."
            )
        arguments.update(_rerun_arguments(from_run, arguments))
    elif uri is None:
        raise click.UsageError("Missing argument 'URI' (a project directory or git repository).")

    from runlab.projects.runner import run as run_project

    with _progress_on_stderr():
        try:
            # In the background the command's output goes to a file: this command's stdout
            # carries only the run id, and `$(runlab run --no-wait …)` returns at once.
            submitted = run_project(**arguments, synchronous=not no_wait, capture_output=no_wait)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(INTERRUPTED_EXIT_CODE)
    if no_wait:
        output = getattr(submitted, "output_path", None)
        click.echo(
            f"Run {submitted.run_id} is running in the background; its output goes to {output} "
            "and, when it ends, to the run's artifact project/output.log.",
            err=True,
        )
        click.echo(submitted.run_id)
    else:
        click.echo(f"=== Run {submitted.run_id} FINISHED ===", err=True)


def _rerun_arguments(run_id: str, cli_arguments: dict[str, Any]) -> dict[str, Any]:
    """runner.run's arguments that re-execute ``run_id``, with the options given on the command
    line that may change (experiment, run name, environment manager, tracking URI) applied."""
    from runlab.projects.rerun import load_rerun
    from runlab.tracking.client import Client

    plan = load_rerun(run_id, Client(cli_arguments["tracking_uri"]))
    for note in plan.notes:
        click.echo(f"Note: {note}", err=True)
    arguments = plan.run_arguments()
    if cli_arguments["experiment_name"] is not None or cli_arguments["experiment_id"] is not None:
        arguments["experiment_id"] = cli_arguments["experiment_id"]
        arguments["experiment_name"] = cli_arguments["experiment_name"]
    if cli_arguments["env_manager"] is not None:
        arguments["env_manager"] = cli_arguments["env_manager"]
    if cli_arguments["backend"] != "local":
        arguments["backend"] = cli_arguments["backend"]
    for key in ("run_name", "docker_args", "build_image", "storage_dir"):
        if cli_arguments[key]:
            arguments[key] = cli_arguments[key]
    click.echo(
        f"Re-running run {run_id}: {arguments['uri']}"
        + (f" at {arguments['version']}" if arguments.get("version") else "")
        + (" with its recorded uncommitted changes" if arguments.get("code_patch") else "")
        + f", entry point {arguments['entry_point']}.",
        err=True,
    )
    return arguments
