# expect: AH101
from datetime import datetime as dt

from temporalio import workflow


@workflow.defn
class UsesUtcNow:
    @workflow.run
    async def run(self) -> str:
        return dt.utcnow().isoformat()
