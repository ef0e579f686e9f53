"""A real S3 API for tests: moto's server on a loopback port, a bucket in it, and dummy AWS env.

Conftests that need S3 import the fixtures from here (``from support.moto_s3 import ...``).
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

BUCKET = "runlab-artifacts-test"


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class MotoS3:
    """A running moto server and the bucket created in it."""

    endpoint_url: str
    bucket: str


_DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "runlab-test-key",
    "AWS_SECRET_ACCESS_KEY": "runlab-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    # Keep the machine's own AWS configuration and proxies out of the tests.
    "AWS_CONFIG_FILE": "/nonexistent/runlab-test-aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/runlab-test-aws-credentials",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
_UNSET_AWS_ENV = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "RUNLAB_S3_ENDPOINT_URL",
    "MLFLOW_S3_ENDPOINT_URL",
    "RUNLAB_S3_IGNORE_TLS",
    "MLFLOW_S3_IGNORE_TLS",
)


def _apply_dummy_env(patch: pytest.MonkeyPatch) -> None:
    for name in _UNSET_AWS_ENV:
        patch.delenv(name, raising=False)
    for name, value in _DUMMY_AWS_ENV.items():
        patch.setenv(name, value)


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    """One moto S3 server for the session, with a bucket created in it."""
    pytest.importorskip("boto3")
    moto_server = pytest.importorskip("moto.server")
    import boto3

    port = free_loopback_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint_url = f"http://127.0.0.1:{port}"
    try:
        # The session fixture cannot use the function-scoped monkeypatch; a private context
        # keeps the dummy credentials from leaking into other tests of the session.
        with pytest.MonkeyPatch.context() as patch:
            _apply_dummy_env(patch)
            boto3.session.Session().client("s3", endpoint_url=endpoint_url).create_bucket(
                Bucket=BUCKET
            )
        yield MotoS3(endpoint_url=endpoint_url, bucket=BUCKET)
    finally:
        server.stop()


@pytest.fixture
def s3_env(moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> MotoS3:
    """Dummy AWS credentials and region, and RUNLAB_S3_ENDPOINT_URL pointing at moto."""
    _apply_dummy_env(monkeypatch)
    monkeypatch.setenv("RUNLAB_S3_ENDPOINT_URL", moto_s3.endpoint_url)
    return moto_s3


@pytest.fixture
def s3_root(s3_env: MotoS3) -> str:
    """A fresh, empty artifact root in the test bucket (one per test, so tests stay independent)."""
    return f"s3://{s3_env.bucket}/experiments/{uuid.uuid4().hex}/artifacts"


@pytest.fixture
def unused_endpoint_url() -> str:
    """An http URL on a loopback port where nothing listens (connections are refused)."""
    return f"http://127.0.0.1:{free_loopback_port()}"
