"""The run a training call logs into: the user's active run, or one autologging manages.

With no active run, :func:`training_run` starts one tagged ``mlflow.autologging=<framework>`` and
ends it when training ends: FINISHED, FAILED if training raised, KILLED on Ctrl-C. The end is
queued behind the work still being done for the run in the background (its model, plots and
training metrics), so ``fit()`` returns at once; ``runlab.flush()``, ``last_active_run()`` and
``get_run()`` wait for it. Inside the user's ``start_run()`` it logs into that run and leaves it
open.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from runlab.validation import MAX_PARAM_VALUE_LENGTH

if TYPE_CHECKING:
    from runlab.autologging.integration import Integration
    from runlab.autologging.options import AutologOptions
    from runlab.tracking.client import Client

__all__ = ["AUTOLOGGING_TAG", "TrainingRun", "training_run"]

#: The tag every autologged run carries, valued with the framework's name (MLflow's key).
AUTOLOGGING_TAG = "mlflow.autologging"

_logger = logging.getLogger("runlab")


def _fluent() -> ModuleType:
    # Imported on first use: enabling autologging must not load the tracking layer (~80 ms).
    from runlab.tracking import fluent

    return fluent


def _deferred() -> ModuleType:
    from runlab.tracking import deferred

    return deferred


class TrainingRun:
    """Logging into one run on behalf of one integration; every call returns without I/O."""

    def __init__(self, integration: Integration, run_id: str, managed: bool) -> None:
        self.integration = integration
        self.run_id = run_id
        #: True when autologging started the run (and will end it).
        self.managed = managed

    @property
    def options(self) -> AutologOptions:
        """The integration's options at the time of the call."""
        options = self.integration.options
        assert options is not None
        return options

    @property
    def client(self) -> Client:
        """The client of the store the run lives in (for work done in the background)."""
        return _fluent()._target(self.run_id).client

    @property
    def experiment_id(self) -> str:
        """The run's experiment."""
        run = _fluent().active_run()
        if run is not None and run.info.run_id == self.run_id:
            return run.info.experiment_id
        return self.client.store.get_run(self.run_id).info.experiment_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log params, stringified; values longer than the store takes are cut, with a warning.

        A key the run already has with the same value is skipped, so a second ``fit()`` inside
        one user run does not fail on params it already logged.
        """
        target = _fluent()._target(self.run_id)
        fresh: dict[str, str] = {}
        for key, value in params.items():
            text = _param_text(value)
            if len(text) > MAX_PARAM_VALUE_LENGTH:
                _logger.warning(
                    "runlab: param %r is %d characters long; autologging keeps the first %d.",
                    key,
                    len(text),
                    MAX_PARAM_VALUE_LENGTH,
                )
                text = text[:MAX_PARAM_VALUE_LENGTH]
            if target.params.get(str(key)) == text:
                continue
            fresh[str(key)] = text
        if fresh:
            _fluent().log_params(fresh, run_id=self.run_id)

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log numeric metrics at ``step``; values that are not numbers are left out."""
        numbers: dict[str, float] = {}
        for key, value in metrics.items():
            number = _number(value)
            if number is not None:
                numbers[str(key)] = number
        if numbers:
            _fluent().log_metrics(numbers, step=step, run_id=self.run_id)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags on the run."""
        if tags:
            _fluent().set_tags(tags, run_id=self.run_id)

    def defer(self, fn: Callable[[], object]) -> None:
        """Do ``fn`` in the background, before the run ends; its errors are reported as ours."""
        _deferred().submit(fn, self.run_id, self.integration.report)

    def log_dataset(
        self, features: Any, targets: Any = None, context: str = "train", name: str | None = None
    ) -> None:
        """Record ``features`` (and ``targets``) as a dataset input of the run, if enabled.

        Done in the background (hashing the data for its digest takes time); pandas frames
        become ``from_pandas`` datasets (the targets joined as a column), anything array-like
        ``from_numpy``. Data of another kind (a generator, a DataLoader) is not recorded.
        """
        if not self.options.log_datasets or features is None:
            return
        run_id = self.run_id

        def log() -> None:
            dataset = _dataset(features, targets, name)
            if dataset is not None:
                from runlab.tracking.fluent_inputs import log_input

                log_input(dataset, context=context, run_id=run_id)

        self.defer(log)

    def log_model(
        self,
        log_model: Callable[..., Any],
        model: Any,
        *,
        example: Any = None,
        predict: Callable[[Any], Any] | None = None,
        name: str = "model",
        **kwargs: Any,
    ) -> None:
        """Log ``model`` with its flavor's ``log_model`` in the background, if ``log_models``.

        ``example`` is a few rows of training input: with ``log_model_signatures`` the signature
        is inferred from it and ``predict(example)``; with ``log_input_examples`` it is saved as
        the input example. ``registered_model_name`` comes from the options. ``model`` must not
        change after this call: pass a copy if training may go on with the same object.
        """
        options = self.options
        if not options.log_models:
            return
        run_id = self.run_id

        def log() -> None:
            extra = dict(kwargs)
            if example is not None and options.log_model_signatures:
                from runlab.models.signature import infer_signature

                output = predict(example) if predict is not None else None
                extra.setdefault("signature", infer_signature(example, output))
            if example is not None and options.log_input_examples:
                extra.setdefault("input_example", example)
            log_model(
                model,
                name=name,
                registered_model_name=options.registered_model_name,
                run_id=run_id,
                **extra,
            )

        self.defer(log)


def _dataset(features: Any, targets: Any, name: str | None) -> Any:
    """A runlab dataset for training data, or None when the data is not a table or array."""
    from runlab import data

    if type(features).__module__.startswith("pandas"):
        frame = features
        if hasattr(frame, "to_frame") and not hasattr(frame, "columns"):
            frame = frame.to_frame()
        target_column = None
        if targets is not None:
            target_column = str(getattr(targets, "name", None) or "target")
            if target_column in frame.columns:
                target_column = f"{target_column}_target"
            frame = frame.assign(**{target_column: _as_array(targets)})
        return data.from_pandas(frame, targets=target_column, name=name)
    array = _as_array(features)
    if array is None:
        return None
    return data.from_numpy(array, targets=_as_array(targets), name=name)


def _as_array(value: Any) -> Any:
    if value is None:
        return None
    import numpy as np

    if hasattr(value, "toarray") and hasattr(value, "nnz"):
        return None  # a scipy sparse matrix: densifying it could take all memory
    to_numpy = getattr(value, "to_numpy", None) or getattr(value, "numpy", None)
    if callable(to_numpy) and not isinstance(value, np.ndarray):
        try:
            value = to_numpy()
        except (TypeError, RuntimeError):
            return None
    if isinstance(value, (np.ndarray, list, tuple)):
        array = np.asarray(value)
        return array if array.dtype != object else None
    return None


def _param_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return repr(value)
    return str(value)


def _number(value: Any) -> float | None:
    """``value`` as a float if it is one real number (numpy and torch scalars included)."""
    if isinstance(value, (bool, int, float)):
        return float(value)
    try:
        return float(value)  # numpy scalars, 0-d arrays and one-element tensors
    except (TypeError, ValueError, RuntimeError):
        return None


@contextlib.contextmanager
def training_run(integration: Integration) -> Iterator[TrainingRun]:
    """The run to log one training into (see the module docstring)."""
    options = integration.options
    assert options is not None
    tags = {AUTOLOGGING_TAG: integration.name, **options.extra_tags}
    active = _fluent().active_run()
    if active is not None:
        handle = TrainingRun(integration, active.info.run_id, managed=False)
        handle.set_tags(tags)
        yield handle
        return
    active = _fluent().start_run(tags=tags)
    handle = TrainingRun(integration, active.info.run_id, managed=True)
    try:
        yield handle
    except KeyboardInterrupt:
        _fluent().end_run_later(active, "KILLED", integration.report)
        raise
    except BaseException:
        _fluent().end_run_later(active, "FAILED", integration.report)
        raise
    _fluent().end_run_later(active, "FINISHED", integration.report)
