# expect: clean
from temporalio import workflow

STEPS = ["reserve", "charge", "ship"]


@workflow.defn
class ReadsConstant:
    @workflow.run
    async def run(self) -> list[str]:
        return [s.title() for s in STEPS]
