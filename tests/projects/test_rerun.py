"""Exact re-runs: runlab.projects.rerun reading a recorded project run back into run arguments."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runlab.errors import InvalidParameter, RunNotFound
from runlab.projects.rerun import REPRODUCES_TAG, load_rerun, rerun_arguments
from runlab.tracking import config
from runlab.tracking.client import Client

COMMIT = "0123456789abcdef0123456789abcdef01234567"
LOCK = "numpy==1.26.4\nrunlab==0.1.0\n"
MLPROJECT = "name: demo\nentry_points:\n  main:\n    command: python train.py\n"


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    """A client on a fresh SQLite file; artifacts land under tmp_path (the working directory)."""
    monkeypatch.chdir(tmp_path)
    for name in ("RUNLAB_TRACKING_URI", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    config.set_tracking_uri(None)
    yield Client(f"sqlite:///{tmp_path / 'rerun.db'}")
    config.set_tracking_uri(None)


def recorded_run(
    client: Client,
    source: str,
    *,
    commit: str | None = COMMIT,
    repo_url: str | None = None,
    env: str = "uv",
    parameters: Any = None,
    parameters_text: str | None = None,
    lock: str | None = LOCK,
    mlproject: str | None = MLPROJECT,
    project_tags: bool = True,
) -> str:
    """A run with the artifacts and tags a project run records."""
    found = client.get_experiment_by_name("projects")
    experiment_id = found.experiment_id if found else client.create_experiment("projects")
    run_id = client.create_run(experiment_id).info.run_id
    tags = {"mlflow.source.name": source, "mlflow.project.env": env}
    if project_tags:
        tags["mlflow.source.type"] = "PROJECT"
    tags["mlflow.project.backend"] = "local"
    if commit is not None:
        tags["mlflow.source.git.commit"] = commit
    if repo_url is not None:
        tags["mlflow.source.git.repoURL"] = repo_url
    for key, value in tags.items():
        client.set_tag(run_id, key, value, synchronous=True)
    if parameters_text is None:
        recorded = {"alpha": "0.5", "epochs": "3"} if parameters is None else parameters
        parameters_text = json.dumps({"entry_point": "train", "parameters": recorded})
    if parameters_text:
        client.log_text(run_id, parameters_text, "project/parameters.json")
    if lock is not None:
        client.log_text(run_id, lock, "project/environment.lock")
    if mlproject is not None:
        client.log_text(run_id, mlproject, "project/MLproject")
    client.set_terminated(run_id)
    return run_id


def git_repo(path: Path) -> Path:
    """A git repository with one commit, at ``path``."""
    path.mkdir(parents=True)
    (path / "MLproject").write_text(MLPROJECT)
    for args in (["init", "-q"], ["add", "MLproject"], ["commit", "-q", "-m", "first"]):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
            cwd=path,
            check=True,
        )
    return path


def test_arguments_for_a_repository_run(client: Client) -> None:
    source = "https://example.invalid/team/train.git#projects/demo"
    run_id = recorded_run(client, source)
    args = rerun_arguments(run_id, client)
    run = client.get_run(run_id)
    assert args == {
        "uri": source,
        "version": COMMIT,
        "entry_point": "train",
        "parameters": {"alpha": "0.5", "epochs": "3"},
        "experiment_id": run.info.experiment_id,
        "env_manager": "uv",
        "backend": "local",
        "lock_text": LOCK,
        "tags": {REPRODUCES_TAG: run_id},
        "code_patch": None,
    }
    plan = load_rerun(run_id, client)
    assert plan.mlproject_text == MLPROJECT
    assert plan.notes == ()


def test_a_local_git_directory_is_rerun_at_the_commit(client: Client, tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo")
    # Later edits in the working tree do not matter: the runner checks the commit out.
    (repo / "MLproject").write_text(MLPROJECT + "# edited\n")
    args = rerun_arguments(recorded_run(client, str(repo)), client)
    assert (args["uri"], args["version"]) == (str(repo), COMMIT)


def test_uncommitted_changes_are_applied_again_or_the_note_says_why_not(client: Client) -> None:
    patch = b"diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+\xff\x00b\n"
    with_patch = recorded_run(client, "https://example.invalid/r.git")
    client.set_tag(with_patch, "runlab.source.git.dirty", "true", synchronous=True)
    client.set_tag(with_patch, "runlab.source.git.uncommitted", "recorded", synchronous=True)
    Path("uncommitted.patch").write_bytes(patch)  # the working directory is tmp_path
    client.log_artifact(with_patch, "uncommitted.patch", "project")
    plan = load_rerun(with_patch, client)
    assert (plan.version, plan.code_patch, plan.notes) == (COMMIT, patch, ())
    assert plan.run_arguments()["code_patch"] == patch  # byte for byte

    reasons = {
        "too large": "they made too large a patch to record",
        None: "the run has no patch of them (it was made by a version of runlab that did not "
        "record one)",
        "recorded": "its project/uncommitted.patch artifact is missing",
    }
    for tag, why in reasons.items():
        run_id = recorded_run(client, "https://example.invalid/r.git")
        client.set_tag(run_id, "runlab.source.git.dirty", "true", synchronous=True)
        if tag is not None:
            client.set_tag(run_id, "runlab.source.git.uncommitted", tag, synchronous=True)
        plan = load_rerun(run_id, client)
        assert (plan.version, plan.code_patch) == (COMMIT, None)
        assert plan.notes == (
            f"Run {run_id} ran uncommitted changes on top of commit {COMMIT}, and {why}; the "
            "re-run runs the commit as it was committed.",
        )


def test_a_moved_checkout_is_fetched_from_its_remote(client: Client, tmp_path: Path) -> None:
    remote = "git@example.invalid:team/train.git"
    run_id = recorded_run(client, str(tmp_path / "gone"), repo_url=remote)
    plan = load_rerun(run_id, client)
    assert (plan.uri, plan.version) == (remote, COMMIT)
    assert "fetched from git@example.invalid:team/train.git" in plan.notes[0]
    no_remote = recorded_run(client, str(tmp_path / "gone"))
    with pytest.raises(InvalidParameter, match="no longer a git repository on this machine"):
        rerun_arguments(no_remote, client)


def test_a_directory_outside_git(client: Client, tmp_path: Path) -> None:
    project = tmp_path / "plain"
    project.mkdir()
    (project / "MLproject").write_text(MLPROJECT)
    run_id = recorded_run(client, str(project), commit=None)
    plan = load_rerun(run_id, client)
    assert (plan.uri, plan.version) == (str(project), None)
    assert "is not in git" in plan.notes[0]
    # Its MLproject changed since: that would not be the same code.
    (project / "MLproject").write_text(MLPROJECT.replace("train.py", "other.py"))
    with pytest.raises(InvalidParameter, match="its MLproject has changed since"):
        rerun_arguments(run_id, client)
    gone = recorded_run(client, str(tmp_path / "nowhere"), commit=None)
    with pytest.raises(InvalidParameter, match="which no longer exists"):
        rerun_arguments(gone, client)
    remote = recorded_run(client, "https://example.invalid/r.git", commit=None)
    with pytest.raises(InvalidParameter, match="records no git commit"):
        rerun_arguments(remote, client)


def test_values_environment_and_missing_lock(client: Client) -> None:
    run_id = recorded_run(
        client,
        "https://example.invalid/r.git",
        parameters={"lr": 0.01, "epochs": 3, "flag": True, "name": "a b"},
        lock=None,
        env="docker",
    )
    plan = load_rerun(run_id, client)
    # JSON numbers and booleans come back as the text a command line carries.
    assert plan.parameters == {"lr": "0.01", "epochs": "3", "flag": "true", "name": "a b"}
    assert plan.env_manager is None  # a docker_env project: the environment is the image
    assert plan.lock_text is None
    assert "has no project/environment.lock" in plan.notes[0]
    local = load_rerun(recorded_run(client, "https://example.invalid/r.git", env="local"), client)
    assert local.env_manager == "local"
    assert "ran in the local interpreter" in local.notes[0]


def test_runs_that_cannot_be_rerun(client: Client) -> None:
    with pytest.raises(RunNotFound):
        rerun_arguments("f" * 32, client)
    plain = client.create_run("0").info.run_id
    with pytest.raises(InvalidParameter, match="was not started by `runlab run`"):
        rerun_arguments(plain, client)
    not_project = recorded_run(client, "https://example.invalid/r.git", project_tags=False)
    with pytest.raises(InvalidParameter, match="was not started by `runlab run`"):
        rerun_arguments(not_project, client)
    no_params = recorded_run(client, "https://example.invalid/r.git", parameters_text="")
    with pytest.raises(InvalidParameter, match=r"has no project/parameters\.json artifact"):
        rerun_arguments(no_params, client)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "must hold a JSON object, not list"),
        ('{"parameters": {}}', 'has no "entry_point" name'),
        ('{"entry_point": "main", "parameters": ["a"]}', '"parameters" must be an object'),
        ('{"entry_point": "main", "parameters": {"a": {"b": 1}}}', 'parameter "a" has no single'),
        ('{"entry_point": "main", "parameters": {"a": null}}', 'parameter "a" has no single'),
    ],
)
def test_malformed_parameters_json_is_named(client: Client, text: str, message: str) -> None:
    run_id = recorded_run(client, "https://example.invalid/r.git", parameters_text=text)
    with pytest.raises(InvalidParameter, match=f"{run_id}'s project/parameters.json"):
        rerun_arguments(run_id, client)
    with pytest.raises(InvalidParameter, match=message.replace("[", r"\[")):
        rerun_arguments(run_id, client)


# -- end to end: a real project run in a temporary git repository, re-run from its records ------
DEMO_MLPROJECT = """\
name: rerun_demo
python_env: python_env.yaml
entry_points:
  main:
    parameters:
      alpha: {type: float, default: 0.1}
      label: {type: string, default: first}
    command: "python main.py {alpha} {label}"
"""
DEMO_SCRIPT = 'import sys, six\nprint("demo", "{version}", *sys.argv[1:], six.__version__)\n'


def commit_all(repo: Path, message: str) -> str:
    """Commit everything in ``repo``; return the commit id."""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", message], cwd=repo, check=True)
    done = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def demo_repo(path: Path) -> tuple[Path, str]:
    """A project repository whose first commit prints "v1" and uses whatever six resolves to."""
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    (path / "MLproject").write_text(DEMO_MLPROJECT)
    (path / "python_env.yaml").write_text("dependencies:\n  - six\n")
    (path / "main.py").write_text(DEMO_SCRIPT.format(version="v1"))
    return path, commit_all(path, "v1")


def test_a_rerun_runs_the_recorded_commit_params_and_lock(
    client: Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from runlab.projects.run_diff import diff_runs
    from runlab.projects.runner import run

    monkeypatch.setenv("RUNLAB_PROJECTS_CACHE", str(tmp_path / "envs"))
    repo, first_commit = demo_repo(tmp_path / "repo")
    original = run(
        str(repo),
        parameters={"alpha": "0.5"},
        env_manager="uv",
        experiment_name="demo",
        tracking_uri=client.tracking_uri,
    ).run_id
    assert "demo v1 0.5 first 1.17.0" in capfd.readouterr().out
    recorded_lock = client.download_artifacts(original, "project/environment.lock", str(tmp_path))
    lock = Path(recorded_lock).read_text()
    assert "six==1.17.0" in lock
    # Stand in for time passing: the lock says six 1.16.0, while the python_env.yaml of that
    # commit would resolve to the newest six. The re-run must follow the lock.
    client.log_text(
        original, lock.replace("six==1.17.0", "six==1.16.0"), "project/environment.lock"
    )
    # The code moves on: new script, new default, another dependency.
    (repo / "main.py").write_text(DEMO_SCRIPT.format(version="v2"))
    (repo / "MLproject").write_text(DEMO_MLPROJECT.replace("default: first", "default: second"))
    (repo / "python_env.yaml").write_text("dependencies:\n  - six==1.15.0\n")
    assert commit_all(repo, "v2") != first_commit

    rerun = run(**rerun_arguments(original, client), tracking_uri=client.tracking_uri).run_id
    # The first commit's script, the recorded values (the old default too), the locked six.
    assert "demo v1 0.5 first 1.16.0" in capfd.readouterr().out
    new = client.get_run(rerun)
    assert new.info.status == "FINISHED"
    assert new.info.experiment_id == client.get_run(original).info.experiment_id
    assert new.data.tags[REPRODUCES_TAG] == original
    assert new.data.tags["mlflow.source.git.commit"] == first_commit
    assert new.data.params == {"alpha": "0.5", "label": "first"}
    diff = diff_runs(client, original, rerun)
    assert (diff.params, diff.code, diff.environment.same) == ((), (), True)


# -- through the CLI: `runlab run --from-run` (the option lives in cli/project_run.py) -----------
def invoke(client: Client, *args: str) -> tuple[int, str, str]:
    from click.testing import CliRunner

    from runlab.cli.main import cli

    result = CliRunner().invoke(
        cli, [*args, "--tracking-uri", client.tracking_uri], catch_exceptions=False
    )
    return result.exit_code, result.stdout, result.stderr


def test_cli_from_run_says_where_a_rerun_cannot_be_exact(
    client: Client, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "plain"  # not in git: re-run from the directory as it is now
    project.mkdir()
    (project / "MLproject").write_text(MLPROJECT)
    (project / "train.py").write_text("import sys\nprint('args', *sys.argv[1:])\n")
    original = recorded_run(
        client,
        str(project),
        commit=None,
        env="local",
        parameters_text=json.dumps({"entry_point": "main", "parameters": {"x": "1"}}),
    )
    code, _, err = invoke(client, "run", "--from-run", original)
    assert code == 0, err
    assert f"Note: {project} is not in git" in err
    assert f"Note: Run {original} ran in the local interpreter" in err
    assert "args --x 1" in capfd.readouterr().out  # the undeclared value, passed as --x 1
    (rerun,) = client.search_runs(
        [client.get_run(original).info.experiment_id],
        filter_string=f"tags.`{REPRODUCES_TAG}` = '{original}'",
    )
    assert rerun.info.status == "FINISHED"


def test_cli_from_run_of_a_run_that_is_no_project_run(client: Client) -> None:
    plain = client.create_run("0").info.run_id
    code, out, err = invoke(client, "run", "--from-run", plain)
    assert code == 1
    assert out == ""
    assert err.strip() == (
        f"Error: Run {plain} was not started by `runlab run` (it has no "
        "mlflow.source.type=PROJECT and mlflow.source.name tags), so there is no project to "
        "re-run."
    )
    assert [r.info.run_id for r in client.search_runs(["0"])] == [plain]  # nothing new


# -- end to end: a run of uncommitted changes and untracked files, re-run exactly ----------------
DIRTY_MLPROJECT = """\
name: dirty_demo
entry_points:
  main:
    parameters:
      out: string
    command: "python main.py {out}"
"""
# Writes what it saw to the file named by its argument (the re-runs run in temporary checkouts).
DIRTY_SCRIPT = """\
import pathlib, sys

here = pathlib.Path(".")
extra = here / "data" / "extra.csv"
seen = [
    "LABEL",
    (here / "settings.txt").read_text().strip(),
    extra.read_text().strip() if extra.exists() else "no extra",
    "old.txt there" if (here / "old.txt").exists() else "old.txt gone",
]
pathlib.Path(sys.argv[1]).write_text(" | ".join(seen))
"""


def dirty_repo(path: Path) -> str:
    """A committed project whose output depends on its script, a setting and two data files."""
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    (path / "MLproject").write_text(DIRTY_MLPROJECT)
    (path / "main.py").write_text(DIRTY_SCRIPT.replace("LABEL", "committed"))
    (path / "settings.txt").write_text("lr=1\n")
    (path / "old.txt").write_text("old\n")
    (path / ".gitignore").write_text("*.log\n")
    return commit_all(path, "first")


def git_status(repo: Path) -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def test_a_run_of_uncommitted_changes_is_rerun_exactly(client: Client, tmp_path: Path) -> None:
    from runlab.projects.run_diff import diff_runs
    from runlab.projects.runner import run

    repo = tmp_path / "repo"
    commit = dirty_repo(repo)
    out = tmp_path / "out.txt"
    # Uncommitted: the script, a setting, a deleted file, an untracked data file (and an
    # ignored file, which is not the code's).
    (repo / "main.py").write_text(DIRTY_SCRIPT.replace("LABEL", "edited"))
    (repo / "settings.txt").write_text("lr=2\n")
    (repo / "old.txt").unlink()
    (repo / "data").mkdir()
    (repo / "data" / "extra.csv").write_text("x,y\n1,2\n")
    (repo / "debug.log").write_text("ignored\n")
    expected = "edited | lr=2 | x,y\n1,2 | old.txt gone"
    original = run(
        str(repo),
        parameters={"out": str(out)},
        env_manager="local",
        experiment_name="dirty",
        tracking_uri=client.tracking_uri,
    ).run_id
    assert out.read_text() == expected
    tags = client.get_run(original).data.tags
    assert tags["mlflow.source.git.commit"] == commit
    assert tags["runlab.source.git.dirty"] == "true"
    assert tags["runlab.source.git.uncommitted"] == "recorded"
    downloads = tmp_path / "downloads"
    patch = Path(
        client.download_artifacts(original, "project/uncommitted.patch", str(downloads / "a"))
    ).read_bytes()

    # The working tree moves on: a new commit without the data file and with another script,
    # then another uncommitted setting.
    (repo / "data" / "extra.csv").unlink()
    subprocess.run(["git", "checkout", "-q", "--", "old.txt"], cwd=repo, check=True)
    (repo / "main.py").write_text(DIRTY_SCRIPT.replace("LABEL", "later"))
    (repo / "settings.txt").write_text("lr=3\n")
    assert commit_all(repo, "later") != commit
    (repo / "settings.txt").write_text("lr=4\n")
    status = git_status(repo)

    out.unlink()
    plan = load_rerun(original, client)
    assert (plan.version, plan.code_patch, plan.notes[1:]) == (commit, patch, ())
    assert "ran in the local interpreter" in plan.notes[0]  # the only note
    rerun = run(**rerun_arguments(original, client), tracking_uri=client.tracking_uri).run_id
    assert out.read_text() == expected  # the recorded commit with the recorded changes
    assert git_status(repo) == status  # the working tree was not touched
    new = client.get_run(rerun)
    assert new.info.status == "FINISHED"
    assert new.data.tags[REPRODUCES_TAG] == original
    assert new.data.tags["mlflow.source.git.commit"] == commit
    assert new.data.tags["runlab.source.git.dirty"] == "true"
    assert new.data.tags["runlab.source.git.uncommitted"] == "recorded"
    again_patch = client.download_artifacts(rerun, "project/uncommitted.patch", str(downloads))
    assert Path(again_patch).read_bytes() == patch
    diff = diff_runs(client, original, rerun)
    assert (diff.params, diff.code) == ((), ())

    # The re-run of the re-run, through the CLI, is exact too.
    out.unlink()
    code, _, err = invoke(client, "run", "--from-run", rerun)
    assert code == 0, err
    assert "ran uncommitted changes" not in err  # no note about changes left out
    assert "with its recorded uncommitted changes" in err
    assert out.read_text() == expected
    (third,) = client.search_runs(
        [new.info.experiment_id], filter_string=f"tags.`{REPRODUCES_TAG}` = '{rerun}'"
    )
    assert diff_runs(client, original, third.info.run_id).code == ()

    # A recorded patch that no longer applies: a clear error, and no run is left behind.
    broken = tmp_path / "broken" / "uncommitted.patch"
    broken.parent.mkdir()
    broken.write_bytes(patch.replace(b"-lr=1", b"-lr=9"))
    client.log_artifact(original, str(broken), "project")
    runs_before = len(client.search_runs([new.info.experiment_id]))
    with pytest.raises(InvalidParameter, match=f"do not apply to commit {commit} of {repo}"):
        run(**rerun_arguments(original, client), tracking_uri=client.tracking_uri)
    assert len(client.search_runs([new.info.experiment_id])) == runs_before


def test_uncommitted_changes_over_the_size_cap_are_not_recorded(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runlab.projects import uncommitted
    from runlab.projects.run_diff import diff_runs
    from runlab.projects.runner import run

    monkeypatch.setattr(uncommitted, "MAX_PATCH_BYTES", 100)
    repo = tmp_path / "repo"
    commit = dirty_repo(repo)
    (repo / "settings.txt").write_text("lr=2\n" + "# a long comment line\n" * 10)
    out = tmp_path / "out.txt"
    original = run(
        str(repo), parameters={"out": str(out)}, env_manager="local",
        tracking_uri=client.tracking_uri,
    ).run_id  # fmt: skip
    assert out.read_text().startswith("committed | lr=2")
    tags = client.get_run(original).data.tags
    assert tags["runlab.source.git.dirty"] == "true"
    assert tags["runlab.source.git.uncommitted"] == "too large"
    assert [a.path for a in client.list_artifacts(original, "project")] == [
        "project/MLproject", "project/environment.lock", "project/parameters.json",
    ]  # fmt: skip
    plan = load_rerun(original, client)
    assert plan.code_patch is None
    assert plan.notes[0] == (
        f"Run {original} ran uncommitted changes on top of commit {commit}, and they made too "
        "large a patch to record; the re-run runs the commit as it was committed."
    )
    rerun = run(**plan.run_arguments(), tracking_uri=client.tracking_uri).run_id
    assert out.read_text() == "committed | lr=1 | no extra | old.txt there"
    assert [c.to_dict() for c in diff_runs(client, original, rerun).code] == [
        {"key": "runlab.source.git.dirty", "a": "true", "b": None},
        {"key": "project/uncommitted.patch", "a": "not recorded (too large)", "b": None},
    ]
