# expect: AH102
from time import monotonic as clock

from temporalio import workflow


@workflow.defn
class UsesMonotonic:
    @workflow.run
    async def run(self) -> float:
        return clock()
