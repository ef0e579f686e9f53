"""``runlab deployments create|update --dry-run / --apply``: the flags the issue names.

``--dry-run`` leaves stdout to the manifests the target prints, so they pipe into ``kubectl
apply -f -``; the note that nothing was created goes to stderr.
"""

from __future__ import annotations

import yaml
from click.testing import CliRunner

from runlab.cli.main import cli
from support.tracking_state import clean_env  # noqa: F401  (autouse: clean env, cwd in tmp)


def test_dry_run_prints_only_the_manifests_on_stdout() -> None:
    result = CliRunner().invoke(
        cli,
        [
            "deployments",
            "create",
            "-t",
            "kubernetes",
            "--name",
            "churn",
            "-m",
            "models:/churn/3",
            "-C",
            "model_in_image=true",
            "--dry-run",
        ],
    )
    assert result.exit_code == 0, result.output
    documents = list(yaml.safe_load_all(result.stdout))
    assert [d["kind"] for d in documents] == ["Deployment", "Service"]
    assert "Dry run: nothing was created or changed." in result.stderr


def test_without_dry_run_the_manifests_are_written_and_the_result_printed() -> None:
    result = CliRunner().invoke(
        cli,
        [
            "deployments",
            "create",
            "-t",
            "kubernetes",
            "--name",
            "churn",
            "-m",
            "models:/churn/3",
            "-C",
            "model_in_image=true",
        ],
    )
    assert result.exit_code == 0, result.output
    assert '"name": "churn"' in result.stdout
    assert "created on kubernetes" in result.stderr


def test_apply_without_a_kubeconfig_fails_with_one_line(monkeypatch: object) -> None:
    import os

    os.environ["KUBECONFIG"] = os.path.join(os.getcwd(), "missing-kubeconfig")
    try:
        result = CliRunner().invoke(
            cli,
            [
                "deployments",
                "create",
                "-t",
                "kubernetes",
                "--name",
                "churn",
                "-m",
                "models:/churn/3",
                "-C",
                "model_in_image=true",
                "--apply",
            ],
        )
    finally:
        del os.environ["KUBECONFIG"]
    assert result.exit_code == 1
    assert result.stderr.startswith("Error:")
    assert len(result.stderr.strip().splitlines()) == 1
