"""agenthub's sandbox runner hands payload codecs and external storage the same contexts as
the SDK's own sandbox: it looks them up in the run's instance directly instead of through
the sandbox's glue code. And the payload converter a worker copies per payload is one
instance, so its type-adapter cache lasts."""

from __future__ import annotations

import dataclasses
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    ExternalStorage,
    PayloadCodec,
    SerializationContext,
    StorageDriverClaim,
    StorageDriverStoreContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)
from temporalio.testing import WorkflowEnvironment
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from agenthub.runtime.converter import LocalFileStorageDriver, built_once, data_converter
from agenthub.runtime.sandbox import sandboxed_runner
from agenthub.testing import running_worker

from .context_workflows import ContextChild, ContextParent, shout

TEXT = "héllo wörld " * 60  # stored externally; "héllo" alone stays inline


class Recorder:
    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()


def _describe(context: SerializationContext | None) -> str:
    if isinstance(context, ActivitySerializationContext):
        kind = "local" if context.is_local else "remote"
        return f"{kind} activity {context.activity_type} of {context.workflow_type}"
    if isinstance(context, WorkflowSerializationContext):
        return f"workflow {context.workflow_id.rsplit('-', 1)[-1]}"  # parent or child
    return type(context).__name__


class RecordingCodec(PayloadCodec, WithSerializationContext):
    def __init__(self, recorder: Recorder, context: SerializationContext | None = None) -> None:
        self.recorder, self.context = recorder, context

    def with_context(self, context: SerializationContext) -> RecordingCodec:
        return RecordingCodec(self.recorder, context)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self.recorder.seen[f"encode {_describe(self.context)}"] += len(payloads)
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self.recorder.seen[f"decode {_describe(self.context)}"] += len(payloads)
        return list(payloads)


class RecordingDriver(LocalFileStorageDriver):
    def __init__(self, recorder: Recorder, directory: Path) -> None:
        super().__init__(directory)
        self.recorder = recorder

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        target = context.target
        kind = type(target).__name__ if target else "None"
        what = getattr(target, "type", None) or getattr(target, "activity_type", None)
        self.recorder.seen[f"store for {kind} {what}"] += len(payloads)
        return await super().store(context, payloads)


class StockSandbox(SandboxedWorkflowRunner):
    """The SDK's sandbox as it ships (a chosen subclass is kept as it is by the plugin)."""


async def _run_parent(env: WorkflowEnvironment, runner: Any, directory: Path) -> Counter[str]:
    recorder = Recorder()
    converter = DataConverter(
        payload_converter_class=built_once(PydanticPayloadConverter),
        payload_codec=RecordingCodec(recorder),
        external_storage=ExternalStorage(
            drivers=[RecordingDriver(recorder, directory)], payload_size_threshold=400
        ),
    )
    if isinstance(runner, StockSandbox):
        assert type(runner).create_instance is SandboxedWorkflowRunner.create_instance
    address = env.client.service_client.config.target_host
    client = await Client.connect(address, data_converter=converter)
    async with running_worker(
        client, workflows=[ContextParent, ContextChild], activities=[shout],
        workflow_runner=runner,
    ) as task_queue:  # fmt: skip
        result = await client.execute_workflow(
            ContextParent.run, TEXT, id=f"ctx-{uuid.uuid4().hex}-parent",
            task_queue=task_queue,
        )  # fmt: skip
    assert result == [TEXT.upper(), TEXT.upper(), TEXT[::-1]]
    return recorder.seen


async def test_codecs_and_storage_see_the_contexts_the_sdks_sandbox_gives(
    dev_server_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    stock = await _run_parent(dev_server_env, StockSandbox(), tmp_path)
    ours = await _run_parent(dev_server_env, sandboxed_runner(), tmp_path)
    assert ours == stock
    # Not vacuous: each kind of context was there, and storage saw the child as its target.
    assert stock["encode remote activity shout of ContextParent"] > 0
    assert stock["encode local activity shout of ContextParent"] > 0
    assert stock["encode workflow child"] > 0
    assert stock["store for StorageDriverWorkflowInfo ContextChild"] > 0


def test_a_converter_copied_per_payload_is_one_instance(tmp_path: Path) -> None:
    converter = data_converter(offload_dir=tmp_path)
    copy = dataclasses.replace(converter)  # what the SDK does for each payload's context
    inner = copy.payload_converter._inner_payload_converter  # type: ignore[attr-defined]
    assert inner is converter.payload_converter._inner_payload_converter  # type: ignore[attr-defined]
    # Its type adapters are built once, then found again by every copy.
    payloads = converter.payload_converter.to_payloads([["ü", 1]])
    assert copy.payload_converter.from_payloads(payloads, [list[Any]]) == [["ü", 1]]
    hits = inner.converters[b"json/plain"]._type_adapter.cache_info().hits
    dataclasses.replace(converter).payload_converter.from_payloads(payloads, [list[Any]])
    assert inner.converters[b"json/plain"]._type_adapter.cache_info().hits == hits + 1


def test_a_subclass_of_a_built_once_converter_builds_its_own() -> None:
    shared = built_once(PydanticPayloadConverter)

    class Narrower(shared):  # type: ignore[valid-type,misc]
        pass

    assert shared() is shared()
    assert Narrower() is Narrower()
    assert Narrower() is not shared()
