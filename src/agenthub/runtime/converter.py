"""Keep payloads far below Temporal's 2 MB limit: offload big ones, or fail clearly.

* :class:`LocalFileStorageDriver` is a :class:`temporalio.converter.StorageDriver` for the
  SDK's :class:`~temporalio.converter.ExternalStorage` (claim check): payloads above the
  threshold are written to a content-addressed file and only a small reference enters the
  history. It serves the embedded default and any deployment whose workers and clients share
  a filesystem; clusters use the SDK's S3/GCS drivers the same way.
* :func:`guarded_payload_converter` wraps a payload converter so a value whose payload passes
  the limit raises :class:`~agenthub.errors.PayloadTooLarge` (non-retryable) naming the value,
  its largest field and the sizes, instead of a server rejection that is retried forever.

:func:`data_converter` wires both from one setting (``AGENTHUB_PAYLOAD_OFFLOAD``).

Example::

    converter = data_converter(offload_dir=Path(".agenthub/payloads"))
    client = await Client.connect(address, data_converter=converter)
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import (
    DataConverter,
    ExternalStorage,
    PayloadConverter,
    StorageDriver,
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
)

from agenthub.errors import ConfigurationError, PayloadTooLarge

__all__ = [
    "DEFAULT_OFFLOAD_THRESHOLD",
    "DEFAULT_PAYLOAD_LIMIT",
    "LocalFileStorageDriver",
    "built_once",
    "data_converter",
    "guarded_payload_converter",
]

DEFAULT_PAYLOAD_LIMIT = 1024 * 1024
"""1 MiB: half of Temporal's 2 MB per-payload limit, leaving room for the rest of a request."""

DEFAULT_OFFLOAD_THRESHOLD = 256 * 1024
"""Payloads from 256 KiB up go to external storage (the SDK's default threshold)."""


def _human(size: int) -> str:
    return f"{size / 1_000_000:.2f} MB" if size >= 100_000 else f"{size / 1000:.1f} kB"


def _largest_field(value: Any) -> tuple[str, int] | None:
    """Name and JSON size of the biggest top-level field of a dataclass, model or mapping."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        items: Mapping[str, Any] = {
            f.name: getattr(value, f.name) for f in dataclasses.fields(value)
        }
    elif hasattr(value, "model_dump"):
        items = dict(value)
    elif isinstance(value, Mapping):
        items = value
    else:
        return None
    from pydantic_core import to_json

    sizes = {str(k): len(to_json(v)) for k, v in items.items()}
    if not sizes:
        return None
    name = max(sizes, key=lambda k: sizes[k])
    return name, sizes[name]


_FIX = (
    "Pass large data by reference (a path or URI), or turn on offloading with "
    "AGENTHUB_PAYLOAD_OFFLOAD=true."
)


_BUILD_LOCK = threading.Lock()


def built_once(base: type[PayloadConverter]) -> type[PayloadConverter]:
    """``base`` as a class whose every instantiation returns one shared instance.

    A ``DataConverter`` with external storage is copied with ``dataclasses.replace`` for
    each payload a worker converts with a context, and each copy builds a new payload
    converter: for pydantic's, an empty type-adapter cache, so a ``TypeAdapter`` was built
    again for every payload (about 19 builds per three-step saga). Payload converters keep
    no per-call state, so one instance serves every copy. A subclass builds its own.

    Example::

        DataConverter(payload_converter_class=built_once(PydanticPayloadConverter))
    """

    def __new__(cls: type[PayloadConverter]) -> PayloadConverter:
        instance = cls.__dict__.get("_agenthub_instance")
        if instance is None:
            with _BUILD_LOCK:
                instance = cls.__dict__.get("_agenthub_instance")
                if instance is None:
                    instance = object.__new__(cls)
                    base.__init__(instance)
                    type.__setattr__(cls, "_agenthub_instance", instance)
        return instance

    def __init__(self: PayloadConverter) -> None:
        """Built once, in ``__new__``."""

    return type(base.__name__, (base,), {"__new__": __new__, "__init__": __init__})


def guarded_payload_converter(
    limit: int = DEFAULT_PAYLOAD_LIMIT, base: type[PayloadConverter] = PydanticPayloadConverter
) -> type[PayloadConverter]:
    """A payload converter class that refuses payloads larger than ``limit`` bytes (built
    once per class, see :func:`built_once`)."""
    if limit <= 0:
        raise ConfigurationError(f"payload limit must be > 0 bytes, got {limit}")

    class GuardedPayloadConverter(base):  # type: ignore[valid-type,misc]
        def to_payloads(self, values: Sequence[Any]) -> list[Payload]:
            payloads: list[Payload] = super().to_payloads(values)
            sizes = [p.ByteSize() for p in payloads]
            for index, (value, size) in enumerate(zip(values, sizes, strict=False)):
                if size > limit:
                    field = _largest_field(value)
                    where = f" (largest field {field[0]!r}: {_human(field[1])})" if field else ""
                    raise PayloadTooLarge(
                        f"value #{index} of type {type(value).__name__} is {_human(size)}"
                        f"{where}, over the {_human(limit)} payload limit. {_FIX}",
                        size=size,
                        limit=limit,
                    )
            # The server limits a request's payloads together (activity arguments, a
            # signal's values), so values each under the limit can still be refused, and a
            # refused workflow task is retried forever: guard the total too.
            total = sum(sizes)
            if total > limit:
                parts = ", ".join(
                    f"#{i} {type(v).__name__} {_human(size)}"
                    for i, (v, size) in enumerate(zip(values, sizes, strict=False))
                )
                raise PayloadTooLarge(
                    f"{len(values)} values are {_human(total)} together ({parts}), over the "
                    f"{_human(limit)} payload limit. {_FIX}",
                    size=total,
                    limit=limit,
                )
            return payloads

    GuardedPayloadConverter.__name__ = f"Guarded{base.__name__}"
    shared = built_once(GuardedPayloadConverter)
    shared.agenthub_limit = limit  # type: ignore[attr-defined]  # read to rebuild on another base
    return shared


_SHA256 = re.compile(r"[0-9a-f]{64}")


class LocalFileStorageDriver(StorageDriver):
    """Stores payloads as files named by their SHA-256 under ``directory``.

    Writing is atomic (temp file + rename) and idempotent: the same payload stored twice is
    one file. Reading verifies the hash, so a damaged file is an error, not bad data.
    """

    def __init__(self, directory: str | Path, name: str = "agenthub-local-files") -> None:
        self.directory = Path(directory)
        self._name = name

    def name(self) -> str:
        return self._name

    def type(self) -> str:
        return "agenthub.local-files"

    def _write(self, payload: Payload) -> StorageDriverClaim:
        data = payload.SerializeToString()
        digest = hashlib.sha256(data).hexdigest()
        path = self.directory / digest[:2] / digest
        try:
            # Stored again: a fresh mtime tells `agenthub gc` a new reference is coming.
            os.utime(path)
        except FileNotFoundError:
            # Payloads are workflow data: readable by the owner only (mkstemp makes 0600).
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        return StorageDriverClaim({"sha256": digest})

    def _read(self, claim: StorageDriverClaim) -> Payload:
        digest = claim.claim_data.get("sha256", "")
        # The reference comes from a history, which anyone with server access can write to:
        # only a plain SHA-256 may become a path (no "../", no absolute paths).
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise ValueError(f"offloaded payload reference {digest!r} is not a SHA-256 hash")
        path = self.directory / digest[:2] / digest
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise FileNotFoundError(
                f"offloaded payload {digest} is missing from {self.directory}; workers and "
                "clients must share this directory (AGENTHUB_DATA_DIR)"
            ) from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise ValueError(f"offloaded payload file {path} is damaged (hash mismatch)")
        payload = Payload()
        payload.ParseFromString(data)
        return payload

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        return await asyncio.to_thread(lambda: [self._write(p) for p in payloads])

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        return await asyncio.to_thread(lambda: [self._read(c) for c in claims])


def _store_inline(context: Any, payload: Payload) -> None:
    return None


def data_converter(
    *,
    offload_dir: Path | None,
    limit: int = DEFAULT_PAYLOAD_LIMIT,
    offload_threshold: int = DEFAULT_OFFLOAD_THRESHOLD,
    read_dir: Path | None = None,
    store: StorageDriver | None = None,
    read_store: StorageDriver | None = None,
) -> DataConverter:
    """agenthub's data converter: pydantic JSON, plus offloading or the size guard.

    With ``offload_dir`` (or a ``store`` driver: S3, a shared directory), payloads from
    ``offload_threshold`` bytes go there by reference; without, payloads over ``limit``
    raise :class:`~agenthub.errors.PayloadTooLarge`. References already offloaded by another
    client are still read, from ``read_dir`` and ``read_store``, so two clients of one
    server never disagree on what a history says.
    """
    if offload_dir is not None and store is None:
        store = LocalFileStorageDriver(offload_dir)
    candidates = [read_store, LocalFileStorageDriver(read_dir) if read_dir else None]
    readers: list[StorageDriver] = []
    for driver in candidates:  # one driver per name: the store's own name is the store
        names = {r.name() for r in readers} | ({store.name()} if store else set())
        if driver is not None and driver.name() not in names:
            readers.append(driver)
    if store is None:
        guarded = guarded_payload_converter(limit)
        if not readers:
            return DataConverter(payload_converter_class=guarded)
        return DataConverter(
            payload_converter_class=guarded,
            external_storage=ExternalStorage(drivers=readers, driver_selector=_store_inline),
        )
    drivers = [store, *readers]
    return DataConverter(
        payload_converter_class=built_once(PydanticPayloadConverter),
        external_storage=ExternalStorage(
            drivers=drivers,
            driver_selector=(lambda context, payload: store) if len(drivers) > 1 else None,
            payload_size_threshold=offload_threshold,
        ),
    )
