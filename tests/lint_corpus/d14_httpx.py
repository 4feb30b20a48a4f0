# expect: AH107
import httpx

from temporalio import workflow


@workflow.defn
class CallsApi:
    @workflow.run
    async def run(self) -> int:
        async with httpx.AsyncClient() as http:
            return (await http.get("http://127.0.0.1/")).status_code
