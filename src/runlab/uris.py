"""Parsing and resolution of tracking and artifact URIs. Pure functions: no I/O, no env reads."""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlparse

from runlab.errors import InvalidParameter

if TYPE_CHECKING:
    import ssl

#: File name of the embedded SQLite database used when no tracking URI is set.
DEFAULT_DB_FILENAME = "runlab.db"
#: Folder (beside the database) that holds artifacts when no artifact root is set.
DEFAULT_ARTIFACTS_DIRNAME = "runlab-artifacts"

_SQL_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb")


def scheme_of(uri: str) -> str:
    """The URI's scheme without a SQLAlchemy driver suffix (``postgresql+psycopg`` -> ``postgresql``).

    A Windows drive letter or a plain path has no scheme (``""``).
    """
    parsed = urlparse(uri)
    if len(parsed.scheme) <= 1:
        return ""
    return parsed.scheme.split("+", 1)[0].lower()


def is_sql_uri(uri: str) -> bool:
    """True for database URIs the SQL store accepts."""
    return scheme_of(uri) in _SQL_SCHEMES


def is_http_uri(uri: str) -> bool:
    """True for ``http://`` and ``https://`` URIs (a tracking server)."""
    return scheme_of(uri) in ("http", "https")


def tls_verify_for(url: str, verify: bool | str) -> ssl.SSLContext | bool | str:
    """The ``verify`` value to give an HTTP client that talks to ``url``.

    For a plain ``http://`` URL with default verification, a TLS context without trusted
    certificates: loading the default CA bundle costs tens of milliseconds at every start, for
    a connection that never uses TLS. Such a context still requires a valid certificate and
    host name, so if the client were ever sent to an https address it would fail rather than
    connect unverified. Anything else is returned unchanged.
    """
    if verify is True and scheme_of(url) == "http":
        import ssl

        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, check_hostname: on
    return verify


def is_local_path_uri(uri: str) -> bool:
    """True for ``file:`` URIs and plain paths."""
    return scheme_of(uri) in ("", "file")


def path_to_file_uri(path: str | os.PathLike[str]) -> str:
    """An absolute ``file://`` URI for a local path."""
    return Path(path).resolve().as_uri()


def file_uri_to_path(uri: str) -> str:
    """The local path of a ``file:`` URI or plain path."""
    if scheme_of(uri) == "file":
        parsed = urlparse(uri)
        if parsed.netloc not in ("", "localhost"):
            raise InvalidParameter(f"File URI {uri!r} names a remote host; only local files work.")
        return unquote(parsed.path)
    return uri


def append_to_uri_path(uri: str, *parts: str) -> str:
    """Join path parts onto a URI, keeping its scheme and authority (``s3://b/x`` + ``1`` ...).

    Empty parts are skipped; with none left the URI comes back unchanged.
    """
    parts = tuple(p for p in parts if p)
    if not parts:
        return uri
    suffix = posixpath.join(*(quote(p.strip("/"), safe="/") for p in parts if p))
    if is_local_path_uri(uri) and scheme_of(uri) == "":
        return os.path.join(uri, *(p.strip("/") for p in parts if p))
    return uri.rstrip("/") + "/" + suffix


def default_tracking_uri(cwd: str | os.PathLike[str]) -> str:
    """The embedded SQLite database in a working directory."""
    return f"sqlite:///{Path(cwd).resolve() / DEFAULT_DB_FILENAME}"


def sqlite_path(uri: str) -> str | None:
    """The file path of a ``sqlite:///`` URI, or None for in-memory databases."""
    if scheme_of(uri) != "sqlite":
        raise InvalidParameter(f"{uri!r} is not a sqlite URI.")
    path = uri.split(":///", 1)[1] if ":///" in uri else ""
    path = path.split("?", 1)[0]
    if path in ("", ":memory:"):
        return None
    return path


def local_proxy_destination(tracking_uri: str | None) -> str | None:
    """Where ``runlab server`` keeps proxied artifacts by default for the SQLite file of
    ``tracking_uri``, as a ``file:`` URI; None for any other store.

    A server started without ``--artifacts-destination`` stores ``mlflow-artifacts:/<path>`` in
    ``runlab-artifacts/<path>`` beside its SQLite file. A script that opens the same file directly
    (no tracking URI, or ``sqlite:///…``) resolves such locations to the same folder, so that an
    experiment the server created (the Default one included) takes artifacts from both and both
    see the same files. A database server has no "beside": its clients go through the server.
    """
    if not tracking_uri or scheme_of(tracking_uri) != "sqlite":
        return None
    db_path = sqlite_path(tracking_uri)
    if db_path is None:
        return None
    return path_to_file_uri(Path(db_path).resolve().parent / DEFAULT_ARTIFACTS_DIRNAME)


def default_artifact_root(tracking_uri: str, cwd: str | os.PathLike[str]) -> str:
    """Where artifacts go when nothing else says: a folder beside a SQLite file, else in ``cwd``.

    The same rule serves the fluent API and ``runlab server``, so a script and a server started
    in the same folder share one artifact folder.
    """
    beside_database = local_proxy_destination(tracking_uri)
    if beside_database is not None:
        return beside_database
    return path_to_file_uri(Path(cwd) / DEFAULT_ARTIFACTS_DIRNAME)
