"""Run a project's entry point as a tracked run: ``runlab.projects.run`` / ``runlab run``.

The order is chosen so that a refused run leaves nothing behind:

1. check the options; fetch the project (a temporary checkout for a repository); load its
   MLproject; resolve and check the parameter values; check the experiment (and ``run_id``);
2. prepare the environment (uv, virtualenv, conda, docker or the local interpreter) and read
   its lock;
3. create the run (or resume ``run_id``) with its tags and params, and record the MLproject, the
   resolved parameters and the lock as artifacts under ``project/``;
4. start the command in the project's directory, in a process group of its own, with the
   tracking URI, the experiment id and the run id in its environment (``RUNLAB_*`` and
   ``MLFLOW_*``), so that ``start_run()`` in the entry point logs into this same run;
5. record FINISHED or FAILED from its exit status (KILLED when cancelled) and remove the
   temporary checkout.

Steps 1 and 2 create nothing in the tracking store; a failure in step 3 marks the new run
FAILED. In the foreground this process waits (Ctrl-C or SIGTERM cancels the run); in the
background a supervisor process does steps 4 and 5 (see :mod:`runlab.projects.submitted_run`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from runlab.errors import InvalidParameter, RunlabError
from runlab.projects.parent_death import stop_with_parent
from runlab.projects.submitted_run import (
    CANCEL_GRACE_SECONDS,
    OUTPUT_FILE,
    LocalSubmittedRun,
    ProjectRunFailed,
    SubmittedRun,
    remove_tree,
    upload_output,
)

__all__ = ["run"]

_logger = logging.getLogger("runlab.projects")


def run(
    uri: str | os.PathLike[str],
    entry_point: str = "main",
    version: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    docker_args: Mapping[str, Any] | None = None,
    experiment_name: str | None = None,
    experiment_id: str | None = None,
    backend: str | None = "local",
    backend_config: Mapping[str, Any] | str | None = None,
    storage_dir: str | os.PathLike[str] | None = None,
    synchronous: bool = True,
    run_id: str | None = None,
    run_name: str | None = None,
    env_manager: str | None = None,
    build_image: bool = False,
    *,
    tracking_uri: str | None = None,
    lock_text: str | None = None,
    tags: Mapping[str, str] | None = None,
    capture_output: bool = False,
    code_patch: bytes | None = None,
) -> SubmittedRun:
    """Run entry point ``entry_point`` of the project at ``uri`` as a tracked run.

    ``uri`` is a local directory or a git repository (``file://``, ``https://``, ``ssh://``,
    ``git@host:path``), optionally with ``#subdirectory``; ``version`` a branch, tag or commit.
    ``parameters`` are the entry point's parameter values (undeclared ones are passed as
    ``--key value``). The run goes to ``experiment_name`` (created if missing) or
    ``experiment_id``, else to the current experiment; ``run_id`` resumes an existing run
    instead of creating one. ``env_manager`` is ``local``, ``uv`` (the default when available),
    ``virtualenv`` or ``conda``; a ``docker_env`` project runs in Docker (``build_image`` bakes
    the project into a new image, ``docker_args`` adds ``docker run`` options). Path parameters
    given as URIs are downloaded under ``storage_dir`` (default: a temporary directory).

    Beyond MLflow's arguments: ``tracking_uri`` (default: the current one), ``lock_text`` (an
    environment lock to install exactly, for re-runs), ``tags`` (added to the run) and
    ``capture_output``: the command's stdout and stderr go to a file (``output_path`` of the
    returned run) instead of this process's, logged as the run's artifact
    ``project/output.log`` when the command ends.

    ``code_patch`` is a git patch of uncommitted changes (what an earlier run recorded as
    ``project/uncommitted.patch``), applied with ``git apply`` at the top level of the fresh
    checkout before the project is read. It needs a checkout: a ``version`` (the commit the patch
    was taken on) or a repository URI; with a local directory and no version it is refused. A
    patch that does not apply is refused before any run exists. The run records the patch
    again, with ``runlab.source.git.dirty=true``, so a re-run of it is exact too.

    Run from a local git working tree (no ``version``) that differs from its commit (modified,
    deleted or untracked files that ``.gitignore`` does not exclude), the run is tagged
    ``runlab.source.git.dirty=true`` and records those differences as the patch
    ``project/uncommitted.patch``, unless it exceeds
    :data:`runlab.projects.uncommitted.MAX_PATCH_BYTES` (then it is tagged
    ``runlab.source.git.uncommitted=too large`` and only its commit is recorded).

    With ``synchronous=True`` (the default) this waits for the command and raises
    :class:`~runlab.projects.submitted_run.ProjectRunFailed` if it fails; otherwise the command
    runs in the background. Either way the returned :class:`SubmittedRun` has ``run_id``,
    ``wait()``, ``get_status()`` and ``cancel()``.
    """
    _check_backend(backend, backend_config)
    from runlab.tracking.client import Client

    client = Client(tracking_uri)
    workdir = Path(tempfile.mkdtemp(prefix="runlab-project-"))
    try:
        launch = _prepare(
            client,
            workdir,
            uri=os.fspath(uri),
            entry_point=entry_point,
            version=version,
            parameters=parameters or {},
            docker_args=docker_args,
            experiment_name=experiment_name,
            experiment_id=experiment_id,
            storage_dir=Path(storage_dir) if storage_dir is not None else workdir / "storage",
            run_id=run_id,
            run_name=run_name,
            env_manager=env_manager,
            build_image=build_image,
            lock_text=lock_text,
            tags=tags,
            code_patch=code_patch,
        )
    except BaseException:
        remove_tree(workdir)()
        raise
    output = workdir / OUTPUT_FILE if capture_output else None
    if synchronous:
        submitted = _start_foreground(client, launch, workdir, output)
        _wait_in_foreground(submitted)
        return submitted
    return _start_background(client, launch, workdir, output)


class _Launch:
    """A run that exists and a command ready to start for it."""

    def __init__(
        self, run_id: str, argv: list[str], cwd: Path, env: dict[str, str], command: str
    ) -> None:
        self.run_id = run_id
        self.argv = argv
        self.cwd = cwd
        self.env = env
        self.command = command


def _check_backend(backend: str | None, backend_config: Mapping[str, Any] | str | None) -> None:
    if backend not in (None, "local"):
        raise InvalidParameter(
            f"Backend {backend!r} is not supported: runlab runs projects on the local backend "
            "only (drop the backend option, or pass local)."
        )
    config: Any = backend_config
    if isinstance(config, str):
        try:
            config = json.loads(Path(config).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidParameter(
                f"Cannot read the backend configuration {backend_config!r}: {exc}"
            ) from None
    if config:
        raise InvalidParameter(
            "The local backend takes no backend configuration; drop backend_config "
            f"(got {sorted(config) if isinstance(config, Mapping) else config!r})."
        )


def _prepare(client: Any, workdir: Path, **options: Any) -> _Launch:
    """Steps 1 to 3 of the module docstring; returns what step 4 starts."""
    from runlab.projects import runner_records as records
    from runlab.projects.environments import prepare_environment, resolve_env_manager
    from runlab.projects.environments_docker import DockerEnvironment
    from runlab.projects.sources import checkout_project
    from runlab.projects.spec import load_project

    fetched = checkout_project(
        options["uri"], options["version"], workdir, code_patch=options["code_patch"]
    )
    project = load_project(fetched.directory)
    entry = project.get_entry_point(options["entry_point"])
    # Cheap checks first: a bad manager is refused before parameters are downloaded.
    resolve_env_manager(project, options["env_manager"])
    storage_dir: Path = options["storage_dir"]
    storage_dir.mkdir(parents=True, exist_ok=True)
    command, resolved = entry.compute_command(
        options["parameters"], storage_dir, client.tracking_uri
    )
    # Recorded as given where a path was downloaded: the temporary copy cannot be re-run.
    values = entry.recorded_parameters(options["parameters"], resolved)
    params = records.check_params(values)
    if options["run_id"] is not None and (
        options["experiment_name"] is None and options["experiment_id"] is None
    ):
        experiment = records.ExperimentChoice(None)  # a resumed run stays in its experiment
    else:
        experiment = records.choose_experiment(
            client, options["experiment_name"], options["experiment_id"]
        )
    resumed = None
    if options["run_id"] is not None:
        resumed = records.check_resumable(client, options["run_id"], experiment, params)
    environment = prepare_environment(
        project,
        project.directory,
        options["env_manager"],
        lock_text=options["lock_text"],
        docker_args=options["docker_args"],
        build_image=options["build_image"],
    )
    lock = environment.lock_text()
    tags = records.project_tags(
        fetched, entry.name, environment.kind, "local", extra=options["tags"]
    )

    # Step 3: from here on the run exists; a failure marks it FAILED.
    if resumed is not None:
        run_id = resumed.info.run_id
        experiment_id = resumed.info.experiment_id
        client.update_run(run_id, status="RUNNING", name=options["run_name"])
    else:
        experiment_id = experiment.resolve(client)
        run = client.create_run(experiment_id, tags=tags, run_name=options["run_name"])
        run_id = run.info.run_id
    try:
        from runlab.entities import Param, RunTag

        client.log_batch(
            run_id,
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()] if resumed is not None else [],
        )
        patch = fetched.uncommitted.patch if fetched.uncommitted is not None else None
        records.record_artifacts(
            client, run_id, project, entry.name, values, lock, resolved, code_patch=patch
        )
        env = records.child_environment(
            client.tracking_uri, experiment_id, run_id, environment.env_vars()
        )
        if isinstance(environment, DockerEnvironment):
            # What is mounted or shared with the container depends on the tracking URI.
            argv = environment.command_argv(command, env=env)
        else:
            argv = environment.command_argv(command)
    except BaseException as exc:
        _end_quietly(client, run_id, "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    _logger.info(
        "=== Running command %r in run %s (experiment %s) ===", command, run_id, experiment_id
    )
    return _Launch(run_id, argv, project.directory, env, command)


def _end_quietly(client: Any, run_id: str, status: str) -> None:
    with contextlib.suppress(RunlabError):
        client.set_terminated(run_id, status)


def _start_foreground(
    client: Any, launch: _Launch, workdir: Path, output: Path | None
) -> LocalSubmittedRun:
    try:
        with _output_stream(output) as stream:
            process = subprocess.Popen(
                launch.argv,
                cwd=launch.cwd,
                env=launch.env,
                stdout=stream,
                stderr=subprocess.STDOUT if stream is not None else None,
                start_new_session=True,
                preexec_fn=stop_with_parent(),  # a SIGKILLed `runlab run` takes it along
            )
    except OSError as exc:
        _end_quietly(client, launch.run_id, "FAILED")
        remove_tree(workdir)()
        raise InvalidParameter(f"Could not start {launch.argv[0]!r}: {exc}") from None

    def cleanup() -> None:
        if output is not None:
            upload_output(client, launch.run_id, output)
        remove_tree(workdir)()

    return LocalSubmittedRun(
        launch.run_id, process, client, records_end=True, cleanup=cleanup, output_path=output
    )


@contextlib.contextmanager
def _output_stream(output: Path | None) -> Iterator[Any]:
    if output is None:
        yield None
        return
    with output.open("ab") as stream:  # the child keeps its own copy of the descriptor
        yield stream


def _wait_in_foreground(submitted: LocalSubmittedRun) -> None:
    """Wait for a foreground run; raise ProjectRunFailed unless it FINISHED.

    SIGTERM (when this process has no handler of its own) cancels the run like Ctrl-C does.
    """
    with _sigterm_as_interrupt():
        succeeded = submitted.wait()
    if not succeeded:
        status = submitted.get_status()
        code = submitted.exit_code
        how = f"exited with status {code}" if code is not None and code >= 0 else "was stopped"
        raise ProjectRunFailed(
            f"Run {submitted.run_id} {status}: the entry point's command {how}.",
            run_id=submitted.run_id,
            status=status,
            exit_code=code,
        )


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield  # the application handles SIGTERM itself
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the cleanup
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _start_background(
    client: Any, launch: _Launch, workdir: Path, output: Path | None
) -> LocalSubmittedRun:
    spec_path = workdir / "supervisor.json"
    spec = {
        "argv": launch.argv,
        "cwd": str(launch.cwd),
        "env": launch.env,
        "run_id": launch.run_id,
        "tracking_uri": client.tracking_uri,
        "cleanup": str(workdir),
        "grace": CANCEL_GRACE_SECONDS,
        "output": str(output) if output is not None else None,
    }
    # The spec holds the command's environment: readable by this user only (like the folder).
    fd = os.open(spec_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(spec, handle)
    try:
        with _output_stream(output) as stream:
            # With captured output the supervisor keeps off this process's stdout too, so
            # `$(runlab run --no-wait ...)` returns as soon as the run has started.
            process = subprocess.Popen(
                [sys.executable, "-m", "runlab.projects.runner_background", str(spec_path)],
                stdin=subprocess.DEVNULL,
                stdout=stream,
                stderr=subprocess.STDOUT if stream is not None else None,
                start_new_session=True,
            )
    except OSError as exc:
        _end_quietly(client, launch.run_id, "FAILED")
        remove_tree(workdir)()
        raise InvalidParameter(f"Could not start the background supervisor: {exc}") from None
    # The supervisor removes the folder; this only matters if it was killed before it could.
    return LocalSubmittedRun(
        launch.run_id,
        process,
        client,
        records_end=False,
        cleanup=remove_tree(workdir),
        output_path=output,
    )
