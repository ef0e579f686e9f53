"""runlab.projects.run: the run it creates, what it records, what the command receives, and every
refusal leaving nothing behind. Projects run with env_manager="local" (the current interpreter)
to stay fast; tests/projects/test_runner_envs.py covers the other managers."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import pytest

import runlab
from runlab.errors import ExperimentNotFound, InvalidParameter, InvalidState, RunNotFound
from runlab.projects.runner import run
from runlab.projects.submitted_run import ProjectRunFailed
from runlab.tracking.client import Client
from support.tracking_state import clean_env  # noqa: F401  (autouse: clean env, cwd in tmp)

# An entry point that writes what it received (argv, the tracking variables) to received.json in
# the project folder, logs through runlab's fluent API (unless RECORDER_LOG=0: importing runlab
# costs most of a second, which tests that only look at the run's records save), and exits with
# --exit-code.
RECORDER = """\
import json, os, sys

names = [p + n for p in ("RUNLAB_", "MLFLOW_") for n in ("TRACKING_URI", "EXPERIMENT_ID", "RUN_ID")]
seen = {"argv": sys.argv[1:], "cwd": os.getcwd(), "env": {n: os.environ.get(n) for n in names}}
with open("received.json", "w") as f:
    json.dump(seen, f)
code = int(sys.argv[sys.argv.index("--exit-code") + 1]) if "--exit-code" in sys.argv else 0
if os.environ.get("RECORDER_LOG") != "0":
    import runlab

    with runlab.start_run() as active:
        runlab.log_metric("score", 0.75)
        runlab.set_tag("logged_by", "entry point")
sys.exit(code)
"""

MLPROJECT = """\
name: recorder
entry_points:
  main:
    parameters:
      alpha: {type: float, default: 0.1}
      name: string
      data: {type: path, default: data.csv}
    command: "python recorder.py --alpha {alpha} --name {name} --data {data}"
"""


def write_project(path: Path, mlproject: str | None = MLPROJECT, **files: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if mlproject is not None:
        (path / "MLproject").write_text(mlproject)
    (path / "recorder.py").write_text(RECORDER)
    (path / "data.csv").write_text("x\n1\n")
    for name, text in files.items():
        (path / name).write_text(text)
    return path


def received(project: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((project / "received.json").read_text())
    return data


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tracking.db'}"


@pytest.fixture
def client(uri: str) -> Client:
    return Client(uri)


@pytest.fixture
def no_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    """The recorder entry point logs nothing (it does not import runlab)."""
    monkeypatch.setenv("RECORDER_LOG", "0")


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary folders go here, so a test can check that none is left behind."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def artifact_text(client: Client, run_id: str, path: str, tmp_path: Path) -> str:
    local = client.download_artifacts(run_id, path, str(tmp_path / "downloads"))
    return Path(local).read_text()


def all_runs(client: Client) -> list[runlab.entities.Run]:
    ids = [e.experiment_id for e in client.search_experiments()]
    return list(client.search_runs(ids))


def test_run_records_params_tags_artifacts_and_the_child_logs_into_it(
    tmp_path: Path, uri: str, client: Client, scratch: Path
) -> None:
    project = write_project(tmp_path / "proj")
    submitted = run(
        str(project),
        parameters={"name": "; rm -rf ~", "extra": "x y"},
        env_manager="local",
        tracking_uri=uri,
        run_name="first",
    )
    assert submitted.wait() is True
    assert submitted.get_status() == "FINISHED"
    got = received(project)
    # Every value arrives as one literal word; the undeclared one as --extra value.
    assert got["argv"] == [
        "--alpha", "0.1", "--name", "; rm -rf ~",
        "--data", str(project / "data.csv"), "--extra", "x y",
    ]  # fmt: skip
    assert got["cwd"] == str(project)
    env = got["env"]
    assert isinstance(env, dict)
    experiment_id = client.get_run(submitted.run_id).info.experiment_id
    for prefix in ("RUNLAB_", "MLFLOW_"):
        assert env[prefix + "TRACKING_URI"] == uri
        assert env[prefix + "RUN_ID"] == submitted.run_id
        assert env[prefix + "EXPERIMENT_ID"] == experiment_id

    recorded = client.get_run(submitted.run_id)
    assert recorded.info.status == "FINISHED"
    assert recorded.info.run_name == "first"
    assert recorded.data.metrics == {"score": 0.75}  # start_run() in the child resumed it
    assert recorded.data.params == {
        "alpha": "0.1",
        "name": "; rm -rf ~",
        "data": str(project / "data.csv"),
        "extra": "x y",
    }
    tags = recorded.data.tags
    assert tags["logged_by"] == "entry point"
    assert tags["mlflow.source.type"] == "PROJECT"
    assert tags["mlflow.source.name"] == str(project)
    assert tags["mlflow.project.entryPoint"] == "main"
    assert tags["mlflow.project.env"] == "local"
    assert tags["mlflow.project.backend"] == "local"
    assert "mlflow.source.git.commit" not in tags  # not in git
    assert len(all_runs(client)) == 1

    assert artifact_text(client, submitted.run_id, "project/MLproject", tmp_path) == MLPROJECT
    parameters = json.loads(
        artifact_text(client, submitted.run_id, "project/parameters.json", tmp_path)
    )
    assert parameters == {"entry_point": "main", "parameters": recorded.data.params}
    lock = artifact_text(client, submitted.run_id, "project/environment.lock", tmp_path)
    assert "runlab" in lock.lower()  # the interpreter's packages, runlab among them
    assert list(scratch.iterdir()) == []


@pytest.mark.usefixtures("no_logging")
def test_git_project_at_a_version_and_subdirectory(
    tmp_path: Path, uri: str, client: Client, scratch: Path
) -> None:
    repo = tmp_path / "repo"
    write_project(repo / "sub")
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", ".")
    git(repo, "commit", "--quiet", "-m", "v1")
    git(repo, "tag", "v1")
    tagged = git(repo, "rev-parse", "HEAD")
    (repo / "sub" / "MLproject").write_text(MLPROJECT.replace("0.1", "0.2"))
    git(repo, "commit", "--quiet", "-am", "v2")

    submitted = run(
        f"{repo.as_uri()}#sub",
        version="v1",
        parameters={"name": "n"},
        env_manager="local",
        tracking_uri=uri,
    )
    recorded = client.get_run(submitted.run_id)
    assert recorded.data.params["alpha"] == "0.1"  # the tagged commit's default
    tags = recorded.data.tags
    assert tags["mlflow.source.name"] == f"{repo.as_uri()}#sub"
    assert tags["mlflow.source.git.commit"] == tagged
    assert tags["mlflow.source.git.repoURL"] == repo.as_uri()
    assert tags["mlflow.source.git.branch"] == "v1"
    assert list(scratch.iterdir()) == []  # the checkout is gone
    assert not (repo / "sub" / "received.json").exists()  # it ran in the checkout


@pytest.mark.usefixtures("no_logging")
def test_local_git_working_tree_tags(tmp_path: Path, uri: str, client: Client) -> None:
    project = write_project(tmp_path / "proj")
    git(project, "init", "--quiet", "--initial-branch=trunk")
    git(project, "add", "MLproject", "recorder.py")
    git(project, "commit", "--quiet", "-m", "one")
    git(project, "remote", "add", "origin", "https://example.com/org/proj.git")
    commit = git(project, "rev-parse", "HEAD")
    (project / "MLproject").write_text(MLPROJECT + "\n")  # uncommitted change
    before = git(project, "status", "--porcelain")
    submitted = run(str(project), parameters={"name": "n"}, env_manager="local", tracking_uri=uri)
    tags = client.get_run(submitted.run_id).data.tags
    assert tags["mlflow.source.git.commit"] == commit
    assert tags["mlflow.source.git.branch"] == "trunk"
    assert tags["mlflow.source.git.repoURL"] == "https://example.com/org/proj.git"
    assert tags["runlab.source.git.dirty"] == "true"
    assert tags["runlab.source.git.uncommitted"] == "recorded"
    # The changed MLproject and the untracked data.csv, as one patch from the top level.
    patch = artifact_text(client, submitted.run_id, "project/uncommitted.patch", tmp_path)
    assert "diff --git a/MLproject b/MLproject" in patch
    assert "diff --git a/data.csv b/data.csv\nnew file mode" in patch
    assert "received.json" not in patch  # written by the run, after the snapshot
    # The working tree is as it was, apart from the file the entry point wrote.
    assert git(project, "status", "--porcelain") == before + "\n?? received.json"


@pytest.mark.usefixtures("no_logging")
def test_a_code_patch_that_does_not_apply_leaves_nothing(
    tmp_path: Path, uri: str, client: Client, scratch: Path
) -> None:
    project = write_project(tmp_path / "proj")
    git(project, "init", "--quiet", "--initial-branch=main")
    git(project, "add", ".")
    git(project, "commit", "--quiet", "-m", "one")
    commit = git(project, "rev-parse", "HEAD")
    stale = (
        "diff --git a/MLproject b/MLproject\n--- a/MLproject\n+++ b/MLproject\n"
        "@@ -1,2 +1,2 @@\n-name: something else\n+name: patched\n entry_points:\n"
    )
    for patch in (stale.encode(), b"not a patch at all\n"):
        with pytest.raises(InvalidParameter, match=f"do not apply to commit {commit} of"):
            run(
                str(project),
                version=commit,
                parameters={"name": "n"},
                env_manager="local",
                tracking_uri=uri,
                experiment_name="should not exist",
                code_patch=patch,
            )
    assert all_runs(client) == []
    assert client.get_experiment_by_name("should not exist") is None
    assert list(scratch.iterdir()) == []
    assert not (project / "received.json").exists()


@pytest.mark.usefixtures("no_logging")
def test_failed_command_marks_the_run_failed(tmp_path: Path, uri: str, client: Client) -> None:
    project = write_project(tmp_path / "proj")
    with pytest.raises(
        ProjectRunFailed, match="FAILED: the entry point's command exited with status 3"
    ) as caught:
        run(
            str(project),
            parameters={"name": "n", "exit-code": "3"},
            env_manager="local",
            tracking_uri=uri,
        )
    assert caught.value.exit_code == 3
    recorded = client.get_run(caught.value.run_id)
    assert recorded.info.status == "FAILED"
    assert recorded.info.end_time is not None


@pytest.mark.usefixtures("no_logging")
def test_script_entry_point_without_mlproject(tmp_path: Path, uri: str, client: Client) -> None:
    project = write_project(tmp_path / "proj", mlproject=None)
    submitted = run(
        str(project),
        entry_point="recorder.py",
        parameters={"lr": "0.5"},
        env_manager="local",
        tracking_uri=uri,
    )
    assert received(project)["argv"] == ["--lr", "0.5"]
    text = artifact_text(client, submitted.run_id, "project/MLproject", tmp_path)
    assert "recorder.py" in text and text.startswith("# Generated by runlab")
    assert client.get_run(submitted.run_id).data.tags["mlflow.project.entryPoint"] == "recorder.py"


@pytest.mark.usefixtures("no_logging")
def test_experiments_by_name_id_and_current(tmp_path: Path, uri: str, client: Client) -> None:
    project = write_project(tmp_path / "proj")
    common = {"parameters": {"name": "n"}, "env_manager": "local", "tracking_uri": uri}
    by_name = run(str(project), experiment_name="made by run", **common)  # type: ignore[arg-type]
    made = client.get_experiment_by_name("made by run")
    assert made is not None
    assert client.get_run(by_name.run_id).info.experiment_id == made.experiment_id
    other = client.create_experiment("other")
    by_id = run(str(project), experiment_id=other, **common)  # type: ignore[arg-type]
    assert client.get_run(by_id.run_id).info.experiment_id == other
    runlab.set_tracking_uri(uri)
    runlab.set_experiment("current")
    current = run(str(project), parameters={"name": "n"}, env_manager="local")
    assert client.get_run(current.run_id).info.experiment_id == (
        client.get_experiment_by_name("current").experiment_id  # type: ignore[union-attr]
    )


def test_run_id_resumes_an_existing_run(tmp_path: Path, uri: str, client: Client) -> None:
    project = write_project(tmp_path / "proj")
    experiment = client.create_experiment("resume")
    existing = client.create_run(experiment, run_name="before")
    client.log_param(existing.info.run_id, "alpha", "0.1")
    client.set_terminated(existing.info.run_id, "FAILED")
    submitted = run(
        str(project),
        parameters={"name": "n"},
        run_id=existing.info.run_id,
        env_manager="local",
        tracking_uri=uri,
    )
    assert submitted.run_id == existing.info.run_id
    recorded = client.get_run(existing.info.run_id)
    assert recorded.info.status == "FINISHED"
    assert recorded.info.run_name == "before"
    assert recorded.data.tags["mlflow.source.type"] == "PROJECT"
    assert recorded.data.metrics == {"score": 0.75}
    assert len(all_runs(client)) == 1


def test_run_id_with_a_changed_param_is_refused(
    tmp_path: Path, uri: str, client: Client, scratch: Path
) -> None:
    project = write_project(tmp_path / "proj")
    existing = client.create_run("0")
    client.log_param(existing.info.run_id, "alpha", "0.5")
    with pytest.raises(InvalidParameter, match=r"already has param alpha='0\.5'"):
        run(
            str(project),
            parameters={"name": "n"},
            run_id=existing.info.run_id,
            env_manager="local",
            tracking_uri=uri,
        )
    recorded = client.get_run(existing.info.run_id)
    assert recorded.info.status == "RUNNING"  # untouched
    assert "mlflow.source.type" not in recorded.data.tags
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"parameters": {}}, InvalidParameter, "name"),  # a required parameter is missing
        ({"parameters": {"name": "n", "alpha": "fast"}}, InvalidParameter, "alpha"),
        ({"entry_point": "nope"}, InvalidParameter, "Unknown entry point 'nope'"),
        ({"backend": "databricks"}, InvalidParameter, "local backend only"),
        ({"backend_config": {"cluster": 1}}, InvalidParameter, "takes no backend configuration"),
        ({"env_manager": "pipenv"}, InvalidParameter, "pipenv"),
        ({"build_image": True}, InvalidParameter, "docker_env only"),
        ({"experiment_name": "a", "experiment_id": "0"}, InvalidParameter, "not both"),
        ({"experiment_id": "424242"}, ExperimentNotFound, "424242"),
        ({"run_id": "0" * 32}, RunNotFound, "0" * 32),
        ({"uri": "NOWHERE"}, InvalidParameter, "neither a local directory nor a git"),
        ({"version": "v9"}, InvalidParameter, "needs a git repository"),
        ({"parameters": {"name": "x" * 7000}}, InvalidParameter, "name"),  # too long a param
        ({"tags": {"": "empty key"}}, InvalidParameter, "key"),
        ({"code_patch": b"diff"}, InvalidParameter, "runs a local directory in place"),
    ],
)
def test_refusals_create_nothing(
    tmp_path: Path,
    uri: str,
    client: Client,
    scratch: Path,
    options: dict[str, object],
    error: type[Exception],
    message: str,
) -> None:
    project = write_project(tmp_path / "proj")
    arguments: dict[str, object] = {
        "uri": str(project),
        "parameters": {"name": "n"},
        "env_manager": "local",
        "tracking_uri": uri,
        "experiment_name": "should not exist",
    }
    arguments.update(options)
    if arguments["uri"] == "NOWHERE":
        arguments["uri"] = str(tmp_path / "nowhere")
    if "experiment_id" in options and "experiment_name" not in options:
        del arguments["experiment_name"]
    with pytest.raises(error, match=message):
        run(**arguments)  # type: ignore[arg-type]
    assert all_runs(client) == []
    assert client.get_experiment_by_name("should not exist") is None
    assert list(scratch.iterdir()) == []
    assert not (project / "received.json").exists()


def test_deleted_experiment_is_refused(tmp_path: Path, uri: str, client: Client) -> None:
    project = write_project(tmp_path / "proj")
    gone = client.create_experiment("gone")
    client.delete_experiment(gone)
    with pytest.raises(InvalidState, match="is deleted"):
        run(str(project), parameters={"name": "n"}, experiment_id=gone, env_manager="local",
            tracking_uri=uri)  # fmt: skip
    assert all_runs(client) == []


def test_relative_sqlite_uri_reaches_the_child_absolute(tmp_path: Path) -> None:
    # The command runs in the project's folder; a relative database path must not move.
    project = write_project(tmp_path / "proj")
    submitted = run(
        str(project),
        parameters={"name": "n"},
        env_manager="local",
        tracking_uri="sqlite:///relative.db",  # relative to the working directory, tmp_path
    )
    env = received(project)["env"]
    assert isinstance(env, dict)
    assert env["RUNLAB_TRACKING_URI"] == f"sqlite:///{tmp_path / 'relative.db'}"
    recorded = Client(f"sqlite:///{tmp_path / 'relative.db'}").get_run(submitted.run_id)
    assert recorded.data.metrics == {"score": 0.75}
    assert not (project / "relative.db").exists()


def test_run_is_the_top_level_and_projects_function() -> None:
    import runlab.projects

    assert runlab.run is run
    assert runlab.projects.run is run


@pytest.mark.usefixtures("no_logging")
def test_captured_output_becomes_an_artifact(
    tmp_path: Path, uri: str, client: Client, capfd: pytest.CaptureFixture[str]
) -> None:
    project = write_project(tmp_path / "proj")
    (project / "recorder.py").write_text(RECORDER.replace("sys.exit(code)", "print('said')"))
    submitted = run(
        project,  # a Path works as well as a string
        parameters={"name": "n"},
        env_manager="local",
        tracking_uri=uri,
        capture_output=True,
    )
    assert "said" not in capfd.readouterr().out
    assert artifact_text(client, submitted.run_id, "project/output.log", tmp_path) == "said\n"
    output_path = submitted.output_path  # type: ignore[attr-defined]
    assert output_path.name == "output.log"
    assert not output_path.exists()  # removed with the temporary folder


def test_a_downloaded_path_is_recorded_as_its_uri_and_reruns(
    tmp_path: Path, uri: str, client: Client, no_logging: None
) -> None:
    from runlab.projects.rerun import rerun_arguments

    source = client.create_run(client.create_experiment("inputs")).info.run_id
    client.log_text(source, "a,b\n1,2\n", "inputs/table.csv")
    given = f"runs:/{source}/inputs/table.csv"
    project = write_project(tmp_path / "proj")
    first = run(
        str(project), parameters={"name": "n", "data": given}, env_manager="local", tracking_uri=uri
    ).run_id
    downloaded = received(project)["argv"][-1]  # type: ignore[index]
    assert downloaded != given and Path(downloaded).name == "table.csv"
    # The param and parameters.json keep the URI; the temporary copy is noted as what ran.
    assert client.get_run(first).data.params["data"] == given
    record = json.loads(artifact_text(client, first, "project/parameters.json", tmp_path))
    assert record["parameters"]["data"] == given
    assert record["resolved"]["data"] == downloaded
    assert not Path(downloaded).exists()  # removed with the run's temporary folder

    (project / "received.json").unlink()
    rerun = run(**rerun_arguments(first, client), tracking_uri=uri).run_id
    again = received(project)["argv"][-1]  # type: ignore[index]
    assert Path(again).name == "table.csv" and again != downloaded  # downloaded afresh
    assert client.get_run(rerun).info.status == "FINISHED"
    assert client.get_run(rerun).data.params["data"] == given
