# expect: AH105
import uuid

from temporalio import workflow


@workflow.defn
class MakesIds:
    @workflow.run
    async def run(self) -> str:
        return str(uuid.uuid4())
