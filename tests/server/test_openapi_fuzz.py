"""A bounded fuzz of every operation in the app's own ``/openapi.json`` (schemathesis).

Every operation the document lists gets a few generated requests, reproducible from run to run
(derandomized), sent to the real app in-process over SQLite, with its artifact proxy and model
registry. A 500 anywhere fails the test, and so does an answer the document does not describe:
an undocumented status code or content type, an error body not in MLflow's shape, or an
``Allow`` header that does not list the methods the path has.

The document also says which requests are valid as precisely as JSON Schema can (required
fields, types, enums, ranges, the characters of keys, names and artifact paths). What it cannot
say (a filter's grammar, an opaque page token, that a name is still free, that two fields agree)
the server checks itself and answers with a 400 naming the problem, so schemathesis's
``positive_data_acceptance`` check, which would count those 400s as failures, is not run here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    allow_header_conformance,
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig

from runlab.artifacts import LocalArtifactRepository
from runlab.server.app import build_app
from runlab.server.settings import DEFAULT_ALLOWED_HOSTS, ServerSettings
from runlab.store.sql.registry import SqlRegistryStore
from runlab.store.sql.tracking import SqlTrackingStore

#: 501 is the documented answer of the multipart and presigned routes over a local destination.
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "501"]}}}
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    allow_header_conformance,
]


@pytest.fixture
def fuzzed_app_schema(tmp_path: Path) -> Iterator[Any]:
    """The schema of an app over a fresh SQLite store, proxying artifacts to a local folder."""
    url = f"sqlite:///{tmp_path / 'runlab.db'}"
    store = SqlTrackingStore(url, "mlflow-artifacts:/")
    registry = SqlRegistryStore(url)
    destination = tmp_path / "artifacts"
    app_settings = ServerSettings(
        # schemathesis's in-process client sends Host: testserver.
        allowed_hosts=(*DEFAULT_ALLOWED_HOSTS, "testserver"),
        artifacts_destination=destination.as_uri(),
        working_directory=str(tmp_path),
    )
    app = build_app(store, registry, LocalArtifactRepository(str(destination)), app_settings)
    try:
        yield schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)
    finally:
        registry.close()
        store.close()


schema = schemathesis.pytest.from_fixture("fuzzed_app_schema")


@schema.parametrize()
@settings(
    max_examples=8,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_operation_answers_as_documented(case: Any) -> None:
    case.call_and_validate(checks=CHECKS)
