"""The Docker build context's choices: base image, requirements, refusals."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runlab.errors import InvalidParameter
from runlab.serving.docker import generate_build_context, serve_command


def model_copy(source: Path, target: Path, python: str, requirements: list[str]) -> Path:
    shutil.copytree(source, target)
    (target / "python_env.yaml").write_text(f"python: {python}\ndependencies: []\n")
    (target / "requirements.txt").write_text("".join(f"{r}\n" for r in requirements))
    return target


def test_base_image_follows_the_models_python(tmp_path: Path, iris_model: Path) -> None:
    model = model_copy(iris_model, tmp_path / "m", "3.12.4", ["scikit-learn==1.9.1"])
    context = generate_build_context(model, tmp_path / "ctx", runlab_spec="runlab[models]")
    assert "FROM python:3.12-slim\n" in context.dockerfile.read_text()
    assert context.runlab_install == "runlab[models]"


def test_only_runlab_itself_is_dropped_from_the_requirements(
    tmp_path: Path, iris_model: Path
) -> None:
    lines = [
        "runlab==0.1.0",
        "runlab[models]>=0.1",
        "RunLab ; python_version > '3'",
        "runlab-extras==1.0",
        "mlflow==3.17.2",
        "scikit-learn==1.9.1",
    ]
    model = model_copy(iris_model, tmp_path / "m", "3.11", lines)
    context = generate_build_context(model, tmp_path / "ctx", runlab_spec="runlab")
    kept = (context.directory / "requirements.txt").read_text().splitlines()
    assert kept == ["runlab-extras==1.0", "mlflow==3.17.2", "scikit-learn==1.9.1"]


def test_the_copied_model_is_readable_by_the_images_user(tmp_path: Path, iris_model: Path) -> None:
    model = model_copy(iris_model, tmp_path / "m", "3.11", [])
    model.chmod(0o700)  # as save_model leaves it
    (model / "MLmodel").chmod(0o600)
    context = generate_build_context(model, tmp_path / "ctx", runlab_spec="runlab")
    for path in [context.model_dir, *context.model_dir.rglob("*")]:
        assert path.stat().st_mode & 0o777 == (0o755 if path.is_dir() else 0o644), path


def test_refuses_a_folder_that_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="no MLmodel"):
        generate_build_context(tmp_path, tmp_path / "ctx", runlab_spec="runlab")


def test_the_serve_command() -> None:
    assert serve_command("/m", 9000) == [
        "runlab",
        "models",
        "serve",
        "-m",
        "/m",
        "--host",
        "0.0.0.0",
        "-p",
        "9000",
    ]


def test_a_trusting_image_starts_the_server_with_trust_model(
    tmp_path: Path, iris_model: Path
) -> None:
    assert serve_command("/m", 9000, trust_model=True)[-1] == "--trust-model"
    model = model_copy(iris_model, tmp_path / "m", "3.11", [])
    trusting = generate_build_context(model, tmp_path / "a", runlab_spec="runlab", trust_model=True)
    assert '"-p", "8080", "--trust-model"]\n' in trusting.dockerfile.read_text()
    default = generate_build_context(model, tmp_path / "b", runlab_spec="runlab")
    assert "--trust-model" not in default.dockerfile.read_text()
