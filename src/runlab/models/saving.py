"""Writing a saved-model directory: the steps every flavor's ``save_model`` shares.

A flavor supplies one function that writes its payload into a folder and records its flavor
entries on the :class:`Model`; :func:`save_model_dir` does the rest — the environment files, the
input example, the signature (inferred from the example when none is given) and the ``MLmodel``
file — in a staging folder that is renamed into place only when everything was written. A save
that fails half-way leaves nothing behind, and an existing model is never overwritten.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from runlab.errors import AlreadyExists, InvalidParameter
from runlab.models.environment import resolve_requirements, write_environment
from runlab.models.input_example import save_input_example
from runlab.models.model import MLMODEL_FILE_NAME, Model
from runlab.models.signature import ModelSignature, infer_signature

__all__ = ["PYFUNC_FLAVOR", "copy_code_paths", "pyfunc_flavor_conf", "save_model_dir"]

_logger = logging.getLogger("runlab")

PYFUNC_FLAVOR = "python_function"
_CODE_DIR = "code"

#: What a flavor's writer does: put its payload into the folder and add its flavors to the Model.
PayloadWriter = Callable[[Path, Model], None]


def pyfunc_flavor_conf(loader_module: str, **extra: Any) -> dict[str, Any]:
    """The ``python_function`` flavor entry for ``loader_module`` (``env`` is filled in later)."""
    return {"loader_module": loader_module, "python_version": platform.python_version(), **extra}


def copy_code_paths(
    model_dir: Path, code_paths: Sequence[str | os.PathLike[str]] | None
) -> str | None:
    """Copy user code files or folders into ``code/``; the flavor's ``code`` entry (or None)."""
    if not code_paths:
        return None
    target = model_dir / _CODE_DIR
    target.mkdir()
    for entry in code_paths:
        source = Path(entry)
        if not source.exists():
            raise InvalidParameter(f"code_paths entry {os.fspath(entry)!r} does not exist.")
        if source.is_dir():
            shutil.copytree(source, target / source.name)
        else:
            shutil.copy2(source, target / source.name)
    return _CODE_DIR


def _check_target(path: Path) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise AlreadyExists(
            f"A model cannot be saved to {os.fspath(path)!r}: it already exists and is not an "
            "empty folder. Choose a new path, or delete the old model first."
        )


def save_model_dir(
    path: str | os.PathLike[str],
    write_payload: PayloadWriter,
    *,
    default_requirements: Sequence[str],
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: Iterable[str] | str | None = None,
    extra_pip_requirements: Iterable[str] | str | None = None,
    metadata: Mapping[str, Any] | None = None,
    mlmodel: Model | None = None,
    infer_output: Callable[[Path, Any], Any] | None = None,
) -> Model:
    """Save a model into the new folder ``path`` and return its :class:`Model`.

    ``default_requirements`` are the distributions the flavor needs, pinned to the installed
    versions. With an ``input_example`` and no ``signature`` the signature is inferred from the
    example and from what the saved model predicts for it (``infer_output``, by default its
    pyfunc ``predict``).
    """
    target = Path(path)
    _check_target(target)
    if signature is not None and not isinstance(signature, ModelSignature):
        raise InvalidParameter(
            f"signature must be a ModelSignature (see runlab.models.infer_signature), got "
            f"{type(signature).__name__}."
        )
    model = mlmodel if mlmodel is not None else Model()
    if metadata is not None:
        model.metadata = dict(metadata)
    requirements = resolve_requirements(
        default_requirements, pip_requirements, extra_pip_requirements
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkdtemp: that makes the folder private (0700). A saved model gets a folder's
    # usual permissions (the umask's), so other users or a container's user can read it.
    staging = target.parent / f".{target.name}.{uuid.uuid4().hex}.partial"
    staging.mkdir()
    try:
        write_payload(staging, model)
        if PYFUNC_FLAVOR in model.flavors:
            model.flavors[PYFUNC_FLAVOR]["env"] = write_environment(staging, requirements)
        else:
            write_environment(staging, requirements)
        if input_example is not None:
            model.saved_input_example_info = save_input_example(staging, input_example)
            if signature is None:
                signature = _infer_from_example(staging, model, input_example, infer_output)
        model.signature = signature
        model.extra.setdefault("model_size_bytes", _size(staging))
        model.save(staging / MLMODEL_FILE_NAME)
        if target.exists():
            target.rmdir()  # empty (checked above); rename needs it gone
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return model


def _infer_from_example(
    staging: Path,
    model: Model,
    example: Any,
    infer_output: Callable[[Path, Any], Any] | None,
) -> ModelSignature | None:
    try:
        inputs = infer_signature(example).inputs
    except InvalidParameter as err:
        _logger.warning("runlab: no signature inferred from the input example: %s", err)
        return None
    outputs = None
    if infer_output is None and PYFUNC_FLAVOR in model.flavors:
        infer_output = _pyfunc_predictor(model)
    if infer_output is not None:
        try:
            outputs = infer_signature(
                _as_column_if_table(example, infer_output(staging, example))
            ).inputs
        except Exception as err:  # a model that cannot predict its own example: keep inputs
            _logger.warning(
                "runlab: the model's output for its input example could not be inferred (%s); "
                "the signature has inputs only.",
                err,
            )
    return ModelSignature(inputs, outputs)


def _as_column_if_table(example: Any, output: Any) -> Any:
    """A 1-D array predicted for a table, as a column: MLflow records such outputs that way."""
    if type(example).__module__.startswith("pandas") and getattr(output, "ndim", None) == 1:
        import pandas as pd

        if isinstance(example, pd.DataFrame) and not isinstance(output, pd.Series):
            return pd.Series(output)
    return output


def _pyfunc_predictor(model: Model) -> Callable[[Path, Any], Any]:
    def predict(folder: Path, example: Any) -> Any:
        from runlab.models.flavor_registry import load_pyfunc_implementation
        from runlab.models.trust import ModelTrust

        # The staging folder holds what this process just wrote from an object it already has:
        # reading it back runs no code that is not already running here.
        trust = ModelTrust.of(folder, trusted=True)
        return load_pyfunc_implementation(folder, model, trust).predict(example, None)

    return predict


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
