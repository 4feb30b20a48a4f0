"""Entities for the entity tests (small module: the sandbox imports it per run)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity, workflow

from agenthub.errors import BusinessRuleViolation, InvalidInput
from agenthub.patterns.entity import (
    Entity,
    EntityConfig,
    EntityStart,
    entity_signal,
    entity_update,
)

GATES: dict[str, asyncio.Event] = defaultdict(asyncio.Event)


@activity.defn
async def pass_gate(name: str) -> None:
    """Waits until the test opens the gate (in-process workers only); else passes."""
    if name:
        await GATES[name].wait()


@dataclass
class Ledger:
    balance: int = 0
    applied: int = 0
    in_handler: int = 0
    max_in_handler: int = 0
    history: list[int] = field(default_factory=list)


@dataclass
class Credit:
    cents: int
    message_id: str


@dataclass
class EntityInfo:
    balance: int
    applied: int
    max_in_handler: int
    runs: int
    passivated: bool
    history_length: int


class AccountBase(Entity[Ledger]):
    state_type = Ledger

    def __init__(self) -> None:
        self._passivated = False

    async def _run(self, start: EntityStart) -> Ledger:
        self._passivated = start.passivated
        return await self.run_entity(start)

    @entity_update
    async def deposit(self, cents: int) -> int:
        self.state.balance += cents
        self.state.applied += 1
        return self.state.balance

    @deposit.validator
    def check_deposit(self, cents: int) -> None:
        if cents <= 0:
            raise InvalidInput(f"deposit must be a positive number of cents, got {cents}")

    @entity_update
    async def withdraw(self, cents: int) -> int:
        if cents > self.state.balance:
            raise BusinessRuleViolation(
                f"overdraft: balance {self.state.balance}, withdrawal {cents}"
            )
        self.state.balance -= cents
        self.state.applied += 1
        return self.state.balance

    @entity_update
    async def slow_deposit(self, cents: int, gate: str) -> int:
        """Read, await an activity, write: interleaving would lose deposits."""
        self.state.in_handler += 1
        self.state.max_in_handler = max(self.state.max_in_handler, self.state.in_handler)
        before = self.state.balance
        await workflow.execute_activity(
            pass_gate, gate, start_to_close_timeout=timedelta(seconds=60)
        )
        self.state.balance = before + cents
        self.state.applied += 1
        self.state.in_handler -= 1
        return self.state.balance

    @entity_signal
    async def credit(self, msg: Credit) -> None:
        self.state.balance += msg.cents
        self.state.applied += 1

    @entity_signal
    async def bonus(self, cents: int, note: str) -> None:
        """Arguments with no message id of their own: deduplicated by EntityClient's id."""
        self.state.balance += cents
        self.state.applied += 1

    @workflow.signal
    def rotate(self) -> None:
        """Not serialized on purpose: it must act while a slow message holds the lock."""
        self.request_continue_as_new()

    @workflow.query
    def info(self) -> EntityInfo:
        return EntityInfo(
            balance=self.state.balance,
            applied=self.state.applied,
            max_in_handler=self.state.max_in_handler,
            runs=self.entity_runs,
            passivated=self._passivated,
            history_length=workflow.info().get_current_history_length(),
        )


@workflow.defn
class Account(AccountBase):
    config = EntityConfig(max_history_events=1000)

    @workflow.run
    async def run(self, start: EntityStart) -> Ledger:
        return await self._run(start)


@workflow.defn
class NappingAccount(AccountBase):
    config = EntityConfig(idle_timeout=timedelta(seconds=1))

    @workflow.run
    async def run(self, start: EntityStart) -> Ledger:
        return await self._run(start)


@workflow.defn
class EphemeralAccount(AccountBase):
    config = EntityConfig(idle_timeout=timedelta(seconds=1), passivate="complete")

    @workflow.run
    async def run(self, start: EntityStart) -> Ledger:
        return await self._run(start)
