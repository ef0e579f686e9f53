"""How a container in the cluster gets the model: the ``-m`` it serves and the variables it needs.

The container runs ``runlab models serve -m <URI>`` and fetches the model itself when it starts,
the way ``runlab models serve`` does anywhere. So the URI must mean the same thing inside the
cluster as here:

* ``models:/name/<stage>``, ``models:/name@alias`` and ``models:/name/latest`` are pinned to
  the version they name now (``models:/name/3``): every pod, and every pod restarted later,
  serves that version until the deployment is updated. ``runs:/`` and ``models:/m-<id>`` URIs
  are immutable already. These need the tracking server, so the container gets
  ``RUNLAB_TRACKING_URI`` (config ``tracking_uri``, by default the current tracking URI when it
  is an http(s) server that is not this machine's loopback address).
* a storage URI (``s3://bucket/path``) is served as it is; the container needs only the
  storage's credentials (config ``env`` or ``env_from_secret``).
* with KServe, a model whose files are in ``s3://`` or ``gs://`` (given so, or what a
  ``models:/`` URI resolves to), or a ``pvc://`` URI, is fetched by KServe's storage
  initializer into ``/mnt/models`` (``STORAGE_URI``), and the container serves that folder.
* ``model_in_image=true``: the image already holds the model at ``/opt/ml/model`` (an image of
  ``runlab models build-docker``); the URI is only recorded.

A local path cannot be read from the cluster and is refused (except with ``model_in_image``).
Every URI first passes :func:`runlab.artifacts.model_sources.check_model_source`, and its
``MLmodel`` is read here (resolved with the same code as ``runlab models serve``), so a URI
that names no model, or no ``python_function`` model, fails before anything is created.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from runlab import model_uris, uris
from runlab.deployments.k8s_settings import KubeSettings
from runlab.errors import InvalidParameter, RunlabError
from runlab.serving.docker import CONTAINER_MODEL_DIR

__all__ = ["KSERVE_MODEL_DIR", "ClusterModel", "locate_model"]

#: Where KServe's storage initializer puts the files of ``STORAGE_URI``.
KSERVE_MODEL_DIR = "/mnt/models"
#: Locations KServe's default storage initializer downloads (and runlab can check here).
_STORAGE_INITIALIZER_SCHEMES = frozenset({"s3", "gs"})
_PYFUNC = "python_function"
_LOOPBACK = ("localhost", "127.", "::1", "[::1]", "0.0.0.0")


@dataclass(frozen=True)
class ClusterModel:
    """The model as the container gets it.

    ``given`` is the URI the user gave, ``serve_uri`` what ``-m`` gets in the container,
    ``location`` where the model's files are (None when runlab could not look: ``pvc://``),
    ``storage_uri`` KServe's ``STORAGE_URI`` when its storage initializer fetches the model,
    ``version`` the registered version pinned, and ``env`` the variables the container needs
    to resolve ``serve_uri``.
    """

    given: str
    serve_uri: str
    location: str | None = None
    storage_uri: str | None = None
    version: str | None = None
    env: dict[str, str] = field(default_factory=dict)


def locate_model(
    model_uri: object, settings: KubeSettings, flavor: str | None = None
) -> ClusterModel:
    """Check ``model_uri`` and decide how the target's container gets it (module docstring)."""
    if flavor not in (None, _PYFUNC):
        raise InvalidParameter(
            f"The {settings.target} target serves a model's python_function flavor; got "
            f"flavor {flavor!r}. Leave it out or give python_function."
        )
    if not isinstance(model_uri, str) or not model_uri.strip():
        raise InvalidParameter(f"A model URI must be a non-empty string, got {model_uri!r}.")
    scheme = uris.scheme_of(model_uri)
    if settings.model_in_image:
        # The image holds the model; the URI is only recorded (what the image was built from).
        if scheme not in ("", "file", "pvc"):
            _check_source(model_uri, scheme)
        return ClusterModel(model_uri, CONTAINER_MODEL_DIR)
    if scheme in ("", "file"):
        raise InvalidParameter(
            f"{model_uri!r} is a path on this machine, which the cluster cannot read. Register "
            "the model on a tracking server the cluster reaches and deploy models:/<name>/"
            "<version>, give its storage URI (s3://...), or build an image holding it (`runlab "
            "models build-docker`) and use -C model_in_image=true."
        )
    if scheme == "pvc":
        return _pvc_model(model_uri, settings)
    _check_source(model_uri, scheme)
    if scheme in (model_uris.MODELS_SCHEME, model_uris.RUNS_SCHEME):
        return _tracked_model(model_uri, settings)
    _require_pyfunc(model_uri, model_uri, None)
    return _storage_choice(ClusterModel(model_uri, model_uri, location=model_uri), settings)


def _pvc_model(model_uri: str, settings: KubeSettings) -> ClusterModel:
    if settings.target != "kserve" or settings.storage_initializer is False:
        raise InvalidParameter(
            f"{model_uri!r}: a pvc:// URI is read by KServe's storage initializer; deploy it "
            "with the kserve target (with storage_initializer left on)."
        )
    split = urlsplit(model_uri)
    if not split.netloc or any(part in (".", "..") for part in split.path.split("/")):
        raise InvalidParameter(
            f"{model_uri!r} is not a pvc://<claim>/<path> URI without relative parts."
        )
    return ClusterModel(model_uri, KSERVE_MODEL_DIR, storage_uri=model_uri)


def _check_source(model_uri: str, scheme: str) -> None:
    """The registry's own source check: no relative parts, no ``?#;``, no control characters,
    and no host-addressed URI that is not a model URI."""
    from runlab.artifacts.model_sources import check_model_source

    run_id = model_id = None
    try:
        named = scheme in (model_uris.MODELS_SCHEME, model_uris.RUNS_SCHEME)
        parsed = model_uris.parse_model_uri(model_uri) if named else None
        if isinstance(parsed, model_uris.RunsUri):
            run_id = parsed.run_id
        elif isinstance(parsed, model_uris.ModelsUri):
            model_id = parsed.model_id
        check_model_source(model_uri, run_id=run_id, model_id=model_id)
    except InvalidParameter as exc:
        raise InvalidParameter(f"Cannot deploy {model_uri!r}: {exc.message}") from None


def _tracked_model(model_uri: str, settings: KubeSettings) -> ClusterModel:
    from runlab.tracking.fluent_experiments import default_client
    from runlab.tracking.model_uris import get_model_version_for_uri, resolve_model_uri

    client = default_client()
    parsed = model_uris.parse_model_uri(model_uri)
    serve_uri, version = model_uri, None
    if isinstance(parsed, model_uris.ModelsUri) and parsed.kind != "logged_model":
        found = get_model_version_for_uri(parsed, client)
        version = str(found.version)
        pinned = f"models:/{found.name}/{found.version}"
        serve_uri = f"{pinned}/{parsed.path}" if parsed.path else pinned
    location = resolve_model_uri(serve_uri, client)
    _require_pyfunc(model_uri, location, client.tracking_uri)
    if uris.is_local_path_uri(location):
        raise InvalidParameter(
            f"{model_uri!r} resolves to {location}, a path on the tracking server's machine "
            "that the cluster cannot read. Serve artifacts through the tracking server "
            "(`runlab server` with its artifact proxy) or keep them in object storage (s3://)."
        )
    model = ClusterModel(model_uri, serve_uri, location=location, version=version)
    chosen = _storage_choice(model, settings)
    if chosen.storage_uri is not None:
        return chosen
    env = {"RUNLAB_TRACKING_URI": _cluster_uri("tracking_uri", settings, client.tracking_uri)}
    registry = settings.registry_uri or (
        client.registry_uri if client.registry_uri != client.tracking_uri else None
    )
    if registry is not None:
        env["RUNLAB_REGISTRY_URI"] = _cluster_uri("registry_uri", settings, registry)
    return ClusterModel(model_uri, serve_uri, location, None, version, env)


def _storage_choice(model: ClusterModel, settings: KubeSettings) -> ClusterModel:
    """KServe's storage initializer for s3:// and gs:// locations, unless turned off."""
    if settings.target != "kserve" or settings.storage_initializer is False:
        return model
    location = model.location or ""
    if uris.scheme_of(location) in _STORAGE_INITIALIZER_SCHEMES:
        return ClusterModel(
            model.given, KSERVE_MODEL_DIR, location, location, model.version, dict(model.env)
        )
    if settings.storage_initializer:
        raise InvalidParameter(
            f"storage_initializer=true needs the model's files in s3:// or gs:// (or a "
            f"pvc:// URI); {model.given!r} is at {location}. Leave storage_initializer out "
            "to let the container fetch the model itself."
        )
    return model


def _cluster_uri(key: str, settings: KubeSettings, current: str) -> str:
    """The tracking (or registry) URI the container uses: config ``key`` or ``current``."""
    given = getattr(settings, key)
    if given is not None:
        if not uris.is_http_uri(given):
            raise InvalidParameter(
                f"Config {key} must be the http(s) URL of a tracking server the cluster "
                f"reaches, got {given!r}."
            )
        return str(given)
    host = urlsplit(current).hostname or ""
    if not uris.is_http_uri(current) or host.startswith(_LOOPBACK) or host == "::1":
        raise InvalidParameter(
            f"The container resolves the model through the tracking server, and the current "
            f"tracking URI ({current}) is not one the cluster can reach. Give its address as "
            f"seen from the cluster: -C {key}=http://<host>:<port>."
        )
    return current


def _require_pyfunc(model_uri: str, location: str, tracking_uri: str | None) -> None:
    """Read the ``MLmodel`` at ``location``; refuse a model without the python_function flavor."""
    from runlab.artifacts.repository_factory import get_artifact_repository
    from runlab.models.model import Model

    with tempfile.TemporaryDirectory(prefix="runlab-deploy-") as scratch:
        repo = get_artifact_repository(location, tracking_uri=tracking_uri)
        try:
            model = Model.load(repo.download_artifacts("MLmodel", scratch))
        except RunlabError as exc:
            raise type(exc)(
                f"Cannot read the model {model_uri!r} (at {location}): {exc.message}"
            ) from None
        finally:
            close = getattr(repo, "close", None)
            if close is not None:
                close()
    if _PYFUNC not in model.flavors:
        raise InvalidParameter(
            f"The model {model_uri!r} has no python_function flavor (flavors: "
            f"{', '.join(sorted(model.flavors)) or 'none'}), so `runlab models serve` cannot "
            "serve it."
        )
