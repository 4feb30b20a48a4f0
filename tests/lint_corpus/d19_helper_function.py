# expect: AH102
import time

from temporalio import workflow


def stamp(label: str) -> str:
    return f"{label}@{time.time()}"


@workflow.defn
class UsesHelper:
    @workflow.run
    async def run(self) -> str:
        return stamp("start")
