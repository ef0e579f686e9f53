"""LocalArtifactRepository on a real temporary folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runlab.artifacts import ArtifactRepository, LocalArtifactRepository, get_artifact_repository
from runlab.entities import FileInfo
from runlab.errors import ArtifactNotFound, InvalidParameter

needs_symlinks = pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "mlruns" / "1" / "run" / "artifacts"


@pytest.fixture
def repo(root: Path) -> LocalArtifactRepository:
    return LocalArtifactRepository(str(root))


@pytest.fixture
def source_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "source"
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "empty").mkdir()
    (folder / "top.txt").write_text("top")
    (folder / "sub" / "a.txt").write_text("aaa")
    (folder / "sub" / "deeper" / "b.bin").write_bytes(b"\x00\x01\x02\x03")
    return folder


def _tree(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (None for folders)."""
    return {
        path.relative_to(folder).as_posix(): None if path.is_dir() else path.read_bytes()
        for path in sorted(folder.rglob("*"))
    }


def test_satisfies_the_protocol(repo: LocalArtifactRepository) -> None:
    assert isinstance(repo, ArtifactRepository)


def test_root_is_created_lazily(repo: LocalArtifactRepository, root: Path) -> None:
    assert not root.exists()
    assert repo.list_artifacts() == []
    assert not root.exists()
    repo.log_bytes(b"x", "a.txt")
    assert (root / "a.txt").read_bytes() == b"x"


def test_file_uris(tmp_path: Path) -> None:
    folder = tmp_path / "with space"
    for uri in (folder.as_uri(), "file:" + str(folder), "file://localhost" + str(folder)):
        repo = get_artifact_repository(uri)
        assert isinstance(repo, LocalArtifactRepository)
        assert repo.root == folder
    with pytest.raises(InvalidParameter) as remote:
        LocalArtifactRepository("file://otherhost/data")
    # The message names the host it refuses (and is not a template left unfilled).
    assert remote.value.message == (
        "Invalid artifact URI 'file://otherhost/data': a file: URI must name a local path "
        "(file:///path), not the host 'otherhost'."
    )
    with pytest.raises(InvalidParameter, match="fragment"):
        LocalArtifactRepository("file:///data#x")


def test_log_artifact(repo: LocalArtifactRepository, root: Path, tmp_path: Path) -> None:
    source = tmp_path / "model.pkl"
    source.write_bytes(b"weights")
    repo.log_artifact(source)
    repo.log_artifact(str(source), "nested/path")
    repo.log_artifact(source, "./dir/")
    assert _tree(root) == {
        "model.pkl": b"weights",
        "nested": None,
        "nested/path": None,
        "nested/path/model.pkl": b"weights",
        "dir": None,
        "dir/model.pkl": b"weights",
    }


def test_log_artifact_replaces_existing_file(
    repo: LocalArtifactRepository, root: Path, tmp_path: Path
) -> None:
    source = tmp_path / "a.txt"
    source.write_text("first")
    repo.log_artifact(source)
    source.write_text("second")
    repo.log_artifact(source)
    assert _tree(root) == {"a.txt": b"second"}  # and no leftover partial file


def test_log_artifact_missing_source(repo: LocalArtifactRepository, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="not an existing file"):
        repo.log_artifact(tmp_path / "missing.txt")
    with pytest.raises(InvalidParameter, match="not an existing file"):
        repo.log_artifact(tmp_path)


def test_log_artifacts(repo: LocalArtifactRepository, root: Path, source_dir: Path) -> None:
    repo.log_artifacts(source_dir)
    repo.log_artifacts(str(source_dir), "copy/two")
    expected = _tree(source_dir)
    assert _tree(root / "copy" / "two") == expected
    assert {
        key: value for key, value in _tree(root).items() if not key.startswith("copy")
    } == expected


def test_log_artifacts_missing_source(repo: LocalArtifactRepository, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="not an existing folder"):
        repo.log_artifacts(tmp_path / "missing")


def test_log_artifacts_refuses_bad_names_before_writing(
    repo: LocalArtifactRepository, root: Path, source_dir: Path
) -> None:
    (source_dir / "sub" / "bad#name.txt").write_text("x")
    with pytest.raises(InvalidParameter, match="bad#name"):
        repo.log_artifacts(source_dir)
    assert not root.exists()


@needs_symlinks
def test_log_artifacts_follows_links_but_not_cycles(
    repo: LocalArtifactRepository, root: Path, source_dir: Path, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "data.csv").write_text("1,2")
    (source_dir / "linked").symlink_to(shared, target_is_directory=True)
    (source_dir / "sub" / "loop").symlink_to(source_dir, target_is_directory=True)
    repo.log_artifacts(source_dir)
    # A linked folder is the user's data and is copied...
    assert (root / "linked" / "data.csv").read_text() == "1,2"
    assert (root / "sub" / "a.txt").read_text() == "aaa"
    # ...but a folder already copied is not entered again, so a cycle ends.
    assert (root / "sub" / "loop").is_dir()
    assert list((root / "sub" / "loop").iterdir()) == []


def test_log_bytes(repo: LocalArtifactRepository, root: Path) -> None:
    repo.log_bytes(b"one", "a/b/c.txt")
    repo.log_bytes(bytearray(b"two"), "a/b/c.txt")
    assert _tree(root) == {"a": None, "a/b": None, "a/b/c.txt": b"two"}
    with pytest.raises(InvalidParameter, match="root"):
        repo.log_bytes(b"x", "")


def test_log_bytes_file_folder_clash(repo: LocalArtifactRepository) -> None:
    repo.log_bytes(b"x", "a/b.txt")
    with pytest.raises(InvalidParameter, match="folder"):
        repo.log_bytes(b"x", "a")
    with pytest.raises(InvalidParameter, match="share a name"):
        repo.log_bytes(b"x", "a/b.txt/c.txt")


def test_list_artifacts(repo: LocalArtifactRepository, source_dir: Path) -> None:
    repo.log_artifacts(source_dir, "run")
    assert repo.list_artifacts() == [FileInfo("run", True, None)]
    assert repo.list_artifacts("run") == [
        FileInfo("run/empty", True, None),
        FileInfo("run/sub", True, None),
        FileInfo("run/top.txt", False, 3),
    ]
    assert repo.list_artifacts("run/sub/") == [
        FileInfo("run/sub/a.txt", False, 3),
        FileInfo("run/sub/deeper", True, None),
    ]
    assert repo.list_artifacts("./run/sub/deeper") == [FileInfo("run/sub/deeper/b.bin", False, 4)]
    assert repo.list_artifacts("run/empty") == []
    assert repo.list_artifacts("missing") == []
    assert repo.list_artifacts("run/top.txt") == []  # a file has no children


def test_list_hides_partial_writes(repo: LocalArtifactRepository, root: Path) -> None:
    repo.log_bytes(b"x", "a.txt")
    (root / ".runlab-partial-0123").write_bytes(b"half")
    assert repo.list_artifacts() == [FileInfo("a.txt", False, 1)]


def test_download_file(repo: LocalArtifactRepository, source_dir: Path, tmp_path: Path) -> None:
    repo.log_artifacts(source_dir)
    dst = tmp_path / "dst"
    dst.mkdir()
    local = repo.download_artifacts("sub/deeper/b.bin", str(dst))
    assert local == str(dst / "sub" / "deeper" / "b.bin")
    assert Path(local).read_bytes() == b"\x00\x01\x02\x03"
    temp_local = repo.download_artifacts("top.txt")
    assert Path(temp_local).read_text() == "top"
    assert Path(temp_local).name == "top.txt"


def test_download_directory(
    repo: LocalArtifactRepository, source_dir: Path, tmp_path: Path
) -> None:
    repo.log_artifacts(source_dir)
    local = repo.download_artifacts("sub", str(tmp_path / "new" / "dst"))
    assert local == str(tmp_path / "new" / "dst" / "sub")
    assert _tree(Path(local)) == _tree(source_dir / "sub")
    whole = repo.download_artifacts()
    assert _tree(Path(whole)) == _tree(source_dir)


def test_download_missing(repo: LocalArtifactRepository, tmp_path: Path) -> None:
    with pytest.raises(ArtifactNotFound):
        repo.download_artifacts("missing.txt", str(tmp_path))
    # An empty (never written) root downloads as an empty folder.
    empty = repo.download_artifacts("", str(tmp_path / "empty"))
    assert Path(empty).is_dir()
    assert list(Path(empty).iterdir()) == []


def test_delete_artifacts(repo: LocalArtifactRepository, root: Path, source_dir: Path) -> None:
    repo.log_artifacts(source_dir)
    repo.delete_artifacts("sub/deeper/b.bin")
    assert not (root / "sub" / "deeper" / "b.bin").exists()
    repo.delete_artifacts("sub")
    assert sorted(_tree(root)) == ["empty", "top.txt"]
    repo.delete_artifacts("missing")  # no error
    repo.delete_artifacts()
    assert root.is_dir()
    assert _tree(root) == {}
    repo.delete_artifacts()  # an empty root: still no error


def _outside_snapshot(tmp_path: Path, root: Path) -> dict[str, bytes | None]:
    return {key: value for key, value in _tree(tmp_path).items() if not key.startswith("mlruns")}


TRAVERSALS = ["../escape.txt", "../../escape", "a/../../escape", "%2e%2e/escape", "/tmp/escape"]


@pytest.mark.parametrize("bad", TRAVERSALS)
def test_traversal_through_every_method_touches_nothing_outside(
    repo: LocalArtifactRepository, root: Path, tmp_path: Path, source_dir: Path, bad: str
) -> None:
    repo.log_bytes(b"inside", "keep/me.txt")
    (tmp_path / "victim.txt").write_text("do not touch")
    before = _outside_snapshot(tmp_path, root)
    inside_before = _tree(root)

    for call in (
        lambda: repo.log_bytes(b"evil", bad),
        lambda: repo.log_artifact(source_dir / "top.txt", bad),
        lambda: repo.log_artifacts(source_dir, bad),
        lambda: repo.list_artifacts(bad),
        lambda: repo.download_artifacts(bad, str(tmp_path / "dl")),
        lambda: repo.download_artifacts(f"{bad}/victim.txt", str(tmp_path / "dl")),
        lambda: repo.delete_artifacts(bad),
        lambda: repo.delete_artifacts("../victim.txt"),
    ):
        with pytest.raises(InvalidParameter):
            call()

    assert _outside_snapshot(tmp_path, root) == before
    assert _tree(root) == inside_before


@needs_symlinks
def test_symlink_escape_is_refused_everywhere(
    repo: LocalArtifactRepository, root: Path, tmp_path: Path, source_dir: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    repo.log_bytes(b"inside", "keep.txt")
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "file_link").symlink_to(outside / "secret.txt")
    before = _tree(outside)

    for call in (
        lambda: repo.log_bytes(b"evil", "link/new.txt"),
        lambda: repo.log_bytes(b"evil", "file_link"),
        lambda: repo.log_artifact(source_dir / "top.txt", "link"),
        lambda: repo.log_artifacts(source_dir, "link/sub"),
        lambda: repo.list_artifacts("link"),
        lambda: repo.download_artifacts("link/secret.txt", str(tmp_path / "dl")),
        lambda: repo.download_artifacts("file_link", str(tmp_path / "dl")),
        lambda: repo.download_artifacts("", str(tmp_path / "dl-root")),  # walks into the link
        lambda: repo.delete_artifacts("link"),
        lambda: repo.delete_artifacts("link/secret.txt"),
    ):
        with pytest.raises(InvalidParameter, match="symbolic link"):
            call()

    assert _tree(outside) == before
    assert not (tmp_path / "dl").exists()
    # The listing of the root does not describe what the links point at.
    assert repo.list_artifacts() == [FileInfo("keep.txt", False, 6)]


@needs_symlinks
def test_symlink_inside_root_is_followed(
    repo: LocalArtifactRepository, root: Path, tmp_path: Path
) -> None:
    repo.log_bytes(b"data", "real/a.txt")
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    assert repo.list_artifacts("alias") == [FileInfo("alias/a.txt", False, 4)]
    local = repo.download_artifacts("alias/a.txt", str(tmp_path / "dl"))
    assert Path(local).read_bytes() == b"data"
    repo.delete_artifacts("alias")  # removes the link, not the folder it points at
    assert not (root / "alias").exists()
    assert (root / "real" / "a.txt").read_bytes() == b"data"
