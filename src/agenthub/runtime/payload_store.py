"""Where offloaded payloads live, named by one setting (``AGENTHUB_PAYLOAD_STORE``).

* empty (the default): ``<data dir>/payloads`` on this machine
  (:class:`~agenthub.runtime.converter.LocalFileStorageDriver`): the embedded default, where
  the workers and clients share one directory;
* ``s3://bucket/prefix``: an S3 bucket (or any S3-compatible server), through the SDK's own
  :class:`temporalio.contrib.aws.s3driver.S3StorageDriver`; credentials, region and endpoint
  come from the usual AWS settings (``AWS_ACCESS_KEY_ID``, ``AWS_REGION``,
  ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` for a server of your own); needs
  ``pip install 'agenthub[cluster]'`` (aioboto3);
* ``file:///shared/path``: a directory every machine mounts (NFS and the like).

Every machine of a hub names the same store; a reference offloaded to it is read by all.

Example::

    store = PayloadStore.parse("s3://hub-payloads/prod")
    driver = store.driver(local_dir=settings.data_dir / "payloads")
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from temporalio.contrib.aws.s3driver import S3StorageDriver, S3StorageDriverClient
from temporalio.converter import StorageDriver

from agenthub.errors import ConfigurationError

__all__ = ["PayloadStore"]


@dataclass(frozen=True)
class PayloadStore:
    """A parsed ``AGENTHUB_PAYLOAD_STORE``."""

    kind: str
    """``local`` (this machine's data dir), ``s3`` or ``file`` (a shared directory)."""
    bucket: str = ""
    prefix: str = ""
    path: Path | None = None

    @property
    def shared(self) -> bool:
        """Whether every machine can reach it (anything but the local data dir)."""
        return self.kind != "local"

    def describe(self) -> str:
        if self.kind == "s3":
            return f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        if self.kind == "file":
            return f"file://{self.path}"
        return "the local data dir"

    @classmethod
    def parse(cls, value: str) -> PayloadStore:
        """Parse the setting.

        Raises:
            ConfigurationError: an unknown scheme, or a URL missing its bucket or path.
        """
        value = value.strip()
        if not value:
            return cls("local")
        parts = urlsplit(value)
        if parts.scheme == "s3":
            if not parts.netloc:
                raise ConfigurationError(
                    f"AGENTHUB_PAYLOAD_STORE={value!r} names no bucket: write s3://bucket/prefix"
                )
            return cls("s3", bucket=parts.netloc, prefix=parts.path.strip("/"))
        if parts.scheme == "file":
            path = Path(unquote(parts.path))
            if parts.netloc not in ("", "localhost") or not path.is_absolute():
                raise ConfigurationError(
                    f"AGENTHUB_PAYLOAD_STORE={value!r}: write file:///absolute/shared/path"
                )
            return cls("file", path=path)
        raise ConfigurationError(
            f"AGENTHUB_PAYLOAD_STORE={value!r}: use s3://bucket/prefix (S3 or an "
            "S3-compatible server) or file:///shared/path (a directory every machine mounts)"
        )

    def s3_client(self) -> S3StorageDriverClient:
        """The S3 client the driver uses (keys under :attr:`prefix`)."""
        return _S3Client(self.prefix)

    def driver(self, local_dir: Path) -> StorageDriver:
        """The SDK storage driver that stores (and reads) payloads in this store."""
        from agenthub.runtime.converter import LocalFileStorageDriver

        if self.kind == "s3":
            return S3StorageDriver(client=self.s3_client(), bucket=self.bucket)
        if self.kind == "file" and self.path is not None:
            return LocalFileStorageDriver(self.path, name="agenthub-shared-files")
        return LocalFileStorageDriver(local_dir)


class _S3Client(S3StorageDriverClient):
    """The SDK driver's S3 client over aioboto3, with every key under ``prefix``.

    A client is opened per operation: offloaded payloads are the big, rare ones, and no
    connection outlives the event loop that made it (no unclosed sessions at exit).
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _session(self) -> Any:
        try:
            import aioboto3
        except ImportError:
            raise ConfigurationError(
                "AGENTHUB_PAYLOAD_STORE=s3://... needs aioboto3: pip install 'agenthub[cluster]'"
            ) from None
        return aioboto3.Session().client("s3")

    async def put_object(self, *, bucket: str, key: str, data: bytes) -> None:
        async with self._session() as s3:
            await s3.put_object(Bucket=bucket, Key=self._key(key), Body=data)

    async def object_exists(self, *, bucket: str, key: str) -> bool:
        from botocore.exceptions import ClientError

        async with self._session() as s3:
            try:
                await s3.head_object(Bucket=bucket, Key=self._key(key))
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return False
                raise
        return True

    async def get_object(self, *, bucket: str, key: str) -> bytes:
        async with self._session() as s3:
            response = await s3.get_object(Bucket=bucket, Key=self._key(key))
            async with response["Body"] as body:
                data: bytes = await body.read()
        return data

    def describe(self) -> Mapping[str, str]:
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        return {"endpoint": endpoint or "AWS", "prefix": self.prefix or "(none)"}
