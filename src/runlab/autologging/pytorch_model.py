"""The trained PyTorch model as autologging records it: a snapshot, logged in the background.

``fit()`` must not wait for the model to be exported and uploaded, and the user may go on
changing the module the moment ``fit()`` returns (train it further, move it to another device).
So the foreground takes a snapshot — a copy of the module whose parameters and buffers are
copied straight to the CPU (no second copy on the accelerator) — and the export runs on the
background thread, on the snapshot.

The model is saved in the flavor's safe ``pt2`` format (a ``torch.export`` program), which needs
an example input to trace: a few rows of the first training batch. Those rows are kept in the
model as its input example only with ``log_input_examples=True``, and the signature inferred
from them only with ``log_model_signatures=True``. A model ``torch.export`` cannot trace is
saved as a pickle instead (loadable with ``trusted=True``), with a warning.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

from runlab.errors import InvalidParameter
from runlab.models.model import MLMODEL_FILE_NAME, Model

__all__ = [
    "EXAMPLE_ROWS",
    "example_rows",
    "log_traced_model",
    "plain_value",
    "predict_numpy",
    "snapshot",
]

_logger = logging.getLogger("runlab")

#: How many rows of the first training batch are kept to trace the model with.
EXAMPLE_ROWS = 5


def snapshot(module: Any) -> Any:
    """A copy of ``module`` on the CPU, in eval mode, sharing nothing mutable with it.

    Parameters and buffers are copied to the CPU first and handed to ``deepcopy`` as already
    copied, so a model on an accelerator is never duplicated there.
    """
    import torch

    memo: dict[int, Any] = {}
    for tensor in (*module.parameters(), *module.buffers()):
        if id(tensor) in memo:
            continue
        data = tensor.detach().to("cpu", copy=True)
        if isinstance(tensor, torch.nn.Parameter):
            data = torch.nn.Parameter(data, requires_grad=tensor.requires_grad)
        memo[id(tensor)] = data
    clone = copy.deepcopy(module, memo)
    # Lightning modules remember their device in an attribute; .cpu() sets it (the tensors are
    # on the CPU already, so nothing is copied again).
    clone.cpu()
    clone.eval()
    return clone


def example_rows(value: Any) -> Any:
    """The first rows of a batch tensor, detached and on the CPU; None for anything else."""
    import torch

    if not isinstance(value, torch.Tensor) or value.ndim == 0:
        return None
    return value[:EXAMPLE_ROWS].detach().to("cpu", copy=True)


def plain_value(value: Any) -> Any:
    """A param value as its text would read best: a one-element tensor or array as its number."""
    item = getattr(value, "item", None)
    size = getattr(value, "numel", None) or getattr(value, "size", None)
    count = size() if callable(size) else size
    if callable(item) and count == 1:
        return item()
    return value


def predict_numpy(model: Any, example: Any) -> Any:
    """The model's output for a numpy ``example`` as a numpy array; None if it gives no tensor.

    None too when the model cannot run on the example as one tensor (a forward that takes
    several inputs): the signature then describes the input alone.
    """
    import torch

    tensor = torch.from_numpy(example)
    try:
        with torch.no_grad():
            output = model(tensor)
    except Exception:
        return None
    if not isinstance(output, torch.Tensor):
        return None
    return output.detach().cpu().numpy()


def log_traced_model(
    model: Any,
    *,
    name: str,
    registered_model_name: str | None,
    run_id: str,
    trace_example: Any = None,
    signature: Any = None,
    input_example: Any = None,
    warn: bool = True,
) -> None:
    """Log ``model`` with the pytorch flavor: ``pt2`` traced with ``trace_example``.

    ``signature`` and ``input_example`` are what the options asked for (None: leave it out),
    as :meth:`~runlab.autologging.training_run.TrainingRun.log_model` passes them. ``warn``
    says whether falling back to a pickle is worth a warning (not with ``silent=True``).
    """
    from runlab.models.flavors import pytorch as flavor
    from runlab.models.model_logging import log_flavor_model

    def save(path: Path, mlflow_model: Model) -> Model:
        if trace_example is None:
            return flavor.save_model(
                model,
                path,
                signature=signature,
                serialization_format="pickle",
                mlflow_model=mlflow_model,
            )
        try:
            saved = flavor.save_model(
                model,
                path,
                signature=signature,
                input_example=trace_example,
                mlflow_model=mlflow_model,
            )
        except InvalidParameter as err:
            # torch.export could not trace it (nothing was written): the pickle still loads.
            if warn:
                _logger.warning(
                    "runlab: the trained model is saved as a pickle (load it with "
                    "trusted=True): %s",
                    err,
                )
            return flavor.save_model(
                model,
                path,
                signature=signature,
                input_example=input_example,
                serialization_format="pickle",
                mlflow_model=mlflow_model,
            )
        return _without_unasked(Path(path), saved, signature, input_example)

    log_flavor_model(save, name=name, registered_model_name=registered_model_name, run_id=run_id)


def _without_unasked(path: Path, saved: Model, signature: Any, input_example: Any) -> Model:
    """Take out of a saved model the example rows and inferred signature nobody asked for.

    The flavor keeps the example it traced with and infers a signature from it; autologging
    keeps them only when the options say so.
    """
    from runlab.models.input_example import INPUT_EXAMPLE_FILE, SERVING_INPUT_FILE

    changed = False
    if input_example is None and saved.saved_input_example_info is not None:
        for file_name in (INPUT_EXAMPLE_FILE, SERVING_INPUT_FILE):
            (path / file_name).unlink(missing_ok=True)
        saved.saved_input_example_info = None
        changed = True
    if signature is None and saved.signature is not None:
        saved.signature = None
        changed = True
    if changed:
        saved.save(path / MLMODEL_FILE_NAME)
    return saved
