"""The 3-step saga with activity steps (``Saga()``) alone in its module, its activities passed
through (``benchmarks/saga_peers.py`` compares)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from agenthub.patterns.saga import Saga
    from benchmarks.workloads import saga_step, saga_undo


@workflow.defn
class SmallModuleSaga:
    @workflow.run
    async def run(self, key: str) -> list[str]:
        done = []
        async with Saga(step_timeout=timedelta(seconds=30)) as saga:
            for step in ("reserve", "charge", "ship"):
                done.append(await saga.step(saga_step, f"{key}:{step}", compensation=saga_undo))
        return done
