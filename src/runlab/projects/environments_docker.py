"""Docker environments: a project whose MLproject has ``docker_env`` runs in a container.

The argv is built here without an engine (so it can be checked anywhere); running it needs a
reachable Docker engine, which :func:`prepare_docker` checks first. The container gets:

- the project folder mounted at ``/mlflow/projects/code`` (MLflow's path, so images written for
  MLflow projects work) and used as the working directory, or, with ``build_image``, a new image
  ``FROM`` the project's image with the project copied in;
- the MLproject's ``volumes`` and ``environment`` (a name alone is copied from the host through
  ``docker run -e NAME``, so its value never appears in the argv);
- the tracking variables (tracking URI, experiment and run ids) by name, and what a local
  tracking store needs to be reachable from inside: its folder mounted at the same path, or the
  host's network for a tracking server on this machine's loopback address.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlparse

from runlab.errors import InvalidParameter
from runlab.projects.environments_base import Environment, ProjectEnvironmentError, run_tool

__all__ = [
    "CONTAINER_PROJECT_DIR",
    "TRACKING_VARIABLES",
    "DockerEnvironment",
    "build_dockerfile",
    "docker_build_argv",
    "prepare_docker",
]

CONTAINER_PROJECT_DIR = "/mlflow/projects/code"
#: Passed into the container by name: the runner sets them for the child process.
TRACKING_VARIABLES: tuple[str, ...] = (
    "RUNLAB_TRACKING_URI",
    "MLFLOW_TRACKING_URI",
    "RUNLAB_EXPERIMENT_ID",
    "MLFLOW_EXPERIMENT_ID",
    "RUNLAB_RUN_ID",
    "MLFLOW_RUN_ID",
)
_OPTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_LOOPBACK = ("localhost", "::1")


class DockerEnvironment(Environment):
    """A container of ``image`` (or of ``built_image``, the project baked into it)."""

    kind = "docker"

    def __init__(
        self,
        image: str,
        project_dir: Path,
        *,
        volumes: Sequence[str] = (),
        environment: Sequence[tuple[str, str | None]] = (),
        docker_args: Mapping[str, object] | None = None,
        built_image: str | None = None,
        docker: str = "docker",
        image_id: str | None = None,
    ) -> None:
        self.image = image
        self.project_dir = Path(project_dir).absolute()
        self.volumes = tuple(volumes)
        self.environment = tuple(environment)
        self.docker_args = dict(docker_args or {})
        self.built_image = built_image
        self.docker = docker
        self.image_id = image_id
        _docker_option_words(self.docker_args)  # refuse bad options now, not at run time

    def command_argv(self, command: str, env: Mapping[str, str] | None = None) -> list[str]:
        """The ``docker run`` argv that runs ``command`` (with ``sh -c``) in the container.

        ``env`` is the environment the runner gives the docker process (default: this
        process's); the tracking URI found there decides what is mounted or shared.
        """
        host_env = os.environ if env is None else env
        argv = [self.docker, "run", "--rm"]
        if self.built_image is None:
            argv += ["-v", f"{self.project_dir}:{CONTAINER_PROJECT_DIR}"]
        argv += ["-w", CONTAINER_PROJECT_DIR]
        for volume in self.volumes:
            argv += ["-v", volume]
        argv += _tracking_access(host_env)
        for name, value in self.environment:
            argv += ["-e", name if value is None else f"{name}={value}"]
        for name in TRACKING_VARIABLES:
            argv += ["-e", name]
        argv += _docker_option_words(self.docker_args)
        argv += [self.built_image or self.image, "sh", "-c", command]
        return argv

    def lock_text(self) -> str:
        """The image and, when the engine knows it, its id: what pins a container's contents."""
        lines = [
            "# runlab environment lock: docker",
            f"# image: {self.built_image or self.image}",
        ]
        if self.built_image is not None:
            lines.append(f"# base image: {self.image}")
        if self.image_id:
            lines.append(f"# image id: {self.image_id}")
        return "\n".join(lines) + "\n"


def build_dockerfile(image: str) -> str:
    """The Dockerfile of a ``build_image`` run: the project's image with the project copied in."""
    return f"FROM {image}\nCOPY . {CONTAINER_PROJECT_DIR}\nWORKDIR {CONTAINER_PROJECT_DIR}\n"


def docker_build_argv(docker: str, tag: str, project_dir: Path) -> list[str]:
    """``docker build`` of the project folder, with the Dockerfile read from standard input (so
    nothing is written into the project)."""
    return [docker, "build", "--tag", tag, "--file", "-", str(project_dir)]


def built_image_tag(project_name: str, image: str, project_dir: Path) -> str:
    """``runlab-project-<name>:<hash>``, the hash of the base image and the project's files."""
    digest = hashlib.sha256(image.encode())
    for path in sorted(p for p in project_dir.rglob("*") if ".git" not in p.parts):
        if path.is_file():
            digest.update(str(path.relative_to(project_dir)).encode() + b"\0")
            digest.update(path.read_bytes())
    name = re.sub(r"[^a-z0-9_.-]+", "-", project_name.lower()).strip("-.") or "project"
    return f"runlab-project-{name}:{digest.hexdigest()[:12]}"


def prepare_docker(
    project_name: str,
    image: str,
    project_dir: Path,
    *,
    volumes: Sequence[str] = (),
    environment: Sequence[tuple[str, str | None]] = (),
    docker_args: Mapping[str, object] | None = None,
    build_image: bool = False,
) -> DockerEnvironment:
    """A Docker environment, after checking that an engine is reachable (and, with
    ``build_image``, building the project's image)."""
    docker = shutil.which("docker")
    if docker is None:
        raise ProjectEnvironmentError(
            f"This project runs in the Docker image {image!r} (docker_env), and the docker "
            "command is not installed. Install Docker Engine "
            "(https://docs.docker.com/engine/install/) and start it, then run again."
        )
    try:
        run_tool([docker, "info", "--format", "{{.ServerVersion}}"], what="reach a Docker engine")
    except ProjectEnvironmentError as error:
        detail = str(error).split("\n", 1)[1] if "\n" in str(error) else ""
        raise ProjectEnvironmentError(
            f"This project runs in the Docker image {image!r} (docker_env), and no Docker "
            "engine is reachable (`docker info` failed). Start the Docker daemon, or point "
            "DOCKER_HOST at a running one, then run again." + (f"\n{detail}" if detail else "")
        ) from None
    built = None
    if build_image:
        built = built_image_tag(project_name, image, project_dir)
        run_tool(
            docker_build_argv(docker, built, project_dir),
            what=f"build the image {built} from {image}",
            stdin_text=build_dockerfile(image),
        )
    try:
        image_id = run_tool(
            [docker, "image", "inspect", "--format", "{{.Id}}", built or image],
            what="inspect the image",
        ).strip()
    except ProjectEnvironmentError:
        image_id = None  # not pulled yet: `docker run` pulls it
    return DockerEnvironment(
        image,
        project_dir,
        volumes=volumes,
        environment=environment,
        docker_args=docker_args,
        built_image=built,
        docker=docker,
        image_id=image_id,
    )


def _docker_option_words(options: Mapping[str, object]) -> list[str]:
    """``docker run`` options from a mapping: ``{"gpus": "all", "privileged": True}`` ->
    ``--gpus all --privileged`` (a one-letter name gets one dash; False leaves it out)."""
    words: list[str] = []
    for name, value in options.items():
        if not isinstance(name, str) or not _OPTION_NAME.match(name):
            raise InvalidParameter(
                f"docker_args: {name!r} is not a docker run option name (letters, digits, -)."
            )
        flag = f"-{name}" if len(name) == 1 else f"--{name}"
        if value is True or value is None:
            words.append(flag)
        elif value is not False:
            words += [flag, str(value)]
    return words


def _tracking_access(host_env: Mapping[str, str]) -> list[str]:
    """What the container needs to reach the tracking store the run logs to."""
    uri = host_env.get("RUNLAB_TRACKING_URI") or host_env.get("MLFLOW_TRACKING_URI")
    if not uri:
        from runlab.tracking.config import get_tracking_uri

        uri = get_tracking_uri()
    from runlab import uris

    scheme = uris.scheme_of(uri)
    if scheme == "sqlite":
        path = uris.sqlite_path(uri)
        if path is None:
            return []
        # The database's folder, at the same path: the URI stays valid, and the default
        # artifact folder beside the database comes along.
        folder = str(Path(path).absolute().parent)
        return ["-v", f"{folder}:{folder}"]
    if scheme in ("", "file"):
        folder = str(Path(uris.file_uri_to_path(uri)).absolute())
        return ["-v", f"{folder}:{folder}"]
    if scheme in ("http", "https"):
        host = urlparse(uri).hostname or ""
        if host in _LOOPBACK or host.startswith("127."):
            # A server on the host's loopback address is only reachable on the host's network.
            return ["--network", "host"]
    return []
