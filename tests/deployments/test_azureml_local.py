"""``run_local`` of the azureml target: the model served on this machine by ``runlab models
serve`` (Azure ML's own inference server needs Docker, which runlab does not use here)."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import runlab.pyfunc
from support.servers import free_port

HALVER = """
import runlab.pyfunc


class Halver(runlab.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input * 0.5
"""


@pytest.fixture
def halver_model(tmp_path: Path) -> Iterator[Path]:
    """A custom model whose class lives in its code/ folder (it loads in a fresh process)."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "azureml_halver.py").write_text(HALVER)
    sys.path.insert(0, str(source))
    try:
        module = importlib.import_module("azureml_halver")
        path = tmp_path / "model"
        runlab.pyfunc.save_model(
            path, python_model=module.Halver(), code_paths=[source / "azureml_halver.py"]
        )
        yield path
    finally:
        sys.path.remove(str(source))
        sys.modules.pop("azureml_halver", None)


def test_run_local_serves_the_model_on_the_given_port(halver_model: Path) -> None:
    port = free_port()
    code = (
        "from runlab.deployments import run_local; "
        f"run_local('azureml', 'churn', {str(halver_model)!r}, "
        f"config={{'port': {port}, 'trust_model': True}})"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNLAB_", "MLFLOW_"))}
    # Its own session: run_local starts the server as a child, and both are stopped together.
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                if httpx.get(f"{url}/ping", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.2)
        answer = httpx.post(
            f"{url}/invocations",
            json={"dataframe_split": {"columns": ["x"], "data": [[2.0], [5.0]]}},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"predictions": [{"x": 1.0}, {"x": 2.5}]}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()
