# expect: AH104
import random

from temporalio import workflow


@workflow.defn
class Dice:
    @workflow.run
    async def run(self) -> int:
        return random.randint(1, 6)
