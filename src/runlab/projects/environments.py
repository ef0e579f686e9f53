"""Where a project's entry point runs: the environment managers and the environment lock.

:func:`prepare_environment` turns a project's environment (``python_env``, ``conda_env``,
``docker_env`` or none) and an environment manager into an :class:`Environment`:

========== ==================================================================================
manager    what it is
========== ==================================================================================
local      the interpreter runlab runs in, as it is (lock: ``python -m pip freeze --all``)
uv         a virtual environment made by uv (lock: ``uv pip freeze``); the default for a
           ``python_env`` project when uv is installed
virtualenv ``python -m venv`` + pip (lock: ``pip freeze --all``); the default without uv
conda      ``conda env create`` / ``conda create``, when a conda executable is installed
docker     a container of the ``docker_env`` image, when a Docker engine is reachable
========== ==================================================================================

uv, virtualenv and conda environments are cached under :func:`cache_root` by a hash of what
decides their contents (Python version, dependency lists, the text of the requirement files
they name), so the second run of a project reuses the environment without running any tool.
With a recorded lock (a re-run), an environment holds exactly the lock's packages, cached by
the lock's hash. Nothing here downloads an interpreter: a Python version that is not installed
is an error that says so.

Without ``env_manager``: ``docker_env`` runs in Docker, ``python_env`` in :func:`default_env_manager`,
``conda_env`` in conda, and a project that names no environment in the current interpreter.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from runlab.errors import InvalidParameter
from runlab.projects.environments_base import (
    Environment,
    ProjectEnvironmentError,
    lock_python_version,
)
from runlab.projects.environments_cache import cache_root

if TYPE_CHECKING:
    from runlab.projects.environments_python import PythonEnvSpec
    from runlab.projects.spec import Project

__all__ = [
    "ENV_MANAGERS",
    "Environment",
    "ProjectEnvironmentError",
    "cache_root",
    "default_env_manager",
    "lock_python_version",
    "prepare_environment",
    "resolve_env_manager",
]

#: The values of ``env_manager`` (``--env-manager``).
ENV_MANAGERS: tuple[str, ...] = ("local", "uv", "virtualenv", "conda")


def default_env_manager() -> str:
    """``"uv"`` when uv is installed (the ``uv`` package or ``uv`` on PATH), else
    ``"virtualenv"``."""
    from runlab.projects.environments_venv import find_uv

    return "uv" if find_uv() is not None else "virtualenv"


def resolve_env_manager(project: Project, env_manager: str | None) -> str:
    """The manager that will make ``project``'s environment: one of :data:`ENV_MANAGERS`, or
    ``"docker"`` for a ``docker_env`` project. An unknown or inapplicable manager is an
    :class:`~runlab.errors.InvalidParameter`."""
    if env_manager is not None and env_manager not in ENV_MANAGERS:
        raise InvalidParameter(
            f"Unknown environment manager {env_manager!r}; choose one of {', '.join(ENV_MANAGERS)}."
        )
    kind = project.env.kind
    if kind == "docker_env":
        if env_manager is not None:
            raise InvalidParameter(
                f"Project {project.name!r} runs in its Docker image (docker_env), so an "
                f"environment manager does not apply; leave out --env-manager {env_manager}."
            )
        return "docker"
    if env_manager is not None:
        return env_manager
    if kind == "python_env":
        return default_env_manager()
    if kind == "conda_env":
        return "conda"
    return "local"


def prepare_environment(
    project: Project,
    project_dir: Path,
    env_manager: str | None,
    lock_text: str | None = None,
    *,
    docker_args: Mapping[str, object] | None = None,
    build_image: bool = False,
) -> Environment:
    """Make (or reuse) the environment ``project`` runs in, and return it.

    ``env_manager`` is one of :data:`ENV_MANAGERS` or None (see the module's docstring).
    ``lock_text`` is a recorded lock (``Environment.lock_text()`` of an earlier run): uv,
    virtualenv and conda environments then hold exactly its packages; the local interpreter
    is used as it is and a container as its image has it. ``docker_args`` (``docker run``
    options, ``{"gpus": "all"}``) and ``build_image`` (bake the project into a new image) apply
    to ``docker_env`` projects only.

    Raises :class:`~runlab.errors.InvalidParameter` for a bad manager or environment file, and
    :class:`ProjectEnvironmentError` when the environment cannot be made here (a missing tool
    or interpreter, a failed install), with what to do.
    """
    manager = resolve_env_manager(project, env_manager)
    if manager != "docker" and (build_image or docker_args):
        option = "build_image" if build_image else "docker_args"
        raise InvalidParameter(
            f"{option} applies to projects with a docker_env only; project {project.name!r} "
            f"runs with {manager}."
        )
    env = project.env
    if manager == "docker":
        from runlab.projects.environments_docker import prepare_docker

        if not env.image:
            raise InvalidParameter(f"Project {project.name!r}: docker_env names no image.")
        return prepare_docker(
            project.name,
            env.image,
            Path(project_dir),
            volumes=env.volumes,
            environment=env.environment,
            docker_args=docker_args,
            build_image=build_image,
        )
    if manager == "local":
        from runlab.projects.environments_local import LocalEnvironment

        return LocalEnvironment()
    env_file = _env_file(project, Path(project_dir))
    if manager == "conda":
        from runlab.projects.environments_conda import prepare_conda

        conda_file = env_file if env.kind == "conda_env" else None
        spec = _python_spec(env.kind, env_file) if conda_file is None else None
        return prepare_conda(conda_file, spec, lock_text)
    from runlab.projects.environments_venv import prepare_venv

    return prepare_venv(manager, _python_spec(env.kind, env_file), lock_text)


def _env_file(project: Project, project_dir: Path) -> Path | None:
    path = project.env.path
    if path is None:
        return None
    path = Path(path)
    return path if path.is_absolute() else project_dir / path


def _python_spec(kind: str, env_file: Path | None) -> PythonEnvSpec:
    from runlab.projects.environments_python import (
        PythonEnvSpec,
        load_conda_as_python_env,
        load_python_env,
    )

    if env_file is None:
        return PythonEnvSpec()
    if not env_file.is_file():
        raise InvalidParameter(f"The environment file {env_file} does not exist.")
    if kind == "conda_env":
        return load_conda_as_python_env(env_file)
    return load_python_env(env_file)
