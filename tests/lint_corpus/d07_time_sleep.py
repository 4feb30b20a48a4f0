# expect: AH103
import time

from temporalio import workflow


@workflow.defn
class Sleeps:
    @workflow.run
    async def run(self) -> None:
        time.sleep(1)
