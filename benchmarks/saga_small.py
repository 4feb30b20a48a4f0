"""The README's first saga (local steps) alone in its module, its activities passed through:
the least a sandboxed workflow run re-imports (``benchmarks/saga_peers.py`` compares). The
activity-step variant has a module of its own too (``saga_small_activity.py``): the sandbox
imports a workflow's whole module for every run."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from agenthub.patterns.saga import Saga
    from benchmarks.workloads import saga_step, saga_undo


@workflow.defn
class SmallModuleLocalSaga:
    @workflow.run
    async def run(self, key: str) -> list[str]:
        done = []
        async with Saga(step_timeout=timedelta(seconds=30), local_steps=True) as saga:
            for step in ("reserve", "charge", "ship"):
                done.append(await saga.step(saga_step, f"{key}:{step}", compensation=saga_undo))
        return done
