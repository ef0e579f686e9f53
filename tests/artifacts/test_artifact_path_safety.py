"""The artifact path rules: what is accepted (and how it is normalized), what is refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runlab.artifacts import LocalArtifactRepository
from runlab.artifacts.path_safety import (
    MAX_ARTIFACT_PATH_LENGTH,
    join_artifact_path,
    safe_join,
    validate_artifact_path,
)
from runlab.errors import InvalidParameter

GOOD_PATHS = [
    ("", ""),
    (".", ""),
    ("./", ""),
    ("a.txt", "a.txt"),
    ("dir/a.txt", "dir/a.txt"),
    ("dir/", "dir"),
    ("./dir/./a.txt", "dir/a.txt"),
    ("deep/er/still/file.bin", "deep/er/still/file.bin"),
    (".hidden", ".hidden"),
    ("a..b", "a..b"),
    ("x...y/z", "x...y/z"),
    ("50%.txt", "50%.txt"),
    ("a%20b.txt", "a%20b.txt"),  # decodes to "a b.txt": harmless
    ("with space/a b.txt", "with space/a b.txt"),
    ("résumé.txt", "résumé.txt"),
    ("日本/図.png", "日本/図.png"),
    ("model/MLmodel", "model/MLmodel"),
    ("time=12:00.txt", "time=12:00.txt"),  # a colon after a '=' cannot read as a scheme
    ("a/b:c", "a/b:c"),
    ("dots.in.name.tar.gz", "dots.in.name.tar.gz"),
]

BAD_PATHS = [
    "..",
    "../a",
    "a/..",
    "a/../b",
    "a/b/../../..",
    "./..",
    "...",
    ".. ",
    " . ",
    "/",
    "//",
    "/etc/passwd",
    "//server/share",
    "C:\\x",
    "C:/x",
    "c:x",
    "C:",
    "s3:bucket",
    "file:/etc/passwd",
    "a\\b",
    "..\\a",
    "%2e%2e",
    "%2e%2e/x",
    "%2E%2E/x",
    ".%2e/x",
    "a/%2e/b",
    "a%2fb",
    "a%2Fb",
    "%2f",
    "%2fetc",
    "a%5cb",
    "%5C..",
    "%252e%252e/x",
    "%25252e%25252e/x",
    "a%252fb",
    "%%32%65%%32%65/x",
    "%ff",
    "a%00b",
    "a\x00b",
    "a\nb",
    "a\rb",
    "a\tb",
    "a\x1bb",
    "a\x7fb",
    "a\x85b",
    "a\u2028b",
    "a#b",
    "a?b",
    "a;b",
    "..;/x",
    "a/%23",
    "a/%3f",
    "a//b",
    ".//.",
    "\uff0e\uff0e/x",  # fullwidth dots: NFKC gives ".."
    "a\uff0fb",  # fullwidth solidus: NFKC gives "/"
    "a\uff3cb",  # fullwidth reverse solidus: NFKC gives "\"
    "\u2025/x",  # two-dot leader: NFKC gives ".."
    "x" * (MAX_ARTIFACT_PATH_LENGTH + 1),
]


@pytest.mark.parametrize(("raw", "expected"), GOOD_PATHS)
def test_good_paths_are_normalized(raw: str, expected: str) -> None:
    assert validate_artifact_path(raw) == expected


@pytest.mark.parametrize("raw", BAD_PATHS)
def test_bad_paths_are_refused(raw: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        validate_artifact_path(raw)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "Invalid artifact path" in caught.value.message


def _tree(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


@pytest.mark.parametrize("raw", BAD_PATHS)
def test_bad_paths_write_nothing(raw: str, tmp_path: Path) -> None:
    """A refused path, given to every writing method of a local repository, writes nothing."""
    root = tmp_path / "root" / "artifacts"
    root.mkdir(parents=True)
    source_file = tmp_path / "source.txt"
    source_file.write_text("payload")
    source_dir = tmp_path / "source_dir"
    (source_dir / "sub").mkdir(parents=True)
    (source_dir / "sub" / "f.txt").write_text("payload")
    before = _tree(tmp_path)
    repo = LocalArtifactRepository(str(root))

    with pytest.raises(InvalidParameter):
        repo.log_bytes(b"payload", raw)
    with pytest.raises(InvalidParameter):
        repo.log_artifact(source_file, raw)
    with pytest.raises(InvalidParameter):
        repo.log_artifacts(source_dir, raw)
    with pytest.raises(InvalidParameter):
        repo.download_artifacts(raw, str(tmp_path / "dst"))
    with pytest.raises(InvalidParameter):
        repo.list_artifacts(raw)
    with pytest.raises(InvalidParameter):
        repo.delete_artifacts(raw)

    assert _tree(tmp_path) == before


def test_refusal_messages_say_what_is_wrong() -> None:
    cases = {
        "../a": "'..'",
        "/abs": "absolute",
        "a\\b": "backslash",
        "%2e%2e/x": "percent-decoded",
        "%252e%252e/x": "percent-decoded 2 times",
        "a#b": "'#'",
        "a//b": "empty part",
        "a\x00b": "control character",
        "\uff0e\uff0e/x": "Unicode normalization",
    }
    for raw, fragment in cases.items():
        with pytest.raises(InvalidParameter, match="Invalid artifact path") as caught:
            validate_artifact_path(raw)
        assert fragment in caught.value.message, (raw, caught.value.message)


def test_non_string_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="expected a string"):
        validate_artifact_path(b"a.txt")  # type: ignore[arg-type]


def test_join_artifact_path() -> None:
    assert join_artifact_path(None, "a.txt") == "a.txt"
    assert join_artifact_path("", "dir", "a.txt") == "dir/a.txt"
    assert join_artifact_path("dir/", "./sub", "a.txt") == "dir/sub/a.txt"
    assert join_artifact_path() == ""
    with pytest.raises(InvalidParameter):
        join_artifact_path("dir", "..", "a.txt")
    with pytest.raises(InvalidParameter):
        join_artifact_path("dir", "/etc")


def test_safe_join_stays_under_root(tmp_path: Path) -> None:
    assert safe_join(tmp_path, "") == tmp_path
    assert safe_join(tmp_path, "a/b.txt") == tmp_path / "a" / "b.txt"
    assert safe_join(str(tmp_path), "./a/") == tmp_path / "a"
    with pytest.raises(InvalidParameter):
        safe_join(tmp_path, "../x")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_safe_join_refuses_symlink_escape(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    (root / "inner").mkdir(parents=True)
    outside.mkdir()
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "escape_file").symlink_to(outside / "secret.txt")
    (root / "alias").symlink_to(root / "inner", target_is_directory=True)

    with pytest.raises(InvalidParameter, match="symbolic link"):
        safe_join(root, "escape")
    with pytest.raises(InvalidParameter, match="symbolic link"):
        safe_join(root, "escape/new.txt")
    with pytest.raises(InvalidParameter, match="symbolic link"):
        safe_join(root, "escape_file")
    # A link that stays inside the root is fine; the lexical path is returned.
    assert safe_join(root, "alias/x.txt") == root / "alias" / "x.txt"


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_safe_join_accepts_a_root_that_is_itself_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    assert safe_join(link, "a.txt") == link / "a.txt"
