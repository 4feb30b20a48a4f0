# expect: AH106
import os

from temporalio import workflow


@workflow.defn
class ReadsEnv:
    @workflow.run
    async def run(self) -> str:
        return os.environ["REGION"]
