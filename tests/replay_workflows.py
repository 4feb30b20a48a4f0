"""Three versions of one workflow type, for the replay tests."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

T = timedelta(seconds=10)


@activity.defn
async def charge(order: str) -> str:
    return f"charged {order}"


@activity.defn
async def check_fraud(order: str) -> str:
    return f"checked {order}"


@workflow.defn(name="Order")
class OrderV1:
    @workflow.run
    async def run(self, order: str) -> str:
        return await workflow.execute_activity(charge, order, start_to_close_timeout=T)


@workflow.defn(name="Order")
class OrderV2Incompatible:
    """An activity added before the existing one: old histories no longer match."""

    @workflow.run
    async def run(self, order: str) -> str:
        await workflow.execute_activity(check_fraud, order, start_to_close_timeout=T)
        return await workflow.execute_activity(charge, order, start_to_close_timeout=T)


@workflow.defn(name="Order")
class OrderV2Patched:
    """The same change behind workflow.patched: old histories take the old path."""

    @workflow.run
    async def run(self, order: str) -> str:
        if workflow.patched("fraud-check"):
            await workflow.execute_activity(check_fraud, order, start_to_close_timeout=T)
        return await workflow.execute_activity(charge, order, start_to_close_timeout=T)


@workflow.defn(name="BookTrip")
class BookTripReordered:
    """The trip example's workflow with an activity in front: its saved histories break."""

    @workflow.run
    async def run(self, trip: object) -> str:
        return await workflow.execute_activity(check_fraud, "trip", start_to_close_timeout=T)
