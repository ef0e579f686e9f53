"""Loading the parts of a saved transformers model, trusting only data (see ``transformers.py``).

Each class named in ``MLmodel`` must be one ``transformers`` provides and derive from the base
class of its part; every path read from ``MLmodel`` stays inside the model folder; weights are
read from safetensors only; a saved config that asks for custom code (``auto_map``,
``custom_pipelines``) is refused; and every ``from_pretrained`` call reads local files with
``trust_remote_code=False``.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from runlab.errors import InvalidParameter
from runlab.models.flavors.framework_import import import_framework
from runlab.models.model_paths import inside

__all__ = [
    "COMPONENTS_DIR",
    "COMPONENT_BASES",
    "MODEL_DIR",
    "checked_task",
    "dtype_kwarg",
    "load_parts",
    "transformers_module",
]

MODEL_DIR = "model"
COMPONENTS_DIR = "components"
#: The parts saved next to the model, with the transformers base class that a class named in
#: ``MLmodel`` must derive from before it is used to load that part.
COMPONENT_BASES = {
    "tokenizer": "PreTrainedTokenizerBase",
    "feature_extractor": "FeatureExtractionMixin",
    "image_processor": "ImageProcessingMixin",
}
_PROCESSOR = "processor"
_AUTO_CLASSES = {
    "tokenizer": "AutoTokenizer",
    "feature_extractor": "AutoFeatureExtractor",
    "image_processor": "AutoImageProcessor",
    _PROCESSOR: "AutoProcessor",
}
# The files in which transformers records custom code to import.
_CONFIG_FILES = (
    "config.json",
    "tokenizer_config.json",
    "preprocessor_config.json",
    "processor_config.json",
)
_REMOTE_CODE_KEYS = ("auto_map", "custom_pipelines")


def transformers_module() -> ModuleType:
    """``transformers``, or :class:`MissingFramework` with the install hint."""
    return import_framework("transformers", "transformers")


def checked_task(transformers: Any, task: Any) -> str:
    """``task`` if it names a transformers pipeline task, else InvalidParameter."""
    if not isinstance(task, str) or not task:
        raise InvalidParameter(f"task must be a transformers pipeline task name, got {task!r}.")
    try:
        transformers.pipelines.check_task(task)
    except KeyError as err:
        known = ", ".join(sorted(transformers.pipelines.get_supported_tasks()))
        raise InvalidParameter(
            f"Unknown transformers pipeline task {task!r}. Known tasks: {known}."
        ) from err
    return task


def dtype_kwarg(transformers: Any) -> str:
    """The keyword the installed transformers takes for a torch dtype."""
    # transformers 4.56 renamed torch_dtype to dtype, and warns about the old name.
    params = inspect.signature(transformers.pipeline).parameters
    return "dtype" if "dtype" in params else "torch_dtype"


def load_parts(folder: Path, conf: Mapping[str, Any]) -> dict[str, Any]:
    """The task, model and components of the model in ``folder`` (``conf``: its flavor entry).

    The model's ``code`` folder is not put on ``sys.path``, unlike pickle-based flavors: no
    class is ever imported from it, and a module there could shadow an installed package.
    """
    transformers = transformers_module()
    task = checked_task(transformers, conf.get("task"))
    if "source_model_revision" in conf and "model_binary" not in conf:
        raise InvalidParameter(
            f"The model at {folder} does not hold its weights: it refers to the Hugging Face Hub "
            f"repository {conf.get('source_model_name')!r}, and runlab never downloads from the "
            "Hub. Save it again with its weights in the model folder."
        )
    if "local_base_model_path" in conf or "peft_adaptor" in conf:
        raise InvalidParameter(
            f"The model at {folder} is a PEFT adapter, which runlab does not load."
        )
    # "pipeline" is where MLflow before 2.4.1 put the model.
    model_dir = inside(folder, str(conf.get("model_binary") or "pipeline"), "model_binary")
    parts: dict[str, Any] = {"task": task, "model": _load_model(transformers, model_dir, conf)}
    names = conf.get("components") or []
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise InvalidParameter(f"The model's components must be a list of names, got {names!r}.")
    if "processor_type" in conf:
        names = [*names, _PROCESSOR]
    for name in names:
        path = inside(folder, f"{COMPONENTS_DIR}/{name}", "component")
        if name not in _AUTO_CLASSES:
            raise InvalidParameter(
                f"Unknown component {name!r} in the model at {folder}; runlab loads "
                f"{', '.join(_AUTO_CLASSES)}."
            )
        parts[name] = _load_component(transformers, path, name, conf.get(f"{name}_type"))
    return parts


def _refuse_remote_code(folder: Path) -> None:
    for file_name in _CONFIG_FILES:
        path = folder / file_name
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise InvalidParameter(f"{path} is not a valid JSON file: {err}") from err
        if isinstance(data, Mapping) and any(data.get(key) for key in _REMOTE_CODE_KEYS):
            raise InvalidParameter(
                f"{path} asks for custom code from the model's source (auto_map or "
                "custom_pipelines), and runlab never runs a model's own code "
                "(trust_remote_code). Use a model built from classes transformers provides."
            )


def _named_class(transformers: Any, name: Any, base: str, what: str) -> Any:
    cls = (
        getattr(transformers, name, None) if isinstance(name, str) and name.isidentifier() else None
    )
    if not (isinstance(cls, type) and issubclass(cls, getattr(transformers, base))):
        raise InvalidParameter(
            f"The model's {what} class {name!r} is not a {base} class transformers provides; "
            "runlab loads no class from a model's own code."
        )
    return cls


def _load_model(transformers: Any, model_dir: Path, conf: Mapping[str, Any]) -> Any:
    cls = _named_class(transformers, conf.get("pipeline_model_type"), "PreTrainedModel", "model")
    _refuse_remote_code(model_dir)
    if not any(model_dir.glob("*.safetensors")):
        raise InvalidParameter(
            f"The model's weights in {model_dir} are not in safetensors format; runlab does not "
            "unpickle weight files. Save the model again with safetensors weights."
        )
    kwargs: dict[str, Any] = {}
    dtype = conf.get("torch_dtype")
    if dtype:
        kwargs[dtype_kwarg(transformers)] = _torch_dtype(str(dtype))
    return cls.from_pretrained(
        str(model_dir),
        local_files_only=True,
        trust_remote_code=False,
        use_safetensors=True,
        **kwargs,
    )


def _torch_dtype(name: str) -> Any:
    torch = import_framework("torch", "transformers")
    dtype = getattr(torch, name.removeprefix("torch."), None)
    if not isinstance(dtype, torch.dtype):
        raise InvalidParameter(f"The model's torch_dtype {name!r} is not a torch dtype.")
    return dtype


def _load_component(transformers: Any, path: Path, name: str, class_name: Any) -> Any:
    _refuse_remote_code(path)
    if name != _PROCESSOR and isinstance(class_name, str) and hasattr(transformers, class_name):
        cls = _named_class(transformers, class_name, COMPONENT_BASES[name], name)
    else:
        # A processor, or a class transformers does not have: the part's Auto class reads the
        # saved config, and with trust_remote_code=False imports no code of the model's.
        cls = getattr(transformers, _AUTO_CLASSES[name])
    return cls.from_pretrained(str(path), local_files_only=True, trust_remote_code=False)
