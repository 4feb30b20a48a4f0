# expect: AH106
from os import getenv

from temporalio import workflow


@workflow.defn
class ReadsEnv2:
    @workflow.run
    async def run(self) -> str:
        return getenv("REGION", "eu")
