"""A session workflow for the session tests (outside a test module: the workflow sandbox
imports this module, and pytest's assertion rewriting must not run inside it)."""

from __future__ import annotations

from temporalio import workflow

from agenthub.agents import AgentSession
from agenthub.agents.session import SessionState
from agenthub.patterns.entity import EntityConfig, EntityStart


@workflow.defn(name="tests.ShortSession")
class ShortSession(AgentSession):
    """A session whose runs are short: it continues as new every few messages."""

    config = EntityConfig(max_history_events=100)

    @workflow.run
    async def run(self, start: EntityStart) -> SessionState:
        return await self.run_entity(start)
