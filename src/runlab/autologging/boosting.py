"""What XGBoost and LightGBM autologging share.

Both frameworks train the same way — a loop of boosting rounds that reports each evaluation
set's metrics to callbacks — so their autologging has the same parts:

- the training function's arguments as params (:func:`params_to_log`);
- a recorder the framework's callback feeds once per round (:class:`IterationMetrics`): it logs
  ``<eval name>-<metric>`` at step = round without waiting on I/O, and keeps the values so that
  early stopping can log the best round's again (:func:`log_early_stopping`);
- feature importance as ``feature_importance_<type>.json`` and a bar chart
  ``feature_importance_<type>.png``, computed and drawn in the background
  (:func:`log_importance`);
- a few rows of the training input, copied when training starts, for the model's signature and
  input example (:func:`head`).

Nothing here imports a framework, numpy or matplotlib at import time.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from runlab.autologging.integration import Integration
    from runlab.autologging.patching import PatchedCall
    from runlab.autologging.training_run import TrainingRun

__all__ = [
    "EXAMPLE_ROWS",
    "IterationMetrics",
    "bind",
    "head",
    "importance_figure",
    "log_early_stopping",
    "log_importance",
    "metric_key",
    "params_to_log",
    "train_around",
    "wants_example",
]

#: Rows of the training input kept for the model's signature and input example.
EXAMPLE_ROWS = 5
#: The most bars an importance chart shows (the JSON file has every feature).
MAX_BARS = 50
# Characters a metric key may hold in the store; others (the @ of ndcg@5) become "_".
_NOT_KEY_CHARS = re.compile(r"[^A-Za-z0-9_\-. /:]")


def bind(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    """``fn``'s signature bound to a call's arguments (an ``inspect.BoundArguments``).

    None when the arguments do not fit: the call is the user's mistake, and the framework's
    own error about it is the one to see, so the caller runs the original bare.
    """
    try:
        return inspect.signature(fn).bind(*args, **kwargs)
    except TypeError:
        return None


def train_around(
    integration: Integration,
    logged_train: Callable[[PatchedCall, TrainingRun, Any], Any],
    call: PatchedCall,
    *args: Any,
    **kwargs: Any,
) -> Any:
    """The patch of a native ``train``: logged into its own run, or into the run of the
    scikit-learn API's ``fit`` it runs inside (so that one training logs once)."""
    state = call.state
    if state.get("training"):
        # train called from inside a training being logged (a user's callback): bare.
        return call.original(*args, **kwargs)
    bound = bind(call.target, args, kwargs)
    if bound is None:
        return call.original(*args, **kwargs)
    run = state.get("run")
    if run is not None:  # inside the scikit-learn API's fit: its run
        return logged_train(call, run, bound)
    with integration.training_run() as run:
        return logged_train(call, run, bound)


def params_to_log(
    fn: Callable[..., Any], bound: Any, unlogged: Collection[str], params: Mapping[str, Any]
) -> dict[str, Any]:
    """The booster ``params`` and, next to them, ``fn``'s other arguments with their defaults.

    Arguments named in ``unlogged`` (data, callbacks, functions) are left out, and so is an
    argument a key of ``params`` already names: the dict is what the framework uses.
    """
    logged = dict(params)
    for name, parameter in inspect.signature(fn).parameters.items():
        if name in unlogged or name in logged:
            continue
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        value = bound.arguments.get(name, parameter.default)
        if value is not parameter.empty:
            logged[name] = value
    return logged


def metric_key(name: str) -> str:
    """``name`` as a metric key the store takes (``valid-ndcg@5`` becomes ``valid-ndcg_5``)."""
    return _NOT_KEY_CHARS.sub("_", name)


class IterationMetrics:
    """One training's per-round metrics: logged as they come, and kept for early stopping.

    The framework's callback calls :meth:`record` once per round. Logging only queues the
    points, so a round costs microseconds. If logging fails (say the run was deleted while
    training), the failure is reported once and the remaining rounds are only kept: the
    training itself goes on.
    """

    def __init__(self, run: TrainingRun) -> None:
        self.run = run
        #: Round -> the metrics of that round.
        self.history: dict[int, dict[str, float]] = {}
        #: The last round recorded (None before the first).
        self.last_step: int | None = None
        self._failed = False

    def record(self, step: int, values: Mapping[str, float]) -> None:
        """Keep and log one round's metrics at ``step``."""
        self.last_step = step
        self.history[step] = dict(values)
        if self._failed or not values:
            return
        try:
            self.run.log_metrics(values, step=step)
        except Exception as err:
            self.fail(err)

    def fail(self, err: Exception) -> None:
        """Our callback failed: report it (raised under strict mode) and log no more rounds."""
        self._failed = True
        self.run.integration.report(err)


def log_early_stopping(
    run: TrainingRun, metrics: IterationMetrics, stopped: int, best: int, best_step: int
) -> None:
    """Log MLflow's early-stopping metrics: ``stopped_iteration``, ``best_iteration`` and the
    best round's metrics again, at the step after the last round (so each curve ends on the
    model that was kept).

    ``stopped`` and ``best`` are in the framework's own numbering (XGBoost counts rounds from
    0, LightGBM from 1); ``best_step`` is the best round's step in ``metrics``.
    """
    run.log_metrics({"stopped_iteration": stopped, "best_iteration": best})
    best_values = metrics.history.get(best_step)
    if best_values and metrics.last_step is not None:
        run.log_metrics(best_values, step=metrics.last_step + 1)


def log_importance(
    run: TrainingRun, types: Iterable[str], compute: Callable[[str], Mapping[str, Any]]
) -> None:
    """Log ``feature_importance_<type>.json`` and ``.png`` for each type, in the background.

    ``compute(type)`` returns feature -> importance (a number, or one per class); it runs on
    the background thread, so it must read a copy of the model training will not change. Each
    type is its own task: one that fails does not stop the others.
    """
    run_id = run.run_id
    for kind in types:

        def log(kind: str = kind) -> None:
            from runlab.tracking.fluent_artifacts import log_dict, log_figure

            values = {str(k): _plain(v) for k, v in compute(kind).items()}
            log_dict(values, f"feature_importance_{kind}.json", run_id=run_id)
            log_figure(
                importance_figure(values, kind), f"feature_importance_{kind}.png", run_id=run_id
            )

        run.defer(log)


def _plain(value: Any) -> Any:
    """A JSON-ready number or list of numbers (numpy scalars and arrays included)."""
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        value = tolist()
    if isinstance(value, (list, tuple)):
        return [float(v) for v in value]
    return float(value)


def importance_figure(values: Mapping[str, Any], kind: str) -> Figure:
    """A horizontal bar chart of feature importance, the largest at the top.

    Built on a bare matplotlib ``Figure`` (no pyplot), so drawing on the background thread
    touches no global state. Values that are lists (XGBoost's linear booster gives one per
    class) are drawn as grouped bars. At most :data:`MAX_BARS` features are shown.
    """
    from matplotlib.figure import Figure

    def total(value: Any) -> float:
        return float(sum(value)) if isinstance(value, list) else float(value)

    items = sorted(values.items(), key=lambda item: total(item[1]))
    shown = items[-MAX_BARS:]
    figure = Figure(figsize=(6.4, 1.4 + 0.3 * max(len(shown), 1)), layout="constrained")
    axes = figure.add_subplot()
    title = f"Feature importance ({kind})"
    if len(shown) < len(items):
        title += f", top {len(shown)} of {len(items)}"
    axes.set_title(title)
    axes.set_xlabel(kind)
    if not shown:
        axes.text(0.5, 0.5, "no feature was used", ha="center", va="center")
        axes.set_yticks([])
        return figure
    names = [name for name, _ in shown]
    rows = [value if isinstance(value, list) else [value] for _, value in shown]
    groups = max(len(row) for row in rows)
    height = 0.8 / groups
    for group in range(groups):
        offsets = [i - 0.4 + height * (group + 0.5) for i in range(len(rows))]
        widths = [row[group] if group < len(row) else 0.0 for row in rows]
        label = f"class {group}" if groups > 1 else None
        axes.barh(offsets, widths, height=height, align="center", label=label)
    axes.set_yticks(range(len(names)), names)
    if groups > 1:
        axes.legend()
    return figure


def wants_example(run: TrainingRun) -> bool:
    """Whether the model will be logged with a signature or input example (rows needed)."""
    options = run.options
    return options.log_models and (options.log_model_signatures or options.log_input_examples)


def head(data: Any, rows: int = EXAMPLE_ROWS) -> Any:
    """A copy of the first ``rows`` rows of a pandas frame or a 2-D array, else None.

    Copied when training starts, so that the example is the data as it was trained on.
    """
    if data is None:
        return None
    if type(data).__module__.startswith("pandas") and hasattr(data, "iloc"):
        return data.iloc[:rows].copy()
    import numpy as np

    if isinstance(data, np.ndarray) and data.ndim == 2:
        return data[:rows].copy()
    if isinstance(data, list) and data and isinstance(data[0], (list, tuple)):
        array = np.asarray(data[:rows])
        return array if array.dtype != object else None
    return None
