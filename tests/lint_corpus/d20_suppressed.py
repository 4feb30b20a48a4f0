# expect: clean
import time

from temporalio import workflow


@workflow.defn
class Suppressed:
    @workflow.run
    async def run(self) -> float:
        return time.time()  # agenthub: ignore[AH102]
