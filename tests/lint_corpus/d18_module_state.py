# expect: AH110
from temporalio import workflow

SEEN: list[str] = []


@workflow.defn
class Remembers:
    @workflow.run
    async def run(self, name: str) -> int:
        SEEN.append(name)
        return len(SEEN)
