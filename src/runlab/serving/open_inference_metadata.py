"""What the Open Inference Protocol (v2) routes say about the server and its one model.

The model is known by one name (``runlab models serve --name``, else the registered model's
name when it is served from the registry, else ``model``) and, when it came from the registry,
its version number. Its metadata lists the signature's inputs and outputs as v2 tensors: a
column is a ``[-1]`` tensor (an array column ``[-1, -1]``) of the datatype that holds its type,
a tensor spec keeps its own shape (``-1`` for a free dimension) and dtype.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runlab.errors import InvalidParameter
from runlab.models.schema import Array, ColSpec, Schema, TensorSpec
from runlab.serving.open_inference_tensors import datatype_of

__all__ = [
    "DEFAULT_MODEL_NAME",
    "DEFAULT_OUTPUT_NAME",
    "PLATFORM",
    "ModelIdentity",
    "check_model_name",
    "model_metadata",
    "output_names",
    "served_model_identity",
    "server_metadata",
]

#: The name a model is served under when nothing names it.
DEFAULT_MODEL_NAME = "model"
#: The name of an output nothing names (an array or a list from a model without a signature).
DEFAULT_OUTPUT_NAME = "output-0"
#: The model metadata's ``platform``: any model runlab serves is a pyfunc model.
PLATFORM = "runlab_pyfunc"

# The v2 datatype of each column type; "any" and compound types are sent as text.
_COLUMN_DATATYPES = {
    "boolean": "BOOL",
    "integer": "INT32",
    "long": "INT64",
    "float": "FP32",
    "double": "FP64",
    "string": "BYTES",
    "binary": "BYTES",
    "datetime": "BYTES",
}


@dataclass(frozen=True)
class ModelIdentity:
    """The name the served model answers to and its version (None when it has none)."""

    name: str = DEFAULT_MODEL_NAME
    version: str | None = None

    def matches(self, name: str, version: str | None) -> bool:
        """Whether a request's path names this model (and, when it names one, its version)."""
        return name == self.name and (version is None or version == self.version)


def served_model_identity(model_uri: str, name: str | None = None) -> ModelIdentity:
    """The name and version ``runlab models serve`` gives the model it serves from ``model_uri``.

    The name is ``name`` when given, else the registered model's name for a ``models:/<name>/…``
    or ``models:/<name>@alias`` URI, else :data:`DEFAULT_MODEL_NAME`. The version is the
    registered version such a URI names (a stage or alias is looked up in the registry, once,
    at start-up); a model served from anywhere else has none.
    """
    from runlab.model_uris import MODELS_SCHEME, ModelsUri, is_model_uri, parse_model_uri

    if name is not None:
        check_model_name(name)
    registered: ModelsUri | None = None
    if is_model_uri(model_uri) and model_uri.lower().startswith(f"{MODELS_SCHEME}:"):
        parsed = parse_model_uri(model_uri)
        if isinstance(parsed, ModelsUri) and parsed.name is not None and not parsed.path:
            registered = parsed
    if registered is None:
        return ModelIdentity(name or DEFAULT_MODEL_NAME, None)
    from runlab.tracking.fluent_experiments import default_client
    from runlab.tracking.model_uris import get_model_version_for_uri

    if registered.version is not None:
        version = str(registered.version)
    else:
        version = str(get_model_version_for_uri(registered, default_client()).version)
    # A registered name never holds '/' (the registry refuses it), so it is a path segment.
    return ModelIdentity(name or str(registered.name), version)


def check_model_name(name: str) -> str:
    """``name`` when it can be the ``{name}`` segment of the v2 paths; InvalidParameter if not."""
    if not name.strip() or "/" in name:
        raise InvalidParameter(
            f"The model name {name!r} cannot name a model in /v2/models/{{name}} paths: give a "
            "non-empty name without '/'."
        )
    return name


def server_metadata(version: str) -> dict[str, Any]:
    """The ``GET /v2`` document: the server's name, version and protocol extensions."""
    return {"name": "runlab", "version": version, "extensions": ["binary_tensor_data"]}


def model_metadata(identity: ModelIdentity, model: Any) -> dict[str, Any]:
    """The ``GET /v2/models/{name}`` document for the loaded model."""
    signature = model.metadata.signature
    inputs = signature.inputs if signature is not None else None
    outputs = signature.outputs if signature is not None else None
    document: dict[str, Any] = {
        "name": identity.name,
        "versions": [identity.version] if identity.version is not None else [],
        "platform": PLATFORM,
        "inputs": _tensors(inputs, "input"),
        "outputs": _tensors(outputs, "output"),
    }
    return document


def output_names(model: Any) -> list[str]:
    """The names the signature gives the model's outputs (empty when it gives none)."""
    signature = model.metadata.signature
    schema = signature.outputs if signature is not None else None
    if schema is None:
        return []
    return [s.name for s in schema.inputs if s.name is not None]


def _tensors(schema: Schema | None, prefix: str) -> list[dict[str, Any]]:
    if schema is None or not len(schema):
        return []
    specs = schema.inputs
    if isinstance(specs[0], ColSpec) and specs[0].name is None:
        # Unnamed columns travel as one [rows, columns] tensor (see open_inference_request).
        kinds = {_tensor(s, "")["datatype"] for s in specs}
        datatype = kinds.pop() if len(kinds) == 1 else "BYTES"
        shape = [-1, len(specs)] if len(specs) > 1 else [-1]
        return [{"name": f"{prefix}-0", "datatype": datatype, "shape": shape}]
    return [_tensor(spec, f"{prefix}-{i}") for i, spec in enumerate(specs)]


def _tensor(spec: ColSpec | TensorSpec, default_name: str) -> dict[str, Any]:
    name = spec.name if spec.name is not None else default_name
    if isinstance(spec, TensorSpec):
        datatype = datatype_of(spec.dtype) or "BYTES"
        return {"name": name, "datatype": datatype, "shape": list(spec.shape)}
    kind = spec.type.items if isinstance(spec.type, Array) else spec.type
    datatype = _COLUMN_DATATYPES.get(kind, "BYTES") if isinstance(kind, str) else "BYTES"
    shape = [-1, -1] if isinstance(spec.type, Array) else [-1]
    return {"name": name, "datatype": datatype, "shape": shape}
