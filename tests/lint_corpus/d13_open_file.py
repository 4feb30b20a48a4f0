# expect: AH107
from temporalio import workflow


@workflow.defn
class ReadsFile:
    @workflow.run
    async def run(self, path: str) -> str:
        with open(path) as f:
            return f.read()
