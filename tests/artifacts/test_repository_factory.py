"""``mlflow-artifacts:`` locations seen by a client of a SQLite store: the folder beside it.

``runlab server`` keeps proxied artifacts in ``runlab-artifacts/`` beside its SQLite file unless
told otherwise, so a script that opens that file directly finds them there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runlab import uris
from runlab.artifacts import LocalArtifactRepository, get_artifact_repository
from runlab.errors import InvalidParameter


def test_sqlite_client_resolves_proxy_locations_beside_the_database(tmp_path: Path) -> None:
    tracking = f"sqlite:///{tmp_path / 'runlab.db'}"
    beside = tmp_path.resolve() / "runlab-artifacts"
    assert uris.local_proxy_destination(tracking) == beside.as_uri()
    # The same folder runlab server uses by default, and a local script's own default root.
    assert uris.default_artifact_root(tracking, "/elsewhere") == beside.as_uri()
    cases = {
        "mlflow-artifacts:/0/abc/artifacts": beside / "0" / "abc" / "artifacts",
        "mlflow-artifacts:/1/a%20b/c": beside / "1" / "a b" / "c",
        "mlflow-artifacts:/": beside,
    }
    for uri, folder in cases.items():
        repo = get_artifact_repository(uri, tracking_uri=tracking)
        assert isinstance(repo, LocalArtifactRepository)
        assert repo.root == folder
    repo = get_artifact_repository("mlflow-artifacts:/0/r/artifacts", tracking_uri=tracking)
    repo.log_bytes(b"x", "notes/a.txt")
    assert (beside / "0" / "r" / "artifacts" / "notes" / "a.txt").read_bytes() == b"x"


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("mlflow-artifacts://tracking.example.org:5000/0/r", "set the tracking URI to that server"),
        ("mlflow-artifacts:/0/../../escape", "Invalid artifact path"),
        ("mlflow-artifacts:/0/%2e%2e/%2e%2e/escape", "Invalid artifact path"),
        ("mlflow-artifacts:/0/r?x=1", "query or a fragment"),
    ],
)
def test_sqlite_client_refuses_what_it_cannot_resolve(
    tmp_path: Path, uri: str, fragment: str
) -> None:
    with pytest.raises(InvalidParameter, match=fragment):
        get_artifact_repository(uri, tracking_uri=f"sqlite:///{tmp_path / 'runlab.db'}")
    assert not (tmp_path / "runlab-artifacts").exists()
    assert not (tmp_path / "escape").exists()


@pytest.mark.parametrize(
    "tracking", ["postgresql://u@db.example.org/runlab", "mysql://u@h/db", "sqlite://", None]
)
def test_other_stores_must_go_through_the_server(tracking: str | None) -> None:
    assert uris.local_proxy_destination(tracking) is None
    with pytest.raises(InvalidParameter, match="set the tracking URI"):
        get_artifact_repository("mlflow-artifacts:/0/r/artifacts", tracking_uri=tracking)
