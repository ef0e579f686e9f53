"""``import runlab`` stays light: no heavy dependency is loaded until a function needs it."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = {
    "sqlalchemy",
    "alembic",
    "pandas",
    "numpy",
    "yaml",
    "boto3",
    "botocore",
    "matplotlib",
    "plotly",
    "PIL",
    "fastapi",
    "starlette",
    "httpx",
    "click",
    "rich",
}


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def _top_level(modules: set[str]) -> set[str]:
    return {m.split(".", 1)[0] for m in modules}


def test_import_runlab_loads_no_heavy_module() -> None:
    loaded = _top_level(_modules_after("import runlab"))
    assert not (loaded & HEAVY), sorted(loaded & HEAVY)
    # Not even our own tracking code: the fluent API is loaded on first use.
    assert "runlab.tracking" not in _modules_after("import runlab")


def test_mlflow_style_imports_stay_light() -> None:
    modules = _modules_after(
        "import runlab as mlflow\n"
        "from runlab.tracking import MlflowClient\n"
        "mlflow.log_metric, mlflow.start_run, mlflow.MlflowClient, mlflow.exceptions"
    )
    # The client and fluent API are loaded now, but the database driver waits for a store.
    assert "runlab.tracking.fluent" in modules
    assert not (_top_level(modules) & HEAVY), sorted(_top_level(modules) & HEAVY)


def test_the_tracking_client_loads_httpx_without_its_command_line_tool() -> None:
    # httpx's console command (httpx._main) pulls in click, rich and pygments.
    modules = _modules_after(
        "from runlab.store.rest.http import HttpSession, RestConfig\n"
        "HttpSession(RestConfig('http://127.0.0.1:1')).close()"
    )
    assert "httpx" in modules
    assert "httpx._main" not in modules
    assert not ({"rich", "pygments"} & _top_level(modules))
    # Nothing is broken for code that wants the tool after all.
    after = _modules_after(
        "import runlab.httpx_lean, httpx._main\nassert callable(httpx._main.main)"
    )
    assert "httpx._main" in after


def test_the_cli_loads_only_the_command_it_runs() -> None:
    modules = _modules_after(
        "from click.testing import CliRunner\n"
        "from runlab.cli.main import cli\n"
        "assert CliRunner().invoke(cli, ['run', '--help']).exit_code == 0"
    )
    assert "runlab.cli.project_run" in modules
    others = {
        "runlab.cli.azureml",
        "runlab.cli.sagemaker",
        "runlab.cli.models",
        "runlab.cli.server",
    }
    assert not (others & modules), sorted(others & modules)
    # Listing the commands loads them all, for their help lines.
    listed = _modules_after(
        "from click.testing import CliRunner\n"
        "from runlab.cli.main import cli\n"
        "out = CliRunner().invoke(cli, ['--help']).output\n"
        "assert 'sagemaker' in out and 'Deploy models to Amazon SageMaker' in out"
    )
    assert others <= listed


def test_runlab_run_loads_httpcore_without_trio() -> None:
    # httpcore imports trio (when installed) to support trio event loops, which a
    # `runlab run` never runs; trio stays importable for code that wants it.
    modules = _modules_after(
        "from runlab.cli.project_run import _load_http_client_without_trio\n"
        "_load_http_client_without_trio()\n"
        "import httpcore"
    )
    assert "httpcore" in modules
    assert "trio" not in modules
    script = (
        "import importlib.util, sys\n"
        "from runlab.cli.project_run import _load_http_client_without_trio\n"
        "_load_http_client_without_trio()\n"
        "if importlib.util.find_spec('trio') is not None:\n"
        "    import trio\n"
        "    assert trio.run is not None\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)


def test_path_safety_alone_does_not_load_the_repositories() -> None:
    # Model URIs and the tracking client check artifact paths at import; the local and S3
    # repositories (urllib.request among their imports) load when one is used.
    modules = _modules_after("import runlab.model_uris\nimport runlab.artifacts.path_safety")
    assert not ({"runlab.artifacts.local", "runlab.artifacts.s3", "urllib.request"} & modules)
    loaded = _modules_after("import runlab.artifacts as a\na.LocalArtifactRepository")
    assert "runlab.artifacts.local" in loaded
