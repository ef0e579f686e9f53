"""``runlab auth``: users, permissions, access tokens and the audit log of an authenticating server.

These commands work on the database directly, like ``runlab server --auth`` (the same
``--backend-store-uri`` / ``--auth-database-uri`` options and defaults), so an administrator can
create the first admin before the server ever starts, or recover when every admin password is
lost. Whoever can run them against the database can do anything there; that is the point.

A running server sees a change made here within its credential cache period (30 s by default):
it remembers verified credentials that long.
"""

from __future__ import annotations

import getpass
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from runlab.store.sql.auth import SqlAuthStore

F = TypeVar("F", bound=Callable[..., Any])

#: How the audit log names changes made with these commands (they have no signed-in user).
_CLI_DETAIL = "with `runlab auth` as OS user {user}"
_RESOURCES = ("experiment", "model")


def _database_options(func: F) -> F:
    """``--backend-store-uri`` and ``--auth-database-uri``, as ``runlab server`` takes them."""
    func = click.option(
        "--auth-database-uri",
        metavar="URI",
        default=None,
        help="Database of users and permissions. Default: the backend store.",
    )(func)
    return click.option(
        "--backend-store-uri",
        metavar="URI",
        default=None,
        help="The server's backend store (sqlite:///file.db, postgresql://…, mysql://…, or a "
        "folder). Default: runlab.db in the working directory, as for `runlab server`.",
    )(func)


@contextmanager
def _store(
    backend_store_uri: str | None, auth_database_uri: str | None, *, create: bool = False
) -> Iterator[SqlAuthStore]:
    """The auth store the options name; a SQLite file must exist unless ``create``."""
    from runlab import uris
    from runlab.cli.server import _shown_uri, resolve_auth_database_uri
    from runlab.store.sql.auth import SqlAuthStore

    uri = resolve_auth_database_uri(auth_database_uri, backend_store_uri, os.getcwd())
    if uris.scheme_of(uri) == "sqlite":
        path = uris.sqlite_path(uri)
        if path is not None and not os.path.exists(path):
            if not create:
                raise click.ClickException(
                    f"There is no database at {path}. Run this where `runlab server` runs, or "
                    "give --backend-store-uri / --auth-database-uri as the server has them."
                )
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    try:
        store = SqlAuthStore(uri)
    except ModuleNotFoundError as exc:
        raise click.ClickException(
            f"Cannot open {_shown_uri(uri)}: the {exc.name} driver is not installed "
            "(pip install 'runlab[postgres]' or 'runlab[mysql]')."
        ) from None
    try:
        yield store
    finally:
        store.close()


def _audit(store: SqlAuthStore, action: str, target: str, detail: str = "") -> None:
    who = _CLI_DETAIL.format(user=_os_user())
    store.record_event(action, target, f"{detail}; {who}" if detail else who)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (a container without one)
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


def _read_password(password_stdin: bool, prompt: str = "Password") -> str:
    """A new password: one line of standard input, or typed twice without echo."""
    if password_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if password.endswith("\r"):
            password = password[:-1]
        if not password:
            raise click.ClickException(
                "--password-stdin read an empty password; pipe the password in, e.g. "
                "`printf '%s\\n' \"$PASSWORD\" | runlab auth … --password-stdin`."
            )
        return password
    value: str = click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    return value


def _password_option(func: F) -> F:
    return click.option(
        "--password-stdin",
        is_flag=True,
        help="Read the password from standard input (one line) instead of prompting.",
    )(func)


class _OneLineGroup(click.Group):
    """A group whose malformed arguments end in one ``Error: …`` line and exit code 1, like
    every other failure of these commands (click's own usage errors exit with 2)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError:
            raise  # `runlab auth users` alone: the help, as for any group
        except click.UsageError as exc:
            where = (
                f"{exc.ctx.command_path} --help" if exc.ctx is not None else "runlab auth --help"
            )
            raise click.ClickException(f"{exc.format_message()} (see `{where}`)") from None


@click.group("auth", cls=_OneLineGroup)
def auth() -> None:
    """Manage users, permissions and access tokens of `runlab server --auth`.

    These commands open the database directly; a running server notices their changes within
    its credential cache period (30 s by default).
    """


@auth.command("create-admin")
@click.argument("username")
@_password_option
@_database_options
def create_admin(
    username: str,
    password_stdin: bool,
    backend_store_uri: str | None,
    auth_database_uri: str | None,
) -> None:
    """Create an administrator (the first one, so that `runlab server --auth` starts).

    The password is asked for twice without echo, or read from standard input with
    --password-stdin. It is never printed.
    """
    from runlab.errors import AlreadyExists, UserNotFound

    with _store(backend_store_uri, auth_database_uri, create=True) as store:
        try:
            existing = store.get_user(username)
        except UserNotFound:
            existing = None
        if existing is not None:
            hint = (
                "it already is one"
                if existing.is_admin
                else f"make it one with `runlab auth users set-admin {username}`"
            )
            raise AlreadyExists(f"User {username!r} already exists; {hint}.")
        password = _read_password(password_stdin)
        user = store.create_user(username, password, is_admin=True)
        _audit(store, "user.create", user.username, "administrator")
    click.echo(f"Created administrator {user.username!r}.")


# -- users -------------------------------------------------------------------------------------


@auth.group("users")
def users() -> None:
    """List, create and delete users; set their password or admin flag."""


@users.command("list")
@_database_options
def users_list(backend_store_uri: str | None, auth_database_uri: str | None) -> None:
    """List every user."""
    from runlab.cli import output

    with _store(backend_store_uri, auth_database_uri) as store:
        found = store.list_users()
    output.print_table(
        None,
        ["username", "admin", "created"],
        [
            (u.username, "yes" if u.is_admin else "no", output.format_time(u.created_at))
            for u in found
        ],
        empty="No users yet: create an administrator with `runlab auth create-admin NAME`.",
    )


@users.command("create")
@click.argument("username")
@click.option("--admin", is_flag=True, help="Make the new user an administrator.")
@_password_option
@_database_options
def users_create(
    username: str,
    admin: bool,
    password_stdin: bool,
    backend_store_uri: str | None,
    auth_database_uri: str | None,
) -> None:
    """Create a user (the password is asked for, or read with --password-stdin)."""
    with _store(backend_store_uri, auth_database_uri, create=True) as store:
        _require_absent(store, username)
        password = _read_password(password_stdin)
        user = store.create_user(username, password, is_admin=admin)
        _audit(store, "user.create", user.username, "administrator" if admin else "")
    click.echo(f"Created {'administrator' if admin else 'user'} {user.username!r}.")


def _require_absent(store: SqlAuthStore, username: str) -> None:
    # Checked before the password is asked for, so nobody types one for nothing.
    from runlab.errors import AlreadyExists, UserNotFound

    try:
        store.get_user(username)
    except UserNotFound:
        return
    raise AlreadyExists(f"User {username!r} already exists; choose another username.")


@users.command("delete")
@click.argument("username")
@_database_options
def users_delete(
    username: str, backend_store_uri: str | None, auth_database_uri: str | None
) -> None:
    """Delete a user with their access tokens and permissions."""
    with _store(backend_store_uri, auth_database_uri) as store:
        store.delete_user(username)
        _audit(store, "user.delete", username)
    click.echo(f"Deleted user {username!r} with their tokens and permissions.")


@users.command("set-admin")
@click.argument("username")
@click.option(
    "--admin/--no-admin",
    default=True,
    show_default=True,
    help="Make the user an administrator, or (--no-admin) an ordinary user.",
)
@_database_options
def users_set_admin(
    username: str, admin: bool, backend_store_uri: str | None, auth_database_uri: str | None
) -> None:
    """Make a user an administrator (or, with --no-admin, an ordinary user)."""
    with _store(backend_store_uri, auth_database_uri) as store:
        store.set_admin(username, admin)
        _audit(store, "user.admin", username, f"is_admin={admin}")
    click.echo(f"{username!r} is {'now an administrator' if admin else 'now an ordinary user'}.")


@users.command("set-password")
@click.argument("username")
@_password_option
@_database_options
def users_set_password(
    username: str,
    password_stdin: bool,
    backend_store_uri: str | None,
    auth_database_uri: str | None,
) -> None:
    """Set a user's password (asked for twice, or read with --password-stdin)."""
    with _store(backend_store_uri, auth_database_uri) as store:
        store.get_user(username)  # an unknown user is reported before the password is asked
        password = _read_password(password_stdin, "New password")
        store.update_password(username, password)
        _audit(store, "user.password", username)
    click.echo(f"Changed the password of {username!r}; their access tokens stay valid.")


# -- permissions -------------------------------------------------------------------------------


def _resource_id(kind: str, id_or_name: str, backend_store_uri: str | None) -> str:
    """The experiment id, or registered model name, ``id_or_name`` names in the backend store."""
    from runlab.cli.server import resolve_backend_store_uri
    from runlab.errors import ExperimentNotFound, NotFound

    backend = resolve_backend_store_uri(backend_store_uri, os.getcwd())
    if kind == "experiment":
        from runlab.store.sql.tracking import SqlTrackingStore

        tracking = SqlTrackingStore(backend, "mlflow-artifacts:/")
        try:
            if id_or_name.isdigit():
                try:
                    return str(tracking.get_experiment(id_or_name).experiment_id)
                except NotFound:
                    pass
            found = tracking.get_experiment_by_name(id_or_name)
        finally:
            tracking.close()
        if found is None:
            raise ExperimentNotFound(
                f"No experiment with id or name {id_or_name!r} in the backend store; "
                "`runlab experiments list --view all` shows them."
            )
        return str(found.experiment_id)
    from runlab.store.sql.registry import SqlRegistryStore

    registry = SqlRegistryStore(backend)
    try:
        return registry.get_registered_model(id_or_name).name
    finally:
        close = getattr(registry, "close", None)
        if close is not None:
            close()


@auth.command("grant")
@click.argument("username")
@click.argument("kind", type=click.Choice(_RESOURCES), metavar="experiment|model")
@click.argument("id_or_name", metavar="ID_OR_NAME")
@click.argument(
    "permission",
    type=click.Choice(("READ", "EDIT", "MANAGE", "NO_PERMISSIONS")),
    metavar="PERMISSION",
)
@_database_options
def grant(
    username: str,
    kind: str,
    id_or_name: str,
    permission: str,
    backend_store_uri: str | None,
    auth_database_uri: str | None,
) -> None:
    """Give USERNAME a PERMISSION (READ, EDIT, MANAGE or NO_PERMISSIONS) on an experiment (by
    id or name) or a registered model (by name), replacing any they had."""
    from runlab.errors import AlreadyExists

    with _store(backend_store_uri, auth_database_uri) as store:
        store.get_user(username)
        resource = _resource_id(kind, id_or_name, backend_store_uri)
        if kind == "experiment":
            try:
                store.create_experiment_permission(resource, username, permission)
                action = "permission.create"
            except AlreadyExists:
                store.update_experiment_permission(resource, username, permission)
                action = "permission.update"
            target = f"experiment {resource}"
        else:
            try:
                store.create_registered_model_permission(resource, username, permission)
                action = "permission.create"
            except AlreadyExists:
                store.update_registered_model_permission(resource, username, permission)
                action = "permission.update"
            target = f"registered model {resource}"
        _audit(store, action, target, f"{username}: {permission}")
    click.echo(f"{username!r} has {permission} on {target}.")


@auth.command("revoke")
@click.argument("username")
@click.argument("kind", type=click.Choice(_RESOURCES), metavar="experiment|model")
@click.argument("id_or_name", metavar="ID_OR_NAME")
@_database_options
def revoke(
    username: str,
    kind: str,
    id_or_name: str,
    backend_store_uri: str | None,
    auth_database_uri: str | None,
) -> None:
    """Remove USERNAME's own permission on an experiment or a registered model (the server's
    default permission then applies to them)."""
    with _store(backend_store_uri, auth_database_uri) as store:
        store.get_user(username)
        resource = _resource_id(kind, id_or_name, backend_store_uri)
        if kind == "experiment":
            store.delete_experiment_permission(resource, username)
            target = f"experiment {resource}"
        else:
            store.delete_registered_model_permission(resource, username)
            target = f"registered model {resource}"
        _audit(store, "permission.delete", target, username)
    click.echo(f"Removed {username!r}'s permission on {target}.")


@auth.command("permissions")
@click.option("--user", "username", metavar="USERNAME", default=None, help="Only this user's.")
@_database_options
def permissions(
    username: str | None, backend_store_uri: str | None, auth_database_uri: str | None
) -> None:
    """List the permissions given on experiments and registered models."""
    from runlab.cli import output

    with _store(backend_store_uri, auth_database_uri) as store:
        rows = [
            (p.username, "experiment", p.experiment_id, p.permission)
            for p in store.list_experiment_permissions(username=username)
        ]
        rows += [
            (p.username, "model", p.name, p.permission)
            for p in store.list_registered_model_permissions(username=username)
        ]
    output.print_table(
        None, ["username", "on", "id or name", "permission"], rows, empty="No permissions."
    )


# -- tokens ------------------------------------------------------------------------------------


@auth.group("tokens")
def tokens() -> None:
    """Create, list and revoke personal access tokens."""


@tokens.command("create")
@click.argument("username")
@click.option("--name", default="cli", show_default=True, help="What the token is for.")
@click.option(
    "--expires-in",
    type=click.IntRange(min=1),
    metavar="DAYS",
    default=None,
    help="Days until the token stops working. Default: never.",
)
@_database_options
def tokens_create(
    username: str,
    name: str,
    expires_in: int | None,
    backend_store_uri: str | None,
    auth_database_uri: str | None,
) -> None:
    """Create an access token for USERNAME and print it, once: it cannot be shown again.

    Clients send it as `Authorization: Bearer <token>`, e.g. from MLFLOW_TRACKING_TOKEN.
    """
    expires_at = None
    if expires_in is not None:
        expires_at = int((time.time() + expires_in * 86400) * 1000)
    with _store(backend_store_uri, auth_database_uri) as store:
        token, secret = store.create_token(username, name, expires_at)
        _audit(store, "token.create", username, f"access token {token.id} ({token.name})")
    click.echo(
        f"Created access token {token.id} ({token.name!r}) for {username!r}; copy it now, it "
        "will not be shown again:",
        err=True,
    )
    click.echo(secret)


@tokens.command("list")
@click.argument("username", required=False)
@_database_options
def tokens_list(
    username: str | None, backend_store_uri: str | None, auth_database_uri: str | None
) -> None:
    """List access tokens (of USERNAME, or everyone's). Their secrets are never shown."""
    from runlab.cli import output

    with _store(backend_store_uri, auth_database_uri) as store:
        found = store.list_tokens(username)
    output.print_table(
        None,
        ["id", "username", "name", "starts with", "created", "expires", "last used"],
        [
            (
                str(t.id),
                t.username,
                t.name,
                t.prefix,
                output.format_time(t.created_at),
                output.format_time(t.expires_at) if t.expires_at else "never",
                output.format_time(t.last_used_at),
            )
            for t in found
        ],
        empty="No access tokens.",
    )


@tokens.command("revoke")
@click.argument("token_id", type=int, metavar="ID")
@_database_options
def tokens_revoke(
    token_id: int, backend_store_uri: str | None, auth_database_uri: str | None
) -> None:
    """Revoke access token ID (see `runlab auth tokens list`); it stops working at once, or
    within the cache period on a running server."""
    with _store(backend_store_uri, auth_database_uri) as store:
        owner = next((t.username for t in store.list_tokens() if t.id == token_id), None)
        store.revoke_token(token_id)
        _audit(store, "token.revoke", owner or "?", f"access token {token_id}")
    click.echo(f"Revoked access token {token_id}.")


# -- the audit log -----------------------------------------------------------------------------


@auth.command("audit")
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=50,
    show_default=True,
    help="How many events to show, newest first.",
)
@click.option("--actor", default=None, metavar="USERNAME", help="Only events of this user.")
@click.option(
    "--action", default=None, metavar="ACTION", help="Only this action (e.g. signin.failed)."
)
@_database_options
def audit(
    limit: int,
    actor: str | None,
    action: str | None,
    backend_store_uri: str | None,
    auth_database_uri: str | None,
) -> None:
    """Show the audit log: sign-ins, failed sign-ins, user, permission and token changes,
    deletions; who, when, what, from where."""
    from runlab.cli import output

    with _store(backend_store_uri, auth_database_uri) as store:
        events = store.audit_events(limit=limit, actor=actor, action=action)
    output.print_table(
        None,
        ["id", "time", "actor", "action", "target", "detail", "address"],
        [
            (
                str(e.id),
                output.format_time(e.timestamp),
                e.actor or "-",
                e.action,
                e.target,
                e.detail,
                e.address or "-",
            )
            for e in events
        ],
        empty="The audit log is empty.",
    )
