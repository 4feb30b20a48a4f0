# expect: AH107
from pathlib import Path

from temporalio import workflow


@workflow.defn
class ReadsPath:
    @workflow.run
    async def run(self, path: str) -> str:
        return Path(path).read_text()
