"""ARCHITECTURE.md's layering rules, checked over the import statements of src/runlab."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "runlab"

# Layer -> runlab modules it must never import (prefix match on the dotted name).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "errors": ("runlab.",),
    "entities": ("runlab.",),
    "validation": ("runlab.",),
    "uris": ("runlab.tracking", "runlab.store", "runlab.search", "runlab.artifacts"),
    "search": ("runlab.tracking", "runlab.cli", "runlab.server", "runlab.store"),
    "store": ("runlab.tracking", "runlab.cli", "runlab.server"),
    "artifacts": ("runlab.tracking", "runlab.cli", "runlab.server", "runlab.store"),
    # Models build on tracking and artifacts, never on a concrete store, the server or the CLI.
    "models": ("runlab.store", "runlab.server", "runlab.cli", "runlab.search"),
    # Autologging patches frameworks and logs through the tracking layer, like a user would.
    "autologging": ("runlab.store", "runlab.server", "runlab.cli", "runlab.search"),
    # Deployment targets resolve models through the tracking layer and talk to their platform;
    # the CLI drives them, never the other way round.
    "deployments": ("runlab.store", "runlab.server", "runlab.cli", "runlab.search"),
    # Evaluation scores a model through pyfunc and logs like a user would, through tracking.
    "evaluation": ("runlab.store", "runlab.server", "runlab.cli", "runlab.search"),
    # Datasets for log_input describe data; logging them is the tracking layer's job.
    "data": ("runlab.store", "runlab.server", "runlab.cli", "runlab.search"),
    # The scoring server loads models through pyfunc; it shares the tracking server's generic
    # HTTP helpers (body limit, Host guard, heap settling) but never its stores or routes.
    "serving": (
        "runlab.store",
        "runlab.cli",
        "runlab.search",
        "runlab.server.routes",
        "runlab.server.app",
        "runlab.server.factory",
    ),
}
# Deliberate exceptions to FORBIDDEN, as (file under src/runlab, module it may name) pairs.
EXCEPTIONS: dict[str, tuple[str, ...]] = {
    # runlab.artifacts forwards MLflow's five artifact-reading functions (mlflow.artifacts.
    # load_dict, …) to the tracking layer on first access through module __getattr__, because
    # runs:/ and models:/ URIs need the tracking client. No repository module imports tracking,
    # and importing the package loads none of it (tests/artifacts/test_artifacts_package.py).
    "artifacts/__init__.py": ("runlab.tracking.artifact_reading",),
    # run_local starts `python -m runlab.cli models serve` in a subprocess, as the target's
    # container would: a command line naming the CLI, not an import of it.
    "deployments/azureml.py": ("runlab.cli",),
    "deployments/k8s_target.py": ("runlab.cli",),
}
# Lower layers that must never reach up into the model format.
MODEL_USERS_FORBIDDEN = ("store", "server")
# What the bottom layers may import from runlab after all.
ALLOWED: dict[str, tuple[str, ...]] = {
    "errors": (),
    "entities": ("runlab.entities", "runlab.errors"),
    "validation": ("runlab.errors",),
}
WEB_FRAMEWORKS = ("fastapi", "starlette", "uvicorn")
NO_WEB = (
    "errors",
    "entities",
    "validation",
    "uris",
    "search",
    "store",
    "artifacts",
    "tracking",
    "models",
    "data",
    "autologging",
    "evaluation",
)
# A string constant naming a runlab module counts as importing it: importlib.import_module and
# lazy loaders take module names as strings, and hiding an import in one must not pass the check.
_MODULE_NAME = re.compile(r"runlab(\.[A-Za-z_][A-Za-z0-9_]*)+")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(SRC.parent).with_suffix("").parts[:-1])
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against the module's package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.append(module)
            names.extend(f"{module}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and _MODULE_NAME.fullmatch(node.value)
        ):
            names.append(node.value)
    return names


def _layer_files(layer: str) -> list[Path]:
    single = SRC / f"{layer}.py"
    return [single] if single.is_file() else sorted((SRC / layer).rglob("*.py"))


def _violations() -> list[str]:
    found = []
    for layer in set(FORBIDDEN) | set(NO_WEB):
        for path in _layer_files(layer):
            allowed = ALLOWED.get(layer, ()) + EXCEPTIONS.get(path.relative_to(SRC).as_posix(), ())
            for name in _imports(path):
                bad = any(
                    (name + ".").startswith(prefix if prefix.endswith(".") else prefix + ".")
                    for prefix in FORBIDDEN.get(layer, ())
                )
                if bad and not any((name + ".").startswith(a + ".") for a in allowed):
                    found.append(f"{path.relative_to(SRC.parent)} imports {name}")
                if layer in NO_WEB and name.split(".")[0] in WEB_FRAMEWORKS:
                    found.append(f"{path.relative_to(SRC.parent)} imports {name}")
    for layer in MODEL_USERS_FORBIDDEN:
        for path in _layer_files(layer):
            for name in _imports(path):
                if (name + ".").startswith("runlab.models."):
                    found.append(f"{path.relative_to(SRC.parent)} imports {name}")
    return sorted(set(found))


def test_layering_rules_hold() -> None:
    assert _violations() == []


def test_the_checker_sees_imports() -> None:
    # Guard against a checker that passes because it parses nothing.
    assert "runlab.errors.InvalidParameter" in _imports(SRC / "validation.py")
    assert any(n.startswith("runlab.store") for n in _imports(SRC / "tracking" / "client.py"))
    # A module named in a string (the lazy loader's table) counts as imported too.
    assert "runlab.tracking.config" in _imports(SRC / "__init__.py")


def test_the_artifacts_forward_is_the_only_exception() -> None:
    # Only the package's __init__ may name the tracking module, and only that one module.
    init = _imports(SRC / "artifacts" / "__init__.py")
    assert "runlab.tracking.artifact_reading" in init
    assert {n for n in init if n.startswith("runlab.tracking")} <= {
        "runlab.tracking.artifact_reading",
        *(
            f"runlab.tracking.artifact_reading.{name}"
            for name in (
                "download_artifacts",
                "list_artifacts",
                "load_dict",
                "load_image",
                "load_text",
            )
        ),
    }
