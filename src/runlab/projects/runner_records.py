"""What a project run records, and the tracking settings its command inherits.

Every project run gets MLflow's project tags (``mlflow.source.type=PROJECT``, the source and its
git commit, repository and branch, the entry point, the environment and the backend), its
resolved parameter values as params, and three artifacts under ``project/`` that make it
re-runnable exactly (``runlab run --from-run``): the MLproject it ran, ``parameters.json`` and
``environment.lock``; a run of uncommitted changes adds ``uncommitted.patch``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runlab import uris
from runlab.errors import AlreadyExists, InvalidParameter, InvalidState
from runlab.projects.uncommitted import PATCH_ARTIFACT, UNCOMMITTED_TAG
from runlab.validation import validate_param, validate_tag

if TYPE_CHECKING:
    from runlab.entities import Run
    from runlab.projects.sources import FetchedProject
    from runlab.projects.spec import Project
    from runlab.tracking.client import Client

__all__ = [
    "ARTIFACT_DIR",
    "LOCK_ARTIFACT",
    "MLPROJECT_ARTIFACT",
    "PARAMETERS_ARTIFACT",
    "PATCH_ARTIFACT",
    "ExperimentChoice",
    "check_resumable",
    "child_environment",
    "choose_experiment",
    "project_tags",
    "record_artifacts",
]

ARTIFACT_DIR = "project"
MLPROJECT_ARTIFACT = f"{ARTIFACT_DIR}/MLproject"
PARAMETERS_ARTIFACT = f"{ARTIFACT_DIR}/parameters.json"
LOCK_ARTIFACT = f"{ARTIFACT_DIR}/environment.lock"

SOURCE_TYPE = "mlflow.source.type"
SOURCE_NAME = "mlflow.source.name"
GIT_COMMIT = "mlflow.source.git.commit"
GIT_REPO_URL = "mlflow.source.git.repoURL"
GIT_BRANCH = "mlflow.source.git.branch"
ENTRY_POINT = "mlflow.project.entryPoint"
PROJECT_ENV = "mlflow.project.env"
PROJECT_BACKEND = "mlflow.project.backend"
#: Set ("true") when the code that ran differs from the commit (a local working tree with
#: uncommitted changes or untracked files, or a checkout a patch was applied to).
GIT_DIRTY = "runlab.source.git.dirty"
#: What became of those changes: "recorded" (as PATCH_ARTIFACT) or "too large".
GIT_UNCOMMITTED = UNCOMMITTED_TAG

# What the child must not inherit from this process: it would pick another run or experiment.
_OVERRIDDEN = (
    "RUNLAB_RUN_ID",
    "MLFLOW_RUN_ID",
    "RUNLAB_EXPERIMENT_NAME",
    "MLFLOW_EXPERIMENT_NAME",
)


@dataclass(frozen=True)
class ExperimentChoice:
    """The experiment a run goes to: an existing id, or a name still to be created."""

    experiment_id: str | None
    create_name: str | None = None

    def resolve(self, client: Client) -> str:
        """The experiment id, creating the named experiment now if it is still missing."""
        if self.experiment_id is not None:
            return self.experiment_id
        assert self.create_name is not None
        try:
            return str(client.create_experiment(self.create_name))
        except AlreadyExists:
            # Another process created it since it was looked up: use that one.
            found = client.get_experiment_by_name(self.create_name)
            if found is None:
                raise
            return str(found.experiment_id)


def choose_experiment(
    client: Client, experiment_name: str | None, experiment_id: str | None
) -> ExperimentChoice:
    """Check the experiment options without creating anything yet.

    A name that does not exist yet is created only when the run is (so a run refused for a
    bad parameter leaves no new experiment behind).
    """
    if experiment_name is not None and experiment_id is not None:
        raise InvalidParameter("Pass either an experiment name or an experiment id, not both.")
    if experiment_id is not None:
        experiment = client.get_experiment(str(experiment_id))  # ExperimentNotFound if absent
        _check_active(experiment.lifecycle_stage, f"Experiment {experiment_id}")
        return ExperimentChoice(str(experiment.experiment_id))
    if experiment_name is not None:
        if not str(experiment_name).strip():
            raise InvalidParameter("The experiment name is empty; pass a name or drop it.")
        found = client.get_experiment_by_name(experiment_name)
        if found is None:
            return ExperimentChoice(None, create_name=experiment_name)
        _check_active(found.lifecycle_stage, f"Experiment {experiment_name!r}")
        return ExperimentChoice(str(found.experiment_id))
    from runlab.tracking.fluent_experiments import current_experiment_id

    return ExperimentChoice(str(current_experiment_id(client)))


def _check_active(stage: str, what: str) -> None:
    if stage != "active":
        raise InvalidState(f"{what} is deleted; restore it or choose another experiment.")


def check_resumable(
    client: Client, run_id: str, experiment: ExperimentChoice, params: Mapping[str, str]
) -> Run:
    """The run ``--run-id`` names, checked: active, in the chosen experiment, and with no param
    already logged with another value."""
    run = client.get_run(run_id)  # RunNotFound if absent
    if run.info.lifecycle_stage != "active":
        raise InvalidState(f"Run {run_id} is deleted; restore it before resuming it.")
    if experiment.experiment_id is not None and run.info.experiment_id != experiment.experiment_id:
        raise InvalidParameter(
            f"Run {run_id} belongs to experiment {run.info.experiment_id}, not "
            f"{experiment.experiment_id}; drop the experiment option to resume it."
        )
    if experiment.create_name is not None:
        raise InvalidParameter(
            f"Run {run_id} belongs to experiment {run.info.experiment_id}; there is no "
            f"experiment named {experiment.create_name!r}."
        )
    for key, value in params.items():
        logged = run.data.params.get(key)
        if logged is not None and logged != value:
            raise InvalidParameter(
                f"Run {run_id} already has param {key}={logged!r}; this run would log "
                f"{value!r}. Params cannot change: start a new run instead."
            )
    return run


def project_tags(
    fetched: FetchedProject,
    entry_point: str,
    env_kind: str,
    backend: str,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The tags of a project run (checked, so a bad one fails before the run exists)."""
    from runlab.tracking.system_tags import MLFLOW_GIT_COMMIT, default_run_tags

    tags = default_run_tags()  # mlflow.user and friends
    tags.pop(MLFLOW_GIT_COMMIT, None)  # that is runlab's own folder's commit, not the project's
    tags.update(
        {
            SOURCE_TYPE: "PROJECT",
            SOURCE_NAME: fetched.source_name,
            ENTRY_POINT: entry_point,
            PROJECT_ENV: env_kind,
            PROJECT_BACKEND: backend,
        }
    )
    git = fetched.git
    if git is not None:
        tags[GIT_COMMIT] = git.commit
        if git.repo_url:
            tags[GIT_REPO_URL] = git.repo_url
        if git.branch:
            tags[GIT_BRANCH] = git.branch
        if git.dirty:
            tags[GIT_DIRTY] = "true"
    if fetched.uncommitted is not None:
        tags[GIT_UNCOMMITTED] = fetched.uncommitted.tag_value
    tags.update(extra or {})
    return {key: validate_tag(key, value) for key, value in tags.items()}


def check_params(values: Mapping[str, str]) -> dict[str, str]:
    """The resolved parameter values as params, checked before the run exists."""
    return {key: validate_param(key, value) for key, value in values.items()}


def record_artifacts(
    client: Client,
    run_id: str,
    project: Project,
    entry_point: str,
    values: Mapping[str, str],
    lock_text: str,
    resolved: Mapping[str, str] | None = None,
    *,
    code_patch: bytes | None = None,
) -> None:
    """Write ``project/MLproject``, ``parameters.json``, ``environment.lock``, the environment
    file the MLproject names and ``uncommitted.patch`` (``code_patch``, when the code that ran
    differs from its commit) as artifacts of the run, in one upload.

    ``values`` are the recorded parameter values (what a re-run passes again); ``resolved``,
    when some differ, what the command got instead (a downloaded path's local copy), kept in
    ``parameters.json`` under ``resolved`` for whoever reads the run."""
    description = project.describe(entry_point)
    record: dict[str, object] = {"entry_point": entry_point, "parameters": dict(values)}
    if resolved is not None and dict(resolved) != dict(values):
        record["resolved"] = dict(resolved)
    parameters = json.dumps(record, indent=2)
    with tempfile.TemporaryDirectory(prefix="runlab-project-record-") as tmp:
        folder = Path(tmp) / ARTIFACT_DIR
        folder.mkdir()
        (folder / "MLproject").write_text(description, encoding="utf-8")
        (folder / "parameters.json").write_text(parameters + "\n", encoding="utf-8")
        (folder / "environment.lock").write_text(lock_text, encoding="utf-8")
        if code_patch is not None:
            (folder / "uncommitted.patch").write_bytes(code_patch)
        env_file = project.env.path
        reserved = {"mlproject", "parameters.json", "environment.lock", "uncommitted.patch"}
        if env_file is not None and env_file.is_file() and env_file.name.lower() not in reserved:
            (folder / env_file.name).write_bytes(env_file.read_bytes())
        client.log_artifacts(run_id, str(folder), ARTIFACT_DIR)


def child_tracking_uri(tracking_uri: str) -> str:
    """The tracking URI as the command must see it: a relative SQLite path made absolute, since
    the command runs in the project's directory."""
    if uris.scheme_of(tracking_uri) != "sqlite":
        return tracking_uri
    path = uris.sqlite_path(tracking_uri)
    if path is None or os.path.isabs(path):
        return tracking_uri
    prefix = tracking_uri.split(":///", 1)[0]
    query = tracking_uri.split("?", 1)[1] if "?" in tracking_uri else ""
    absolute = f"{prefix}:///{os.path.abspath(path)}"
    return f"{absolute}?{query}" if query else absolute


def child_environment(
    tracking_uri: str,
    experiment_id: str,
    run_id: str,
    env_vars: Mapping[str, str],
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The command's environment: this one, the environment's variables, and the tracking
    settings (``RUNLAB_*`` and their ``MLFLOW_*`` twins) that make ``start_run()`` in the entry
    point log into run ``run_id``."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in _OVERRIDDEN}
    env.update(env_vars)
    uri = child_tracking_uri(tracking_uri)
    for prefix in ("RUNLAB_", "MLFLOW_"):
        env[f"{prefix}TRACKING_URI"] = uri
        env[f"{prefix}EXPERIMENT_ID"] = experiment_id
        env[f"{prefix}RUN_ID"] = run_id
    return env
