"""Package-level promises: cheap import, the factory's scheme dispatch, the public names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import runlab.artifacts
from runlab.artifacts import (
    SUPPORTED_SCHEMES,
    LocalArtifactRepository,
    S3ArtifactRepository,
    get_artifact_repository,
)
from runlab.errors import InvalidParameter

HEAVY_MODULES = [
    "boto3",
    "botocore",
    "s3transfer",
    "numpy",
    "PIL",
    "matplotlib",
    "plotly",
    "yaml",
    "kaleido",
]


def test_import_is_cheap() -> None:
    """Importing runlab.artifacts must not pull in any optional heavy dependency."""
    code = (
        "import json, sys\n"
        "import runlab.artifacts\n"
        f"heavy = {HEAVY_MODULES!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(result.stdout) == []


def test_public_names() -> None:
    assert sorted(runlab.artifacts.__all__) == sorted(
        [
            "SUPPORTED_SCHEMES",
            "ArtifactRepository",
            "LocalArtifactRepository",
            "S3ArtifactRepository",
            "download_artifacts",
            "get_artifact_repository",
            "join_artifact_path",
            "list_artifacts",
            "load_dict",
            "load_image",
            "load_text",
            "log_dict",
            "log_figure",
            "log_image",
            "log_text",
            "safe_join",
            "validate_artifact_path",
        ]
    )
    for name in runlab.artifacts.__all__:
        assert getattr(runlab.artifacts, name) is not None


def test_import_loads_no_tracking_code() -> None:
    """The MLflow-style readers are forwarded on first use; importing the package (or using a
    repository) loads nothing of the tracking layer or the stores."""
    code = (
        "import json, sys\n"
        "import runlab.artifacts\n"
        "from runlab.artifacts import LocalArtifactRepository, get_artifact_repository\n"
        "before = sorted(m for m in sys.modules if m.startswith(('runlab.tracking', "
        "'runlab.store', 'sqlalchemy')))\n"
        "runlab.artifacts.load_text\n"
        "after = 'runlab.tracking.artifact_reading' in sys.modules\n"
        "print(json.dumps([before, after]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(result.stdout) == [[], True]


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_reader"):
        runlab.artifacts.no_such_reader  # type: ignore[attr-defined]  # noqa: B018
    assert {"download_artifacts", "load_text"} <= set(dir(runlab.artifacts))


def test_factory_local(tmp_path: Path) -> None:
    assert isinstance(get_artifact_repository(str(tmp_path)), LocalArtifactRepository)
    assert isinstance(get_artifact_repository(tmp_path.as_uri()), LocalArtifactRepository)
    assert isinstance(get_artifact_repository("relative/mlruns"), LocalArtifactRepository)
    # A one-letter scheme is a Windows drive, i.e. a path.
    assert isinstance(get_artifact_repository("C:/runs"), LocalArtifactRepository)
    assert isinstance(get_artifact_repository("FILE:" + str(tmp_path)), LocalArtifactRepository)


def test_factory_s3() -> None:
    pytest.importorskip("boto3")
    repo = get_artifact_repository("s3://bucket/some/prefix")
    assert isinstance(repo, S3ArtifactRepository)
    assert (repo.bucket, repo.prefix) == ("bucket", "some/prefix")


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("gs://bucket/x", "gs: is not supported"),
        ("wasbs://c@acct.blob.core.windows.net/x", "not supported"),
        ("hdfs://nn/x", "not supported"),
        ("runs:/abc/model", "tracking client"),
        ("models:/name/1", "tracking client"),
    ],
)
def test_factory_unknown_schemes(uri: str, fragment: str) -> None:
    with pytest.raises(InvalidParameter, match=fragment) as caught:
        get_artifact_repository(uri)
    for scheme in SUPPORTED_SCHEMES:
        assert f"{scheme}:" in caught.value.message


def test_s3_missing_boto3_gives_install_hint() -> None:
    """Run in a subprocess where boto3 cannot be imported (its import is blocked)."""
    code = (
        "import sys\n"
        "sys.modules['boto3'] = None  # makes 'import boto3' raise ImportError\n"
        "from runlab.artifacts import get_artifact_repository\n"
        "try:\n"
        "    get_artifact_repository('s3://bucket/x')\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert "pip install 'runlab[s3]'" in result.stdout
