"""Workflows for the plugin test: each pattern, run by a plain temporalio Worker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow

from agenthub.errors import PermanentFailure
from agenthub.patterns import Entity, EntityStart, ItemRange, Reduce, Saga, entity_update, fan_out
from agenthub.patterns.approvals import ApprovalDecision, request_approval
from agenthub.patterns.callbacks import CallbackRequest, wait_for_callback

UNDONE: list[str] = []
TOKENS: dict[str, str] = {}


@activity.defn
async def reserve(item: str) -> str:
    return f"reserved {item}"


@activity.defn
async def release(item: str) -> None:
    UNDONE.append(item)


@activity.defn
async def charge(item: str) -> str:
    raise PermanentFailure(f"card declined for {item}")


@activity.defn
def square(index: int) -> int:
    """Synchronous on purpose: the plugin gives sync activities a thread pool."""
    return index * index


@activity.defn
async def send_link(req: CallbackRequest) -> None:
    # No secret passed: the plugin's interceptor supplies the worker's current one.
    TOKENS[req.workflow_id] = req.token()


@workflow.defn
class Checkout:
    @workflow.run
    async def run(self, item: str) -> str:
        async with Saga() as saga:
            await saga.step(reserve, item, compensation=release)
            await saga.step(charge, item)
        return "paid"


@workflow.defn
class SumOfSquares:
    @workflow.run
    async def run(self, count: int) -> int:
        result = await fan_out(
            square, ItemRange(0, count), batch_size=10, reduce=Reduce("sum"),
            start_to_close_timeout=timedelta(seconds=10),
        )  # fmt: skip
        total: int = result.value
        return total


@dataclass
class Counter:
    value: int = 0


@workflow.defn
class CounterEntity(Entity[Counter]):
    state_type = Counter

    @workflow.run
    async def run(self, start: EntityStart) -> Counter:
        return await self.run_entity(start)

    @entity_update
    async def add(self, amount: int) -> int:
        self.state.value += amount
        return self.state.value


@workflow.defn
class AskManager:
    @workflow.run
    async def run(self, summary: str) -> ApprovalDecision:
        return await request_approval(summary, approvers=["ana"], timeout=timedelta(hours=1))


@workflow.defn
class WaitForPayment:
    @workflow.run
    async def run(self) -> str:
        paid = await wait_for_callback("payment", timeout=timedelta(hours=1), request=send_link)
        return f"paid {paid}"
