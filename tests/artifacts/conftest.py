"""Fixtures for artifact tests: the moto S3 server and its environment (see support.moto_s3)."""

from support.moto_s3 import (
    BUCKET,
    MotoS3,
    free_loopback_port,
    moto_s3,
    s3_env,
    s3_root,
    unused_endpoint_url,
)

__all__ = [
    "BUCKET",
    "MotoS3",
    "free_loopback_port",
    "moto_s3",
    "s3_env",
    "s3_root",
    "unused_endpoint_url",
]
