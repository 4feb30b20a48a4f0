# expect: AH104
from random import choice

from temporalio import workflow


@workflow.defn
class Picks:
    @workflow.run
    async def run(self, options: list[str]) -> str:
        return choice(options)
