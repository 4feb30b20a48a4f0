"""An S3-compatible server for tests: moto's server mode on loopback (real S3 over HTTP)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from .conftest import free_port


@contextlib.contextmanager
def s3_server(bucket: str) -> Iterator[str]:
    """Serve S3 on a free loopback port with ``bucket`` created; yields the endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    s3_client(endpoint).create_bucket(Bucket=bucket)
    try:
        yield endpoint
    finally:
        server.stop()


def s3_client(endpoint: str) -> Any:
    """A boto3 S3 client of the test server (test credentials)."""
    import boto3

    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip
