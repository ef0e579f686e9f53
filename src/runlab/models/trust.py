"""The one decision whether a model file that runs code when loaded may be loaded.

Some model formats are data: skops files with their type allow-list, safetensors, XGBoost's and
LightGBM's own model files, ``.keras`` archives in safe mode, checked ``torch.export`` programs
and TorchScript. Loading those trusts only the installed framework that parses them. Others are
programs: a pickle (``python_model.pkl`` of a custom model, ``model.pkl`` of a scikit-learn or
LightGBM estimator saved with ``serialization_format="cloudpickle"``, a ``torch.save`` of a
whole module) or a Keras ``Lambda`` layer's marshalled bytecode runs whatever its author put in
it, with the rights of the process that loads it.

Every loader calls :meth:`ModelTrust.require` immediately before it reads such a file, and it
reads nothing from the file (nor puts the model's ``code/`` folder on ``sys.path``) before that
call returns. The call returns only if someone decided to trust the model:

- the caller, explicitly: ``load_model(uri, trusted=True)`` in Python, ``--trust-model`` on
  ``runlab models serve`` and ``predict`` (and baked into a Docker image's start command);
- the operator, for whole sources: :data:`TRUSTED_SOURCES_ENV` holds comma-separated URI
  prefixes (``models:/``, ``runs:/``, ``s3://team-bucket/models/``, ``/srv/models``). A model
  is trusted when a prefix matches the URI the caller gave or the location that URI resolved to.

Otherwise it raises :class:`UntrustedModelError`, which names the format, says why it is unsafe
and names the three switches.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from runlab import uris
from runlab.errors import InvalidParameter, PermissionDenied

__all__ = ["TRUSTED_SOURCES_ENV", "ModelTrust", "UntrustedModelError", "trusted_source_prefixes"]

#: Comma-separated URI prefixes of model sources the operator trusts (see the module docstring).
TRUSTED_SOURCES_ENV = "RUNLAB_TRUSTED_MODEL_SOURCES"

# A prefix that ends in one of these already ends at a boundary (``runs:/``, ``s3://b/models/``);
# otherwise the URI must continue with one of _SEGMENT_STARTS, so that ``s3://b/models`` does not
# match ``s3://b/models-old`` and ``models:/churn`` does not match ``models:/churn-beta``.
_BOUNDARY_ENDS = ("/", ":")
_SEGMENT_STARTS = ("/", "@")


class UntrustedModelError(PermissionDenied):
    """Loading this model would run code from its files, and nobody said to trust its source.

    ``model_format`` names the format (``"cloudpickle"``, ``"pickle"``, …) and ``source`` the
    model as the caller named it. Nothing of the file was read when this is raised.
    """

    def __init__(
        self,
        message: str,
        error_code: str | None = None,
        model_format: str = "",
        source: str = "",
    ) -> None:
        super().__init__(message, error_code)
        self.model_format = model_format
        self.source = source

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.message, self.error_code, self.model_format, self.source))


def trusted_source_prefixes() -> tuple[str, ...]:
    """The prefixes in :data:`TRUSTED_SOURCES_ENV`, read now (empty entries are ignored)."""
    raw = os.environ.get(TRUSTED_SOURCES_ENV, "")
    return tuple(entry.strip() for entry in raw.split(",") if entry.strip())


@dataclass(frozen=True)
class ModelTrust:
    """Whether the model being loaded may run code from its files.

    ``sources`` are the names the model goes by: the URI the caller gave and the location it
    resolved to (a ``models:/`` URI's artifact location, a local folder). ``explicit`` is the
    caller's own decision (``trusted=True``, ``--trust-model``).
    """

    sources: tuple[str, ...]
    explicit: bool = False

    @classmethod
    def of(cls, *sources: str | os.PathLike[str], trusted: bool = False) -> ModelTrust:
        """The decision for a model known by ``sources``, explicitly ``trusted`` or not."""
        return cls(tuple(dict.fromkeys(os.fspath(s) for s in sources)), bool(trusted))

    @property
    def source(self) -> str:
        """The model as the caller named it (the first source)."""
        return self.sources[0] if self.sources else "the model"

    def allows(self) -> bool:
        """True when the caller trusts the model or a trusted-source prefix matches it."""
        if self.explicit:
            return True
        prefixes = trusted_source_prefixes()
        return any(_matches(s, p) for s in self.sources for p in prefixes)

    def require(self, model_format: str, path: str | os.PathLike[str]) -> None:
        """Return only if the model may run code; call before reading ``path`` at all.

        ``model_format`` names what ``path`` is (``"cloudpickle"``); it goes into the error.
        """
        if self.allows():
            return
        raise UntrustedModelError(
            f"Refusing to load the model {self.source!r}: its file {Path(path).name} is in the "
            f"{model_format} format, and loading it runs code embedded in the file (whatever "
            "its author put there, with this process's rights). If you trust where the model "
            "came from, pass trusted=True to load_model, use --trust-model with `runlab models "
            "serve` or `runlab models predict`, or list a prefix of its URI in "
            f"{TRUSTED_SOURCES_ENV} (comma-separated, e.g. models:/,s3://team-bucket/models/).",
            model_format=model_format,
            source=self.source,
        )


def _matches(source: str, prefix: str) -> bool:
    """Whether the trusted-source ``prefix`` covers ``source``.

    Local paths (plain or ``file:``) are compared folder by folder after resolving ``..`` and
    symlinks on both sides. Other URIs are compared as text, ending at a segment boundary, and a
    URI with a ``..`` segment never matches: the store behind it may resolve it elsewhere.
    """
    source_local, prefix_local = uris.is_local_path_uri(source), uris.is_local_path_uri(prefix)
    if source_local != prefix_local:
        return False
    if source_local:
        try:
            root = Path(uris.file_uri_to_path(prefix)).resolve()
            return Path(uris.file_uri_to_path(source)).resolve().is_relative_to(root)
        except (InvalidParameter, ValueError, OSError):  # a remote-host file: URI, a bad path
            return False
    if any(".." in text.split("/") for text in (source, unquote(source))):
        return False
    if not source.startswith(prefix):
        return False
    rest = source[len(prefix) :]
    return not rest or prefix.endswith(_BOUNDARY_ENDS) or rest.startswith(_SEGMENT_STARTS)
