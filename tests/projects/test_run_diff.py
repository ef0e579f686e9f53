"""``runlab runs diff`` and runlab.projects.run_diff: params, code, environment lock, metrics."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from runlab.cli.main import cli
from runlab.projects.run_diff import Change, diff_locks, diff_runs, parse_lock
from runlab.tracking import config
from runlab.tracking.client import Client

LOCK_A = """\
# resolved by uv
numpy==1.26.4
Pandas==2.2.1
requests==2.31.0
six==1.16.0
"""
LOCK_B = """\
numpy==2.0.0
pandas==2.2.1
requests==2.31.0
tqdm==4.66.1
"""


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    """A client on a fresh SQLite file; artifacts land under tmp_path (the working directory)."""
    monkeypatch.chdir(tmp_path)
    for name in ("RUNLAB_TRACKING_URI", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    config.set_tracking_uri(None)
    yield Client(f"sqlite:///{tmp_path / 'diff.db'}")
    config.set_tracking_uri(None)


def project_run(
    client: Client,
    *,
    params: dict[str, str],
    commit: str,
    lock: str | None,
    metrics: dict[str, list[float]],
) -> str:
    """A finished run recorded the way a project run is: params, source tags, lock, metrics."""
    run_id = client.create_run("0").info.run_id
    for key, value in params.items():
        client.log_param(run_id, key, value, synchronous=True)
    tags = {
        "mlflow.source.type": "PROJECT",
        "mlflow.source.name": "https://example.invalid/team/train.git",
        "mlflow.source.git.repoURL": "https://example.invalid/team/train.git",
        "mlflow.source.git.commit": commit,
        "mlflow.project.entryPoint": "main",
        "mlflow.project.env": "uv",
    }
    for key, value in tags.items():
        client.set_tag(run_id, key, value, synchronous=True)
    if lock is not None:
        client.log_text(run_id, lock, "project/environment.lock")
    for key, values in metrics.items():
        for step, value in enumerate(values):
            client.log_metric(run_id, key, value, step=step, synchronous=True)
    client.set_terminated(run_id)
    return run_id


@pytest.fixture
def two_runs(client: Client) -> tuple[str, str]:
    """Run A and run B, differing in one param, the commit, the lock and two metrics."""
    a = project_run(
        client,
        params={"alpha": "0.1", "epochs": "3"},
        commit="a" * 40,
        lock=LOCK_A,
        metrics={"loss": [0.9, 0.5], "acc": [0.8], "nan_both": [math.nan]},
    )
    b = project_run(
        client,
        params={"alpha": "0.2", "epochs": "3", "seed": "7"},
        commit="b" * 40,
        lock=LOCK_B,
        metrics={"loss": [0.9, 0.25], "acc": [0.8], "nan_both": [math.nan], "f1": [0.5]},
    )
    return a, b


def invoke(client: Client, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        cli, [*args, "--tracking-uri", client.tracking_uri], catch_exceptions=False
    )
    return result.exit_code, result.stdout, result.stderr


def test_parse_lock_reads_pip_uv_and_conda_lines() -> None:
    text = "\n".join(
        [
            "# comment",
            "",
            "--index-url https://pypi.example/simple",
            "NumPy==1.26.4",
            "zope.interface==6.2 ; python_version >= '3.8'",
            "mypkg @ file:///build/mypkg-1.0-py3-none-any.whl",
            "-e git+https://example.invalid/repo.git@abc123#egg=Local_Pkg",
            "requests[socks]==2.31.0",
            "-e file:///src/checkout",
            "python=3.11.8=h955ad1f_0",
        ]
    )
    assert parse_lock(text) == {
        "numpy": "1.26.4",
        "zope-interface": "6.2",
        "mypkg": "@ file:///build/mypkg-1.0-py3-none-any.whl",
        "local-pkg": "-e git+https://example.invalid/repo.git@abc123#egg=Local_Pkg",
        "requests": "2.31.0",
        "-e file:///src/checkout": "editable",
        "python": "3.11.8=h955ad1f_0",
    }


def test_the_python_version_of_runlab_locks_is_compared() -> None:
    a = "# runlab environment lock: uv, python 3.11.7\nsix==1.17.0\n"
    b = "# runlab environment lock: virtualenv, python 3.12.1\nsix==1.17.0\n"
    assert parse_lock(a) == {"python": "3.11.7", "six": "1.17.0"}
    assert [(c.key, c.a, c.b) for c in diff_locks(a, b).changed] == [("python", "3.11.7", "3.12.1")]


def test_diff_locks_package_by_package() -> None:
    env = diff_locks(LOCK_A, LOCK_B)
    assert [(c.key, c.a, c.b) for c in env.changed] == [("numpy", "1.26.4", "2.0.0")]
    assert [(c.key, c.a) for c in env.removed] == [("six", "1.16.0")]
    assert [(c.key, c.b) for c in env.added] == [("tqdm", "4.66.1")]
    # "Pandas" and "pandas" are the same package at the same version: no difference.
    assert not env.same
    assert diff_locks(LOCK_A, LOCK_A.replace("Pandas", "pandas")).same
    missing = diff_locks(None, LOCK_B)
    assert (missing.a_recorded, missing.b_recorded, missing.same) == (False, True, False)
    assert len(missing.added) == 4
    assert diff_locks(None, None).same


def test_diff_runs_compares_params_code_lock_and_latest_metrics(
    client: Client, two_runs: tuple[str, str]
) -> None:
    diff = diff_runs(client, *two_runs)
    assert [(c.key, c.a, c.b) for c in diff.params] == [
        ("alpha", "0.1", "0.2"),
        ("seed", None, "7"),
    ]
    assert [(c.key, c.a, c.b) for c in diff.code] == [
        ("mlflow.source.git.commit", "a" * 40, "b" * 40)
    ]
    assert [c.key for c in diff.environment.changed] == ["numpy"]
    # Latest values: loss ended at 0.5 and 0.25; acc is equal, NaN in both is no difference.
    assert [(c.key, c.a, c.b) for c in diff.metrics] == [("f1", None, 0.5), ("loss", 0.5, 0.25)]
    assert not diff.same
    assert diff_runs(client, two_runs[0], two_runs[0]).same


def test_cli_diff_prints_each_kind_of_difference(client: Client, two_runs: tuple[str, str]) -> None:
    code, out, _ = invoke(client, "runs", "diff", *two_runs)
    assert code == 0, out
    assert f"A: {two_runs[0]}" in out and f"B: {two_runs[1]}" in out
    for text in ("Params", "alpha", "0.1", "0.2", "seed"):
        assert text in out
    assert "Code" in out and "a" * 40 in out and "b" * 40 in out
    assert "Environment lock" in out
    assert "numpy" in out and "1.26.4" in out and "2.0.0" in out
    assert "only in A" in out and "six" in out and "only in B" in out and "tqdm" in out
    assert "Metrics (latest)" in out and "loss" in out and "-0.25" in out
    # Equal values are not shown.
    assert "epochs" not in out and "requests" not in out and "nan_both" not in out


def test_cli_diff_json(client: Client, two_runs: tuple[str, str]) -> None:
    code, out, _ = invoke(client, "runs", "diff", *two_runs, "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["run_a"] == two_runs[0] and data["run_b"] == two_runs[1]
    assert data["same"] is False
    assert data["params"] == [
        {"key": "alpha", "a": "0.1", "b": "0.2"},
        {"key": "seed", "a": None, "b": "7"},
    ]
    assert data["environment"]["changed"] == [{"key": "numpy", "a": "1.26.4", "b": "2.0.0"}]
    assert data["environment"]["added"] == [{"key": "tqdm", "a": None, "b": "4.66.1"}]
    assert data["environment"]["removed"] == [{"key": "six", "a": "1.16.0", "b": None}]
    assert {"key": "loss", "a": 0.5, "b": 0.25, "delta": -0.25} in data["metrics"]
    assert {"key": "f1", "a": None, "b": 0.5, "delta": None} in data["metrics"]


def test_cli_diff_of_a_run_with_itself_and_without_locks(client: Client) -> None:
    plain = client.create_run("0").info.run_id
    code, out, _ = invoke(client, "runs", "diff", plain, plain)
    assert code == 0
    assert "No differences." in out
    with_lock = project_run(client, params={}, commit="c" * 40, lock=LOCK_A, metrics={})
    code, out, _ = invoke(client, "runs", "diff", plain, with_lock)
    assert code == 0
    assert "Run A recorded no environment lock." in out
    assert (
        json.loads(invoke(client, "runs", "diff", plain, with_lock, "--json")[1])["environment"][
            "a_recorded"
        ]
        is False
    )


def test_a_rerun_at_the_same_commit_differs_in_nothing(client: Client) -> None:
    original = project_run(client, params={"a": "1"}, commit="c" * 40, lock=LOCK_A, metrics={})
    rerun = project_run(client, params={"a": "1"}, commit="c" * 40, lock=LOCK_A, metrics={})
    # The original ran branch main; the re-run checked out the commit itself.
    client.set_tag(original, "mlflow.source.git.branch", "main", synchronous=True)
    client.set_tag(rerun, "mlflow.source.git.branch", "c" * 40, synchronous=True)
    client.set_tag(rerun, "runlab.project.reproducesRun", original, synchronous=True)
    diff = diff_runs(client, original, rerun)
    assert diff.same
    assert (diff.a_reproduces, diff.b_reproduces) == (None, original)
    code, out, _ = invoke(client, "runs", "diff", original, rerun)
    assert code == 0
    assert out.splitlines() == [
        f"A: {original}",
        f"B: {rerun} (a re-run of {original})",
        "No differences.",
    ]
    # Another commit: the branch names count again.
    client.set_tag(rerun, "mlflow.source.git.commit", "d" * 40, synchronous=True)
    keys = [c.key for c in diff_runs(client, original, rerun).code]
    assert keys == ["mlflow.source.git.commit", "mlflow.source.git.branch"]


def dirty(client: Client, run_id: str, patch: bytes | None, uncommitted: str | None) -> None:
    """Mark a run as one of uncommitted changes, with ``patch`` recorded as a project run would."""
    client.set_tag(run_id, "runlab.source.git.dirty", "true", synchronous=True)
    if uncommitted is not None:
        client.set_tag(run_id, "runlab.source.git.uncommitted", uncommitted, synchronous=True)
    if patch is not None:
        folder = Path(f"patch-{run_id}")  # the working directory is tmp_path
        folder.mkdir()
        (folder / "uncommitted.patch").write_bytes(patch)
        client.log_artifact(run_id, str(folder / "uncommitted.patch"), "project")


def test_uncommitted_changes_of_runs_of_the_same_commit_are_compared(client: Client) -> None:
    from runlab.projects.uncommitted import describe_patch

    def run_of(commit: str = "c" * 40) -> str:
        return project_run(client, params={}, commit=commit, lock=None, metrics={})

    patch_1, patch_2 = b"diff --git a/x b/x\n+1\n", b"diff --git a/x b/x\n+2\n\x00"
    a, same, other, clean = run_of(), run_of(), run_of(), run_of()
    dirty(client, a, patch_1, "recorded")
    dirty(client, same, patch_1, "recorded")
    dirty(client, other, patch_2, "recorded")
    assert diff_runs(client, a, same).same  # the same changes on the same commit
    key = "project/uncommitted.patch"
    assert diff_runs(client, a, other).code == (
        Change(key, describe_patch(patch_1), describe_patch(patch_2)),
    )
    # A clean run of the commit: the dirty tag and the patch both differ.
    assert [c.to_dict() for c in diff_runs(client, clean, a).code] == [
        {"key": "runlab.source.git.dirty", "a": None, "b": "true"},
        {"key": key, "a": None, "b": describe_patch(patch_1)},
    ]
    # Changes that were not recorded cannot be shown the same, even on both sides.
    old, too_large = run_of(), run_of()
    dirty(client, old, None, None)
    dirty(client, too_large, None, "too large")
    assert diff_runs(client, old, too_large).code == (
        Change(key, "not recorded (no patch)", "not recorded (too large)"),
    )
    assert diff_runs(client, too_large, too_large).code == (
        Change(key, "not recorded (too large)", "not recorded (too large)"),
    )
    code, out, _ = invoke(client, "runs", "diff", a, other)
    assert code == 0
    assert key in out and describe_patch(patch_2) in out
    # Runs of different commits: the commit is the difference, patches are not compared.
    elsewhere = run_of("d" * 40)
    dirty(client, elsewhere, patch_2, "recorded")
    keys = [c.key for c in diff_runs(client, a, elsewhere).code]
    assert keys == ["mlflow.source.git.commit"]


def test_cli_diff_of_unknown_run_is_a_one_line_error(client: Client) -> None:
    known = client.create_run("0").info.run_id
    code, out, err = invoke(client, "runs", "diff", known, "0" * 32)
    assert code == 1
    assert out == ""
    assert err.strip() == f"Error: Run with id={'0' * 32} not found"
    code, _, err = invoke(client, "runs", "diff", known)
    assert code == 2
    assert "Missing argument 'RUN_B'" in err
