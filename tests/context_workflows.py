"""A workflow whose payloads cross every kind of context: its input and result, a regular
activity's, a local activity's and a child workflow's (tests/test_sandbox_contexts.py)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def shout(text: str) -> str:
    return text.upper()


@workflow.defn
class ContextChild:
    @workflow.run
    async def run(self, text: str) -> str:
        return text[::-1]


@workflow.defn
class ContextParent:
    @workflow.run
    async def run(self, text: str) -> list[str]:
        timeout = timedelta(seconds=30)
        remote = await workflow.execute_activity(shout, text, start_to_close_timeout=timeout)
        local = await workflow.execute_local_activity(shout, text, start_to_close_timeout=timeout)
        child = await workflow.execute_child_workflow(
            ContextChild.run, text, id=f"{workflow.info().workflow_id}-child"
        )
        return [remote, local, child]
