"""Settings of the scoring server: everything its app factory needs besides the model."""

from __future__ import annotations

from dataclasses import dataclass

from runlab.server.settings import DEFAULT_ALLOWED_HOSTS

#: 16 MiB: about 100,000 rows of ten numeric columns as JSON. Larger batches belong in
#: ``runlab models predict``, which reads files and scores them in chunks.
DEFAULT_MAX_REQUEST_BYTES = 16 * 1024 * 1024

#: Columns one request may carry. Reading a table costs pandas and the signature check tens of
#: microseconds per column whatever the rows, so a few hundred kilobytes of CSV header (100,000
#: one-letter names) cost seconds. 10,000 columns covers wide tabular models (one-hot and hashed
#: features) and are read in well under a second on a worker thread; wider inputs are usually
#: tensors, whose first two dimensions are what is counted.
DEFAULT_MAX_COLUMNS = 10_000
#: Rows one request may carry. Rows are cheap per row, so this only bounds one request's time
#: and memory: the 16 MiB body limit already keeps tables of a few numeric columns under it, and
#: scoring millions of rows belongs in ``runlab models predict``, which scores files in chunks.
DEFAULT_MAX_ROWS = 1_000_000


@dataclass(frozen=True)
class ScoringSettings:
    """How the scoring server behaves.

    ``allowed_hosts`` is the Host-header allow-list (against DNS rebinding: a web page whose
    domain is made to resolve to 127.0.0.1 sends its own domain as Host); other hosts get 403.
    ``("*",)`` allows every host; the default is the loopback names. ``max_request_bytes`` bounds
    every request body (larger ones get 413 before they are read whole); ``max_columns`` and
    ``max_rows`` bound the table (or tensor) a body holds, counted before it is built (more get
    400). ``predict_mode`` is how ``predict`` runs: ``batched`` (one prediction thread that
    scores queued requests of row-independent models together), ``thread`` (the thread pool) or
    ``inline`` (on the event loop); see :mod:`runlab.serving.predictor` and docs/serving.md for
    the measurements. ``version`` is what ``GET /version`` answers. ``model_name`` and
    ``model_version`` are what the Open Inference Protocol routes know the model by
    (``/v2/models/{model_name}[/versions/{model_version}]``).
    """

    allowed_hosts: tuple[str, ...] = DEFAULT_ALLOWED_HOSTS
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_columns: int = DEFAULT_MAX_COLUMNS
    max_rows: int = DEFAULT_MAX_ROWS
    predict_mode: str = "batched"
    version: str = "0.0.0"
    model_name: str = "model"
    model_version: str | None = None
