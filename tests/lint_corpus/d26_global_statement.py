# expect: AH110
from temporalio import workflow

counter = 0


@workflow.defn
class Counts:
    @workflow.run
    async def run(self) -> int:
        global counter
        counter = counter + 1
        return counter
