# expect: AH104
import os

from temporalio import workflow


@workflow.defn
class Token:
    @workflow.run
    async def run(self) -> str:
        return os.urandom(8).hex()
