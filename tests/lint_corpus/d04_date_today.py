# expect: AH101
from datetime import date

from temporalio import workflow


@workflow.defn
class UsesToday:
    @workflow.run
    async def run(self) -> str:
        return str(date.today())
