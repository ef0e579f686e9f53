"""The worker factory: the configuration the CLI hands its workers, and the app built from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from runlab.serving.factory import SERVING_CONFIG_ENV, ServingConfig, create_app
from runlab.serving.settings import ScoringSettings


def test_config_round_trips_through_json() -> None:
    settings = ScoringSettings(allowed_hosts=("a", "b"), max_request_bytes=10, version="1.2")
    config = ServingConfig("/models/iris", settings)
    assert ServingConfig.from_json(config.to_json()) == config


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{", "Not a runlab serving configuration"),
        ('{"model_path": "m"}', "settings"),
        ('{"model_path": "m", "settings": {"colour": "red"}}', "unknown scoring setting"),
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
