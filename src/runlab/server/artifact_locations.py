"""Which artifact locations a server stores for a client, and which it will read itself.

A client that creates an experiment may name its ``artifact_location``. The server later lists
and streams that experiment's artifacts itself (``artifacts/list``, ``/get-artifact``, the
preview), so a location a client chose freely would make the server fetch whatever it names: an
internal ``http://`` service (server-side request forgery) or another host's proxy, with the
server's own credentials. So a location is accepted only under a root the operator configured:

- the server's default artifact root (``--default-artifact-root``, by default ``mlflow-artifacts:/``
  when the server proxies artifacts),
- its artifact proxy (``mlflow-artifacts:/…`` without a host) and the proxy's destination
  (``--artifacts-destination``), when it serves artifacts,
- the prefixes in ``--allowed-artifact-locations``.

A relative path is made absolute against the server's working directory first, as MLflow's server
does, and then checked like any other location.

Reading is held to the same rule for ``http(s)`` roots (a database may hold rows written before
this check, or by a local client): the server builds an HTTP repository only for a root under a
configured location, and never sends its own credentials with it. ``file:`` and ``s3:`` roots
stay readable, so experiments a script created locally keep working.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from runlab import uris
from runlab.artifacts.local import local_path_from_uri
from runlab.errors import InvalidParameter, PermissionDenied
from runlab.server.context import ServerContext

__all__ = [
    "ALLOWED_LOCATIONS_OPTION",
    "configured_roots",
    "experiment_location",
    "is_under",
    "normalize_location",
    "readable_http_root",
]

#: The ``runlab server`` option that widens the set of accepted locations.
ALLOWED_LOCATIONS_OPTION = "--allowed-artifact-locations"

_PROXY_ROOT = "mlflow-artifacts:/"


def normalize_location(location: str, working_directory: str | None) -> str:
    """``location`` in the form it is compared and stored in.

    A plain path or ``file:`` URI becomes an absolute ``file:`` URI with symbolic links and
    ``..`` resolved (a relative path is taken from ``working_directory``); other URIs are kept
    as given. Raises InvalidParameter for a ``file:`` URI naming another host, a relative path
    when no working directory is known, and a query or fragment.
    """
    if not location:
        raise InvalidParameter("An artifact location cannot be empty.")
    if uris.is_local_path_uri(location):
        if uris.scheme_of(location) == "":
            path = Path(location)
            if not path.is_absolute():
                if working_directory is None:
                    raise InvalidParameter(
                        f"The artifact location {location!r} is a relative path, and this server "
                        "has no working directory to resolve it from; give an absolute location."
                    )
                path = Path(working_directory) / path
        else:
            path = local_path_from_uri(location)  # refuses file://otherhost/… with a message
        return uris.path_to_file_uri(path)
    parts = urlsplit(location)
    if parts.query or parts.fragment:
        raise InvalidParameter(
            f"The artifact location {location!r} has a query or a fragment; an artifact location "
            "is a plain URI."
        )
    return location


def is_under(location: str, root: str) -> bool:
    """True if the normalized ``location`` is ``root`` or lies inside it.

    Scheme and host must match exactly; the path must equal the root's or continue it after a
    ``/`` (``s3://b/art`` does not contain ``s3://b/artifacts``). A location with a ``..`` or
    ``.`` part, plain or percent-encoded, is never inside anything.
    """
    loc, base = urlsplit(location), urlsplit(root)
    if (loc.scheme.lower(), loc.netloc.lower()) != (base.scheme.lower(), base.netloc.lower()):
        return False
    if loc.query or loc.fragment:
        return False
    for reading in (loc.path, unquote(loc.path)):
        if any(part in (".", "..") for part in reading.split("/")):
            return False
    base_path = base.path.rstrip("/")
    return loc.path == base_path or loc.path.startswith(base_path + "/")


def configured_roots(ctx: ServerContext) -> list[str]:
    """Every root the operator configured, normalized: where client-chosen locations may lie."""
    settings = ctx.settings
    roots: list[str] = []
    default_root = getattr(ctx.tracking_store, "default_artifact_root", None)
    if isinstance(default_root, str) and default_root:
        roots.append(default_root)
    if settings.serve_artifacts and ctx.artifact_repo is not None:
        roots.append(_PROXY_ROOT)
        if settings.artifacts_destination:
            roots.append(settings.artifacts_destination)
    roots.extend(settings.allowed_artifact_locations)
    out: list[str] = []
    for root in roots:
        try:
            out.append(normalize_location(root, settings.working_directory))
        except InvalidParameter:
            continue  # an unusable root allows nothing (the CLI refuses these at start)
    return list(dict.fromkeys(out))


def experiment_location(ctx: ServerContext, requested: str) -> str:
    """The location to store for a new experiment whose client asked for ``requested``.

    Returns it normalized (a relative path made absolute); raises InvalidParameter (400) when it
    lies outside every configured root, naming the option that allows more.
    """
    location = normalize_location(requested, ctx.settings.working_directory)
    if any(is_under(location, root) for root in configured_roots(ctx)):
        return location
    default_root = getattr(ctx.tracking_store, "default_artifact_root", None)
    where = f" under this server's artifact root {default_root!r}" if default_root else ""
    raise InvalidParameter(
        f"Field 'artifact_location': {requested!r} is not an artifact location this server "
        f"accepts. Leave it out to use the default, or choose a location{where}; the operator "
        f"can allow more with `runlab server {ALLOWED_LOCATIONS_OPTION} PREFIX[,PREFIX...]`."
    )


def readable_http_root(ctx: ServerContext, root_uri: str) -> None:
    """Refuse (403) to read an ``http(s)`` artifact root that no configured root contains.

    Such a root came from the database, not from the operator: fetching it would let whoever
    wrote the row make the server call any address.
    """
    if any(is_under(root_uri, root) for root in configured_roots(ctx)):
        return
    raise PermissionDenied(
        f"The artifact root {root_uri!r} is not under a location this server's operator "
        "configured, so the server does not fetch it; read it with a client, or allow it with "
        f"`runlab server {ALLOWED_LOCATIONS_OPTION} PREFIX`."
    )
