# expect: AH101
import datetime

from temporalio import workflow


@workflow.defn
class UsesNow:
    @workflow.run
    async def run(self) -> str:
        return datetime.datetime.now().isoformat()
