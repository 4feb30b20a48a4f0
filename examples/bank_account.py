"""A bank account as an entity workflow: deposits, withdrawals with an overdraft rule, and a
balance query. One workflow per account, started by its first message.

    .venv/bin/python examples/bank_account.py
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

from temporalio import workflow
from temporalio.client import WorkflowUpdateFailedError

from agenthub.errors import BusinessRuleViolation, InvalidInput
from agenthub.patterns.entity import Entity, EntityClient, EntityStart, entity_update

try:
    from examples._common import embedded_worker
except ImportError:  # run as a script
    from _common import embedded_worker  # type: ignore[no-redef]


TASK_QUEUE = "examples.bank-account"
"""This example's own task queue: its worker runs every workflow started there."""


@dataclass
class AccountState:
    balance_cents: int = 0
    overdraft_limit_cents: int = 0
    statement: list[str] = field(default_factory=list)


@workflow.defn
class BankAccount(Entity[AccountState]):
    state_type = AccountState

    @workflow.run
    async def run(self, start: EntityStart) -> AccountState:
        return await self.run_entity(start)

    @entity_update
    async def deposit(self, cents: int) -> int:
        self.state.balance_cents += cents
        self.state.statement.append(f"+{cents}")
        return self.state.balance_cents

    @deposit.validator
    def check_deposit(self, cents: int) -> None:
        if cents <= 0:
            raise InvalidInput(f"a deposit must be a positive number of cents, got {cents}")

    @entity_update
    async def withdraw(self, cents: int) -> int:
        available = self.state.balance_cents + self.state.overdraft_limit_cents
        if cents > available:
            raise BusinessRuleViolation(
                f"overdraft: {cents} requested, {available} available "
                f"(balance {self.state.balance_cents})"
            )
        self.state.balance_cents -= cents
        self.state.statement.append(f"-{cents}")
        return self.state.balance_cents

    @withdraw.validator
    def check_withdraw(self, cents: int) -> None:
        if cents <= 0:
            raise InvalidInput(f"a withdrawal must be a positive number of cents, got {cents}")

    @workflow.query
    def balance(self) -> int:
        return self.state.balance_cents

    @workflow.query
    def statement(self) -> list[str]:
        return self.state.statement


async def main() -> None:
    async with embedded_worker(TASK_QUEUE, [BankAccount], []) as (client, task_queue):
        accounts = EntityClient(client, BankAccount, task_queue=task_queue)
        alice = f"alice-{uuid.uuid4().hex[:6]}"
        print("deposit 100 ->", await accounts.update(alice, BankAccount.deposit, 100))
        print("withdraw 30 ->", await accounts.update(alice, BankAccount.withdraw, 30))
        for bad in ((BankAccount.withdraw, 500), (BankAccount.deposit, -5)):
            try:
                await accounts.update(alice, *bad)
            except WorkflowUpdateFailedError as err:
                print(f"refused: {err.cause}")
        # The same message id twice is applied once.
        for _ in range(2):
            await accounts.update(alice, BankAccount.deposit, 5, message_id="salary-2026-11")
        print("balance:", await accounts.query(alice, BankAccount.balance))
        print("statement:", " ".join(await accounts.query(alice, BankAccount.statement)))
        print("workflow id:", accounts.workflow_id(alice))


if __name__ == "__main__":
    asyncio.run(main())
