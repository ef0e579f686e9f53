"""Loader modules are looked up, never imported by name; third-party flavors plug in by entry point."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import runlab
from runlab.errors import InvalidParameter, NotFound
from runlab.models import Model
from runlab.models.flavor_registry import ENTRY_POINT_GROUP, flavor_module_for
from runlab.models.trust import UntrustedModelError

_PLUGIN = """
from runlab.models.model import Model

FLAVOR_NAME = "echo_flavor"
LOADER_MODULE = "echo_flavor_for_runlab_tests"
LOADER_MODULES = ["thirdparty.echo"]


class _Echo:
    def predict(self, model_input, params=None):
        return ["echo", model_input]


def load_pyfunc(model_dir, model: Model):
    return _Echo()
"""


# A third-party flavor whose format runs code when read: it asks the trust decision it is given.
_GUARDED_PLUGIN = """
FLAVOR_NAME = "guarded_flavor"


class _Loaded:
    def predict(self, model_input, params=None):
        return "loaded"


def load_pyfunc(model_dir, model, trust=None):
    trust.require("guarded-pickle", model_dir / "payload.bin")
    return _Loaded()
"""


def _install_plugin(site: Path, module: str, source: str) -> None:
    """Write ``module`` into ``site`` with a dist-info declaring it as a runlab flavor."""
    site.mkdir(exist_ok=True)
    (site / f"{module}.py").write_text(source)
    dist = site / f"{module}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{module} = {module}\n")


@contextlib.contextmanager
def _installed(site: Path, *modules: str) -> Iterator[None]:
    sys.path.insert(0, str(site))
    try:
        yield
    finally:
        sys.path.remove(str(site))
        for module in modules:
            sys.modules.pop(module, None)


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[str]:
    """An installed third-party flavor: a module plus a dist-info declaring the entry point."""
    name = "echo_flavor_for_runlab_tests"
    _install_plugin(tmp_path / "site", name, _PLUGIN)
    with _installed(tmp_path / "site", name):
        yield name


@pytest.fixture
def guarded_plugin(tmp_path: Path) -> Iterator[str]:
    """An installed third-party flavor whose ``load_pyfunc`` takes the trust decision."""
    name = "guarded_flavor_for_runlab_tests"
    _install_plugin(tmp_path / "site", name, _GUARDED_PLUGIN)
    with _installed(tmp_path / "site", name):
        yield name


def _model_dir(tmp_path: Path, loader: str | None, flavor: str = "python_function") -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    conf = {"loader_module": loader} if loader is not None else {}
    Model(flavors={flavor: conf}).save(folder / "MLmodel")
    return folder


def test_mlflow_loader_modules_map_to_runlab_flavors() -> None:
    assert flavor_module_for("mlflow.sklearn").__name__ == "runlab.models.flavors.sklearn"
    assert flavor_module_for("mlflow.pyfunc.model").__name__ == (
        "runlab.models.pyfunc.python_model"
    )
    assert flavor_module_for("runlab.models.flavors.sklearn").FLAVOR_NAME == "sklearn"


@pytest.mark.parametrize("loader", ["os", "subprocess", "mlflow.not_a_flavor", "runlab.cli"])
def test_an_unknown_loader_module_is_refused_without_importing_it(
    tmp_path: Path, loader: str
) -> None:
    was_loaded = loader in sys.modules
    with pytest.raises(InvalidParameter, match="entry-point group"):
        runlab.pyfunc.load_model(_model_dir(tmp_path, loader))
    assert (loader in sys.modules) == was_loaded


def test_a_third_party_flavor_loads_through_its_entry_point(tmp_path: Path, plugin: str) -> None:
    model = runlab.pyfunc.load_model(_model_dir(tmp_path, plugin))
    assert model.predict([1, 2]) == ["echo", [1, 2]]
    # Its declared aliases resolve too.
    assert flavor_module_for("thirdparty.echo").__name__ == plugin


def test_a_third_party_flavor_that_takes_trust_gets_the_callers_decision(
    tmp_path: Path, guarded_plugin: str
) -> None:
    folder = _model_dir(tmp_path, guarded_plugin)
    with pytest.raises(UntrustedModelError, match="guarded-pickle"):
        runlab.pyfunc.load_model(folder)
    assert runlab.pyfunc.load_model(folder, trusted=True).predict([1]) == "loaded"


def test_a_model_without_the_pyfunc_flavor_says_which_flavors_it_has(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="flavors: sklearn"):
        runlab.pyfunc.load_model(_model_dir(tmp_path, "mlflow.sklearn", flavor="sklearn"))


def test_a_pyfunc_flavor_without_loader_module_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="loader_module"):
        runlab.pyfunc.load_model(_model_dir(tmp_path, None))


def test_missing_model_paths_and_bad_uris(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        runlab.pyfunc.load_model(tmp_path / "nothing-here")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotFound, match="MLmodel"):
        runlab.pyfunc.load_model(tmp_path / "empty")
    for bad in ("", 42, None):
        with pytest.raises(InvalidParameter, match="model URI"):
            runlab.pyfunc.load_model(bad)  # type: ignore[arg-type]
