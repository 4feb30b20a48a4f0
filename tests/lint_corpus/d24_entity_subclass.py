# expect: AH104
import random
from dataclasses import dataclass

from agenthub.patterns.entity import Entity, EntityStart, entity_update
from temporalio import workflow


@dataclass
class Counter:
    n: int = 0


@workflow.defn
class Jitter(Entity[Counter]):
    state_type = Counter

    @workflow.run
    async def run(self, start: EntityStart) -> Counter:
        return await self.run_entity(start)

    @entity_update
    async def bump(self) -> int:
        self.state.n += random.randint(1, 3)
        return self.state.n
