"""Building the scoring app in a uvicorn worker process (``runlab models serve --workers N``).

uvicorn starts each worker from an import string and cannot hand it Python objects, so the CLI
writes a :class:`ServingConfig` as JSON into :data:`SERVING_CONFIG_ENV` and each worker calls
:func:`create_app`, which loads the model (once per worker, before the worker accepts a request)
and builds the app. That variable is plumbing between the CLI and its own workers, not a
configuration interface; :func:`runlab.serving.app.build_scoring_app` reads no environment.

The CLI makes the trust decision (``--trust-model``, or a trusted-source prefix matching the URI
it was given, see :mod:`runlab.models.trust`) and hands its outcome to the workers in
``trusted``: they see only the downloaded folder, not the URI the decision was made on.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from runlab.models.trust import ModelTrust

# The tracking server's: a loaded model is a large, long-lived heap that collections triggered by
# request allocations need not traverse.
from runlab.server.heap import settle_heap
from runlab.serving.app import build_scoring_app, logger
from runlab.serving.payload import parse_json
from runlab.serving.settings import ScoringSettings

__all__ = ["SERVING_CONFIG_ENV", "ServingConfig", "create_app", "load_serving_model"]

#: Internal: the JSON :class:`ServingConfig` that ``runlab models serve --workers N`` passes to
#: its worker processes. Not meant to be set by hand.
SERVING_CONFIG_ENV = "_RUNLAB_SERVING_CONFIG"


@dataclass(frozen=True)
class ServingConfig:
    """What a worker needs: the model's local folder (already resolved and downloaded by the
    CLI, so workers never reach a tracking server), the settings, and whether the CLI decided
    to trust the model with running code from its files."""

    model_path: str
    settings: ScoringSettings
    trusted: bool = False

    def to_json(self) -> str:
        """This configuration as one JSON document."""
        return json.dumps(
            {
                "model_path": self.model_path,
                "settings": dataclasses.asdict(self.settings),
                "trusted": self.trusted,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> ServingConfig:
        """The configuration :meth:`to_json` wrote; ``ValueError`` when it is not one."""
        try:
            data = json.loads(text)
            raw: dict[str, Any] = data["settings"]
            known = {f.name for f in dataclasses.fields(ScoringSettings)}
            unknown = sorted(set(raw) - known)
            if unknown:
                raise ValueError(f"unknown scoring setting(s): {', '.join(unknown)}")
            # JSON has no tuples; the settings hold them (frozen, hashable).
            values: dict[str, Any] = {
                k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()
            }
            trusted = data.get("trusted", False)
            if not isinstance(trusted, bool):
                raise ValueError(f"trusted must be true or false, got {trusted!r}")
            return cls(
                model_path=str(data["model_path"]),
                settings=ScoringSettings(**values),
                trusted=trusted,
            )
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"Not a runlab serving configuration: {exc}") from exc


def load_serving_model(
    model_path: str, warm_up: bool = True, trust: ModelTrust | None = None
) -> Any:
    """Load the model for serving, warmed up so that the first request is not the slow one.

    ``trust`` is the decision made on the names the model was fetched by (without one, only a
    trusted-source prefix matching ``model_path`` trusts it): a model whose files run code
    when loaded raises :class:`runlab.models.trust.UntrustedModelError` unless it allows that.
    The warm-up predicts the model's own serving input example, when it was saved with one
    (``serving_input_example.json``); a failure there is logged and serving goes on.
    """
    from runlab.models.pyfunc import load_local_model

    model = load_local_model(model_path, trust or ModelTrust.of(model_path))
    if warm_up:
        _warm_up(model, Path(model_path))
    return model


def _warm_up(model: Any, folder: Path) -> None:
    info = model.metadata.saved_input_example_info or {}
    name = info.get("serving_input_path")
    if not isinstance(name, str) or "/" in name or "\\" in name:
        return
    example = folder / name
    if not example.is_file():
        return
    try:
        data, params = parse_json(example.read_bytes())
        model.predict(data, params)
    except Exception as exc:  # the first request will report it properly
        logger.warning("Warm-up prediction on %s failed: %s", name, exc)


def create_app() -> Starlette:
    """The zero-argument factory each uvicorn worker calls (``factory=True``)."""
    raw = os.environ.get(SERVING_CONFIG_ENV)
    if not raw:
        raise RuntimeError(
            f"{SERVING_CONFIG_ENV} is not set: this factory is for the worker processes that "
            "`runlab models serve --workers N` starts. Run `runlab models serve` instead."
        )
    config = ServingConfig.from_json(raw)
    trust = ModelTrust.of(config.model_path, trusted=config.trusted)
    app = build_scoring_app(load_serving_model(config.model_path, trust=trust), config.settings)
    settle_heap()
    return app
