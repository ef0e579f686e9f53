"""Deployment target plugins "installed" into a folder, as pip would make them discoverable.

pip installs a package's modules and a ``<name>-<version>.dist-info/`` folder whose
``entry_points.txt`` registers its entry points; ``importlib.metadata`` finds that folder on
``sys.path``. :func:`install_plugin` writes the same two things into a folder, so a test puts it
on ``sys.path`` (this process) or ``PYTHONPATH`` (a subprocess) and the plugin is found exactly
as an installed one would be, with no network and no change to the environment.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import runlab.sklearn

GROUP = "runlab.deployments"


def install_plugin(
    folder: Path,
    dist_name: str,
    modules: Mapping[str, str],
    targets: Mapping[str, str],
) -> Path:
    """Write ``modules`` (module name -> source) and a dist-info registering ``targets``.

    ``targets`` maps a target name to the module that implements it. Returns ``folder``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (folder / f"{module}.py").write_text(source, encoding="utf-8")
    dist_info = folder / f"{dist_name.replace('-', '_')}-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 0.1\n", encoding="utf-8"
    )
    lines = [f"[{GROUP}]", *(f"{name} = {module}" for name, module in targets.items())]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@contextlib.contextmanager
def on_sys_path(folder: Path, *modules: str) -> Iterator[None]:
    """``folder`` first on ``sys.path`` within the block; its ``modules`` forgotten after it."""
    sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path.remove(str(folder))
        for module in modules:
            sys.modules.pop(module, None)
        importlib.invalidate_caches()


def env_with_path(folder: Path) -> dict[str, str]:
    """This process's environment (without tracking settings), ``folder`` on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNLAB_", "MLFLOW_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder), env.get("PYTHONPATH")]))
    return env


def save_line_model(path: Path) -> Path:
    """Save a scikit-learn LinearRegression of y = 2x + 1 on a column ``x`` (skops format).

    skops is a data format: the model loads without trusting its source, as a deployed model
    should in these tests.
    """
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    model = LinearRegression().fit(frame, 2 * frame["x"] + 1)
    runlab.sklearn.save_model(model, path, input_example=frame.iloc[:2])
    return path


#: A target that records every call in the module's ``CALLS`` list and has endpoints: the
#: command-line tests check what each command handed the target. ``get_deployment("missing")``
#: raises NotFound, as a real target does for a deployment that is not there.
RECORDER_SOURCE = """
import os

from runlab.deployments import BaseDeploymentClient, PredictionsResponse
from runlab.errors import NotFound

CALLS = []


def _describe(inputs):
    if hasattr(inputs, "to_dict"):
        return {"type": type(inputs).__name__, "columns": [str(c) for c in inputs.columns],
                "rows": len(inputs)}
    return {"type": type(inputs).__name__, "value": inputs}


class DeploymentClient(BaseDeploymentClient):
    def _record(self, method, **kwargs):
        CALLS.append({"method": method, "target_uri": self.target_uri, **kwargs})

    def create_deployment(self, name, model_uri, flavor=None, config=None, endpoint=None):
        self._record("create_deployment", name=name, model_uri=model_uri, flavor=flavor,
                     config=config, endpoint=endpoint)
        return {"name": name, "flavor": flavor or "python_function", "config": config}

    def update_deployment(self, name, model_uri=None, flavor=None, config=None, endpoint=None):
        self._record("update_deployment", name=name, model_uri=model_uri, flavor=flavor,
                     config=config, endpoint=endpoint)
        return {"name": name, "flavor": flavor or "python_function", "config": config}

    def delete_deployment(self, name, config=None, endpoint=None):
        self._record("delete_deployment", name=name, config=config, endpoint=endpoint)

    def list_deployments(self, endpoint=None):
        self._record("list_deployments", endpoint=endpoint)
        return [{"name": "a"}, {"name": "b"}]

    def get_deployment(self, name, endpoint=None):
        self._record("get_deployment", name=name, endpoint=endpoint)
        if name == "missing":
            raise NotFound(f"No deployment {name!r}.")
        return {"name": name, "endpoint": endpoint}

    def predict(self, deployment_name=None, inputs=None, endpoint=None):
        self._record("predict", name=deployment_name, inputs=_describe(inputs), endpoint=endpoint)
        return PredictionsResponse({"predictions": [1, 2]})

    def explain(self, deployment_name=None, df=None, endpoint=None):
        self._record("explain", name=deployment_name, inputs=_describe(df), endpoint=endpoint)
        return {"explanations": [0.5]}

    def create_endpoint(self, name, config=None):
        self._record("create_endpoint", endpoint=name, config=config)
        return {"name": name, "config": config}

    def update_endpoint(self, endpoint, config=None):
        self._record("update_endpoint", endpoint=endpoint, config=config)

    def delete_endpoint(self, endpoint):
        self._record("delete_endpoint", endpoint=endpoint)

    def list_endpoints(self):
        self._record("list_endpoints")
        return [{"name": "e1"}]

    def get_endpoint(self, endpoint):
        self._record("get_endpoint", endpoint=endpoint)
        return {"name": endpoint}


def run_local(target, name, model_uri, flavor=None, config=None):
    CALLS.append({"method": "run_local", "target": target, "name": name,
                  "model_uri": model_uri, "flavor": flavor, "config": config,
                  "tracking_uri": os.environ.get("RUNLAB_TRACKING_URI")})


def target_help():
    return "recorder: records what it is asked to do."
"""
