"""The worker factory: the configuration the CLI hands its workers, and the app built from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from runlab.models.trust import TRUSTED_SOURCES_ENV, UntrustedModelError
from runlab.serving.factory import SERVING_CONFIG_ENV, ServingConfig, create_app
from runlab.serving.settings import ScoringSettings


@pytest.mark.parametrize("trusted", [False, True])
def test_config_round_trips_through_json(trusted: bool) -> None:
    settings = ScoringSettings(allowed_hosts=("a", "b"), max_request_bytes=10, version="1.2")
    config = ServingConfig("/models/iris", settings, trusted=trusted)
    assert ServingConfig.from_json(config.to_json()) == config


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{", "Not a runlab serving configuration"),
        ('{"model_path": "m"}', "settings"),
        ('{"model_path": "m", "settings": {"colour": "red"}}', "unknown scoring setting"),
        ('{"model_path": "m", "settings": {}, "trusted": "yes"}', "trusted must be true or false"),
    ],
)
def test_a_broken_config_fails_loudly(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        ServingConfig.from_json(text)


def test_create_app_needs_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SERVING_CONFIG_ENV, raising=False)
    with pytest.raises(RuntimeError, match="runlab models serve"):
        create_app()


def test_create_app_serves_the_configured_model(
    monkeypatch: pytest.MonkeyPatch, portal: Any, iris_model: Path
) -> None:
    config = ServingConfig(str(iris_model), ScoringSettings(version="9.9"))
    monkeypatch.setenv(SERVING_CONFIG_ENV, config.to_json())
    app = create_app()

    async def ask() -> tuple[str, Any]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            version = (await client.get("/version")).text
            answer = await client.post("/invocations", json={"inputs": [[5.1, 3.5, 1.4, 0.2]]})
            return version, answer.json()

    assert portal.call(ask) == ("9.9", {"predictions": [0]})


def test_a_worker_loads_a_pickled_model_only_when_the_cli_trusted_it(
    monkeypatch: pytest.MonkeyPatch, portal: Any, outputs_model: Path
) -> None:
    # The worker sees only the folder: the CLI's decision travels in the configuration.
    monkeypatch.delenv(TRUSTED_SOURCES_ENV)
    untrusted = ServingConfig(str(outputs_model), ScoringSettings())
    monkeypatch.setenv(SERVING_CONFIG_ENV, untrusted.to_json())
    with pytest.raises(UntrustedModelError, match="cloudpickle") as refused:
        create_app()
    assert "--trust-model" in refused.value.message
    trusted = ServingConfig(str(outputs_model), ScoringSettings(), trusted=True)
    monkeypatch.setenv(SERVING_CONFIG_ENV, trusted.to_json())
    app = create_app()

    async def ask() -> Any:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            body = {"dataframe_records": [{"x": 1.0}], "params": {"kind": "series"}}
            return (await client.post("/invocations", json=body)).json()

    assert portal.call(ask) == {"predictions": [{"plus_one": 2.0}]}
