"""Reading artifacts by URI: MLflow's ``mlflow.artifacts`` functions.

``download_artifacts``, ``list_artifacts``, ``load_text``, ``load_dict`` and ``load_image`` take
any address a user has for artifacts:

- ``runs:/<run_id>/<path>`` (or ``run_id=`` and ``artifact_path=``): a path in a run's artifacts;
  when the run's own artifacts have nothing there, the run's logged model of that name stands in
  (see :func:`runlab.tracking.model_uris.locate_runs_uri`). ``runs:/<run_id>`` is the whole run;
- ``models:/<name>/<version>[/<path>]`` and the other ``models:/`` forms: a path in the model;
- a location: a local path or ``file:`` URI, ``s3://…``, ``mlflow-artifacts:/…`` (served by the
  tracking server) or a server's ``http(s)://…/api/2.0/mlflow-artifacts/artifacts/…`` address.

They are reached as ``runlab.artifacts.<name>`` (as ``mlflow.artifacts.<name>``), but live in the
tracking layer because ``runs:/`` and ``models:/`` URIs need the tracking client to be found; the
artifact repositories below them know nothing of runs.

Where a download lands and how listed paths read follow MLflow's rules:

- a ``runs:/`` URI or a location is split into its parent folder and its last segment: listing
  ``runs:/<id>/dir`` or ``s3://b/dir`` gives ``dir/a.txt``, and downloading ``runs:/<id>/dir/a.txt``
  gives ``<dst_path>/a.txt``;
- ``run_id`` with ``artifact_path`` and ``models:/`` URIs keep the whole path below the run's or
  model's root: ``artifact_path="dir/a.txt"`` downloads to ``<dst_path>/dir/a.txt``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import posixpath
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote

from runlab import uris
from runlab.artifacts.path_safety import validate_artifact_path
from runlab.entities import FileInfo
from runlab.errors import ArtifactNotFound, InvalidParameter
from runlab.model_uris import ModelsUri, RunsUri, is_model_uri, parse_model_uri
from runlab.tracking import config
from runlab.tracking.client import Client, _artifact_repository
from runlab.validation import validate_run_id

__all__ = ["download_artifacts", "list_artifacts", "load_dict", "load_image", "load_text"]

# Schemes whose repositories decode the root URI's path once (percent-escapes), so a segment
# split off such a URI is decoded too before it is used as an artifact path.
_DECODED_SCHEMES = frozenset({"mlflow-artifacts", "http", "https"})


@dataclasses.dataclass(frozen=True)
class _Target:
    """Where an artifact address points: a repository root, a path in it, and how to reach it.

    ``prefix`` is set when a run's logged model stands in for ``runs:/<run_id>/<prefix>/…``:
    the root is then the model's location, and listings and downloads put ``prefix`` back in
    front, so they read as paths of the run.
    """

    root: str
    path: str
    tracking_uri: str | None
    prefix: str = ""


def _client(tracking_uri: str | None, registry_uri: str | None = None) -> Client:
    if tracking_uri is None and registry_uri is None:
        from runlab.tracking.fluent_experiments import default_client

        return default_client()
    return Client(tracking_uri, registry_uri)


def _checked_arguments(
    artifact_uri: str | os.PathLike[str] | None, run_id: str | None, artifact_path: str | None
) -> None:
    if (artifact_uri is None) == (run_id is None):
        raise InvalidParameter(
            "Pass exactly one of artifact_uri and run_id (artifact_path goes with run_id)."
        )
    if artifact_uri is not None and artifact_path is not None:
        raise InvalidParameter(
            "artifact_path goes with run_id; with artifact_uri, put the path in the URI "
            "(runs:/<run_id>/<path>)."
        )


def _uri_text(artifact_uri: str | os.PathLike[str]) -> str:
    if isinstance(artifact_uri, os.PathLike):
        artifact_uri = os.fspath(artifact_uri)
    if not isinstance(artifact_uri, str) or not artifact_uri.strip():
        raise InvalidParameter(
            f"An artifact URI must be a non-empty string such as runs:/<run_id>/<path>, "
            f"models:/<name>/<version> or a local path, got {artifact_uri!r}."
        )
    return artifact_uri


def _locate(
    artifact_uri: str | os.PathLike[str] | None,
    run_id: str | None,
    artifact_path: str | None,
    tracking_uri: str | None,
    registry_uri: str | None = None,
    *,
    listing: bool = False,
) -> _Target:
    """Check the arguments and find the repository root and path they name.

    ``listing``: a ``runs:/`` path that names nothing is an empty folder, not an error.
    """
    _checked_arguments(artifact_uri, run_id, artifact_path)
    if run_id is not None:
        validate_run_id(run_id)
        path = validate_artifact_path(artifact_path or "")
        client = _client(tracking_uri, registry_uri)
        return _run_target(RunsUri(run_id, path), client, split=False, listing=listing)
    assert artifact_uri is not None
    uri = _uri_text(artifact_uri)
    if is_model_uri(uri):
        parsed = parse_model_uri(uri)  # malformed URIs fail here, before any request
        client = _client(tracking_uri, registry_uri)
        if isinstance(parsed, RunsUri):
            return _run_target(parsed, client, split=True, listing=listing)
        return _model_target(parsed, client)
    return _location_target(uri, tracking_uri)


def _run_target(parsed: RunsUri, client: Client, *, split: bool, listing: bool) -> _Target:
    """Where a path of a run is: in the run's artifacts, or in a logged model standing in.

    ``split``: read the path's last segment in the folder above it, as MLflow does for a
    ``runs:/`` URI (``runs:/<id>/dir/a.txt`` downloads to ``<dst>/a.txt``, while ``run_id=<id>,
    artifact_path="dir/a.txt"`` downloads to ``<dst>/dir/a.txt``).
    """
    from runlab.tracking.model_uris import RunsUriTarget, locate_runs_uri

    if not parsed.path:
        return _Target(client.artifact_uri(parsed.run_id), "", client.tracking_uri)
    try:
        found = locate_runs_uri(parsed, client)
    except ArtifactNotFound:
        if not listing:
            raise
        found = RunsUriTarget("")  # nothing there: list the run's (missing) folder, i.e. []
    prefix = ""
    if found.model_id is None:
        root, path = client.artifact_uri(parsed.run_id), parsed.path
    else:
        root = client.get_logged_model(found.model_id).artifact_location
        path, prefix = found.model_path, parsed.path.partition("/")[0]
    if split and path:
        parent, _, leaf = path.rpartition("/")
        return _Target(_join(root, parent), leaf, client.tracking_uri)
    return _Target(root, path, client.tracking_uri, prefix=prefix)


def _join(root: str, path: str) -> str:
    """``root`` with the artifact path ``path`` appended, as its repository will read it back."""
    if not path:
        return root
    if uris.scheme_of(root) == "s3":
        # The S3 repository reads its root's keys as written (no percent-decoding).
        return f"{root.rstrip('/')}/{path}"
    return uris.append_to_uri_path(root, path)


def _model_target(parsed: ModelsUri, client: Client) -> _Target:
    from runlab.tracking.model_uris import resolve_model_uri

    # The model's root, with the URI's path read inside it (not joined onto the root URI, which
    # would percent-encode it for remote roots).
    root = resolve_model_uri(str(dataclasses.replace(parsed, path="")), client)
    return _Target(root, parsed.path, client.tracking_uri)


def _location_target(uri: str, tracking_uri: str | None) -> _Target:
    """A location split into its parent folder (the repository root) and its last segment."""
    if tracking_uri is None and uris.scheme_of(uri) == "mlflow-artifacts":
        # As in MLflow: an mlflow-artifacts: location is served by the current tracking server.
        tracking_uri = config.get_tracking_uri()
    if uris.is_local_path_uri(uri):
        from runlab.artifacts.local import local_path_from_uri

        path = local_path_from_uri(uri)
        if path.name:
            return _Target(str(path.parent), path.name, tracking_uri)
        return _Target(str(path), "", tracking_uri)  # the file system's root
    scheme, _, rest = uri.partition(":")
    if rest.startswith("//"):
        # scheme://authority/path: the authority is never split.
        slash = rest.find("/", 2)
        head, path_part = (uri, "") if slash < 0 else (f"{scheme}:{rest[:slash]}", rest[slash:])
    else:
        head, path_part = f"{scheme}:", rest
    parent, _, leaf = path_part.rstrip("/").rpartition("/")
    if not leaf:
        return _Target(uri, "", tracking_uri)
    if scheme.lower() in _DECODED_SCHEMES:
        leaf = unquote(leaf)
    return _Target(head + (parent or "/"), leaf, tracking_uri)


def _repository(target: _Target) -> contextlib.AbstractContextManager[Any]:
    """The artifact repository of ``target.root``, closed afterwards (proxies hold sockets)."""
    return _artifact_repository(target.root, target.tracking_uri)


def _local_file(target: _Target) -> Path | None:
    """The path of ``target`` on this machine when its root is local (checked), else None."""
    if not uris.is_local_path_uri(target.root):
        return None
    from runlab.artifacts.local import local_path_from_uri
    from runlab.artifacts.path_safety import safe_join

    local = safe_join(local_path_from_uri(target.root), target.path)
    if not local.exists():
        raise ArtifactNotFound(
            f"No artifact at {target.path!r} under {target.root}"
            + (f" (the logged model standing in for {target.prefix!r})" if target.prefix else "")
            + "."
        )
    return local


def download_artifacts(
    artifact_uri: str | os.PathLike[str] | None = None,
    run_id: str | None = None,
    artifact_path: str | None = None,
    dst_path: str | os.PathLike[str] | None = None,
    tracking_uri: str | None = None,
    registry_uri: str | None = None,
) -> str:
    """Download an artifact file or folder and return its local path.

    Give ``artifact_uri`` (``runs:/<run_id>/<path>``, ``models:/<name>/<version>/<path>``,
    ``s3://…``, ``mlflow-artifacts:/…``, a local path) or ``run_id`` with an optional
    ``artifact_path`` in the run. The copy keeps the artifact's path below ``dst_path``
    (created if missing); with no ``dst_path`` it goes to a new temporary folder, except that
    artifacts already on this machine are returned where they are, without a copy.
    ``tracking_uri`` and ``registry_uri`` choose the servers that resolve ``runs:/`` and
    ``models:/`` URIs (default: the current ones). ArtifactNotFound when nothing is there.
    """
    target = _locate(artifact_uri, run_id, artifact_path, tracking_uri, registry_uri)
    if dst_path is None:
        local = _local_file(target)
        if local is not None:
            return str(local)
    destination = None if dst_path is None else os.fspath(dst_path)
    if target.prefix:
        # Keep the run's path for a logged model standing in: <dst>/<name>/<path in model>.
        base = destination or tempfile.mkdtemp(prefix="runlab-")
        destination = os.path.join(base, *target.prefix.split("/"))
    with _repository(target) as repo:
        return str(repo.download_artifacts(target.path, destination))


def list_artifacts(
    artifact_uri: str | os.PathLike[str] | None = None,
    run_id: str | None = None,
    artifact_path: str | None = None,
    tracking_uri: str | None = None,
) -> list[FileInfo]:
    """The files and folders directly under an artifact folder, sorted by path.

    The arguments name the folder as for :func:`download_artifacts`. Paths are relative to the
    run's (or model's) artifact root, e.g. ``dir/a.txt`` for ``runs:/<run_id>/dir``; a missing
    folder, or a file, lists as ``[]``.
    """
    target = _locate(artifact_uri, run_id, artifact_path, tracking_uri, listing=True)
    with _repository(target) as repo:
        infos: list[FileInfo] = list(repo.list_artifacts(target.path or None))
    if target.prefix:
        infos = [dataclasses.replace(i, path=posixpath.join(target.prefix, i.path)) for i in infos]
    return infos


def _read_bytes(artifact_uri: str | os.PathLike[str]) -> tuple[bytes, str]:
    """The content of the artifact file ``artifact_uri`` names, and its file name."""
    target = _locate(artifact_uri, None, None, None)
    name = PurePosixPath(target.path).name
    local = _local_file(target)
    if local is not None:
        if local.is_dir():
            raise InvalidParameter(
                f"{os.fspath(artifact_uri)!r} names a folder, not a file; list it with "
                "runlab.artifacts.list_artifacts."
            )
        return local.read_bytes(), name or local.name
    with tempfile.TemporaryDirectory(prefix="runlab-load-") as scratch, _repository(target) as repo:
        downloaded = Path(repo.download_artifacts(target.path, scratch))
        if downloaded.is_dir():
            raise InvalidParameter(
                f"{os.fspath(artifact_uri)!r} names a folder, not a file; list it with "
                "runlab.artifacts.list_artifacts."
            )
        return downloaded.read_bytes(), name or downloaded.name


def _text(content: bytes, artifact_uri: str | os.PathLike[str]) -> str:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidParameter(
            f"Artifact {os.fspath(artifact_uri)!r} is not valid UTF-8 text. To read a file in "
            "another encoding, download it with runlab.artifacts.download_artifacts and open "
            "it with that encoding."
        ) from None


def load_text(artifact_uri: str | os.PathLike[str]) -> str:
    """The content of a UTF-8 text artifact, e.g. ``load_text(f"runs:/{run_id}/notes.txt")``."""
    content, _ = _read_bytes(artifact_uri)
    return _text(content, artifact_uri)


def load_dict(artifact_uri: str | os.PathLike[str]) -> Any:
    """A JSON artifact (or YAML, for a ``.yaml``/``.yml`` file) read back as Python objects.

    The counterpart of :func:`runlab.log_dict`; InvalidParameter when the file does not parse.
    """
    content, name = _read_bytes(artifact_uri)
    text = _text(content, artifact_uri)
    if PurePosixPath(name).suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise InvalidParameter(
                f"Artifact {os.fspath(artifact_uri)!r} is not valid YAML: {error}"
            ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidParameter(
            f"Artifact {os.fspath(artifact_uri)!r} is not valid JSON: {error}. A YAML file "
            "must end in .yaml or .yml."
        ) from None


def load_image(artifact_uri: str | os.PathLike[str]) -> Any:
    """An image artifact as a loaded ``PIL.Image.Image`` (needs Pillow: ``runlab[plots]``)."""
    import io

    from runlab.artifacts._optional import require

    image_module = require("PIL.Image", "plots", "runlab.artifacts.load_image")
    content, _ = _read_bytes(artifact_uri)
    try:
        image = image_module.open(io.BytesIO(content))
        image.load()
    except Exception as error:  # Pillow raises several kinds for content it cannot decode
        raise InvalidParameter(
            f"Artifact {os.fspath(artifact_uri)!r} is not an image Pillow can read: {error}"
        ) from None
    return image
