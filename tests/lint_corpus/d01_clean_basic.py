# expect: clean
from datetime import timedelta

from temporalio import workflow


@workflow.defn
class Clean:
    @workflow.run
    async def run(self) -> str:
        await workflow.sleep(timedelta(seconds=1))
        return str(workflow.now()) + str(workflow.uuid4()) + str(workflow.random().random())
