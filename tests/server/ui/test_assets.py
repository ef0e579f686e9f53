"""The UI's static files, Plotly.js and the 404 page."""

from __future__ import annotations

import importlib.metadata
import re

from support.asgi_api import Api


def test_static_files_are_served_with_types_and_long_caching(api: Api) -> None:
    page = api.get("/").text
    for name, media_type in (
        ("runlab.css", "text/css; charset=utf-8"),
        ("api.js", "text/javascript; charset=utf-8"),
        ("experiments.js", "text/javascript; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ):
        url = re.search(rf'"(/static/{re.escape(name)}\?v=[0-9a-f]+)"', page)
        assert url is not None, name
        reply = api.get(url.group(1))
        assert reply.status_code == 200
        assert reply.headers["content-type"] == media_type
        assert "immutable" in reply.headers["cache-control"]
        assert reply.content


def test_plotly_is_served_from_the_installed_package(api: Api) -> None:
    version = importlib.metadata.version("plotly")

    reply = api.get(f"/static/vendor/plotly-{version}.min.js")

    assert reply.status_code == 200
    assert reply.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "max-age=31536000" in reply.headers["cache-control"]
    assert len(reply.content) > 1_000_000
    assert api.get("/static/vendor/plotly-0.0.0.min.js").status_code == 404


def test_unknown_paths_give_a_404_page(api: Api) -> None:
    for path in ("/no/such/page", "/static/../pyproject.toml", "/static/nope.js"):
        reply = api.get(path)
        assert reply.status_code == 404, path
        assert reply.headers["content-type"] == "text/html; charset=utf-8"
        assert "Nothing here" in reply.text


def test_unknown_api_paths_answer_as_the_api(api: Api) -> None:
    reply = api.get("/api/2.0/mlflow/no-such-endpoint")

    assert reply.status_code == 404
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {
        "error_code": "ENDPOINT_NOT_FOUND",
        "message": "No endpoint at GET /api/2.0/mlflow/no-such-endpoint; /openapi.json lists "
        "the endpoints this server serves.",
    }
