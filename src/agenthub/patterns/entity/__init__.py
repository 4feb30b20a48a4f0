"""Entity workflows: one long-lived workflow per entity, driven by messages.

An entity (an account, a cart, an agent session) is a workflow whose id is derived from the
entity type and id. Its state lives in the workflow; :func:`entity_update` handlers change
it, queries read it. The base class takes care of what is easy to get wrong by hand:

* **one message at a time**: handlers run under one lock, so two messages that await
  activities never interleave on the same state; a message delivered before the run
  method has restored the carried-over state waits for it (validators run before that:
  they should check the message, not the state);
* **duplicates ignored**: a message id (the update id) seen recently returns the recorded
  result instead of applying twice, also across continue-as-new (the server may re-deliver
  an update completed together with continue-as-new);
* **continue-as-new, safely**: when the server suggests it or the run's history reaches
  ``max_history_events * drain_at``, new messages are turned away with a retryable
  ``EntityContinuingAsNew`` (the client retries them onto the next run), in-flight handlers
  finish (``workflow.all_handlers_finished``), and state plus recent message ids move to a
  fresh run;
* **passivation**: with ``idle_timeout``, an entity with no message for that long moves to a
  fresh, minimal run (``passivate="continue"``, state kept) or completes with its state as
  result (``passivate="complete"``); the next message reaches or re-creates it.

Example::

    @dataclass
    class Balance:
        cents: int = 0

    @workflow.defn
    class Account(Entity[Balance]):
        state_type = Balance

        @workflow.run
        async def run(self, start: EntityStart) -> Balance:
            return await self.run_entity(start)

        @entity_update
        async def deposit(self, cents: int) -> int:
            self.state.cents += cents
            return self.state.cents

        @deposit.validator
        def check_deposit(self, cents: int) -> None:
            if cents <= 0:
                raise InvalidInput("deposit must be positive")

        @workflow.query
        def balance(self) -> int:
            return self.state.cents

    accounts = EntityClient(client, Account, task_queue="agenthub")
    await accounts.update("alice", Account.deposit, 500)
"""

from agenthub.patterns.entity.client import EntityClient
from agenthub.patterns.entity.workflow import (
    ENTITY_CONTINUING_ERROR,
    Entity,
    EntityConfig,
    EntityStart,
    current_message_id,
    entity_signal,
    entity_update,
)

__all__ = [
    "ENTITY_CONTINUING_ERROR",
    "Entity",
    "EntityClient",
    "EntityConfig",
    "EntityStart",
    "current_message_id",
    "entity_signal",
    "entity_update",
]
