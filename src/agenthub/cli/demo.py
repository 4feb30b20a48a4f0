"""``agenthub demo``: a small team plans a trip on the embedded default, offline.

Research agents work in parallel (a team, through fan-out), the booking agent books a hotel
and a car and then fails on the flight (so the hotel and the car are undone, newest
first), and the payment waits for a person's approval (the demo gives it, or waits for
yours with ``--interactive``). Each step prints as it happens, with a web UI link per
workflow; the data stays in the data dir.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from typing import Annotated, Any

import typer

from agenthub.cli._common import DataDirOption, PortOption, console, run, settings_from

DEMO_QUEUE = "agenthub-demo"
CITY = "Lisbon"


def _agents() -> tuple[list[Any], list[Any]]:
    """The demo's agents and team: scripted stand-in models, so it runs with no network."""
    from pydantic_ai.messages import (
        ModelMessage,
        ModelResponse,
        TextPart,
        ToolCallPart,
        ToolReturnPart,
        UserPromptPart,
    )
    from pydantic_ai.models.function import AgentInfo, FunctionModel

    from agenthub.agents import AgentSpec, TeamMember, TeamSpec, tool
    from agenthub.errors import PermanentFailure

    findings = {
        "flights": "TP1234 leaves at 9:05",
        "hotels": "Casa do Largo has rooms",
        "sights": "Belem and Alfama",
    }

    def prompt(messages: list[ModelMessage]) -> str:
        return next(
            str(p.content) for m in messages for p in getattr(m, "parts", [])
            if isinstance(p, UserPromptPart)
        )  # fmt: skip

    def returns(messages: list[ModelMessage]) -> list[str]:
        return [
            str(p.content) for m in messages for p in getattr(m, "parts", [])
            if isinstance(p, ToolReturnPart)
        ]  # fmt: skip

    def research(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        role = prompt(messages).removeprefix("You are the ").split(" of a team")[0]
        return ModelResponse(parts=[TextPart(findings.get(role, "nothing found"))])

    def plan(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        found = [line[2:] for line in prompt(messages).splitlines() if line.startswith("- ")]
        return ModelResponse(parts=[TextPart("Plan: " + "; ".join(found))])

    def book(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        turn = sum(isinstance(m, ModelResponse) for m in messages)
        if turn == 0:
            return ModelResponse(
                parts=[
                    ToolCallPart("book_hotel", {"city": CITY, "nights": 2}),
                    ToolCallPart("book_car", {"city": CITY}),
                ]
            )
        if turn == 1:
            # The flight from the instructions when they name one (a fork's), else TP1234.
            named = re.search(r"\b[A-Z]{2}\d{3,4}\b", info.instructions or "")
            flight = named.group(0) if named else "TP1234"
            return ModelResponse(parts=[ToolCallPart("book_flight", {"flight": flight})])
        return ModelResponse(parts=[TextPart(f"booked: {'; '.join(returns(messages))}")])

    def cashier(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        done = returns(messages)
        if done:
            return ModelResponse(parts=[TextPart(done[0])])
        return ModelResponse(parts=[ToolCallPart("pay", {"amount_eur": 420})])

    async def cancel_hotel(city: str, nights: int) -> None:
        """Cancel the hotel (the demo's lines come from the task's ``undo`` events)."""

    async def cancel_car(city: str) -> None:
        """Return the car."""

    @tool(side_effect=True, compensate=cancel_hotel)
    async def book_hotel(city: str, nights: int) -> str:
        """Book a hotel room."""
        return f"hotel in {city}, {nights} nights"

    @tool(side_effect=True, compensate=cancel_car)
    async def book_car(city: str) -> str:
        """Rent a car."""
        return f"car in {city}"

    @tool
    async def book_flight(flight: str) -> str:
        """Book a flight."""
        if flight == "TP1234":
            raise PermanentFailure(f"no seats left on {flight}")
        return f"flight {flight}"

    @tool(side_effect=True, requires_approval=True)
    async def pay(amount_eur: int) -> str:
        """Pay for the trip."""
        return f"paid {amount_eur} EUR"

    agents = [
        AgentSpec(name="demo-researcher", model=FunctionModel(research)),
        AgentSpec(name="demo-planner", model=FunctionModel(plan)),
        AgentSpec(
            name="demo-booker",
            model=FunctionModel(book),
            tools=[book_hotel, book_car, book_flight],
        ),
        AgentSpec(
            name="demo-cashier",
            model=FunctionModel(cashier),
            tools=[pay],
            approvers=["demo", "you"],
        ),
    ]
    team = TeamSpec(
        name="demo-research",
        members=[TeamMember(role, "demo-researcher") for role in findings],
        merger="demo-planner",
    )
    return agents, [team]


def demo(
    data_dir: DataDirOption = None,
    port: PortOption = None,
    interactive: Annotated[
        bool,
        typer.Option("--interactive", help="Wait for you to approve the payment."),
    ] = False,
    serve_console: Annotated[
        bool,
        typer.Option(
            "--console",
            help="Run nothing new: serve the demo's tasks in the console until Ctrl-C.",
        ),
    ] = False,
) -> None:
    """Plan a trip with a small team of agents, offline, on the embedded default."""
    settings = settings_from(data_dir=data_dir, server_port=port, task_queue=DEMO_QUEUE)
    if serve_console:
        run(lambda stop: _console(settings, stop))
    else:
        run(lambda stop: _demo(settings, interactive))


async def _console(settings: Any, stop: asyncio.Event) -> None:
    """The demo's tasks in the console: its agents on a worker (so a closed task's events
    can be read), and the HTTP API with the console on the API port."""
    from agenthub.agents import AgentsPlugin
    from agenthub.runtime.connect import connect
    from agenthub.runtime.worker import build_worker
    from agenthub.service import check_api_exposure, report_console, serve_api, start_server

    check_api_exposure(settings)
    agents, teams = _agents()
    report_console(settings, console.print)
    server = await start_server(settings, console.print)
    try:
        client = await connect(
            settings, target_host=server.address, plugins=[AgentsPlugin(*agents, teams=teams)]
        )
        async with build_worker(client, settings, task_queue=DEMO_QUEUE):
            console.print("the demo's tasks are in the console; press Ctrl-C to stop")
            await serve_api(client, settings, stop)
    finally:
        await server.stop()


async def _demo(settings: Any, interactive: bool) -> None:
    from temporalio.client import WorkflowFailureError

    from agenthub.agents import AgentsPlugin, agent_events
    from agenthub.agents.hub import HubTasks, web_ui_link
    from agenthub.agents.task import AgentTaskResult
    from agenthub.agents.team import TeamResult
    from agenthub.patterns._sdk import describe_failure
    from agenthub.patterns.approvals import decide, list_pending
    from agenthub.patterns.saga import saga_progress
    from agenthub.runtime.connect import connect
    from agenthub.runtime.server import EmbeddedServer
    from agenthub.runtime.worker import build_worker

    # The flight's failure is part of the story; the SDK's per-attempt traceback is not.
    logging.getLogger("temporalio.activity").setLevel(logging.ERROR)
    agents, teams = _agents()
    async with EmbeddedServer(settings) as server:
        client = await connect(
            settings, target_host=server.address, plugins=[AgentsPlugin(*agents, teams=teams)]
        )
        ui = server.ui_url

        def link(workflow_id: str) -> str:
            return web_ui_link(ui, client.namespace, workflow_id) if ui else workflow_id

        # The hub's tasks of the default tenant, so `agenthub demo --console` shows them.
        hub = HubTasks(client, task_queue=DEMO_QUEUE, teams=[t.name for t in teams])

        async def start(agent: str, goal: str, task_id: str) -> str:
            started = await hub.start(agent, goal, task_id=task_id, requested_by="demo")
            return started.task.workflow_id

        async with build_worker(client, settings, task_queue=DEMO_QUEUE):
            run_id = uuid.uuid4().hex[:6]
            console.print("[bold]1. research[/] three agents in parallel, then a planner")
            team_id = await start(
                "demo-research", f"Two nights in {CITY}", f"demo-research-{run_id}"
            )
            team = client.get_workflow_handle(team_id, result_type=TeamResult)
            console.print(f"  {link(team.id)}")
            plan = await team.result()
            for member in plan.members:
                console.print(f"  {member.role:<8} {member.output}")
            console.print(f"  {plan.output}")

            console.print("[bold]2. bookings[/] hotel and car, then the flight")
            booking_id = await start("demo-booker", f"Book {CITY}", f"demo-booking-{run_id}")
            booking = client.get_workflow_handle(booking_id, result_type=AgentTaskResult)
            console.print(f"  {link(booking.id)}")
            # Read from the task's own events: the lines come in the order things happened.
            async for item in agent_events(client, booking.id):
                event = item.event
                if event.kind in ("tool_call", "tool_result"):
                    console.print(f"  {event.kind:<11} {event.text}")
                elif event.kind == "undo":
                    console.print(f"  [yellow]{'undo':<11}[/] {event.text.removeprefix('undo ')}")
            try:
                await booking.result()
            except WorkflowFailureError as err:
                kind, message = describe_failure(err.cause or err)
                console.print(f"  booking failed: {kind}: {message}")
            progress = await saga_progress(booking, "agent")
            console.print(f"  bookings {progress.status}: {len(progress.compensations)} undone")
            console.print(
                "  what if it had flown TP1352? (with `agenthub demo --console` running)\n"
                f"  agenthub tasks fork {booking_id.rsplit('/', 1)[-1]} --at 1 --redo-undone "
                f"--instructions 'Fly TP1352.' --task-queue {DEMO_QUEUE}",
                highlight=False,
                soft_wrap=True,
            )

            console.print("[bold]3. payment[/] waits for a person")
            payment_id = await start("demo-cashier", "Pay the trip", f"demo-payment-{run_id}")
            payment = client.get_workflow_handle(payment_id, result_type=AgentTaskResult)
            console.print(f"  {link(payment.id)}")
            approval = None
            while approval is None:
                pending = await list_pending(client, task_queue=DEMO_QUEUE)
                approval = next((p for p in pending if p.workflow_id == payment.id), None)
                if approval is None:
                    await asyncio.sleep(0.2)
            console.print(f"  waiting for approval: {approval.summary}")
            if interactive:
                console.print(
                    f"  approve it: AGENTHUB_IDENTITY=you agenthub approvals approve "
                    f"{approval.approval_id} --task-queue {DEMO_QUEUE}"
                )
            else:
                await decide(client, approval, approved=True, by="demo", reason="demo")
                console.print("  approved by demo")
            result = await payment.result()
            console.print(f"  {result.output}")
        console.print(f"[green]done[/]: the demo's workflows stay in {settings.data_dir}")
    console.print("  see its tasks in the console: `agenthub demo --console` here,")
    console.print(
        f"  then open http://{settings.server_ip}:{settings.effective_api_port}/"
        + (f" (web UI {ui}; the links above work while it runs)" if ui else "")
    )
