"""Docker build contexts that serve a model: the model, runlab, and a Dockerfile.

``generate_build_context(model_dir, directory)`` writes::

    directory/
      Dockerfile
      model/                  the model folder, copied
      requirements.txt        the model's requirements, minus runlab itself
      wheels/runlab-*.whl     the running runlab, built here (unless a pip spec is given)

runlab is not on PyPI yet, so by default the context carries a wheel built from the runlab
that is running (from its source checkout); ``runlab_spec`` (e.g. ``runlab==0.2.0`` or a VCS
URL) installs it with pip instead. The image installs runlab with its ``models`` extra, then the
model's requirements, copies the model last (so rebuilding for a new model version reuses the
cached layers) and runs ``runlab models serve`` as an unprivileged user on port 8080 — with
``--trust-model`` when the context is generated with ``trust_model=True``, so that the container
serves a model whose files run code when loaded (see :mod:`runlab.models.trust`).

:func:`write_build_context` writes such a context from what differs between images (the
Dockerfile's opening comment, its start command, whether the model is copied in); it is shared
with the SageMaker serving image (:mod:`runlab.deployments.sagemaker_image`), which carries a
model's requirements but not the model. :func:`model_requirements` and
:func:`model_python_version` are how both read a model's needs.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from runlab.errors import InvalidParameter, Unavailable

__all__ = [
    "CONTAINER_MODEL_DIR",
    "CONTAINER_PORT",
    "BuildContext",
    "build_runlab_wheel",
    "docker_build",
    "generate_build_context",
    "model_python_version",
    "model_requirements",
    "require_docker",
    "serve_command",
    "write_build_context",
]

CONTAINER_MODEL_DIR = "/opt/ml/model"
CONTAINER_PORT = 8080
_WHEELS = "wheels"
_MODEL = "model"
_REQUIREMENTS = "requirements.txt"
# Requirement lines naming runlab itself: runlab is installed from the wheel or spec instead.
_RUNLAB_LINE = re.compile(r"^\s*runlab(\s*[\[=<>!~;@ ]|\s*$)", re.IGNORECASE)


@dataclass(frozen=True)
class BuildContext:
    """What :func:`generate_build_context` wrote."""

    directory: Path
    dockerfile: Path
    model_dir: Path
    runlab_install: str


def serve_command(
    model_dir: str = CONTAINER_MODEL_DIR, port: int = CONTAINER_PORT, trust_model: bool = False
) -> list[str]:
    """The container's start command (its Dockerfile ``CMD``)."""
    command = ["runlab", "models", "serve", "-m", model_dir, "--host", "0.0.0.0", "-p", str(port)]
    return [*command, "--trust-model"] if trust_model else command


def _source_root() -> Path | None:
    """The source checkout the running runlab was installed from (editable), if any."""
    import runlab

    package = Path(runlab.__file__).resolve().parent
    for candidate in (package.parent.parent, package.parent):
        if (candidate / "pyproject.toml").is_file() and (candidate / "src" / "runlab").is_dir():
            return candidate
    return None


def build_runlab_wheel(destination: Path) -> Path:
    """Build a wheel of the running runlab into ``destination``; its path.

    Needs runlab's source checkout (an editable install) and pip; without them, give a pip
    spec instead.
    """
    root = _source_root()
    if root is None:
        raise InvalidParameter(
            "This runlab was not installed from a source checkout, so no wheel can be built "
            "from it; pass --runlab-spec (e.g. 'runlab==0.1.0' or a git URL) instead."
        )
    destination.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    result = subprocess.run(
        [*argv, "-w", str(destination), str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    wheels = sorted(destination.glob("runlab-*.whl"))
    if result.returncode != 0 or not wheels:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise InvalidParameter(
            "Building a wheel of runlab failed"
            + (f": {detail[-1]}" if detail else "")
            + "; pass --runlab-spec to install runlab with pip instead."
        )
    return wheels[-1]


def _make_world_readable(folder: Path) -> None:
    """Folders 0755 and files 0644: COPY keeps these modes, and a saved model's folder is
    private (0700, from a temporary folder), which the image's unprivileged user could not read.
    """
    folder.chmod(0o755)
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def model_python_version(model_dir: Path | None) -> str:
    """major.minor of the Python the model was saved with, else of this interpreter."""
    env_file = model_dir / "python_env.yaml" if model_dir is not None else None
    if env_file is not None and env_file.is_file():
        import yaml

        try:
            data = yaml.safe_load(env_file.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            data = {}
        match = re.match(r"^(\d+)\.(\d+)", str(data.get("python", "")))
        if match:
            return f"{match.group(1)}.{match.group(2)}"
    major, minor, _ = platform.python_version_tuple()
    return f"{major}.{minor}"


def model_requirements(model_dir: Path) -> list[str]:
    """The lines of the model's requirements.txt (none without one), minus runlab itself.

    runlab is installed from its wheel or spec instead, with its ``models`` extra.
    """
    source = model_dir / _REQUIREMENTS
    if not source.is_file():
        return []
    from runlab.models.environment import read_requirements

    return [line for line in read_requirements(source) if not _RUNLAB_LINE.match(line)]


def write_build_context(
    directory: str | os.PathLike[str],
    *,
    header: str,
    command: Sequence[str],
    entrypoint: Sequence[str] | None = None,
    model_dir: str | os.PathLike[str] | None = None,
    copy_model: bool = False,
    requirements_comment: str,
    runlab_spec: str | None = None,
    base_image: str | None = None,
) -> str:
    """Write a Docker build context that serves models with runlab; how it installs runlab.

    ``directory`` must be empty or not exist. The Dockerfile opens with ``header`` (one
    ``#`` comment line per line), installs runlab with its ``models`` extra (a wheel of the
    running runlab built into the context, else pip's ``runlab_spec``), then the requirements of
    the model folder ``model_dir`` (none without one) under ``requirements_comment``. With
    ``copy_model`` the model itself is copied in last, to :data:`CONTAINER_MODEL_DIR`. The image
    runs as an unprivileged user, exposes :data:`CONTAINER_PORT`, and starts with ``command``
    (``CMD``), after ``entrypoint`` (``ENTRYPOINT``) when given. ``base_image`` defaults to the
    slim official Python image of the model's Python version, else of this interpreter's.

    Returns what the image's ``pip install`` is given for runlab: the wheel's path in the image
    (with ``[models]``), or the spec.
    """
    source = Path(model_dir) if model_dir is not None else None
    if source is not None and not (source / "MLmodel").is_file():
        raise InvalidParameter(f"{os.fspath(source)!r} is not a model folder (no MLmodel file).")
    if copy_model and source is None:
        raise ValueError("copy_model needs a model_dir.")
    target = Path(directory)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InvalidParameter(
            f"{os.fspath(target)!r} already exists and is not an empty folder; give a new one."
        )
    target.mkdir(parents=True, exist_ok=True)
    copy_model_lines = ""
    if copy_model and source is not None:
        shutil.copytree(source, target / _MODEL, symlinks=False)
        _make_world_readable(target / _MODEL)
        copy_model_lines = (
            "# The model last: a new model version rebuilds only this layer.\n"
            f"COPY {_MODEL}/ {CONTAINER_MODEL_DIR}/\n\n"
        )
    requirements = model_requirements(source) if source is not None else []
    (target / _REQUIREMENTS).write_text("".join(f"{r}\n" for r in requirements), encoding="utf-8")
    if runlab_spec is None:
        wheel = build_runlab_wheel(target / _WHEELS)
        install = f"/tmp/{_WHEELS}/{wheel.name}[models]"
        copy_wheels = f"COPY {_WHEELS}/ /tmp/{_WHEELS}/\n"
    else:
        install = runlab_spec.strip()
        copy_wheels = ""
    start = f"ENTRYPOINT {json.dumps(list(entrypoint))}\n" if entrypoint is not None else ""
    (target / "Dockerfile").write_text(
        _DOCKERFILE.format(
            header=_comment(header),
            image=base_image or f"python:{model_python_version(source)}-slim",
            copy_wheels=copy_wheels,
            install=json.dumps(install),
            requirements_comment=_comment(requirements_comment),
            copy_model=copy_model_lines,
            port=CONTAINER_PORT,
            start=f"{start}CMD {json.dumps(list(command))}\n",
        ),
        encoding="utf-8",
    )
    return install


def _comment(text: str) -> str:
    return "".join(f"# {line}\n" for line in text.splitlines())


def generate_build_context(
    model_dir: str | os.PathLike[str],
    directory: str | os.PathLike[str],
    *,
    runlab_spec: str | None = None,
    base_image: str | None = None,
    trust_model: bool = False,
) -> BuildContext:
    """Write a Docker build context serving the local model folder ``model_dir``.

    ``directory`` must be empty or not exist. ``base_image`` defaults to the slim official
    Python image of the version the model was saved with. ``trust_model`` starts the server
    with ``--trust-model``.
    """
    target = Path(directory)
    install = write_build_context(
        target,
        header="Generated by `runlab models generate-dockerfile`: serves one model with runlab.",
        command=serve_command(trust_model=trust_model),
        model_dir=model_dir,
        copy_model=True,
        requirements_comment="The model's own requirements (its requirements.txt, without runlab).",
        runlab_spec=runlab_spec,
        base_image=base_image,
    )
    return BuildContext(target, target / "Dockerfile", target / _MODEL, install)


_DOCKERFILE = """\
{header}FROM {image}

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# runlab itself, with the packages every model flavor needs to load.
{copy_wheels}RUN pip install {install} && rm -rf /tmp/wheels

{requirements_comment}COPY requirements.txt /tmp/model-requirements.txt
RUN pip install -r /tmp/model-requirements.txt && rm /tmp/model-requirements.txt

{copy_model}RUN useradd --system --no-create-home --uid 10001 runlab
USER runlab
EXPOSE {port}
{start}"""


def require_docker() -> str:
    """The docker CLI's path, once its daemon answered.

    Raises :class:`runlab.errors.Unavailable`, saying what to do, when docker is not installed
    or its daemon cannot be reached.
    """
    docker = shutil.which("docker")
    if docker is None:
        raise Unavailable(
            "The docker command was not found on PATH: install Docker (or put its CLI on PATH), "
            "or write the build context with `runlab models generate-dockerfile` and build it "
            "elsewhere."
        )
    probe = subprocess.run(
        [docker, "version", "--format", "{{.Server.Version}}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if probe.returncode != 0:
        lines = [line.strip() for line in probe.stderr.splitlines() if line.strip()]
        detail = lines[-1] if lines else f"docker version exited with {probe.returncode}"
        raise Unavailable(
            f"Cannot reach the Docker daemon ({detail}). Start Docker, or point DOCKER_HOST at "
            "a running daemon; or use `runlab models generate-dockerfile` and build elsewhere."
        )
    return docker


def docker_build(directory: Path, tag: str) -> None:
    """Run ``docker build -t tag directory``, streaming its output to the terminal."""
    docker = require_docker()
    build = subprocess.run([docker, "build", "-t", tag, str(directory)], check=False)
    if build.returncode != 0:
        raise InvalidParameter(f"docker build failed (exit code {build.returncode}); see above.")
