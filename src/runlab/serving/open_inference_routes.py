"""The Open Inference Protocol (v2) routes of the scoring server, beside ``/invocations``.

KServe, MLServer, Seldon and Triton clients speak this protocol over HTTP:

- ``GET /v2/health/live`` and ``/v2/health/ready``: 200 once the server answers (the model is
  loaded before the app exists);
- ``GET /v2``: the server's metadata;
- ``GET /v2/models/{name}[/versions/{version}]``: the model's metadata;
- ``GET /v2/models/{name}[/versions/{version}]/ready``: 200 when the model is ready;
- ``POST /v2/models/{name}[/versions/{version}]/infer``: inference on typed tensors.

Only the served model's name (and version, when it has one) answers; any other is a 404. Errors
are the protocol's ``{"error": "..."}`` with a 4xx status. Inference goes through the same
:class:`~runlab.serving.predictor.Predictor` as ``/invocations``, so the body size limit, the
row and column limits, the signature check and the predict mode are the same for both.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from runlab.errors import RunlabError
from runlab.server.endpoint import read_limited_body
from runlab.serving.errors import ModelFailure
from runlab.serving.open_inference_binary import HEADER_LENGTH
from runlab.serving.open_inference_metadata import (
    ModelIdentity,
    model_metadata,
    output_names,
    server_metadata,
)
from runlab.serving.open_inference_request import InferRequest, decode_request, model_input
from runlab.serving.open_inference_response import EncodedResponse, encode_infer_response
from runlab.serving.open_inference_tensors import V2Error
from runlab.serving.payload import ParsedRequest
from runlab.serving.predictor import Predictor
from runlab.serving.request_shape import ShapeLimits

__all__ = ["open_inference_routes"]

logger = logging.getLogger("runlab.serving")

_JSON = "application/json"
_BINARY = "application/octet-stream"


def _json(document: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(document), status_code=status, media_type=_JSON)


def _error(message: str, status: int) -> Response:
    return _json({"error": message}, status)


class _Exchange:
    """One inference request on its way through the predictor: read, then answered."""

    def __init__(self, body: bytes, header: str | None, routes: _OpenInference) -> None:
        self._body = body
        self._header = header
        self._routes = routes
        self._request: InferRequest | None = None

    def prepare(self) -> ParsedRequest:
        request = decode_request(self._body, self._header, self._routes.limits)
        self._request = request
        return model_input(request, self._routes.input_schema), request.model_params

    def finish(self, predictions: Any) -> EncodedResponse:
        assert self._request is not None  # prepare always runs first
        routes = self._routes
        return encode_infer_response(predictions, self._request, routes.identity, routes.names)


class _OpenInference:
    """The handlers, over one model and its predictor."""

    def __init__(
        self,
        model: Any,
        predictor: Predictor,
        identity: ModelIdentity,
        limits: ShapeLimits,
        max_request_bytes: int,
        version: str,
    ) -> None:
        self.model = model
        self.predictor = predictor
        self.identity = identity
        self.limits = limits
        self.max_request_bytes = max_request_bytes
        self.version = version
        self.input_schema = model.input_schema
        self.names = output_names(model)
        # Computed once: the signature does not change while the server runs.
        self._metadata = orjson.dumps(model_metadata(identity, model))

    def _unknown_model(self, request: Request) -> Response | None:
        name = request.path_params["name"]
        version = request.path_params.get("version")
        if self.identity.matches(name, version):
            return None
        if name == self.identity.name:
            have = (
                f"its version is {self.identity.version!r}"
                if self.identity.version is not None
                else "it has no versions"
            )
            return _error(f"Model {name!r} has no version {version!r}: {have}.", 404)
        return _error(
            f"No model named {name!r} here: this server serves {self.identity.name!r}.", 404
        )

    async def live(self, _request: Request) -> Response:
        return _json({"live": True})

    async def ready(self, _request: Request) -> Response:
        return _json({"ready": True})

    async def server(self, _request: Request) -> Response:
        return _json(server_metadata(self.version))

    async def metadata(self, request: Request) -> Response:
        refused = self._unknown_model(request)
        if refused is not None:
            return refused
        return Response(self._metadata, media_type=_JSON)

    async def model_ready(self, request: Request) -> Response:
        refused = self._unknown_model(request)
        if refused is not None:
            return refused
        return _json({"name": self.identity.name, "ready": True})

    async def infer(self, request: Request) -> Response:
        refused = self._unknown_model(request)
        if refused is not None:
            return refused
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding != "identity":
            return _error(
                f"Content-Encoding {encoding!r} is not supported: send the body uncompressed.",
                415,
            )
        try:
            body = await read_limited_body(request, self.max_request_bytes)
            exchange = _Exchange(body, request.headers.get(HEADER_LENGTH), self)
            answer = await self.predictor.run(exchange.prepare, exchange.finish)
        except V2Error as exc:
            return _error(exc.message, exc.status)
        except ModelFailure as exc:
            # The client gets the message; whoever runs the server gets the model's traceback.
            logger.warning("%s", exc.message, exc_info=exc.__cause__)
            return _error(exc.message, exc.get_http_status_code())
        except RunlabError as exc:
            return _error(exc.message, exc.get_http_status_code())
        except Exception as exc:
            # A bug in runlab, not in the request: logged with its traceback, answered without.
            logger.exception("Unhandled error on %s %s", request.method, request.url.path)
            return _error(f"Internal server error ({type(exc).__name__}); see the server log.", 500)
        if answer.json_length is None:
            return Response(answer.body, media_type=_JSON)
        return Response(
            answer.body,
            media_type=_BINARY,
            headers={"Inference-Header-Content-Length": str(answer.json_length)},
        )


def open_inference_routes(
    model: Any,
    predictor: Predictor,
    identity: ModelIdentity,
    limits: ShapeLimits,
    max_request_bytes: int,
    version: str,
) -> list[BaseRoute]:
    """The v2 routes for ``model``, answering as ``identity`` and predicting through
    ``predictor`` (the one ``/invocations`` uses), with the server's request limits."""
    v2 = _OpenInference(model, predictor, identity, limits, max_request_bytes, version)
    model_paths = ("/v2/models/{name}", "/v2/models/{name}/versions/{version}")
    routes: list[BaseRoute] = [
        Route("/v2/health/live", v2.live, methods=["GET"]),
        Route("/v2/health/ready", v2.ready, methods=["GET"]),
        Route("/v2", v2.server, methods=["GET"]),
    ]
    for path in model_paths:
        routes += [
            Route(path, v2.metadata, methods=["GET"]),
            Route(f"{path}/ready", v2.model_ready, methods=["GET"]),
            Route(f"{path}/infer", v2.infer, methods=["POST"]),
        ]
    return routes
