"""Settings of the scoring server: everything its app factory needs besides the model."""

from __future__ import annotations

from dataclasses import dataclass

from runlab.server.settings import DEFAULT_ALLOWED_HOSTS

#: 16 MiB: about 100,000 rows of ten numeric columns as JSON. Larger batches belong in
#: ``runlab models predict``, which reads files and scores them in chunks.
DEFAULT_MAX_REQUEST_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class ScoringSettings:
    """How the scoring server behaves.

    ``allowed_hosts`` is the Host-header allow-list (against DNS rebinding: a web page whose
    domain is made to resolve to 127.0.0.1 sends its own domain as Host); other hosts get 403.
    ``("*",)`` allows every host; the default is the loopback names. ``max_request_bytes`` bounds every request body (larger ones get 413 before they are read
    whole). ``predict_mode`` is how ``predict`` runs: ``batched`` (one prediction thread that
    scores queued requests of row-independent models together), ``thread`` (the thread pool) or
    ``inline`` (on the event loop); see :mod:`runlab.serving.predictor` and docs/serving.md for
    the measurements. ``version`` is what ``GET /version`` answers.
    """

    allowed_hosts: tuple[str, ...] = DEFAULT_ALLOWED_HOSTS
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    predict_mode: str = "batched"
    version: str = "0.0.0"
