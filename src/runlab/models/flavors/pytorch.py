"""PyTorch models (``runlab.pytorch``), in MLflow 3's ``pytorch`` flavor format.

A ``torch.nn.Module`` is saved under ``data/`` in one of two formats, MLflow's names and files,
so MLflow loads runlab's models and runlab loads MLflow's:

``serialization_format="pt2"`` — the default whenever the input example is a numpy array, a
torch tensor or a DataFrame (what MLflow 3 writes by default too). ``data/model.pt2`` is a
``torch.export`` program: the model's graph as JSON over operators registered with torch, and its
weights as raw tensor bytes. This is PyTorch's safe format, but only once checked: the archive
*may* carry records that ``torch.export.load`` unpickles without restriction, TorchScript objects
or compiled AOTInductor libraries. runlab reads the file once into memory and accepts it only if
every record is JSON, a short plain-text marker, raw tensor bytes, or a tensor file torch's
restricted ``weights_only`` unpickler accepts; then it loads those same bytes. Loading a checked
``.pt2`` therefore runs none of the author's code — it trusts only torch and the operators already
registered in the process. The price: the model must be traceable by ``torch.export`` (no Python
control flow on tensor values), it is exported in ``eval()`` mode with a dynamic batch dimension
(torch 2.6 or later; other dimensions keep the example's sizes), and ``load_model`` returns a
``torch.fx.GraphModule`` that computes the same function, not an instance of your class.

``serialization_format="pickle"`` — ``data/model.pth``, ``torch.save`` of the whole module
pickled with cloudpickle (MLflow 2's format), and the fallback when there is no example to trace.
``data/pickle_module_info.txt`` names MLflow's pickle module, for MLflow's loader; runlab never
imports a module a file names, it reads the file with torch's own unpickler. A whole-module pickle
*is* its author's code: torch cannot load it with ``weights_only=True`` (that refuses the class
objects a module consists of), so loading one runs whatever the file says, and it loads only
when the caller trusts the model (``trusted=True`` or a trusted source, see
:mod:`runlab.models.trust`).

MLflow writes a TorchScript module (``torch.jit.script`` or ``trace``) to the same
``data/model.pth``, as a TorchScript archive. Such a file is recognised by its records and read
with ``torch.jit.load``, without trust: TorchScript's loader compiles the archive's TorchScript
code over torch's registered operators and unpickles only TorchScript's own types, so it runs no
Python code from the file.

Why not a ``state_dict`` in safetensors: loading one needs the model's class, which a generic
loader (``runlab.pyfunc.load_model("models:/…")``, the scoring server) does not have; a ``.pt2``
program is self-contained, needs no trust, and is the format MLflow 3 reads and writes.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from runlab.errors import InvalidParameter, NotFound
from runlab.models.flavors.framework_import import import_framework
from runlab.models.flavors.tensor_models import DATA_DIR, as_array, data_dir, like_input
from runlab.models.model import Model
from runlab.models.model_location import open_model
from runlab.models.model_logging import ModelInfo, log_flavor_model
from runlab.models.model_paths import add_code_path, inside
from runlab.models.saving import copy_code_paths, pyfunc_flavor_conf, save_model_dir
from runlab.models.signature import ModelSignature
from runlab.models.trust import ModelTrust

__all__ = [
    "FLAVOR_NAME",
    "SERIALIZATION_FORMATS",
    "load_model",
    "load_pyfunc",
    "log_model",
    "save_model",
]

_logger = logging.getLogger("runlab")

FLAVOR_NAME = "pytorch"
LOADER_MODULE = "mlflow.pytorch"
SERIALIZATION_FORMATS = ("pt2", "pickle")
_PT2_FILE = "model.pt2"
_PICKLE_FILE = "model.pth"
_PICKLE_MODULE_INFO = "pickle_module_info.txt"
# What MLflow writes as the pickle module (its cloudpickle wrapper): MLflow's loader imports it
# by this name, so a runlab pickle must name it to load in MLflow. runlab never imports it.
_MLFLOW_PICKLE_MODULE = "mlflow.pytorch.pickle_module"

# Inside a .pt2 archive (paths below its root folder): the payload configs, which say whether a
# weight or constant record is raw tensor bytes or a pickle.
_PAYLOAD_CONFIG = re.compile(r"data/(weights|constants)/[^/]+_config\.json")
# Record name prefixes torch reads as raw bytes when the config says use_pickle: false.
_RAW_PREFIXES = {"weights": "weight_", "constants": "tensor_"}
# Compiled native code (AOTInductor): loading it means dlopen-ing the author's library.
_NATIVE_CODE_DIR = "data/aotinductor/"
# Short marker records (version, byte order, ...): no pickle fits in this (GLOBAL needs 2 lines).
_TEXT_MARKER = re.compile(rb"[A-Za-z0-9._-]{1,64}\n?")
# The record that marks a TorchScript archive (torch.load itself dispatches on it).
_TORCHSCRIPT_RECORD = "constants.pkl"
# What the trust gate calls a whole-module torch.save file.
_PICKLE_FORMAT_NAME = "torch.save pickle"


def _torch() -> Any:
    return import_framework("torch", "pytorch", "torch")


def save_model(
    pytorch_model: Any,
    path: str | os.PathLike[str],
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: Iterable[str] | str | None = None,
    extra_pip_requirements: Iterable[str] | str | None = None,
    metadata: Mapping[str, Any] | None = None,
    serialization_format: str | None = None,
    mlflow_model: Model | None = None,
) -> Model:
    """Save a ``torch.nn.Module`` to the new folder ``path``.

    ``serialization_format`` is ``"pt2"`` (a ``torch.export`` program traced with
    ``input_example``; the default when the example is an array, tensor or DataFrame) or
    ``"pickle"`` (the whole module, loadable only from trusted sources). See the module
    docstring for what each format needs and trusts.
    """
    torch = _torch()
    if not isinstance(pytorch_model, torch.nn.Module):
        raise InvalidParameter(
            f"pytorch_model must be a torch.nn.Module, got {type(pytorch_model).__name__}."
        )
    example = _example_tensor(torch, pytorch_model, input_example)
    fmt = serialization_format or _default_format(example)
    if fmt not in SERIALIZATION_FORMATS:
        raise InvalidParameter(
            f"serialization_format must be one of {', '.join(SERIALIZATION_FORMATS)}, got {fmt!r}."
        )
    if isinstance(pytorch_model, torch.jit.ScriptModule):
        raise InvalidParameter(
            "TorchScript modules are not supported: save the original nn.Module (TorchScript "
            "is deprecated in favour of torch.export)."
        )
    # Exported before anything is written: a model torch cannot trace fails with nothing saved.
    program = _export(torch, pytorch_model, example) if fmt == "pt2" else None

    def write(folder: Path, model: Model) -> None:
        code = copy_code_paths(folder, code_paths)
        data = folder / DATA_DIR
        data.mkdir()
        if program is not None:
            torch.export.save(program, data / _PT2_FILE)
        else:
            import cloudpickle

            # cloudpickle, as MLflow does, so classes defined in a notebook or __main__ travel.
            torch.save(pytorch_model, data / _PICKLE_FILE, pickle_module=cloudpickle)
            (data / _PICKLE_MODULE_INFO).write_text(_MLFLOW_PICKLE_MODULE, encoding="utf-8")
        model.add_flavor(
            "python_function",
            **pyfunc_flavor_conf(
                LOADER_MODULE,
                data=DATA_DIR,
                pickle_module_name=_MLFLOW_PICKLE_MODULE,
                code=code,
                config={"device": None},
            ),
        )
        model.add_flavor(
            FLAVOR_NAME, model_data=DATA_DIR, pytorch_version=str(torch.__version__), code=code
        )

    # A torch tensor example is kept as the array it holds (the example file is JSON).
    if isinstance(input_example, torch.Tensor):
        input_example = input_example.detach().cpu().numpy()
    requirements = ["torch"] if fmt == "pt2" else ["torch", "cloudpickle"]
    return save_model_dir(
        path,
        write,
        default_requirements=requirements,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        mlmodel=mlflow_model,
    )


def _default_format(example: Any) -> str:
    if example is not None:
        return "pt2"
    _logger.warning(
        "runlab: no input_example to trace this PyTorch model with, so it is saved as a pickle "
        "(loading it runs its author's code); give an input_example for the safe pt2 format."
    )
    return "pickle"


def _float_dtype(torch: Any, module: Any) -> Any:
    """The floating dtype the module computes in: its first floating parameter's, else float32."""
    for tensor in (*module.parameters(), *module.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


def _to_tensor(torch: Any, array: Any, float_dtype: Any) -> Any:
    """A numpy array as a tensor; floating data in the model's own floating dtype."""
    import numpy as np

    tensor = torch.from_numpy(np.ascontiguousarray(array))
    return tensor.to(float_dtype) if tensor.is_floating_point() else tensor


def _example_tensor(torch: Any, module: Any, example: Any) -> Any:
    """The input example as the tensor to trace the model with, or None when it is no tensor."""
    import numpy as np

    if isinstance(example, torch.Tensor):
        return example.detach()
    try:
        array, _ = as_array(example, "pytorch", np.float32)
        return _to_tensor(torch, array, _float_dtype(torch, module))
    except (InvalidParameter, TypeError, ValueError):  # not one numeric array: nothing to trace
        return None


def _export(torch: Any, module: Any, example: Any) -> Any:
    if example is None:
        raise InvalidParameter(
            "serialization_format='pt2' traces the model with its input_example: give a numpy "
            "array, torch tensor or DataFrame, or save with serialization_format='pickle'."
        )
    # Dim.AUTO (torch >= 2.6) makes the batch dimension dynamic where the model allows it.
    auto = getattr(torch.export.Dim, "AUTO", None)
    shapes = ({0: auto},) if auto is not None and example.ndim else None
    if shapes is not None and example.shape[0] == 1:
        # torch.export fixes a dimension of size 1 as a constant: trace with the row twice so
        # a one-row example still gives a program that takes any batch size.
        example = torch.cat([example, example])
    was_training = module.training
    module.eval()  # the program is for inference: dropout off, batch norm on running stats
    try:
        return torch.export.export(module, (example,), dynamic_shapes=shapes)
    except Exception as err:  # torch raises many types for untraceable code
        raise InvalidParameter(
            f"torch.export could not trace the model ({type(err).__name__}: {err}). Make it "
            "exportable, or save it with serialization_format='pickle' (trusted sources only)."
        ) from err
    finally:
        module.train(was_training)


def log_model(
    pytorch_model: Any,
    name: str | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    registered_model_name: str | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    await_registration_for: int | None = None,
    pip_requirements: Iterable[str] | str | None = None,
    extra_pip_requirements: Iterable[str] | str | None = None,
    metadata: Mapping[str, Any] | None = None,
    serialization_format: str | None = None,
    *,
    artifact_path: str | None = None,
    run_id: str | None = None,
) -> ModelInfo:
    """Save the module and log it to the active run; register it with ``registered_model_name``."""

    return log_flavor_model(
        save_model,
        name=name,
        artifact_path=artifact_path,
        registered_model_name=registered_model_name,
        await_registration_for=await_registration_for,
        run_id=run_id,
        pytorch_model=pytorch_model,
        code_paths=code_paths,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        serialization_format=serialization_format,
    )


def _load_module(model_dir: Path, model: Model, trust: ModelTrust) -> Any:
    torch = _torch()
    conf = model.flavors.get(FLAVOR_NAME)
    if conf is None:
        # A model saved with only the pyfunc flavor naming mlflow.pytorch: its data entry.
        pyfunc_conf = model.flavors.get("python_function", {})
        conf = {"model_data": pyfunc_conf.get("data"), "code": pyfunc_conf.get("code")}
    data = data_dir(model_dir, conf, "model_data")
    pickled = inside(data, _PICKLE_FILE, "model_data")
    if pickled.is_file():
        # Read once: the bytes looked at are the bytes loaded.
        blob = pickled.read_bytes()
        if _is_torchscript(blob):
            module = torch.jit.load(io.BytesIO(blob), map_location="cpu")
        else:
            # A whole-module pickle runs its author's code (see the module docstring); the
            # pickle module named in pickle_module_info.txt is not imported, torch's unpickler
            # reads it.
            trust.require(_PICKLE_FORMAT_NAME, pickled)
            add_code_path(model_dir, conf)
            module = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=False)
        module.eval()
        return module
    program = inside(data, _PT2_FILE, "model_data")
    if program.is_file():
        return _load_pt2(torch, program)
    raise NotFound(
        f"The PyTorch model at {model_dir} has neither data/{_PT2_FILE} nor {_PICKLE_FILE}."
    )


def _is_torchscript(blob: bytes) -> bool:
    """Whether ``blob`` is a TorchScript archive (which ``torch.jit.load`` reads without Python
    unpickling) rather than a ``torch.save`` pickle."""
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:  # torch's legacy (pre-zip) pickle format
        return False
    # torch addresses records below the archive's root folder, whatever its name.
    return any(name.split("/", 1)[-1] == _TORCHSCRIPT_RECORD for name in names)


def _load_pt2(torch: Any, path: Path) -> Any:
    # Read once: the bytes checked are the bytes loaded, whatever happens to the file meanwhile.
    blob = path.read_bytes()
    _check_pt2(torch, blob, path)
    # A checked archive makes export load no pickles that could run code, only tensors.
    return torch.export.load(io.BytesIO(blob)).module()


def _check_pt2(torch: Any, blob: bytes, path: Path) -> None:
    """Refuse a ``.pt2`` archive with any record that loading could run code from."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(blob))
    except zipfile.BadZipFile as err:
        raise InvalidParameter(f"{path} is not a torch.export (.pt2) archive.") from err
    with archive:
        # torch's reader addresses records below the archive's root folder, whatever its name.
        records = [
            (info.filename.split("/", 1)[-1], info)
            for info in archive.infolist()
            if not info.is_dir()
        ]
        raw = _raw_tensor_records(archive, records, path)
        for name, info in records:
            if name in raw:
                continue
            if name.startswith(_NATIVE_CODE_DIR):
                raise _unsafe(path, name, "it is compiled native code (AOTInductor)")
            content = archive.read(info)
            if _TEXT_MARKER.fullmatch(content) or _is_json(content):
                continue
            try:
                torch.load(io.BytesIO(content), map_location="cpu", weights_only=True)
            except Exception as err:  # any refusal of the restricted unpickler
                raise _unsafe(path, name, "it is not a plain tensor file") from err


def _raw_tensor_records(
    archive: zipfile.ZipFile, records: list[tuple[str, zipfile.ZipInfo]], path: Path
) -> set[str]:
    """The records torch reads as raw tensor bytes (never unpickled), per the payload configs."""
    raw: set[str] = set()
    unpickled: set[str] = set()
    for name, info in records:
        match = _PAYLOAD_CONFIG.fullmatch(name)
        if match is None:
            continue
        kind = match.group(1)
        try:
            entries = json.loads(archive.read(info))["config"].values()
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise _unsafe(path, name, "its payload config is unreadable") from err
        for entry in entries:
            record_name = str(entry.get("path_name", "")) if isinstance(entry, dict) else ""
            if kind == "constants" and not record_name.startswith(_RAW_PREFIXES["constants"]):
                # TorchScript objects and opaque constants are always unpickled, unrestricted.
                raise _unsafe(path, record_name or name, "it is a pickled Python object")
            record = f"data/{kind}/{record_name}"
            if entry.get("use_pickle") is False and record_name.startswith(_RAW_PREFIXES[kind]):
                raw.add(record)
            else:
                unpickled.add(record)
    # A record one entry reads raw and another unpickles is checked as a pickle.
    return raw - unpickled


def _is_json(content: bytes) -> bool:
    try:
        json.loads(content)
    except ValueError:  # UnicodeDecodeError is a ValueError too
        return False
    return True


def _unsafe(path: Path, record: str, why: str) -> InvalidParameter:
    return InvalidParameter(
        f"Refusing to load {path}: record {record!r} could run code on load ({why}). Only "
        "torch.export programs whose weights and constants are plain tensors are loaded."
    )


def load_model(
    model_uri: str | os.PathLike[str], dst_path: str | None = None, *, trusted: bool = False
) -> Any:
    """Load the PyTorch module from any model URI, on the CPU and in ``eval()`` mode.

    A ``pt2`` model comes back as the exported ``torch.fx.GraphModule`` and a TorchScript one
    as its ``ScriptModule``. A pickled one comes back as the original module, which runs the
    file's code: it loads only with ``trusted=True`` or from a trusted source (see the module
    docstring).
    """
    opened = open_model(model_uri, dst_path, trusted)
    return _load_module(opened.path, opened.mlmodel, opened.trust)


class _PyTorchPyfunc:
    """The module behind pyfunc ``predict``: arrays in, no gradients, arrays or frames out."""

    def __init__(self, module: Any, device: str | None) -> None:
        torch = _torch()
        self.raw_model = module
        self._device = torch.device(device) if device else None
        if self._device is not None:
            module.to(self._device)
        self._float_dtype = _float_dtype(torch, module)

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        torch = _torch()
        import numpy as np

        array, index = as_array(model_input, "pytorch", np.float32)
        tensor = _to_tensor(torch, array, self._float_dtype)
        if self._device is not None:
            tensor = tensor.to(self._device)
        with torch.no_grad():
            output = self.raw_model(tensor, **(params or {}))
        if not isinstance(output, torch.Tensor):
            raise InvalidParameter(
                f"The PyTorch model returned {type(output).__name__}; pyfunc predict needs one "
                "output tensor."
            )
        return like_input(output.detach().cpu().numpy(), index)


def load_pyfunc(model_dir: Path, model: Model, trust: ModelTrust | None = None) -> _PyTorchPyfunc:
    """The pyfunc implementation of a saved PyTorch model (``config.device`` picks the device).

    A pickled module loads only if ``trust`` allows it.
    """
    config = model.flavors.get("python_function", {}).get("config") or {}
    device = config.get("device") if isinstance(config, Mapping) else None
    module = _load_module(model_dir, model, trust or ModelTrust.of(model_dir))
    return _PyTorchPyfunc(module, str(device) if device else None)
