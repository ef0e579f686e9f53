"""The shared autologging core, driven through a small real module imported from disk.

The module ``toyframework`` stands in for a framework: it is written to a temporary folder,
imported by the test (so the import hook sees a real import) and patched by ``ToyIntegration``,
an Integration as small as a framework module of runlab is meant to be.
"""

from __future__ import annotations

import logging
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import runlab
from runlab.autologging.integration import Integration
from runlab.autologging.options import STRICT_ENV, AutologOptions
from runlab.autologging.patching import PatchedCall, Patcher, current_call

TOY_SOURCE = """
calls = []

def train(x, fail=False):
    calls.append(x)
    if fail:
        raise ValueError(f"bad data: {x}")
    return x * 2

def interrupted(x):
    raise KeyboardInterrupt

class Base:
    def fit(self, x):
        self.w = train(x)  # a "sklearn API" calling the "native API"
        return self

class Model(Base):
    @staticmethod
    def helper(x):
        return x + 1
"""


class ToyIntegration(Integration):
    """Logs a param, a metric per call and, in the background, an artifact."""

    name = "toy"
    modules = ("toyframework",)
    distribution = "pytest"  # a real distribution, so the version check has something to read

    def __init__(self) -> None:
        super().__init__()
        self.fail_before = False
        self.fail_after = False
        self.nested_seen: list[Any] = []
        self.background_started = threading.Event()
        self.release_background = threading.Event()
        self.release_background.set()

    def setup(self, patcher: Patcher, module: ModuleType) -> None:
        patcher.wrap(module, "train", self._train)
        patcher.wrap(module, "interrupted", self._train)
        patcher.wrap(module.Base, "fit", self._fit)
        patcher.wrap(module.Model, "fit", self._fit)  # inherited: restored by deleting it
        patcher.wrap(module.Model, "helper", self._plain)

    def _plain(self, call: PatchedCall, *args: Any, **kwargs: Any) -> Any:
        return call.original(*args, **kwargs)

    def _train(self, call: PatchedCall, x: Any, **kwargs: Any) -> Any:
        with self.training_run() as run:
            if self.fail_before:
                raise RuntimeError("runlab bug before training")
            run.log_params({"x": x})
            result = call.original(x, **kwargs)
            if self.fail_after:
                raise RuntimeError("runlab bug after training")
            run.log_metrics({"result": result}, step=0)

            def background() -> None:
                self.background_started.set()
                self.release_background.wait(10)
                runlab.log_text(f"{result}", "result.txt", run_id=run.run_id)

            run.defer(background)
        return result

    def _fit(self, call: PatchedCall, model: Any, x: Any) -> Any:
        with self.training_run() as run:
            run.log_params({"fit_x": x})
            return call.original(model, x)


@pytest.fixture
def toy_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "toy_site"
    folder.mkdir()
    (folder / "toyframework.py").write_text(textwrap.dedent(TOY_SOURCE), encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    sys.modules.pop("toyframework", None)
    yield folder
    sys.modules.pop("toyframework", None)


@pytest.fixture
def toy(toy_path: Path, tracking_uri: str) -> Iterator[ToyIntegration]:
    integration = ToyIntegration()
    yield integration
    integration.disable()


def _import_toy() -> Any:
    import toyframework  # type: ignore[import-not-found]

    return toyframework


def _only_run(client: runlab.MlflowClient) -> Any:
    runs = client.search_runs(["0"])
    assert len(runs) == 1
    return runs[0]


def test_enabling_imports_nothing_and_the_import_patches(toy: ToyIntegration) -> None:
    toy.configure(AutologOptions.build())
    assert "toyframework" not in sys.modules
    module = _import_toy()
    assert module.train.__runlab_autolog__ == "toy"
    assert module.train(3) == 6


def test_a_module_imported_already_is_patched_at_once(toy: ToyIntegration) -> None:
    module = _import_toy()
    original = module.train
    toy.configure(AutologOptions.build())
    assert module.train is not original
    assert module.train.__wrapped__ is original


def test_disable_puts_back_the_original_objects(toy: ToyIntegration) -> None:
    module = _import_toy()
    train, interrupted, base_fit = module.train, module.interrupted, module.Base.__dict__["fit"]
    helper = module.Model.__dict__["helper"]
    assert "fit" not in module.Model.__dict__
    toy.configure(AutologOptions.build())
    assert module.Model.__dict__["helper"] is not helper
    assert module.Model.helper(1) == 2  # a staticmethod stays a staticmethod when patched
    toy.configure(AutologOptions.build(disable=True))
    assert module.train is train
    assert module.interrupted is interrupted
    assert module.Base.__dict__["fit"] is base_fit
    assert module.Model.__dict__["helper"] is helper
    assert "fit" not in module.Model.__dict__  # it was inherited, and is again
    assert toy.patcher.patched == 0


def test_managed_run_is_finished_with_what_was_logged(
    toy: ToyIntegration, client: runlab.MlflowClient
) -> None:
    toy.configure(AutologOptions.build(extra_tags={"team": "vision"}))
    assert _import_toy().train(5) == 10
    assert runlab.active_run() is None
    run = runlab.last_active_run()
    assert run is not None
    assert run.info.status == "FINISHED"
    assert run.data.params == {"x": "5"}
    assert run.data.metrics == {"result": 10.0}
    assert run.data.tags["mlflow.autologging"] == "toy"
    assert run.data.tags["team"] == "vision"
    assert [f.path for f in client.list_artifacts(run.info.run_id)] == ["result.txt"]


def test_fit_returns_before_background_work_and_reads_wait_for_it(
    toy: ToyIntegration, client: runlab.MlflowClient
) -> None:
    toy.configure(AutologOptions.build())
    toy.release_background.clear()
    assert _import_toy().train(2) == 4  # returns although the background task is held
    assert toy.background_started.wait(10)
    assert runlab.active_run() is None
    toy.release_background.set()
    run = runlab.last_active_run()  # waits for the held task and the end of the run
    assert run is not None
    assert run.info.status == "FINISHED"
    assert client.download_artifacts(run.info.run_id, "result.txt")


def test_user_run_is_logged_into_and_left_open(
    toy: ToyIntegration, client: runlab.MlflowClient
) -> None:
    toy.configure(AutologOptions.build())
    with runlab.start_run() as run:
        _import_toy().train(1)
        runlab.flush()
        live = client.get_run(run.info.run_id)
        assert live.info.status == "RUNNING"
        assert live.data.params == {"x": "1"}
        assert live.data.tags["mlflow.autologging"] == "toy"
    assert client.get_run(run.info.run_id).info.status == "FINISHED"


def test_exclusive_leaves_a_user_run_alone(
    toy: ToyIntegration, client: runlab.MlflowClient
) -> None:
    toy.configure(AutologOptions.build(exclusive=True))
    module = _import_toy()
    with runlab.start_run() as run:
        assert module.train(1) == 2
    stored = client.get_run(run.info.run_id)
    assert stored.data.params == {}
    assert "mlflow.autologging" not in stored.data.tags
    module.train(3)  # with no active run, exclusive still logs into a run of its own
    assert runlab.last_active_run().data.params == {"x": "3"}  # type: ignore[union-attr]


def test_the_users_exception_propagates_unchanged_and_fails_the_run(
    toy: ToyIntegration,
) -> None:
    toy.configure(AutologOptions.build())
    module = _import_toy()
    with pytest.raises(ValueError, match="bad data: 7") as caught:
        module.train(7, fail=True)
    assert type(caught.value) is ValueError
    frames = [frame.name for frame in caught.traceback]
    assert frames[-1] == "train"  # the traceback still ends in the user's code
    assert caught.value.__context__ is None  # nothing of ours chained onto it
    run = runlab.last_active_run()
    assert run is not None
    assert run.info.status == "FAILED"


def test_ctrl_c_during_training_kills_the_run(toy: ToyIntegration) -> None:
    toy.configure(AutologOptions.build())
    with pytest.raises(KeyboardInterrupt):
        _import_toy().interrupted(1)
    run = runlab.last_active_run()
    assert run is not None
    assert run.info.status == "KILLED"


@pytest.mark.parametrize("where", ["before", "after"])
def test_our_error_is_warned_once_and_training_result_kept(
    toy: ToyIntegration,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    where: str,
) -> None:
    monkeypatch.delenv(STRICT_ENV)
    toy.configure(AutologOptions.build())
    setattr(toy, f"fail_{where}", True)
    module = _import_toy()
    with caplog.at_level(logging.WARNING, logger="runlab"):
        assert module.train(4) == 8
        assert module.train(4) == 8
    assert module.calls == [4, 4]  # training ran exactly once per call, never twice
    warnings = [r for r in caplog.records if "toy autologging failed" in r.getMessage()]
    assert len(warnings) == 1
    assert f"runlab bug {where} training" in warnings[0].getMessage()


def test_strict_mode_raises_our_errors(toy: ToyIntegration) -> None:
    toy.configure(AutologOptions.build())
    toy.fail_after = True
    with pytest.raises(RuntimeError, match="runlab bug after training"):
        _import_toy().train(1)


def test_silent_keeps_our_warnings_out(
    toy: ToyIntegration, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(STRICT_ENV)
    toy.configure(AutologOptions.build(silent=True))
    toy.fail_after = True
    with caplog.at_level(logging.WARNING, logger="runlab"):
        assert _import_toy().train(1) == 2
    assert [r for r in caplog.records if r.name == "runlab"] == []


def test_an_error_in_background_work_is_warned_and_raised_under_strict(
    toy: ToyIntegration, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    toy.configure(AutologOptions.build())
    module = _import_toy()
    with runlab.start_run() as run:
        module.train(1)  # its background task logs result.txt
        module.train(1)  # and again: the artifact exists, which is fine
        run_id = run.info.run_id

        def broken() -> None:
            raise OSError("disk full")

        from runlab.autologging.training_run import TrainingRun

        TrainingRun(toy, run_id, managed=False).defer(broken)
        with pytest.raises(OSError, match="disk full"):
            runlab.flush()
    monkeypatch.delenv(STRICT_ENV)
    with caplog.at_level(logging.WARNING, logger="runlab"):
        TrainingRun(toy, run_id, managed=False).defer(broken)
        runlab.flush()
    assert any("disk full" in r.getMessage() for r in caplog.records)


def test_a_patched_call_inside_another_logs_once(
    toy: ToyIntegration, client: runlab.MlflowClient
) -> None:
    toy.configure(AutologOptions.build())
    module = _import_toy()
    module.Model().fit(3)  # Model.fit -> Base.fit -> train: three patches, one training
    runlab.flush()
    run = _only_run(client)
    assert run.data.params == {"fit_x": "3"}
    assert "result" not in run.data.metrics


def test_nested_patches_see_the_outer_call(toy: ToyIntegration) -> None:
    module = _import_toy()
    seen: list[Any] = []

    def outer(call: PatchedCall, model: Any, x: Any) -> Any:
        call.state["from_outer"] = x
        return call.original(model, x)

    def inner(call: PatchedCall, x: Any, **kwargs: Any) -> Any:
        outer_call = current_call()
        seen.append(outer_call.state.get("from_outer") if outer_call is not None else None)
        return call.original(x, **kwargs)

    class Nested(ToyIntegration):
        def setup(self, patcher: Patcher, module: ModuleType) -> None:
            patcher.wrap(module.Base, "fit", outer)
            patcher.wrap(module, "train", inner, nested=True)

    integration = Nested()
    integration.configure(AutologOptions.build())
    try:
        module.Base().fit(9)
        module.train(2)
    finally:
        integration.disable()
    assert seen == [9, None]


def test_enabling_twice_patches_once_and_logs_once(
    toy: ToyIntegration, client: runlab.MlflowClient
) -> None:
    toy.configure(AutologOptions.build())
    module = _import_toy()
    patched = module.train
    toy.configure(AutologOptions.build(log_models=False))
    assert module.train is patched
    assert toy.options is not None and toy.options.log_models is False
    module.train(1)
    runlab.flush()
    assert len(client.search_runs(["0"])) == 1


def test_disable_then_enable_again(toy: ToyIntegration, client: runlab.MlflowClient) -> None:
    module = _import_toy()
    original = module.train
    toy.configure(AutologOptions.build())
    toy.configure(AutologOptions.build(disable=True))
    assert module.train is original
    module.train(1)
    runlab.flush()
    assert client.search_runs(["0"]) == []
    toy.configure(AutologOptions.build())
    module.train(1)
    runlab.flush()
    assert len(client.search_runs(["0"])) == 1


def test_disable_before_import_cancels_the_hook(toy: ToyIntegration) -> None:
    toy.configure(AutologOptions.build())
    toy.configure(AutologOptions.build(disable=True))
    module = _import_toy()
    assert not hasattr(module.train, "__runlab_autolog__")


def test_unsupported_versions_can_be_left_unpatched(
    toy: ToyIntegration, caplog: pytest.LogCaptureFixture
) -> None:
    toy.min_version = "999"
    with caplog.at_level(logging.WARNING, logger="runlab"):
        toy.configure(AutologOptions.build(disable_for_unsupported_versions=True))
        module = _import_toy()
    assert not hasattr(module.train, "__runlab_autolog__")
    assert any("outside the versions" in r.getMessage() for r in caplog.records)
    toy.disable()
    toy.configure(AutologOptions.build())  # without the option it patches, with a warning
    assert module.train.__runlab_autolog__ == "toy"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"log_models": "yes"}, "log_models must be True or False"),
        ({"registered_model_name": ""}, "registered_model_name must be a non-empty string"),
        ({"extra_tags": ["a"]}, "extra_tags must be a dict"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(runlab.MlflowException, match=message):
        AutologOptions.build(**options)


def test_autolog_refuses_unknown_excluded_frameworks() -> None:
    with pytest.raises(runlab.MlflowException, match="unknown frameworks"):
        runlab.autolog(exclude_flavors=["caffe"])


def _integrations() -> dict[str, Any]:
    import importlib

    from runlab.autologging import FRAMEWORKS

    return {
        name: importlib.import_module(module).INTEGRATION for name, module in FRAMEWORKS.items()
    }


def test_autolog_passes_only_what_was_chosen_to_each_framework() -> None:
    runlab.autolog(extra_tags={"team": "a"})
    integrations = _integrations()
    assert {name: i.options.log_models for name, i in integrations.items()} == {
        "sklearn": True,
        "xgboost": True,
        "lightgbm": True,
        "pytorch": True,
        "keras": True,
        "transformers": False,  # its own default: its models are large
    }
    assert all(i.options.extra_tags == {"team": "a"} for i in integrations.values())
    runlab.autolog(log_models=True, exclude_flavors=["keras"], exclusive=True)
    assert integrations["transformers"].options.log_models is True
    assert integrations["keras"].options.exclusive is False
    runlab.autolog(disable=True)
    assert not any(i.enabled for i in integrations.values())
