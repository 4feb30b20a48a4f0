"""The README's examples as a user writes them, checked with ``mypy --strict``.

CI runs mypy on this file: if a signature of agenthub stops type-checking for its users
(a decorator that erases types, a helper that rejects a valid call), CI fails.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

from agenthub import AgentHubPlugin, Settings, connect
from agenthub.agents import (
    AgentLimits,
    AgentSpec,
    AgentsPlugin,
    AgentTaskResult,
    MCPServerSpec,
    TaskProgress,
    agent_task_status,
    run_agent,
    start_agent_task,
    web_fetch_tool,
)
from agenthub.agents import idempotency_key as agent_idempotency_key
from agenthub.agents import tool as agent_tool
from agenthub.errors import BusinessRuleViolation, InvalidInput, classify_http_status
from agenthub.patterns import (
    CallbackRequest,
    Entity,
    EntityClient,
    EntityConfig,
    EntityStart,
    FanOutResult,
    Heartbeat,
    ItemRange,
    Reduce,
    Saga,
    Tolerate,
    activity_idempotency_key,
    entity_signal,
    entity_update,
    fan_out,
    idempotency_key,
    idempotent,
    open_ledger,
    retry,
    saga_progress,
    wait_for_callback,
)
from agenthub.patterns.approvals import ApprovalDecision, request_approval
from agenthub.testing import CassetteRun

# --- saga -------------------------------------------------------------------------------


@dataclass
class Trip:
    traveller: str
    city: str


@activity.defn
async def book_car(trip: Trip) -> str:
    return f"car in {trip.city}"


@activity.defn
async def cancel_car(trip: Trip) -> None:
    key = activity_idempotency_key("cancel-car")
    assert key


@activity.defn
def book_hotel(trip: Trip) -> str:
    return f"hotel in {trip.city}"


@activity.defn
def cancel_hotel(trip: Trip) -> None:
    pass


@workflow.defn
class BookTrip:
    @workflow.run
    async def run(self, trip: Trip) -> list[str]:
        async with Saga(local_steps=True) as saga:
            car: str = await saga.step(book_car, trip, compensation=cancel_car)
            hotel: str = await saga.step(
                book_hotel, trip, compensation=cancel_hotel, retry_policy=retry.preset("DEFAULT")
            )
        return [car, hotel]


# --- entity -----------------------------------------------------------------------------


@dataclass
class AccountState:
    balance_cents: int = 0
    statement: list[int] = field(default_factory=list)


@dataclass
class Credit:
    cents: int
    message_id: str


@workflow.defn
class BankAccount(Entity[AccountState]):
    state_type = AccountState
    config = EntityConfig(max_history_events=10_000, idle_timeout=timedelta(days=7))

    @workflow.run
    async def run(self, start: EntityStart) -> AccountState:
        return await self.run_entity(start)

    @entity_update
    async def deposit(self, cents: int) -> int:
        self.state.balance_cents += cents
        return self.state.balance_cents

    @deposit.validator
    def check_deposit(self, cents: int) -> None:
        if cents <= 0:
            raise InvalidInput("a deposit must be positive")

    @entity_update(name="withdraw")
    async def withdraw(self, cents: int) -> int:
        if cents > self.state.balance_cents:
            raise BusinessRuleViolation("overdraft")
        self.state.balance_cents -= cents
        return self.state.balance_cents

    @entity_signal
    async def credit(self, msg: Credit) -> None:
        self.state.balance_cents += msg.cents

    @workflow.query
    def balance(self) -> int:
        return self.state.balance_cents


# --- callbacks, approvals, fan-out -------------------------------------------------------


@activity.defn
async def send_payment_link(req: CallbackRequest) -> None:
    link = f"https://hub.example/callbacks/{req.token()}"
    assert link


@activity.defn
@idempotent(ledger=lambda: open_ledger(".agenthub/ledger.db"))
async def send_invoice(order_id: str) -> str:
    return f"sent {order_id} with key {idempotency_key()}"


@activity.defn
@idempotent("refund", ledger=lambda: open_ledger(".agenthub/ledger.db"), key=lambda o, c: o)
async def refund(order_id: str, cents: int) -> str:
    return f"refunded {cents} on {order_id}"


@activity.defn
async def score(item: int) -> int:
    async with Heartbeat() as hb:
        hb.progress(item)
    return item % 7


@workflow.defn
class Invoice:
    @workflow.run
    async def run(self, email: str) -> str:
        paid = await wait_for_callback(
            "payment", timeout=timedelta(days=7), request=send_payment_link, payload=email,
            default=None,
        )  # fmt: skip
        decision: ApprovalDecision = await request_approval(
            "Refund 420 EUR", approvers=["ana"], timeout=timedelta(days=2)
        )
        result: FanOutResult = await fan_out(
            score, ItemRange(0, 10_000), max_concurrency=200, batch_size=1000,
            reduce=Reduce("sum"), failures=Tolerate(max_ratio=0.001),
        )  # fmt: skip
        return f"{paid} {decision.approved} {result.value} {result.failed}"


# --- running it -------------------------------------------------------------------------


async def main() -> None:
    client = await connect(Settings.from_env())
    accounts = EntityClient(client, BankAccount, task_queue="accounts")
    balance: int = await accounts.update("alice", BankAccount.deposit, 100, message_id="m-1")
    after: int = await accounts.update("alice", BankAccount.withdraw, 30)
    await accounts.signal("alice", BankAccount.credit, Credit(5, "c-1"))
    now: int = await accounts.query("alice", BankAccount.balance)
    handle = await client.start_workflow(
        BookTrip.run, Trip("Ada", "Lisbon"), id="trip-1", task_queue="trips"
    )
    booked: list[str] = await handle.result()
    progress = await saga_progress(handle)
    print(balance, after, now, booked, progress.status)

    plain = await Client.connect("localhost:7233", plugins=[AgentHubPlugin(Settings())])
    worker = Worker(
        plain,
        task_queue="trips",
        workflows=[BookTrip, BankAccount, Invoice],
        activities=[book_car, cancel_car, book_hotel, cancel_hotel, send_payment_link, score],
    )
    async with worker:
        error = classify_http_status(429, "slow down", retry_after="3")
        print(error.type)


# --- agents ------------------------------------------------------------------------------


async def cancel_room(city: str, nights: int) -> None:
    print("cancelled", city, nights)


@agent_tool(side_effect=True, compensate=cancel_room)
async def book_room(city: str, nights: int) -> str:
    """Book a hotel room."""
    return f"{city} x{nights} ({agent_idempotency_key()})"


@agent_tool(requires_approval=True)
async def pay(amount_eur: int) -> str:
    """Pay for the trip."""
    return f"paid {amount_eur}"


async def tools_keep_their_types() -> None:
    # A tool is still its function for callers (a test calls it directly): checked.
    booked: str = await book_room("Lisbon", 2)
    paid: str = await pay(420)
    print(booked, paid)
    # A negative test: mypy must refuse a wrong argument type (else this ignore is unused,
    # which --strict reports as an error).
    await book_room("Lisbon", "two")  # type: ignore[arg-type]


async def run_trip_agent(settings: Settings) -> None:
    trip = AgentSpec(
        name="trip",
        instructions="Plan trips.",
        model="openai:gpt-4o-mini",
        tools=[book_room, pay, web_fetch_tool()],
        approvers=["ana"],
        limits=AgentLimits(max_requests=20, deadline=timedelta(minutes=10)),
        mcp_servers=[MCPServerSpec(id="weather", command="python", args=["weather_mcp.py"])],
    )
    client = await connect(settings, plugins=[AgentsPlugin(trip)])
    result: AgentTaskResult = await run_agent(
        client, "trip", "Two nights in Lisbon", task_queue="agenthub"
    )
    handle = await start_agent_task(client, "trip", "Again", task_queue="agenthub")
    status: TaskProgress = await agent_task_status(handle)
    print(result.output, result.usage.requests, status.state, status.step)


async def hub_service(settings: Settings) -> None:
    """The hub as a service: agents from agenthub.toml, tasks per tenant."""
    from pathlib import Path

    from agenthub.agents import HubTasks, TaskView, load_hub_config

    hub = load_hub_config(Path("agenthub.toml"), settings)
    client = await connect(settings, plugins=[hub.plugin(settings)])
    tasks = HubTasks(client, tenant="acme", task_queue=settings.task_queue)
    started = await tasks.start("trip", "Two nights in Lisbon", task_id="order-42")
    async for item in await tasks.events(started.task.task_id):
        print(item.offset, item.event.kind, item.event.text)
    view: TaskView = await tasks.get("order-42")
    print(view.status, view.output, view.usage.requests, started.created)


async def sandbox_cost(client: Client) -> None:
    """Sandbox cost: the slow-import warning's limit, and replay of opted-out workflows."""
    from pathlib import Path

    from agenthub.determinism.replay import replay_history_files
    from agenthub.runtime import CompiledGlueSandboxRunner

    worker = Worker(
        client,
        task_queue="trips",
        workflows=[BookTrip],
        workflow_runner=CompiledGlueSandboxRunner(slow_import_warning_ms=None),
    )
    reports = await replay_history_files(Path("tests/histories").glob("*.json"), [BookTrip])
    as_deployed = await replay_history_files([], [BookTrip], in_sandbox=False)
    print(worker.task_queue, [r.verdict for r in reports + as_deployed])


async def fork_and_evaluate(client: Client, settings: Settings) -> None:
    """Fork and evaluate: export, fork after a step, evaluate against recordings."""
    from pathlib import Path

    from agenthub.agents import Cassette, EvalReport, HubTasks, evaluate, load_cassette

    tasks = HubTasks(client, tenant="acme", task_queue=settings.task_queue)
    cassette: Cassette = await tasks.export("trip-42")
    Path("trip-42.json").write_text(cassette.model_dump_json(indent=2))
    forked = await tasks.fork("trip-42", at=2, instructions="Prefer trains.")
    report: EvalReport = await evaluate(
        client, {"trip-42": load_cassette(Path("trip-42.json"))}, agent="trip",
        task_queue=settings.task_queue, instructions="Prefer trains.",
    )  # fmt: skip
    print(forked.task.parent, report.passed, [c.name for c in report.regressed])


async def test_trip_still_books_the_same(
    replay_cassette: Callable[..., Awaitable[CassetteRun]],
) -> None:
    """A past run as a test (the replay_cassette fixture)."""
    trip = AgentSpec(name="trip", instructions="Plan trips.", tools=[pay], approvers=["ana"])
    run = await replay_cassette("tests/cassettes/trip-42.json", trip)
    assert run.tool_calls == run.cassette.tool_sequence()
