"""``runlab server --auth``: its options, the first administrator, workers; real processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from runlab.cli.server import ServeOptions, plan_server
from runlab.server.factory import ServerConfig
from runlab.store.sql.auth import SqlAuthStore
from support.auth_server import (
    ADMIN,
    ADMIN_PASSWORD,
    API,
    RUNLAB_API,
    auth_server,
    call,
    child_env,
    client,
)
from support.servers import free_port


def start_failing(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``runlab server ARGS`` expecting it to exit (it must not start serving)."""
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "runlab.cli", "server", "--port", str(free_port()), *args],
        cwd=folder,
        env=child_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def admins(db: Path) -> list[str]:
    store = SqlAuthStore(f"sqlite:///{db}")
    try:
        return [u.username for u in store.list_users() if u.is_admin]
    finally:
        store.close()


def test_without_an_admin_the_server_refuses_to_start(tmp_path: Path) -> None:
    result = start_failing(tmp_path, "--auth")
    assert result.returncode == 1
    assert "no administrator" in result.stderr
    assert "runlab auth create-admin <username> --backend-store-uri" in result.stderr
    assert "RUNLAB_ADMIN_USERNAME and RUNLAB_ADMIN_PASSWORD" in result.stderr
    assert "Uvicorn running" not in result.stderr + result.stdout
    assert admins(tmp_path / "runlab.db") == []
    half = start_failing(tmp_path, "--auth", RUNLAB_ADMIN_USERNAME="root")
    assert half.returncode == 1 and "RUNLAB_ADMIN_PASSWORD is not set" in half.stderr
    short = start_failing(
        tmp_path, "--auth", RUNLAB_ADMIN_USERNAME="root", RUNLAB_ADMIN_PASSWORD="short"
    )
    assert short.returncode == 1 and "too short" in short.stderr
    assert "short" not in short.stderr.replace("too short", "")
    assert admins(tmp_path / "runlab.db") == []


def test_an_existing_ordinary_user_is_not_made_admin_by_the_variables(tmp_path: Path) -> None:
    store = SqlAuthStore(f"sqlite:///{tmp_path / 'runlab.db'}")
    try:
        store.create_user("root", "some-password")
    finally:
        store.close()
    result = start_failing(
        tmp_path, "--auth", RUNLAB_ADMIN_USERNAME="root", RUNLAB_ADMIN_PASSWORD=ADMIN_PASSWORD
    )
    assert result.returncode == 1
    assert "runlab auth users set-admin root" in result.stderr
    assert admins(tmp_path / "runlab.db") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--app-name", "custom-auth"], "Unknown --app-name 'custom-auth'"),
        (["--auth-default-permission", "EDIT"], "only apply with --auth"),
        (["--auth", "--auth-default-permission", "ALL"], "is not a permission"),
        (["--auth", "--auth-trusted-header", "X-User"], "needs --auth-trusted-proxies"),
        (["--auth", "--auth-trusted-proxies", "10.0.0.0/8"], "only applies with"),
        (
            ["--auth", "--auth-trusted-header", "X-User", "--auth-trusted-proxies", "10.0.0.0/40"],
            "not an IP network",
        ),
        (["--auth", "--auth-database-uri", "sqlite://"], "in-memory"),
        (["--auth", "--auth-database-uri", "http://x"], "not a database URI"),
    ],
)
def test_bad_auth_options_exit_1_with_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = start_failing(tmp_path, *args)
    assert result.returncode == 1, result.stderr
    assert message in result.stderr
    assert not (tmp_path / "runlab.db").exists()


def test_options_resolve(tmp_path: Path) -> None:
    plain = plan_server(ServeOptions(), str(tmp_path)).config
    assert plain.settings.auth_enabled is False and plain.auth_database_uri is None
    on = plan_server(ServeOptions(app_name="basic-auth"), str(tmp_path)).config
    assert on.settings.auth_enabled and on.auth_database_uri == on.backend_store_uri
    assert on.settings.auth_default_permission == "READ"
    separate = plan_server(
        ServeOptions(
            auth=True,
            auth_database_uri="sqlite:///auth.db",
            auth_default_permission="NO_PERMISSIONS",
            auth_trusted_header="X-Forwarded-User",
            auth_trusted_proxies="10.0.0.0/8, 192.168.1.5",
        ),
        str(tmp_path),
    ).config
    assert separate.auth_database_uri == f"sqlite:///{tmp_path.resolve() / 'auth.db'}"
    assert separate.settings.auth_trusted_proxies == ("10.0.0.0/8", "192.168.1.5/32")
    assert separate.settings.auth_default_permission == "NO_PERMISSIONS"
    # Workers get it all through their JSON configuration.
    assert ServerConfig.from_json(separate.to_json()) == separate


def test_the_first_admin_from_the_environment(tmp_path: Path) -> None:
    server = auth_server(tmp_path, "--app-name", "basic-auth")
    server.start()
    try:
        with client(server, ADMIN, ADMIN_PASSWORD) as admin:
            me = call(admin, "GET", f"{API}/users/current").json()["user"]
            assert (me["username"], me["is_admin"]) == (ADMIN, True)
    finally:
        server.stop()
    log = server.log()
    assert "Created administrator 'admin'" in log
    assert ADMIN_PASSWORD not in log
    # Started again with the variables set, nothing changes: the admin exists.
    again = auth_server(tmp_path, env={"RUNLAB_ADMIN_PASSWORD": "another-password"})
    again.start()
    try:
        with client(again, ADMIN, ADMIN_PASSWORD) as admin:
            assert call(admin, "GET", f"{API}/users/current").status_code == 200
    finally:
        again.stop()
    assert "ignored: the server already has an administrator" in again.log()
    assert admins(tmp_path / "server.db") == [ADMIN]


@pytest.mark.slow
def test_workers_each_open_the_auth_store(tmp_path: Path) -> None:
    server = auth_server(tmp_path, "--workers", "2")
    server.start()
    try:
        with client(server, ADMIN, ADMIN_PASSWORD) as admin:
            created = call(admin, "POST", f"{RUNLAB_API}/tokens/create", {"name": "loop"})
            secret = created.json()["secret"]
        # Fresh connections, so both workers answer some; every one of them knows the token.
        for _ in range(12):
            with httpx.Client(
                base_url=server.url, headers={"Authorization": f"Bearer {secret}"}
            ) as http:
                assert call(http, "GET", f"{API}/users/current").status_code == 200
            with httpx.Client(base_url=server.url) as anonymous:
                assert call(anonymous, "GET", f"{API}/users/current").status_code == 401
    finally:
        server.stop()
