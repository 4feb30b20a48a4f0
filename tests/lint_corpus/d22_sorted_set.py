# expect: clean
from temporalio import workflow


@workflow.defn
class SortsSet:
    @workflow.run
    async def run(self, names: list[str]) -> list[str]:
        return [n.upper() for n in sorted(set(names))]
