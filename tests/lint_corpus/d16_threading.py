# expect: AH108
import threading

from temporalio import workflow


@workflow.defn
class Threads:
    @workflow.run
    async def run(self) -> None:
        threading.Thread(target=print).start()
