# expect: AH107
import subprocess

from temporalio import workflow


@workflow.defn
class Shells:
    @workflow.run
    async def run(self) -> str:
        return subprocess.check_output(["date"]).decode()
