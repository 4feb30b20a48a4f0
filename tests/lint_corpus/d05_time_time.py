# expect: AH102
import time

from temporalio import workflow


@workflow.defn
class UsesTime:
    @workflow.run
    async def run(self) -> float:
        return time.time()
