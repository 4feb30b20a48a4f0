# expect: AH108
import asyncio

from temporalio import workflow


def crunch(n: int) -> int:
    return n * n


@workflow.defn
class Offload:
    @workflow.run
    async def run(self, n: int) -> int:
        loop = asyncio.get_running_loop()
        first = await asyncio.to_thread(crunch, n)
        return first + await loop.run_in_executor(None, crunch, n)
