"""Parsing of the URIs that name a model: ``models:/…`` and ``runs:/…``. Pure: no I/O.

The forms::

    models:/<name>/<version>          version 3 of a registered model
    models:/<name>/<stage>            the newest version in a stage (any case: production)
    models:/<name>/latest             the newest version of all
    models:/<name>@<alias>            the version an alias points at (@latest: the newest)
    models:/m-<id>                    a logged model
    runs:/<run_id>/<path>             a path in a run's artifacts

Every ``models:/`` form may be followed by ``/<path>`` to name a file or folder inside the
model (``models:/clf/3/MLmodel``). Paths go through :func:`validate_artifact_path`, so a URI
can never point outside the artifacts it names. Turning a parsed URI into a location to
download is :func:`runlab.tracking.model_uris.resolve_model_uri`'s job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from runlab.artifacts.path_safety import validate_artifact_path
from runlab.entities.registry import STAGES, canonical_stage, validate_alias
from runlab.errors import InvalidParameter
from runlab.validation import validate_run_id

__all__ = [
    "MODELS_SCHEME",
    "RUNS_SCHEME",
    "ModelsUri",
    "RunsUri",
    "is_model_uri",
    "parse_model_uri",
    "parse_models_uri",
    "parse_runs_uri",
]

MODELS_SCHEME = "models"
RUNS_SCHEME = "runs"

#: The suffix that names the newest version, matched in any case.
LATEST = "latest"

# A logged model's id as runlab and MLflow make it. Only an id of exactly this shape may be
# followed by a path: ``models:/m-ab/3`` stays version 3 of a registered model named "m-ab".
_LOGGED_MODEL_ID = re.compile(r"m-[0-9a-f]{32}")

ModelsUriKind = Literal["version", "stage", "latest", "alias", "logged_model"]

_MODELS_FORMS = (
    "models:/<name>/<version>, models:/<name>/<stage>, models:/<name>/latest, "
    "models:/<name>@<alias> or models:/<model_id>"
)


@dataclass(frozen=True, slots=True)
class ModelsUri:
    """A parsed ``models:/`` URI. Exactly one of the selector fields is set, per :attr:`kind`.

    ``name`` is the registered model (None for a logged model); ``path`` is the part inside
    the model's artifacts (``""`` for the whole model).
    """

    kind: ModelsUriKind
    name: str | None = None
    version: int | None = None
    stage: str | None = None
    alias: str | None = None
    model_id: str | None = None
    path: str = ""

    def __str__(self) -> str:
        """The URI in its canonical spelling (stages capitalized, ``latest`` lower case)."""
        if self.kind == "logged_model":
            base = f"models:/{self.model_id}"
        elif self.kind == "alias":
            base = f"models:/{self.name}@{self.alias}"
        elif self.kind == "version":
            base = f"models:/{self.name}/{self.version}"
        elif self.kind == "stage":
            base = f"models:/{self.name}/{self.stage}"
        else:
            base = f"models:/{self.name}/{LATEST}"
        return f"{base}/{self.path}" if self.path else base


@dataclass(frozen=True, slots=True)
class RunsUri:
    """A parsed ``runs:/<run_id>/<path>`` URI; ``path`` is ``""`` for the run's artifact root."""

    run_id: str
    path: str = ""

    def __str__(self) -> str:
        """The URI in its canonical spelling."""
        return f"runs:/{self.run_id}/{self.path}" if self.path else f"runs:/{self.run_id}"


def _split_scheme(uri: object) -> tuple[str, str]:
    """``("models", "/name/3")`` for ``models:/name/3``; the rest keeps its leading slash."""
    if not isinstance(uri, str):
        raise InvalidParameter(f"A model URI must be a string, got {type(uri).__name__}.")
    scheme, sep, rest = uri.partition(":")
    if not sep:
        return "", uri
    return scheme.lower(), rest


def _strip_authority(uri: str, rest: str, form: str) -> str:
    """The path part after ``scheme:``: ``/a/b`` and ``///a/b`` both give ``a/b``.

    ``models://host/…`` names a registry elsewhere (MLflow uses it for Databricks profiles);
    runlab reads registries through the registry URI instead, so a host is refused.
    """
    if not rest.startswith("/"):
        raise InvalidParameter(f"Malformed URI {uri!r}: expected the form {form}.")
    if rest.startswith("//"):
        host, _, path = rest[2:].partition("/")
        if host:
            raise InvalidParameter(
                f"Malformed URI {uri!r}: it names the host {host!r}. runlab reads the registry "
                f"of the registry URI; write it as {form}."
            )
        return path
    return rest[1:]


def _checked_path(uri: str, path: str) -> str:
    try:
        return validate_artifact_path(path)
    except InvalidParameter as exc:
        raise InvalidParameter(f"Malformed URI {uri!r}: {exc.message}") from None


def _checked_name(uri: str, name: str) -> str:
    # The registry refuses these names, so a URI that holds one cannot name a model.
    if not name.strip():
        raise InvalidParameter(
            f"Malformed model URI {uri!r}: the model name is empty; expected {_MODELS_FORMS}."
        )
    if name in (".", "..") or ":" in name:
        raise InvalidParameter(
            f"Malformed model URI {uri!r}: {name!r} is not a valid registered model name."
        )
    return name


def parse_models_uri(uri: str) -> ModelsUri:
    """Parse a ``models:/`` URI; InvalidParameter (saying which forms exist) if malformed."""
    scheme, rest = _split_scheme(uri)
    if scheme != MODELS_SCHEME:
        raise InvalidParameter(f"{uri!r} is not a models:/ URI; expected {_MODELS_FORMS}.")
    body = _strip_authority(uri, rest, _MODELS_FORMS)
    head, _, tail = body.partition("/")
    if "@" in head:
        # Aliases are [A-Za-z0-9_-], so the last '@' separates; a name may contain '@'.
        name, _, alias = head.rpartition("@")
        if alias.lower() == LATEST:
            # The registry answers the reserved alias 'latest' with the highest version.
            return ModelsUri("latest", name=_checked_name(uri, name), path=_checked_path(uri, tail))
        try:
            validate_alias(alias)
        except InvalidParameter as exc:
            raise InvalidParameter(f"Malformed model URI {uri!r}: {exc.message}") from None
        return ModelsUri(
            "alias", name=_checked_name(uri, name), alias=alias, path=_checked_path(uri, tail)
        )
    if head.startswith("m-") and (not tail or _LOGGED_MODEL_ID.fullmatch(head)):
        return ModelsUri("logged_model", model_id=head, path=_checked_path(uri, tail))
    name = _checked_name(uri, head)
    selector, _, path = tail.partition("/")
    path = _checked_path(uri, path)
    if not selector:
        raise InvalidParameter(
            f"Malformed model URI {uri!r}: say which version of {name!r} "
            f"(models:/{name}/1, models:/{name}/Production, models:/{name}/latest or "
            f"models:/{name}@<alias>)."
        )
    if selector.isascii() and selector.isdigit():
        version = int(selector)
        if version < 1:
            raise InvalidParameter(
                f"Malformed model URI {uri!r}: version numbers start at 1, got {selector}."
            )
        return ModelsUri("version", name=name, version=version, path=path)
    if selector.lower() == LATEST:
        return ModelsUri("latest", name=name, path=path)
    try:
        stage = canonical_stage(selector)
    except InvalidParameter:
        raise InvalidParameter(
            f"Malformed model URI {uri!r}: {selector!r} is not a version number, a stage "
            f"({', '.join(STAGES)}) or 'latest'."
        ) from None
    return ModelsUri("stage", name=name, stage=stage, path=path)


def parse_runs_uri(uri: str) -> RunsUri:
    """Parse ``runs:/<run_id>`` or ``runs:/<run_id>/<path>``; InvalidParameter if malformed."""
    form = "runs:/<run_id>/<path>"
    scheme, rest = _split_scheme(uri)
    if scheme != RUNS_SCHEME:
        raise InvalidParameter(f"{uri!r} is not a runs:/ URI; expected {form}.")
    body = _strip_authority(uri, rest, form)
    run_id, _, path = body.partition("/")
    if not run_id:
        raise InvalidParameter(f"Malformed URI {uri!r}: the run id is missing; expected {form}.")
    try:
        validate_run_id(run_id)
    except InvalidParameter as exc:
        raise InvalidParameter(f"Malformed URI {uri!r}: {exc.message}") from None
    return RunsUri(run_id, _checked_path(uri, path))


def is_model_uri(uri: str) -> bool:
    """True when ``uri`` starts with ``models:`` or ``runs:`` (it may still be malformed)."""
    return isinstance(uri, str) and _split_scheme(uri)[0] in (MODELS_SCHEME, RUNS_SCHEME)


def parse_model_uri(uri: str) -> ModelsUri | RunsUri:
    """Parse a ``models:/`` or ``runs:/`` URI; InvalidParameter for anything else."""
    scheme, _ = _split_scheme(uri)
    if scheme == RUNS_SCHEME:
        return parse_runs_uri(uri)
    if scheme == MODELS_SCHEME:
        return parse_models_uri(uri)
    raise InvalidParameter(
        f"{uri!r} is not a model URI; expected {_MODELS_FORMS} or runs:/<run_id>/<path>."
    )
