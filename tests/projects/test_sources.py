"""Fetching projects: local directories, git repositories (file://, http://, git@), versions,
subdirectories, and the temporary checkout's cleanup."""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from runlab.errors import InvalidParameter
from runlab.projects.sources import checkout_project, fetch_project, is_git_uri


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` and return its stdout (stripped)."""
    proc = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


def make_repo(path: Path) -> dict[str, str]:
    """A repository with two commits on main, a tag, a branch and a project in sub/.

    Returns the commit ids: first (tagged v1, marker "one"), second (main, marker "two"),
    feature (branch "feature", marker "feature").
    """
    path.mkdir(parents=True)
    git(path, "init", "--quiet", "--initial-branch=main")
    (path / "marker.txt").write_text("one")
    (path / "sub").mkdir()
    (path / "sub" / "inner.txt").write_text("inner")
    git(path, "add", ".")
    git(path, "commit", "--quiet", "-m", "one")
    first = git(path, "rev-parse", "HEAD")
    git(path, "tag", "v1")
    git(path, "checkout", "--quiet", "-b", "feature")
    (path / "marker.txt").write_text("feature")
    git(path, "commit", "--quiet", "-am", "feature")
    feature = git(path, "rev-parse", "HEAD")
    git(path, "checkout", "--quiet", "main")
    (path / "marker.txt").write_text("two")
    git(path, "commit", "--quiet", "-am", "two")
    second = git(path, "rev-parse", "HEAD")
    return {"first": first, "second": second, "feature": feature}


@pytest.fixture
def scratch_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary directories go here, so a test can see that nothing was left behind."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return scratch


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "repo"
    return path, make_repo(path)


def test_uri_kinds() -> None:
    assert is_git_uri("file:///srv/repo")
    assert is_git_uri("https://example.com/org/repo.git#sub")
    assert is_git_uri("http://example.com/repo")
    assert is_git_uri("ssh://git@example.com/repo.git")
    assert is_git_uri("git@github.com:org/repo.git")
    assert not is_git_uri("some/dir")
    assert not is_git_uri("/abs/dir#sub")
    assert not is_git_uri("ext::sh -c touch% /tmp/x")
    assert not is_git_uri("C:\\projects\\p")


def test_local_directory_runs_in_place(tmp_path: Path, scratch_tmp: Path) -> None:
    project = tmp_path / "plain"
    project.mkdir()
    with fetch_project(str(project)) as (directory, gitinfo):
        assert directory == project.resolve()
        assert gitinfo is None  # not in git: no git tags
    assert project.is_dir()  # a local project is never removed
    assert list(scratch_tmp.iterdir()) == []


def test_local_subdirectory(tmp_path: Path) -> None:
    project = tmp_path / "plain"
    (project / "inner").mkdir(parents=True)
    fetched = checkout_project(f"{project}#inner", None, tmp_path / "work")
    assert fetched.directory == (project / "inner").resolve()
    assert fetched.source_name == str((project / "inner").resolve())


def test_local_git_working_tree(repo: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    path, commits = repo
    git(path, "remote", "add", "origin", "https://user:s3cret@example.com/org/repo.git")
    fetched = checkout_project(str(path), None, tmp_path / "work")
    assert fetched.directory == path.resolve()
    assert fetched.git is not None
    assert fetched.git.commit == commits["second"]
    assert fetched.git.branch == "main"
    assert fetched.git.repo_url == "https://example.com/org/repo.git"  # no credentials
    assert fetched.git.dirty is False
    (path / ".gitignore").write_text("*.log\n")
    git(path, "add", ".gitignore")
    git(path, "commit", "--quiet", "-m", "ignore logs")
    (path / "output.log").write_text("an ignored file does not count")
    still_clean = checkout_project(str(path), None, tmp_path / "work")
    assert still_clean.git is not None and still_clean.git.dirty is False
    assert still_clean.uncommitted is None
    (path / "untracked.txt").write_text("a new file the code may read counts")
    untracked = checkout_project(str(path), None, tmp_path / "work")
    assert untracked.git is not None and untracked.git.dirty is True
    assert untracked.uncommitted is not None and untracked.uncommitted.patch is not None
    (path / "untracked.txt").unlink()
    (path / "marker.txt").write_text("edited")
    dirty = checkout_project(str(path), None, tmp_path / "work")
    assert dirty.git is not None and dirty.git.dirty is True
    assert dirty.uncommitted is not None and dirty.uncommitted.patch is not None
    assert b"+edited" in dirty.uncommitted.patch


def test_a_patch_is_applied_to_the_checkout_before_the_subdirectory_is_looked_up(
    repo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    path, commits = repo
    # A project folder that was never committed, and an edit to a committed file.
    (path / "newproject").mkdir()
    (path / "newproject" / "MLproject").write_text("name: new\n")
    (path / "marker.txt").write_text("patched")
    local = checkout_project(str(path / "newproject"), None, tmp_path / "local")
    assert local.uncommitted is not None and local.uncommitted.patch is not None
    patch = local.uncommitted.patch
    for uri in (str(path / "newproject"), f"{path.as_uri()}#newproject"):
        work = tmp_path / "work"
        fetched = checkout_project(uri, commits["second"], work, code_patch=patch)
        assert fetched.directory.is_relative_to(work)
        assert (fetched.directory / "MLproject").read_text() == "name: new\n"
        assert (fetched.directory.parent / "marker.txt").read_text() == "patched"
        assert fetched.git is not None and fetched.git.dirty is True
        assert fetched.git.commit == commits["second"]
        assert fetched.uncommitted is not None and fetched.uncommitted.patch == patch
        shutil.rmtree(work)
    # The first commit has another marker.txt: the patch does not apply there.
    with pytest.raises(InvalidParameter, match=f"do not apply to commit {commits['first']} of"):
        checkout_project(str(path / "newproject"), "v1", tmp_path / "other", code_patch=patch)
    # A directory run in place has no checkout to apply a patch to.
    with pytest.raises(InvalidParameter, match="runs a local directory in place"):
        checkout_project(str(path), None, tmp_path / "inplace", code_patch=patch)
    assert not (tmp_path / "inplace").exists()


def test_file_uri_clones_default_branch_and_cleans_up(
    repo: tuple[Path, dict[str, str]], scratch_tmp: Path
) -> None:
    path, commits = repo
    with fetch_project(path.as_uri()) as (directory, gitinfo):
        assert directory.is_relative_to(scratch_tmp)
        assert (directory / "marker.txt").read_text() == "two"
        assert gitinfo is not None
        assert gitinfo.commit == commits["second"]
        assert gitinfo.branch == "main"
        assert gitinfo.repo_url == path.as_uri()
    assert list(scratch_tmp.iterdir()) == []


@pytest.mark.parametrize(
    ("version", "marker", "commit"),
    [
        ("v1", "one", "first"),  # a tag
        ("feature", "feature", "feature"),  # a branch other than the default
        ("main", "two", "second"),
        ("COMMIT", "one", "first"),  # a full commit id
        ("SHORT", "feature", "feature"),  # an abbreviated one
    ],
)
def test_versions(
    repo: tuple[Path, dict[str, str]], tmp_path: Path, version: str, marker: str, commit: str
) -> None:
    path, commits = repo
    if version == "COMMIT":
        version = commits["first"]
    elif version == "SHORT":
        version = commits["feature"][:9]
    fetched = checkout_project(f"{path.as_uri()}#sub", version, tmp_path / "work")
    assert fetched.directory.name == "sub"
    assert (fetched.directory.parent / "marker.txt").read_text() == marker
    assert fetched.git is not None
    assert fetched.git.commit == commits[commit]
    assert fetched.git.branch == version
    assert fetched.source_name == f"{path.as_uri()}#sub"


def test_version_of_a_local_directory_clones_it(
    repo: tuple[Path, dict[str, str]], tmp_path: Path, scratch_tmp: Path
) -> None:
    path, commits = repo
    (path / "marker.txt").write_text("uncommitted")
    with fetch_project(str(path / "sub"), version="v1") as (directory, gitinfo):
        assert directory.name == "sub"
        assert directory.is_relative_to(scratch_tmp)
        assert (directory.parent / "marker.txt").read_text() == "one"
        assert gitinfo is not None and gitinfo.commit == commits["first"]
    assert (path / "marker.txt").read_text() == "uncommitted"  # the working tree is untouched
    assert list(scratch_tmp.iterdir()) == []


@pytest.fixture
def http_repo(repo: tuple[Path, dict[str, str]], tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The repository served over git's plain HTTP protocol by a local web server."""
    path, commits = repo
    served = tmp_path / "served"
    served.mkdir()
    bare = served / "repo.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(path), str(bare))
    git(bare, "update-server-info")  # what git's "dumb" HTTP protocol reads
    handler = functools.partial(_QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/repo.git", commits["feature"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_http_repository(http_repo: tuple[str, str], scratch_tmp: Path) -> None:
    url, feature = http_repo
    with fetch_project(f"{url}#sub", version="feature") as (directory, gitinfo):
        assert (directory / "inner.txt").read_text() == "inner"
        assert gitinfo is not None
        assert gitinfo.commit == feature
        assert gitinfo.repo_url == url
    assert list(scratch_tmp.iterdir()) == []


@pytest.mark.parametrize(
    ("uri_suffix", "version", "message"),
    [
        ("", "no-such-branch", "is not a branch, a tag or a commit"),
        ("", "--upload-pack=touch pwned", "must not be empty, start with '-'"),
        ("", "a b", "must not be empty, start with '-'"),
        ("#missing", None, "has no subdirectory 'missing'"),
        ("#../..", None, "leads outside the project"),
    ],
)
def test_bad_versions_and_subdirectories(
    repo: tuple[Path, dict[str, str]],
    scratch_tmp: Path,
    tmp_path: Path,
    uri_suffix: str,
    version: str | None,
    message: str,
) -> None:
    path, _ = repo
    with (
        pytest.raises(InvalidParameter, match=message),
        fetch_project(path.as_uri() + uri_suffix, version),
    ):
        pass
    assert list(scratch_tmp.iterdir()) == []  # the partial checkout is gone
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("", "The project URI is empty"),
        ("NOPE", "neither a local directory nor a git repository"),
        ("ext::sh -c touch% pwned", "neither a local directory nor a git repository"),
        ("--upload-pack=touch pwned", "neither a local directory nor a git repository"),
        ("file://NOPE", "there is no directory"),
        ("file://remote.example.com/srv/repo", "names a remote host"),
        ("PLAIN", "is not a git repository"),
    ],
)
def test_bad_uris(
    tmp_path: Path,
    scratch_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    uri: str,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    plain = tmp_path / "plain"
    plain.mkdir()
    uri = uri.replace("NOPE", str(tmp_path / "nope")).replace("PLAIN", plain.as_uri())
    with pytest.raises(InvalidParameter, match=message), fetch_project(uri):
        pass
    assert list(scratch_tmp.iterdir()) == []
    assert not (tmp_path / "pwned").exists()


def test_version_of_a_directory_outside_git(tmp_path: Path, scratch_tmp: Path) -> None:
    (tmp_path / "plain").mkdir()
    with (
        pytest.raises(InvalidParameter, match="needs a git repository"),
        fetch_project(str(tmp_path / "plain"), "main"),
    ):
        pass
    assert list(scratch_tmp.iterdir()) == []


def test_unreachable_repository_hides_credentials(scratch_tmp: Path) -> None:
    # Nothing listens on port 1: the clone fails at once; the token must not be in the message.
    with pytest.raises(InvalidParameter, match="Could not clone") as caught:
        checkout_project("http://user:s3cret@127.0.0.1:1/repo.git", None, scratch_tmp / "w")
    assert "s3cret" not in str(caught.value)
    assert "http://127.0.0.1:1/repo.git" in str(caught.value)


def test_scp_like_uri_goes_to_git(scratch_tmp: Path) -> None:
    # No SSH server answers on this machine's port 22; what matters is that git@host:path is
    # cloned (and fails with git's message), not taken for a local path.
    with pytest.raises(
        InvalidParameter, match=re.escape("Could not clone git@127.0.0.1:org/repo.git")
    ):
        checkout_project("git@127.0.0.1:org/repo.git", None, scratch_tmp / "w")
