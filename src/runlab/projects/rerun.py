"""Exact re-runs: what ``runlab run --from-run RUN_ID`` needs to execute a recorded run again.

A project run records, next to its tags, three artifacts under ``project/``: the MLproject it ran,
``parameters.json`` (the entry point and every resolved parameter value) and
``environment.lock`` (the fully resolved package list of its environment). From those and the
run's source tags this module works out how to run the same thing again:

- the same code: the recorded git commit of the same repository or local directory (the
  runner checks the commit out into a temporary directory, whatever a local working tree
  holds now), with the run's uncommitted changes (``project/uncommitted.patch``) applied on top
  when it ran a dirty working tree; a project that was not in git can only be
  re-run from its directory as it is now, and only while its MLproject is still the recorded one;
- the same entry point and parameter values (defaults included, so a changed default in the
  code does not change the re-run);
- the same environment: the recorded lock, which the environment installs exactly;
- a new run in the same experiment, tagged ``runlab.project.reproducesRun=<run id>``.

:func:`rerun_arguments` returns all of that as keyword arguments for
:func:`runlab.projects.runner.run`; :func:`load_rerun` returns the same with the notes a CLI
shows the user.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runlab.errors import ArtifactNotFound, InvalidParameter
from runlab.projects.uncommitted import PATCH_ARTIFACT, TOO_LARGE, UNCOMMITTED_TAG

if TYPE_CHECKING:
    from runlab.entities import Run
    from runlab.tracking.client import Client

__all__ = [
    "LOCK_ARTIFACT",
    "MLPROJECT_ARTIFACT",
    "PARAMETERS_ARTIFACT",
    "PATCH_ARTIFACT",
    "REPRODUCES_TAG",
    "RerunPlan",
    "load_rerun",
    "rerun_arguments",
]

PARAMETERS_ARTIFACT = "project/parameters.json"
LOCK_ARTIFACT = "project/environment.lock"
MLPROJECT_ARTIFACT = "project/MLproject"
#: The tag a re-run carries: the id of the run it reproduces.
REPRODUCES_TAG = "runlab.project.reproducesRun"

_SOURCE_TYPE = "mlflow.source.type"
_SOURCE_NAME = "mlflow.source.name"
_GIT_COMMIT = "mlflow.source.git.commit"
_GIT_REPO = "mlflow.source.git.repoURL"
_PROJECT_ENV = "mlflow.project.env"
_PROJECT_BACKEND = "mlflow.project.backend"
_GIT_DIRTY = "runlab.source.git.dirty"
#: Env managers runner.run accepts; other recorded values (docker) come from the project itself.
_ENV_MANAGERS = frozenset({"local", "uv", "virtualenv", "conda"})
# scheme://…, or scp-like user@host:path (git@github.com:org/repo.git).
_REMOTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://|[\w.-]+@[\w.-]+:)")


@dataclass(frozen=True)
class RerunPlan:
    """How to re-execute a recorded project run.

    ``uri`` and ``version`` address the same code, ``entry_point`` and ``parameters`` are the
    recorded ones, ``lock_text`` is the recorded environment lock (None when the run has none),
    ``code_patch`` the uncommitted changes the run ran on top of its commit (None when it ran
    the commit as committed, or when they were not recorded), ``notes`` say where the re-run
    cannot be exact.
    """

    run_id: str
    uri: str
    version: str | None
    entry_point: str
    parameters: dict[str, str]
    experiment_id: str
    env_manager: str | None
    backend: str
    lock_text: str | None
    mlproject_text: str | None
    notes: tuple[str, ...] = field(default=())
    code_patch: bytes | None = None

    @property
    def tags(self) -> dict[str, str]:
        """The tags the new run gets on top of the runner's own."""
        return {REPRODUCES_TAG: self.run_id}

    def run_arguments(self) -> dict[str, Any]:
        """Keyword arguments for :func:`runlab.projects.runner.run`.

        Beyond MLflow's signature the runner takes ``lock_text`` (installed exactly, see
        ``prepare_environment``), ``tags`` (set on the new run) and ``code_patch`` (applied to
        the checkout of ``version``).
        """
        return {
            "uri": self.uri,
            "entry_point": self.entry_point,
            "version": self.version,
            "parameters": dict(self.parameters),
            "experiment_id": self.experiment_id,
            "env_manager": self.env_manager,
            "backend": self.backend,
            "lock_text": self.lock_text,
            "tags": self.tags,
            "code_patch": self.code_patch,
        }


def rerun_arguments(run_id: str, client: Client) -> dict[str, Any]:
    """Keyword arguments for ``runner.run`` that re-execute run ``run_id`` exactly.

    Raises :class:`~runlab.errors.RunNotFound` for an unknown run and
    :class:`~runlab.errors.InvalidParameter` for a run that was not a project run, whose
    records are malformed, or whose code cannot be found again.
    """
    return load_rerun(run_id, client).run_arguments()


def load_rerun(run_id: str, client: Client) -> RerunPlan:
    """Read run ``run_id``'s project records and work out how to run it again."""
    run = client.get_run(run_id)
    tags = run.data.tags
    if tags.get(_SOURCE_TYPE) != "PROJECT" or _SOURCE_NAME not in tags:
        raise InvalidParameter(
            f"Run {run_id} was not started by `runlab run` (it has no "
            f"{_SOURCE_TYPE}=PROJECT and {_SOURCE_NAME} tags), so there is no project to re-run."
        )
    notes: list[str] = []
    code_patch = None
    with tempfile.TemporaryDirectory(prefix="runlab-rerun-") as tmp:
        params_text = _artifact_text(client, run_id, PARAMETERS_ARTIFACT, Path(tmp))
        lock_text = _artifact_text(client, run_id, LOCK_ARTIFACT, Path(tmp))
        mlproject_text = _artifact_text(client, run_id, MLPROJECT_ARTIFACT, Path(tmp))
        if tags.get(_GIT_DIRTY) == "true" and tags.get(_GIT_COMMIT):
            code_patch = _artifact_bytes(client, run_id, PATCH_ARTIFACT, Path(tmp))
    if params_text is None:
        raise InvalidParameter(
            f"Run {run_id} has no {PARAMETERS_ARTIFACT} artifact, so its parameter values are "
            "unknown; run the project again with -P instead."
        )
    entry_point, parameters = _parse_parameters(run_id, params_text)
    if lock_text is None:
        notes.append(
            f"Run {run_id} has no {LOCK_ARTIFACT}: the environment is resolved afresh, so "
            "package versions may differ."
        )
    uri, version = _code_location(run, mlproject_text, code_patch is not None, notes)
    recorded_env = tags.get(_PROJECT_ENV)
    env_manager = recorded_env if recorded_env in _ENV_MANAGERS else None
    if env_manager == "local" and lock_text is not None:
        notes.append(
            f"Run {run_id} ran in the local interpreter; the re-run does too, so its packages "
            "are whatever that interpreter has now (compare with `runlab runs diff`)."
        )
    return RerunPlan(
        run_id=run.info.run_id,
        uri=uri,
        version=version,
        entry_point=entry_point,
        parameters=parameters,
        experiment_id=run.info.experiment_id,
        env_manager=env_manager,
        backend=tags.get(_PROJECT_BACKEND) or "local",
        lock_text=lock_text,
        mlproject_text=mlproject_text,
        notes=tuple(notes),
        code_patch=code_patch,
    )


def _artifact_text(client: Client, run_id: str, path: str, tmp: Path) -> str | None:
    """One text artifact of the run, or None when the run has no such artifact."""
    try:
        local = client.download_artifacts(run_id, path, str(tmp))
    except ArtifactNotFound:
        return None
    try:
        return Path(local).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidParameter(f"Run {run_id}'s {path} artifact cannot be read: {exc}") from None


def _artifact_bytes(client: Client, run_id: str, path: str, tmp: Path) -> bytes | None:
    """One artifact of the run as bytes, or None when the run has no such artifact."""
    try:
        local = client.download_artifacts(run_id, path, str(tmp))
    except ArtifactNotFound:
        return None
    try:
        return Path(local).read_bytes()
    except OSError as exc:
        raise InvalidParameter(f"Run {run_id}'s {path} artifact cannot be read: {exc}") from None


def _parse_parameters(run_id: str, text: str) -> tuple[str, dict[str, str]]:
    """The entry point and parameter values recorded in parameters.json, checked."""
    where = f"Run {run_id}'s {PARAMETERS_ARTIFACT}"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidParameter(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidParameter(f"{where} must hold a JSON object, not {type(data).__name__}.")
    entry_point = data.get("entry_point")
    if not isinstance(entry_point, str) or not entry_point:
        raise InvalidParameter(f'{where} has no "entry_point" name.')
    values = data.get("parameters", {})
    if not isinstance(values, dict):
        raise InvalidParameter(f'{where}: "parameters" must be an object of names to values.')
    parameters: dict[str, str] = {}
    for key, value in values.items():
        if isinstance(value, (dict, list)) or value is None:
            raise InvalidParameter(f'{where}: parameter "{key}" has no single value ({value!r}).')
        # JSON numbers and booleans are written back as the command line would have had them.
        parameters[str(key)] = json.dumps(value) if isinstance(value, bool) else str(value)
    return entry_point, parameters


def _code_location(
    run: Run, mlproject_text: str | None, has_patch: bool, notes: list[str]
) -> tuple[str, str | None]:
    """The project URI and git version that give back the run's code (with its recorded
    uncommitted changes, ``has_patch``, applied on top)."""
    tags = run.data.tags
    run_id = run.info.run_id
    source = tags[_SOURCE_NAME]
    commit = tags.get(_GIT_COMMIT) or None
    repo_url = tags.get(_GIT_REPO) or None
    base, _, subdirectory = source.partition("#")
    if commit is None:
        return _unversioned_directory(run_id, base, subdirectory, mlproject_text, notes), None
    if tags.get(_GIT_DIRTY) == "true" and not has_patch:
        notes.append(_unrecorded_changes_note(run_id, commit, tags.get(UNCOMMITTED_TAG)))
    if _REMOTE.match(base):
        return source, commit
    directory = Path(base)
    if directory.is_dir() and _git_toplevel(directory) is not None:
        # The runner clones the directory's repository at the commit into a temporary
        # directory, so what the working tree holds now does not matter.
        return source, commit
    if repo_url is not None and _REMOTE.match(repo_url):
        notes.append(
            f"{base} is no longer a git checkout here; commit {commit} is fetched from {repo_url}."
        )
        return repo_url + (f"#{subdirectory}" if subdirectory else ""), commit
    raise InvalidParameter(
        f"Run {run_id} ran commit {commit} of {base}, which is no longer a git repository on "
        "this machine, and the run records no remote repository URL to fetch it from."
    )


def _unrecorded_changes_note(run_id: str, commit: str, uncommitted: str | None) -> str:
    """Why a dirty run's uncommitted changes cannot be applied again."""
    if uncommitted == TOO_LARGE:
        why = "they made too large a patch to record"
    elif uncommitted is None:
        why = (
            "the run has no patch of them (it was made by a version of runlab that did not "
            "record one)"
        )
    else:
        why = f"its {PATCH_ARTIFACT} artifact is missing"
    return (
        f"Run {run_id} ran uncommitted changes on top of commit {commit}, and {why}; the re-run "
        "runs the commit as it was committed."
    )


def _unversioned_directory(
    run_id: str, base: str, subdirectory: str, mlproject_text: str | None, notes: list[str]
) -> str:
    """A project that was not in git: its directory as it is now, if it still looks the same."""
    if _REMOTE.match(base):
        raise InvalidParameter(
            f"Run {run_id} ran {base} but records no git commit, so the same code version "
            "cannot be fetched again."
        )
    directory = Path(base) / subdirectory if subdirectory else Path(base)
    if not directory.is_dir():
        raise InvalidParameter(
            f"Run {run_id} ran the directory {directory}, which no longer exists, and it was not "
            "in git, so its code cannot be found again."
        )
    from runlab.projects.spec import find_mlproject

    current = find_mlproject(directory)
    changed = (
        mlproject_text is not None
        and current is not None
        and current.read_text(encoding="utf-8") != mlproject_text
    )
    if changed:
        raise InvalidParameter(
            f"Run {run_id} ran {directory}, which is not in git, and its MLproject has "
            f"changed since (compare with the run's {MLPROJECT_ARTIFACT} artifact): this "
            "would not re-run the same code."
        )
    notes.append(
        f"{directory} is not in git: the re-run uses its files as they are now, which may "
        "differ from what run " + run_id + " ran."
    )
    return str(directory)


def _git_toplevel(directory: Path) -> Path | None:
    """The root of the git work tree holding ``directory``, or None when it is not in one."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:  # no git executable: nothing here can be a checkout we can use
        return None
    if proc.returncode != 0:
        return None
    return Path(proc.stdout.strip()).resolve()
