# expect: AH110
from temporalio import workflow

CACHE: dict[str, int] = {}


@workflow.defn
class Caches:
    @workflow.run
    async def run(self, key: str) -> int:
        CACHE[key] = CACHE.get(key, 0) + 1
        return CACHE[key]
