# expect: AH111
from temporalio import activity, workflow


@activity.defn
async def charge(order: str) -> str:
    return f"charged {order}"


@workflow.defn
class NoTimeout:
    @workflow.run
    async def run(self, order: str) -> str:
        return await workflow.execute_activity(charge, order)
