"""The SQL store of an authenticating server: users, access tokens, permissions, the audit log.

Its tables (``auth_schema``) have their own migration chain and version table, so the store can
share the tracking store's database or have one of its own (``--auth-database-uri``). It runs on
SQLite, PostgreSQL and MySQL/MariaDB with the tracking store's engine settings.

Every method checks its arguments before it opens a transaction and does its writes in one
transaction, so a bad argument or a failure writes nothing. Errors are runlab's:
:class:`~runlab.errors.InvalidParameter` for a bad argument, :class:`~runlab.errors.UserNotFound`
for an unknown user, :class:`~runlab.errors.NotFound` for a missing token or permission,
:class:`~runlab.errors.AlreadyExists` for a duplicate. Their messages may name users and
resources, so a server must not pass them on to a caller who is not allowed to know those exist.
Messages never contain a password or a token secret.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.engine import Connection, CursorResult

from runlab.entities.auth import (
    AccessToken,
    AuditEvent,
    ExperimentPermission,
    RegisteredModelPermission,
    User,
)
from runlab.errors import (
    AlreadyExists,
    InvalidParameter,
    InvalidState,
    NotFound,
    UserNotFound,
)
from runlab.store.sql import auth_migrations
from runlab.store.sql import auth_schema as t
from runlab.store.sql import auth_validation as v
from runlab.store.sql.auth_secrets import (
    PasswordHashing,
    looks_like_token,
    new_token_secret,
    token_hash,
    token_prefix,
)
from runlab.store.sql.engine import Database

__all__ = ["SqlAuthStore"]

#: A token's last_used_at is written at most this often, so a training loop that sends a
#: request per step does not turn every read into a write.
LAST_USED_RESOLUTION_MS = 60_000
#: The most audit events one call returns.
AUDIT_PAGE_MAX = 1000
#: Longest audit detail kept; longer ones are cut (MySQL's TEXT holds 64 KiB).
AUDIT_DETAIL_MAX = 8000

_USER_COLUMNS = (t.users.c.id, t.users.c.username, t.users.c.is_admin, t.users.c.created_at)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _user(row: Any) -> User:
    return User(
        id=int(row.id),
        username=row.username,
        is_admin=bool(row.is_admin),
        created_at=int(row.created_at),
    )


def _token(row: Any) -> AccessToken:
    return AccessToken(
        id=int(row.id),
        username=row.username,
        name=row.name,
        created_at=int(row.created_at),
        expires_at=None if row.expires_at is None else int(row.expires_at),
        last_used_at=None if row.last_used_at is None else int(row.last_used_at),
        prefix=row.prefix,
    )


def _inserted_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _clip(text: str, limit: int) -> str:
    # The audit log must not fail because a caller sent a long name (a failed sign-in records
    # whatever user name was tried), so long values are cut rather than refused.
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _lookup_name(value: Any, what: str = "username") -> str:
    """A name to look up: any string (an unknown one is simply not found)."""
    if not isinstance(value, str):
        raise InvalidParameter(f"The {what} must be a string, got {type(value).__name__}.")
    return value


def _optional_username(value: Any) -> str | None:
    return None if value is None else _lookup_name(value)


def _user_not_found(username: str) -> UserNotFound:
    return UserNotFound(
        f"User {username!r} does not exist. List the users to check the name, or create it."
    )


class SqlAuthStore:
    """Users, tokens, permissions and audit events in a SQL database.

    ``db_uri`` is a SQLAlchemy URL (``sqlite:///auth.db``, ``postgresql://…``,
    ``mysql://…``); the auth tables are created, or migrated to the newest revision, when the
    store opens. ``password_hasher`` sets the Argon2id parameters for new password hashes
    (argon2-cffi's defaults when None); a stored hash made with other parameters is replaced
    at the user's next successful sign-in.
    """

    def __init__(self, db_uri: str, *, password_hasher: PasswordHasher | None = None) -> None:
        self._passwords = PasswordHashing(password_hasher)
        self.db_uri = db_uri
        self._db = Database(db_uri)
        try:
            auth_migrations.ensure_schema(self._db.engine)
        except BaseException:
            self._db.dispose()
            raise

    def close(self) -> None:
        """Release database connections."""
        self._db.dispose()

    # -- users -------------------------------------------------------------------------------

    def _user_row(self, conn: Connection, username: str) -> Any:
        return conn.execute(
            sa.select(*_USER_COLUMNS, t.users.c.password_hash).where(t.users.c.username == username)
        ).first()

    def _user_id(self, conn: Connection, username: str) -> int:
        """The id of ``username``; raises :class:`UserNotFound`."""
        user_id = conn.execute(
            sa.select(t.users.c.id).where(t.users.c.username == username)
        ).scalar()
        if user_id is None:
            raise _user_not_found(username)
        return int(user_id)

    def create_user(self, username: str, password: str, is_admin: bool = False) -> User:
        """Create a user; ``password`` is stored only as its Argon2id hash.

        Raises :class:`InvalidParameter` for an empty username or one with white space, control
        characters or ``:``, and for a password of fewer than 8 characters;
        :class:`AlreadyExists` when the name is taken.
        """
        name = v.username(username)
        secret = v.password(password)
        admin = v.flag(is_admin, "is_admin")
        # Hashed before the transaction: it takes tens of milliseconds, and on SQLite a write
        # transaction holds the database's only write lock.
        password_hash = self._passwords.hash(secret)
        now = _now_ms()

        def work(conn: Connection) -> int:
            if conn.execute(sa.select(t.users.c.id).where(t.users.c.username == name)).first():
                raise _user_exists(name)
            result = conn.execute(
                t.users.insert().values(
                    username=name, password_hash=password_hash, is_admin=admin, created_at=now
                )
            )
            return _inserted_id(result)

        try:
            user_id = self._db.write(work)
        except sa.exc.IntegrityError:  # created by another process since the check
            raise _user_exists(name) from None
        return User(id=user_id, username=name, is_admin=admin, created_at=now)

    def get_user(self, username: str) -> User:
        """The user called ``username``; raises :class:`UserNotFound`."""
        name = _lookup_name(username)
        with self._db.read() as conn:
            row = self._user_row(conn, name)
        if row is None:
            raise _user_not_found(name)
        return _user(row)

    def session_stamp(self, username: str) -> tuple[User, str] | None:
        """The user called ``username`` and a stamp of their current password, or None if
        there is no such user.

        A web session is signed together with this stamp, so it is valid only while the stamp
        stays the same: setting a new password (or the user's deletion) ends every session
        signed in before. The stamp is a one-way hash of the stored password hash, never the
        hash itself.
        """
        name = _lookup_name(username)
        with self._db.read() as conn:
            row = self._user_row(conn, name)
        if row is None:
            return None
        digest = hashlib.sha256(b"runlab session stamp\0" + row.password_hash.encode("utf-8"))
        return _user(row), digest.hexdigest()

    def list_users(self) -> list[User]:
        """Every user, by name."""
        with self._db.read() as conn:
            rows = conn.execute(sa.select(*_USER_COLUMNS).order_by(t.users.c.username)).all()
        return [_user(row) for row in rows]

    def has_admin(self) -> bool:
        """Whether at least one user is an admin (a server with auth on needs one to start)."""
        with self._db.read() as conn:
            row = conn.execute(
                sa.select(t.users.c.id).where(t.users.c.is_admin.is_(True)).limit(1)
            ).first()
        return row is not None

    def update_password(self, username: str, password: str) -> None:
        """Replace a user's password. Their access tokens stay valid; revoke them separately."""
        name = _lookup_name(username)
        secret = v.password(password)
        password_hash = self._passwords.hash(secret)

        def work(conn: Connection) -> None:
            user_id = self._user_id(conn, name)
            conn.execute(
                t.users.update().where(t.users.c.id == user_id).values(password_hash=password_hash)
            )

        self._db.write(work)

    def set_admin(self, username: str, is_admin: bool) -> None:
        """Make a user an admin, or an ordinary user.

        The last admin cannot be made an ordinary user: nobody could manage the server then.
        Make another user an admin first.
        """
        name = _lookup_name(username)
        admin = v.flag(is_admin, "is_admin")

        def work(conn: Connection) -> None:
            user_id = self._user_id(conn, name)
            if not admin:
                self._keep_an_admin(conn, user_id, f"make {name!r} an ordinary user")
            conn.execute(t.users.update().where(t.users.c.id == user_id).values(is_admin=admin))

        self._db.write(work)

    def delete_user(self, username: str) -> None:
        """Delete a user with their access tokens and permissions (the audit log keeps their
        name). The last admin cannot be deleted; make another user an admin first."""
        name = _lookup_name(username)

        def work(conn: Connection) -> None:
            user_id = self._user_id(conn, name)
            self._keep_an_admin(conn, user_id, f"delete {name!r}")
            # Explicit deletes, not only ON DELETE CASCADE: they do not depend on SQLite's
            # foreign-key pragma being on in whatever connection made the database.
            for table in (t.tokens, t.experiment_permissions, t.registered_model_permissions):
                conn.execute(table.delete().where(table.c.user_id == user_id))
            conn.execute(t.users.delete().where(t.users.c.id == user_id))

        self._db.write(work)

    def _keep_an_admin(self, conn: Connection, user_id: int, action: str) -> None:
        # FOR UPDATE locks the admin rows, so two transactions demoting the last two admins at
        # once cannot both see another admin left (SQLite has one writer at a time anyway).
        admins = (
            conn.execute(
                sa.select(t.users.c.id).where(t.users.c.is_admin.is_(True)).with_for_update()
            )
            .scalars()
            .all()
        )
        if list(admins) == [user_id]:
            raise InvalidState(
                f"Cannot {action}: they are the only admin, and a server with authentication "
                "needs one. Make another user an admin first."
            )

    def authenticate_password(self, username: str, password: str) -> User | None:
        """The user whose name and password these are, or None.

        An unknown user costs the same password verification as a known one, so the time of
        the answer does not tell whether the name exists. A stored hash made with older Argon2
        parameters is replaced by one with the current parameters after a successful check.
        """
        self._passwords.prepare()
        if not isinstance(password, str):
            password = ""
        if not isinstance(username, str) or len(password) > v.PASSWORD_MAX:
            # Nobody has such a name or password; still spend the time a real check takes.
            self._passwords.verify_nothing(password[: v.PASSWORD_MAX])
            return None
        with self._db.read() as conn:
            row = self._user_row(conn, username)
        if row is None:
            self._passwords.verify_nothing(password)
            return None
        if not self._passwords.verify(row.password_hash, password):
            return None
        if self._passwords.needs_rehash(row.password_hash):
            self._rehash(int(row.id), row.password_hash, password)
        return _user(row)

    def _rehash(self, user_id: int, old_hash: str, password: str) -> None:
        new_hash = self._passwords.hash(password)

        def work(conn: Connection) -> None:
            # Only if unchanged: a password updated meanwhile must not be overwritten.
            conn.execute(
                t.users.update()
                .where(t.users.c.id == user_id, t.users.c.password_hash == old_hash)
                .values(password_hash=new_hash)
            )

        self._db.write(work)

    # -- access tokens -----------------------------------------------------------------------

    def create_token(
        self, username: str, name: str, expires_at: int | None
    ) -> tuple[AccessToken, str]:
        """Create an access token for ``username``; returns it and its secret.

        The secret (``rlt_…``) is returned only here: the store keeps only its SHA-256 and its
        first characters. ``expires_at`` is in milliseconds since the epoch and must be in the
        future, or None for a token that never expires.
        """
        owner = _lookup_name(username)
        token_name = v.token_name(name)
        now = _now_ms()
        expiry = v.expires_at(expires_at, now)
        secret = new_token_secret()
        prefix = token_prefix(secret)

        def work(conn: Connection) -> int:
            user_id = self._user_id(conn, owner)
            result = conn.execute(
                t.tokens.insert().values(
                    user_id=user_id,
                    name=token_name,
                    prefix=prefix,
                    secret_hash=token_hash(secret),
                    created_at=now,
                    expires_at=expiry,
                    last_used_at=None,
                )
            )
            return _inserted_id(result)

        token_id = self._db.write(work)
        token = AccessToken(
            id=token_id,
            username=owner,
            name=token_name,
            created_at=now,
            expires_at=expiry,
            last_used_at=None,
            prefix=prefix,
        )
        return token, secret

    def authenticate_token(self, secret: str) -> User | None:
        """The owner of the token with this secret, or None when no such token exists (never
        made, or revoked) or it has expired."""
        if not looks_like_token(secret):
            return None
        now = _now_ms()
        # Found by the secret's SHA-256 through a unique index: the lookup's timing can tell at
        # most something about a hash, which reveals nothing about any stored secret.
        query = (
            sa.select(
                *_USER_COLUMNS,
                t.tokens.c.id.label("token_id"),
                t.tokens.c.expires_at,
                t.tokens.c.last_used_at,
            )
            .join(t.users, t.users.c.id == t.tokens.c.user_id)
            .where(t.tokens.c.secret_hash == token_hash(secret))
        )
        with self._db.read() as conn:
            row = conn.execute(query).first()
        if row is None or (row.expires_at is not None and row.expires_at <= now):
            return None
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION_MS:
            self._touch_token(int(row.token_id), now)
        return _user(row)

    def _touch_token(self, token_id: int, now: int) -> None:
        def work(conn: Connection) -> None:
            # The condition makes concurrent requests write the time once, not each.
            conn.execute(
                t.tokens.update()
                .where(
                    t.tokens.c.id == token_id,
                    sa.or_(
                        t.tokens.c.last_used_at.is_(None),
                        t.tokens.c.last_used_at <= now - LAST_USED_RESOLUTION_MS,
                    ),
                )
                .values(last_used_at=now)
            )

        self._db.write(work)

    def list_tokens(self, username: str | None = None) -> list[AccessToken]:
        """Every access token, or those of ``username`` (:class:`UserNotFound` if unknown),
        oldest first; expired tokens are listed too, so they can be seen and revoked."""
        owner = _optional_username(username)
        query = (
            sa.select(
                t.tokens.c.id,
                t.users.c.username,
                t.tokens.c.name,
                t.tokens.c.prefix,
                t.tokens.c.created_at,
                t.tokens.c.expires_at,
                t.tokens.c.last_used_at,
            )
            .join(t.users, t.users.c.id == t.tokens.c.user_id)
            .order_by(t.tokens.c.id)
        )
        with self._db.read() as conn:
            if owner is not None:
                query = query.where(t.tokens.c.user_id == self._user_id(conn, owner))
            rows = conn.execute(query).all()
        return [_token(row) for row in rows]

    def revoke_token(self, token_id: int, username: str | None = None) -> None:
        """Delete an access token; it stops working at once.

        With ``username``, the token must be that user's: another user's token is reported as
        not found, exactly like a token that does not exist, so an owner cannot probe for
        others' tokens.
        """
        wanted = v.record_id(token_id, "token_id")
        owner = _optional_username(username)

        def work(conn: Connection) -> None:
            query = sa.select(t.tokens.c.id).where(t.tokens.c.id == wanted)
            if owner is not None:
                query = query.join(t.users, t.users.c.id == t.tokens.c.user_id).where(
                    t.users.c.username == owner
                )
            if conn.execute(query).first() is None:
                whose = f" of user {owner!r}" if owner is not None else ""
                raise NotFound(
                    f"No access token with id {wanted}{whose}. List the tokens to see their ids."
                )
            conn.execute(t.tokens.delete().where(t.tokens.c.id == wanted))

        self._db.write(work)

    # -- experiment permissions --------------------------------------------------------------

    def create_experiment_permission(
        self, experiment_id: str, username: str, permission: str
    ) -> ExperimentPermission:
        """Give ``username`` a permission on an experiment (:class:`AlreadyExists` if they
        have one: update it instead)."""
        return _EXPERIMENTS.create(self, v.experiment_id(experiment_id), username, permission)

    def get_experiment_permission(self, experiment_id: str, username: str) -> ExperimentPermission:
        """``username``'s permission on an experiment; :class:`NotFound` if none was given."""
        return _EXPERIMENTS.get(self, v.experiment_id(experiment_id), username)

    def update_experiment_permission(
        self, experiment_id: str, username: str, permission: str
    ) -> None:
        """Change ``username``'s permission on an experiment; :class:`NotFound` if none."""
        _EXPERIMENTS.update(self, v.experiment_id(experiment_id), username, permission)

    def delete_experiment_permission(self, experiment_id: str, username: str) -> None:
        """Remove ``username``'s permission on an experiment; :class:`NotFound` if none."""
        _EXPERIMENTS.delete(self, v.experiment_id(experiment_id), username)

    def list_experiment_permissions(
        self, username: str | None = None, experiment_id: str | None = None
    ) -> list[ExperimentPermission]:
        """Experiment permissions, of one user and/or on one experiment, by experiment id."""
        resource = None if experiment_id is None else v.experiment_id(experiment_id)
        return _EXPERIMENTS.list(self, username, resource)

    def experiment_permissions_of(self, username: str) -> dict[str, str]:
        """``username``'s permissions by experiment id; empty for an unknown user."""
        return _EXPERIMENTS.of(self, username)

    # -- registered model permissions --------------------------------------------------------

    def create_registered_model_permission(
        self, name: str, username: str, permission: str
    ) -> RegisteredModelPermission:
        """Give ``username`` a permission on a registered model (:class:`AlreadyExists` if
        they have one: update it instead)."""
        return _MODELS.create(self, v.model_name(name), username, permission)

    def get_registered_model_permission(
        self, name: str, username: str
    ) -> RegisteredModelPermission:
        """``username``'s permission on a registered model; :class:`NotFound` if none."""
        return _MODELS.get(self, v.model_name(name), username)

    def update_registered_model_permission(self, name: str, username: str, permission: str) -> None:
        """Change ``username``'s permission on a registered model; :class:`NotFound` if none."""
        _MODELS.update(self, v.model_name(name), username, permission)

    def delete_registered_model_permission(self, name: str, username: str) -> None:
        """Remove ``username``'s permission on a registered model; :class:`NotFound` if none."""
        _MODELS.delete(self, v.model_name(name), username)

    def list_registered_model_permissions(
        self, username: str | None = None, name: str | None = None
    ) -> list[RegisteredModelPermission]:
        """Registered model permissions, of one user and/or on one model, by model name."""
        resource = None if name is None else v.model_name(name)
        return _MODELS.list(self, username, resource)

    def registered_model_permissions_of(self, username: str) -> dict[str, str]:
        """``username``'s permissions by registered model name; empty for an unknown user."""
        return _MODELS.of(self, username)

    def rename_registered_model_permissions(self, old_name: str, new_name: str) -> None:
        """Carry every permission on model ``old_name`` over to ``new_name`` (after a rename).

        Permissions still recorded under ``new_name`` belonged to an earlier model of that name
        (the registry allows a rename only to a free name) and are dropped, so the renamed
        model is shared exactly as before.
        """
        old = v.model_name(old_name)
        new = v.model_name(new_name)
        if old == new:
            return
        table = t.registered_model_permissions

        def work(conn: Connection) -> None:
            conn.execute(table.delete().where(table.c.name == new))
            conn.execute(table.update().where(table.c.name == old).values(name=new))

        self._db.write(work)

    def delete_registered_model_permissions(self, name: str) -> None:
        """Remove every permission on a registered model (after it is deleted)."""
        model = v.model_name(name)
        table = t.registered_model_permissions

        def work(conn: Connection) -> None:
            conn.execute(table.delete().where(table.c.name == model))

        self._db.write(work)

    # -- audit log ---------------------------------------------------------------------------

    def record_event(
        self,
        action: str,
        target: str,
        detail: str = "",
        actor: str | None = None,
        address: str | None = None,
    ) -> None:
        """Append an entry to the audit log.

        ``action`` is a short word without spaces (``user.create``, ``signin.failed``);
        ``target`` what it was done to; ``actor`` the signed-in user (None for anonymous);
        ``address`` the client's network address. Over-long ``target``, ``detail`` and
        ``actor`` values are cut to the column sizes rather than refused: the log must record
        a failed sign-in whatever name was tried.
        """
        what = v.audit_action(action)
        where = v.audit_address(address)
        target_text = _clip(_lookup_name(target, "audit target"), t.AUDIT_TARGET_MAX)
        detail_text = _clip(_lookup_name(detail, "audit detail"), AUDIT_DETAIL_MAX)
        who = None if actor is None else _clip(_lookup_name(actor, "actor"), t.USERNAME_MAX)
        now = _now_ms()

        def work(conn: Connection) -> None:
            conn.execute(
                t.audit_events.insert().values(
                    timestamp=now,
                    actor=who,
                    action=what,
                    target=target_text,
                    detail=detail_text,
                    address=where,
                )
            )

        self._db.write(work)

    def audit_events(
        self,
        limit: int = 100,
        before_id: int | None = None,
        actor: str | None = None,
        action: str | None = None,
    ) -> list[AuditEvent]:
        """Audit events, newest first: at most ``limit`` (1 to 1000), older than event
        ``before_id`` when given (the next page starts before the last id of this one), and
        only those of ``actor`` and/or ``action`` when given."""
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int)
            or not 1 <= limit <= AUDIT_PAGE_MAX
        ):
            raise InvalidParameter(
                f"limit must be an integer from 1 to {AUDIT_PAGE_MAX}, got {limit!r}."
            )
        events = t.audit_events
        query = sa.select(events).order_by(events.c.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(events.c.id < v.record_id(before_id, "before_id"))
        if actor is not None:
            query = query.where(events.c.actor == _lookup_name(actor, "actor"))
        if action is not None:
            query = query.where(events.c.action == _lookup_name(action, "action"))
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        return [
            AuditEvent(
                id=int(row.id),
                timestamp=int(row.timestamp),
                actor=row.actor,
                action=row.action,
                target=row.target,
                detail=row.detail,
                address=row.address,
            )
            for row in rows
        ]


def _user_exists(username: str) -> AlreadyExists:
    return AlreadyExists(f"User {username!r} already exists; choose another username.")


class _PermissionTable:
    """The permission operations, shared by experiments and registered models.

    ``key`` is the column naming the resource (an experiment id or a model name), ``noun`` how
    messages name a resource, ``make`` the entity constructor.
    """

    def __init__(self, table: sa.Table, key: str, noun: str, make: Any) -> None:
        self.table = table
        self.key = table.c[key]
        self.noun = noun
        self.make = make

    def _shown(self, resource: str) -> str:
        return f"{self.noun} {resource!r}"

    def create(self, store: SqlAuthStore, resource: str, username: Any, permission: Any) -> Any:
        name = _lookup_name(username)
        level = v.permission(permission)

        def work(conn: Connection) -> int:
            user_id = store._user_id(conn, name)
            if self._row(conn, resource, user_id) is not None:
                raise self._exists(resource, name)
            conn.execute(
                self.table.insert().values(
                    {self.key.name: resource, "user_id": user_id, "permission": level}
                )
            )
            return user_id

        try:
            user_id = store._db.write(work)
        except sa.exc.IntegrityError:  # given by another process since the check
            raise self._exists(resource, name) from None
        return self.make(resource, user_id, name, level)

    def get(self, store: SqlAuthStore, resource: str, username: Any) -> Any:
        name = _lookup_name(username)
        with store._db.read() as conn:
            user_id = store._user_id(conn, name)
            row = self._row(conn, resource, user_id)
        if row is None:
            raise self._missing(resource, name)
        return self.make(resource, user_id, name, row.permission)

    def update(self, store: SqlAuthStore, resource: str, username: Any, permission: Any) -> None:
        name = _lookup_name(username)
        level = v.permission(permission)

        def work(conn: Connection) -> None:
            user_id = store._user_id(conn, name)
            if self._row(conn, resource, user_id) is None:
                raise self._missing(resource, name)
            conn.execute(
                self.table.update()
                .where(self.key == resource, self.table.c.user_id == user_id)
                .values(permission=level)
            )

        store._db.write(work)

    def delete(self, store: SqlAuthStore, resource: str, username: Any) -> None:
        name = _lookup_name(username)

        def work(conn: Connection) -> None:
            user_id = store._user_id(conn, name)
            if self._row(conn, resource, user_id) is None:
                raise self._missing(resource, name)
            conn.execute(
                self.table.delete().where(self.key == resource, self.table.c.user_id == user_id)
            )

        store._db.write(work)

    def list(self, store: SqlAuthStore, username: Any, resource: str | None) -> list[Any]:
        name = _optional_username(username)
        query = (
            sa.select(self.key, self.table.c.user_id, t.users.c.username, self.table.c.permission)
            .join(t.users, t.users.c.id == self.table.c.user_id)
            .order_by(self.key, t.users.c.username)
        )
        if resource is not None:
            query = query.where(self.key == resource)
        with store._db.read() as conn:
            if name is not None:
                query = query.where(self.table.c.user_id == store._user_id(conn, name))
            rows = conn.execute(query).all()
        return [self.make(row[0], int(row[1]), row[2], row[3]) for row in rows]

    def of(self, store: SqlAuthStore, username: Any) -> dict[str, str]:
        name = _lookup_name(username)
        query = (
            sa.select(self.key, self.table.c.permission)
            .join(t.users, t.users.c.id == self.table.c.user_id)
            .where(t.users.c.username == name)
        )
        with store._db.read() as conn:
            return {row[0]: row[1] for row in conn.execute(query)}

    def _row(self, conn: Connection, resource: str, user_id: int) -> Any:
        return conn.execute(
            sa.select(self.table.c.permission).where(
                self.key == resource, self.table.c.user_id == user_id
            )
        ).first()

    def _exists(self, resource: str, username: str) -> AlreadyExists:
        return AlreadyExists(
            f"User {username!r} already has a permission on {self._shown(resource)}; "
            "update it instead."
        )

    def _missing(self, resource: str, username: str) -> NotFound:
        return NotFound(
            f"User {username!r} has no permission on {self._shown(resource)}; create one first."
        )


_EXPERIMENTS = _PermissionTable(
    t.experiment_permissions, "experiment_id", "experiment", ExperimentPermission
)
_MODELS = _PermissionTable(
    t.registered_model_permissions, "name", "registered model", RegisteredModelPermission
)
