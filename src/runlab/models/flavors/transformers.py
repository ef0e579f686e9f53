"""Hugging Face Transformers models (``runlab.transformers``), in MLflow's ``transformers`` format.

A model is a ``transformers`` pipeline, or a ``{"model": …, "tokenizer": …}`` dict of its parts
plus the task (given, or inferred from the model's class without asking the Hub). The folder:

- ``model/``: the model's ``save_pretrained`` output, ``config.json`` and the weights in
  **safetensors** (``model.safetensors``, or shards with an index), which hold tensors only;
- ``components/<name>/``: each component's ``save_pretrained`` output (``tokenizer``,
  ``feature_extractor``, ``image_processor``), JSON and vocabulary files;
- ``MLmodel``: the ``transformers`` flavor (``task``, ``instance_type``, ``pipeline_model_type``,
  ``source_model_name``, ``model_binary``, ``components``, ``<component>_type``,
  ``torch_dtype``, ``transformers_version``, …) and a ``python_function`` flavor whose loader is
  ``mlflow.transformers``, so MLflow loads these models and runlab loads MLflow's.

Loading trusts only data: the classes named in ``MLmodel`` must be classes ``transformers``
itself provides (a model subclass of ``PreTrainedModel``, a tokenizer or processor class), the
weights must be safetensors (a pickled ``pytorch_model.bin`` is refused), every file is read
with ``local_files_only=True`` and ``trust_remote_code=False``, and a saved configuration that
asks for remote code (``auto_map``, ``custom_pipelines``) is refused rather than loaded as
something else. Files given as ``code_paths`` are copied into ``code/`` but never put on
``sys.path`` at load: no class is imported from them. Nothing is looked up or downloaded from
the Hugging Face Hub, and a model saved by reference to a Hub repository
(``save_pretrained=False`` in MLflow) is refused: its weights are not in the folder. What
remains to trust is the installed ``transformers`` code that reads the files, and what the
model predicts.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from runlab.errors import InvalidParameter
from runlab.models.flavors.transformers_loading import (
    COMPONENT_BASES,
    COMPONENTS_DIR,
    MODEL_DIR,
    checked_task,
    dtype_kwarg,
    load_parts,
    transformers_module,
)
from runlab.models.flavors.transformers_pyfunc import (
    TransformersPyfunc,
    default_signature,
    has_pyfunc,
)
from runlab.models.model import Model
from runlab.models.model_location import local_model_path
from runlab.models.model_logging import ModelInfo, log_flavor_model
from runlab.models.saving import copy_code_paths, pyfunc_flavor_conf, save_model_dir
from runlab.models.signature import ModelSignature
from runlab.models.trust import ModelTrust

__all__ = ["FLAVOR_NAME", "load_model", "load_pyfunc", "log_model", "save_model"]

_logger = logging.getLogger("runlab")

FLAVOR_NAME = "transformers"
LOADER_MODULE = "mlflow.transformers"
_DICT_KEYS = ("model", *COMPONENT_BASES, "torch_dtype")
_RETURN_TYPES = ("pipeline", "components")


def save_model(
    transformers_model: Any,
    path: str | os.PathLike[str],
    processor: Any = None,
    task: str | None = None,
    torch_dtype: Any = None,
    model_card: Any = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    mlflow_model: Model | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: Iterable[str] | str | None = None,
    extra_pip_requirements: Iterable[str] | str | None = None,
    metadata: Mapping[str, Any] | None = None,
    model_config: Mapping[str, Any] | None = None,
    save_pretrained: bool = True,
) -> Model:
    """Save a pipeline, or a ``{"model", "tokenizer", …}`` dict with its ``task``, to ``path``.

    The parameters are MLflow's, in its order. For a dict without ``task`` the task is inferred
    from the model's class (e.g. ``BertForSequenceClassification`` → ``text-classification``).
    ``model_config`` holds keyword arguments for every pipeline call of the pyfunc model
    (``params`` given at predict time override them). Without a signature or input example,
    the task's default signature (MLflow's) is recorded. ``model_card`` (a
    ``huggingface_hub.ModelCard``) is written as ``model_card.md`` and
    ``model_card_data.yaml``. The weights are always saved in the folder (with
    ``save_pretrained=False`` too, which would make MLflow record a Hub reference instead), and
    a ``processor`` is not supported.
    """
    if processor is not None:
        raise InvalidParameter(
            "runlab's transformers flavor does not save a processor; pass a pipeline or a "
            "dict of model, tokenizer, feature_extractor and image_processor."
        )
    if not save_pretrained:
        # MLflow would record a Hub reference instead of the weights; a runlab model must load
        # without the Hub, so the weights are saved anyway (as MLflow does for local models).
        _logger.warning(
            "runlab: save_pretrained=False is ignored: the model's weights are saved in the "
            "model folder, because loading never downloads from the Hugging Face Hub."
        )
    transformers = transformers_module()
    pipeline = _as_pipeline(transformers, transformers_model, task, torch_dtype)
    conf = _flavor_conf(transformers, pipeline, torch_dtype)
    with_pyfunc = has_pyfunc(pipeline)
    if signature is None and input_example is None and with_pyfunc:
        signature = default_signature(pipeline.task)
    config = dict(model_config or {})

    def write(folder: Path, model: Model) -> None:
        code = copy_code_paths(folder, code_paths)
        _save_pretrained(pipeline.model, folder / MODEL_DIR)
        if model_card is not None:
            _write_model_card(folder, model_card)
        for name in conf["components"]:
            getattr(pipeline, name).save_pretrained(folder / COMPONENTS_DIR / name)
        model.add_flavor(FLAVOR_NAME, transformers_version=transformers.__version__, code=code)
        model.flavors[FLAVOR_NAME].update(conf)
        if with_pyfunc:
            extra = {"config": config} if config else {}
            model.add_flavor("python_function", **pyfunc_flavor_conf(LOADER_MODULE, code=code))
            model.flavors["python_function"].update(extra)

    def infer_output(folder: Path, example: Any) -> Any:
        # The pipeline in memory predicts its own example: no need to load the copy just saved.
        return TransformersPyfunc(pipeline, conf, config).predict(example)

    return save_model_dir(
        path,
        write,
        default_requirements=["transformers", "torch"],
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        mlmodel=mlflow_model,
        infer_output=infer_output if with_pyfunc else None,
    )


def _write_model_card(folder: Path, card: Any) -> None:
    text = getattr(card, "text", None)
    if isinstance(text, str):
        (folder / "model_card.md").write_text(text, encoding="utf-8")
    data = getattr(card, "data", None)
    if data is not None and callable(getattr(data, "to_dict", None)):
        import yaml

        with open(folder / "model_card_data.yaml", "w", encoding="utf-8") as out:
            yaml.safe_dump(data.to_dict(), out, default_flow_style=False)


def _as_pipeline(transformers: Any, given: Any, task: str | None, torch_dtype: Any) -> Any:
    if isinstance(given, transformers.Pipeline):
        _check_pretrained(transformers, given.model)
        return given
    if not isinstance(given, Mapping):
        raise InvalidParameter(
            "transformers_model must be a transformers Pipeline or a dict of its parts "
            f"({', '.join(_DICT_KEYS)}), got {type(given).__name__}."
        )
    unknown = sorted(str(key) for key in given if key not in _DICT_KEYS)
    if unknown:
        raise InvalidParameter(
            f"transformers_model has keys that are not parts of a pipeline: {', '.join(unknown)}; "
            f"the allowed keys are {', '.join(_DICT_KEYS)}."
        )
    if "model" not in given:
        raise InvalidParameter(
            'transformers_model must have a "model" entry (a transformers PreTrainedModel).'
        )
    parts = dict(given)
    model = parts["model"]
    _check_pretrained(transformers, model)
    task = checked_task(transformers, task) if task is not None else _infer_task(model)
    dtype = parts.pop("torch_dtype", None) or torch_dtype
    if dtype is not None:
        parts[dtype_kwarg(transformers)] = dtype
    try:
        return transformers.pipeline(task=task, trust_remote_code=False, **parts)
    except Exception as err:
        raise InvalidParameter(
            f"A {task!r} pipeline cannot be built from these parts ({err}). Check that the "
            "model fits the task and that the tokenizer (or other component) it needs is given."
        ) from err


def _check_pretrained(transformers: Any, model: Any) -> None:
    if not isinstance(model, transformers.PreTrainedModel):
        raise InvalidParameter(
            f"The model must be a transformers PreTrainedModel (PyTorch), got "
            f"{type(model).__name__}."
        )


def _infer_task(model: Any) -> str:
    """The first pipeline task whose model classes include the model's own class.

    MLflow asks the Hugging Face Hub for the task of the model's repository; runlab never
    contacts the Hub, and a model built locally has no repository, so the class decides.
    """
    from transformers.pipelines import SUPPORTED_TASKS

    tasks: Mapping[str, Any] = SUPPORTED_TASKS
    config_class = type(model.config)
    for name, spec in tasks.items():
        for auto_class in spec.get("pt", ()):
            mapping = getattr(auto_class, "_model_mapping", None)
            try:
                mapped = mapping[config_class] if mapping is not None else None
            except (KeyError, ValueError):
                continue
            candidates = mapped if isinstance(mapped, (list, tuple)) else (mapped,)
            if type(model) in candidates:
                return str(name)
    raise InvalidParameter(
        f"The task of a {type(model).__name__} model cannot be inferred: pass task= "
        "(e.g. 'text-classification')."
    )


def _flavor_conf(transformers: Any, pipeline: Any, torch_dtype: Any) -> dict[str, Any]:
    model = pipeline.model
    conf: dict[str, Any] = {"task": pipeline.task, "instance_type": type(pipeline).__name__}
    framework = getattr(pipeline, "framework", None)  # gone in transformers 5
    if framework:
        conf["framework"] = framework
    dtype = torch_dtype if torch_dtype is not None else getattr(model, "dtype", None)
    if dtype is not None:
        conf["torch_dtype"] = str(dtype)
    conf["pipeline_model_type"] = type(model).__name__
    conf["source_model_name"] = str(getattr(model, "name_or_path", "") or "")
    conf["model_binary"] = MODEL_DIR
    components = [name for name in COMPONENT_BASES if getattr(pipeline, name, None) is not None]
    for name in components:
        conf[f"{name}_type"] = type(getattr(pipeline, name)).__name__
    conf["components"] = components
    return conf


def _save_pretrained(model: Any, folder: Path) -> None:
    # transformers 5 always writes safetensors; 4.x needs asking (its default was pickle once).
    params = inspect.signature(model.save_pretrained).parameters
    kwargs = {"safe_serialization": True} if "safe_serialization" in params else {}
    model.save_pretrained(folder, **kwargs)


def log_model(
    transformers_model: Any,
    name: str | None = None,
    processor: Any = None,
    task: str | None = None,
    torch_dtype: Any = None,
    model_card: Any = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    registered_model_name: str | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    await_registration_for: int | None = None,
    pip_requirements: Iterable[str] | str | None = None,
    extra_pip_requirements: Iterable[str] | str | None = None,
    metadata: Mapping[str, Any] | None = None,
    model_config: Mapping[str, Any] | None = None,
    save_pretrained: bool = True,
    *,
    artifact_path: str | None = None,
    run_id: str | None = None,
) -> ModelInfo:
    """Save the pipeline (see :func:`save_model`) and log it to the active run; register it with
    ``registered_model_name``."""
    return log_flavor_model(
        save_model,
        name=name,
        artifact_path=artifact_path,
        registered_model_name=registered_model_name,
        await_registration_for=await_registration_for,
        run_id=run_id,
        transformers_model=transformers_model,
        processor=processor,
        task=task,
        torch_dtype=torch_dtype,
        model_card=model_card,
        code_paths=code_paths,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        model_config=model_config,
        save_pretrained=save_pretrained,
    )


def load_model(
    model_uri: str | os.PathLike[str],
    dst_path: str | None = None,
    return_type: str = "pipeline",
    device: Any = None,
    *,
    trusted: bool = False,
    **kwargs: Any,
) -> Any:
    """Load a saved model as a transformers pipeline, or its parts with
    ``return_type="components"`` (a dict: ``task``, ``model``, ``tokenizer``, …).

    ``device`` and ``kwargs`` go to ``transformers.pipeline``. Remote code is never run:
    ``trust_remote_code=True`` is refused. Nothing this flavor reads can run code (weights are
    safetensors only), so ``trusted`` changes nothing; it is accepted so that every flavor's
    ``load_model`` takes the same switch.
    """
    if return_type not in _RETURN_TYPES:
        raise InvalidParameter(
            f"return_type must be one of {', '.join(_RETURN_TYPES)}, got {return_type!r}."
        )
    if kwargs.get("trust_remote_code"):
        raise InvalidParameter(
            "runlab never loads a transformers model with trust_remote_code: it would run code "
            "from the model's files."
        )
    kwargs.pop("trust_remote_code", None)
    del trusted  # the same switch as every flavor's; nothing here needs it
    transformers_module()  # before any download: without the framework the model cannot load
    folder = local_model_path(model_uri, dst_path)
    model = Model.load(folder)
    parts = load_parts(folder, _conf(folder, model))
    if return_type == "components":
        return parts
    if "processor" in parts:
        raise InvalidParameter(
            "This model was saved with a processor, which a pipeline cannot hold: load it "
            'with return_type="components".'
        )
    return _build_pipeline(parts, device, kwargs)


def _conf(folder: Path, model: Model) -> dict[str, Any]:
    conf = model.flavors.get(FLAVOR_NAME)
    if not isinstance(conf, Mapping):
        raise InvalidParameter(f"The model at {folder} has no {FLAVOR_NAME} flavor.")
    return dict(conf)


def _build_pipeline(parts: Mapping[str, Any], device: Any, kwargs: Mapping[str, Any]) -> Any:
    transformers = transformers_module()
    call = dict(parts)
    if device is not None:
        call["device"] = device
    call.update(kwargs)
    return transformers.pipeline(trust_remote_code=False, **call)


def load_pyfunc(
    model_dir: Path, model: Model, trust: ModelTrust | None = None
) -> TransformersPyfunc:
    """The pyfunc implementation of a saved transformers model (``trust`` is not needed: no
    file it reads can run code)."""
    conf = _conf(model_dir, model)
    pipeline = _build_pipeline(load_parts(model_dir, conf), None, {})
    model_config = model.flavors.get("python_function", {}).get("config")
    return TransformersPyfunc(
        pipeline, conf, dict(model_config) if isinstance(model_config, Mapping) else {}
    )
