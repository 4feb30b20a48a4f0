"""Workflows and activities for the callback tests."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow

from agenthub.patterns.callbacks import CallbackRequest, wait_for_callback

SECRET = "test-secret-0123456789abcdef"
TOKENS: dict[str, dict[str, str]] = defaultdict(dict)
DELIVERED: dict[str, asyncio.Event] = defaultdict(asyncio.Event)


@activity.defn
async def deliver_token(req: CallbackRequest) -> None:
    """Stands in for an email or webhook: hands the token to the test."""
    TOKENS[req.workflow_id][req.name] = req.token(SECRET)
    if len(TOKENS[req.workflow_id]) >= int(req.payload or 1):
        DELIVERED[req.workflow_id].set()


@dataclass
class Wait:
    names: list[str]
    timeout_seconds: float = 3600
    default: str | None = None


@workflow.defn
class AwaitsCallbacks:
    @workflow.run
    async def run(self, spec: Wait) -> list[object]:
        waits = [
            wait_for_callback(
                name,
                timeout=timedelta(seconds=spec.timeout_seconds),
                request=deliver_token,
                payload=len(spec.names),
                **({"default": spec.default} if spec.default is not None else {}),
            )
            for name in spec.names
        ]
        return list(await asyncio.gather(*waits))


@workflow.defn
class RoundsOnFixedCallback:
    """Waits on the same callback id each round, continuing as new between rounds."""

    @workflow.run
    async def run(self, rounds: int, seen: list[object]) -> list[object]:
        data = await wait_for_callback(
            "next", timeout=timedelta(hours=1), request=deliver_token, callback_id="fixed"
        )
        seen = [*seen, data]
        if len(seen) < rounds:
            workflow.continue_as_new(args=[rounds, seen])
        return seen


@workflow.defn
class WaitsForNothing:
    """Runs without any callback: a token naming it must be refused, not crash the API."""

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)
