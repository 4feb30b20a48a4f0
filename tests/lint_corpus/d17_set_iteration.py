# expect: AH109
from temporalio import workflow


@workflow.defn
class IteratesSet:
    @workflow.run
    async def run(self, names: list[str]) -> list[str]:
        return [n.upper() for n in set(names)]
