"""The model scoring server: one pyfunc model behind MLflow's ``/invocations`` protocol.

- :func:`build_scoring_app` — the ASGI app for a loaded model (no globals, no environment);
- :class:`ScoringSettings` — its body and shape limits, threading and version;
- :mod:`runlab.serving.payload` / :mod:`runlab.serving.predictions` — the request and response
  codecs, shared with batch scoring (:mod:`runlab.serving.batch`);
- :mod:`runlab.serving.docker` — Docker build contexts for a model.

``runlab models serve``, ``predict``, ``generate-dockerfile`` and ``build-docker`` are the
command-line faces of this package (see docs/serving.md).
"""

from __future__ import annotations

from runlab.serving.app import build_scoring_app
from runlab.serving.settings import DEFAULT_MAX_REQUEST_BYTES, ScoringSettings

__all__ = ["DEFAULT_MAX_REQUEST_BYTES", "ScoringSettings", "build_scoring_app"]
