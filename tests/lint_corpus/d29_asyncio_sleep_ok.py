# expect: clean
import asyncio

from temporalio import workflow


@workflow.defn
class AsyncioSleep:
    @workflow.run
    async def run(self) -> str:
        # The SDK turns asyncio.sleep into a durable timer inside workflows.
        await asyncio.sleep(60)
        return "done"
