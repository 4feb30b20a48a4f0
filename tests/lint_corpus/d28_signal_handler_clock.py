# expect: AH101
from datetime import datetime

from temporalio import workflow


@workflow.defn
class StampsSignals:
    def __init__(self) -> None:
        self.stamps: list[str] = []

    @workflow.signal
    def ping(self) -> None:
        self.stamps.append(datetime.now().isoformat())

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: len(self.stamps) > 2)
