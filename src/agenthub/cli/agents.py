"""``agenthub agents list``, ``run``, ``chat`` and ``tasks list/show/watch/cancel``.

They talk to Temporal directly (like ``agenthub approvals``), in the tenant of
``AGENTHUB_TENANT`` (default ``default``, the tenant of the HTTP API without tokens), so a
task started here is the one ``GET /tasks/{id}`` shows. The agents run on whatever worker
polls the task queue: ``agenthub up`` with an ``agenthub.toml``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Annotated, Any

import typer
from pydantic_core import to_jsonable_python
from rich.markup import escape
from rich.table import Table

from agenthub.cli._common import TaskQueueOption, console, fail, is_terminal, run, settings_from
from agenthub.errors import TaskNotFound
from agenthub.runtime.connect import connect, web_ui_base
from agenthub.runtime.settings import Settings

agents_app = typer.Typer(help="The agents the hub runs.", no_args_is_help=True)
tasks_app = typer.Typer(help="Agent tasks: list, show, watch, cancel.", no_args_is_help=True)

TenantOption = Annotated[
    str, typer.Option("--tenant", envvar="AGENTHUB_TENANT", help="The tenant [AGENTHUB_TENANT].")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ConfigOption = Annotated[
    str | None, typer.Option("--config", help="The agents file [AGENTHUB_CONFIG].")
]

_STYLE = {
    "goal": "bold",
    "model": "cyan",
    "member": "green",
    "merge": "cyan",
    "tool_call": "magenta",
    "tool_result": "green",
    "approval_asked": "bold yellow",
    "approval": "yellow",
    "model_error": "bold red",
    "undo": "yellow",
    "answer": "bold green",
    "failed": "bold red",
    "cancelled": "bold red",
}


def register(app: typer.Typer) -> None:
    """Add ``agents``, ``run``, ``chat`` and ``tasks`` to ``app``."""
    app.add_typer(agents_app, name="agents")
    app.add_typer(tasks_app, name="tasks")
    app.command(name="run")(run_task)
    app.command()(chat)


async def _tasks(settings: Settings, tenant: str, *, check_agents: bool = False) -> Any:
    from agenthub.agents.hub import HubTasks
    from agenthub.service import load_agents_file

    # The agents file says which names the hub runs (teams too); without one, nothing is
    # checked here and a task on an unknown name fails at once on the worker.
    declared = load_agents_file(settings) if check_agents else None
    client = await connect(settings)
    return HubTasks(
        client,
        tenant=tenant,
        task_queue=settings.task_queue,
        agents=None if declared is None else [a.name for a in declared.agents],
        teams=() if declared is None else [t.name for t in declared.teams],
        ui_url=web_ui_base(settings),
        deployment=settings.deployment_name if settings.build_id else "",
    )


@agents_app.command("list")
def list_agents(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """The agents and teams declared in agenthub.toml (checked as `agenthub up` checks)."""
    from agenthub.service import load_agents_file

    settings = settings_from(config=config)
    try:
        hub = load_agents_file(settings)
    except Exception as err:
        fail(err)
    if hub is None:
        fail(
            f"no agents file: create {settings.data_dir.parent / 'agenthub.toml'} or set "
            "AGENTHUB_CONFIG (see README, 'Agents from agenthub.toml')"
        )
    rows = [
        {
            "name": spec.name,
            "model": spec.model if isinstance(spec.model, str) else type(spec.model).__name__,
            "tools": [t.name for t in spec.agent_tools()],
            "approvers": list(spec.approvers),
            "description": spec.description,
        }
        for spec in hub.agents
    ]
    teams = [
        {"team": t.name, "members": [f"{m.role}:{m.agent}" for m in t.members], "merger": t.merger}
        for t in hub.teams
    ]
    if as_json or not is_terminal():
        typer.echo(json.dumps({"file": str(hub.path), "agents": rows, "teams": teams}))
        return
    table = Table(title=f"agents in {hub.path}")
    for column in ("name", "model", "tools", "approvers"):
        table.add_column(column)
    for spec in hub.agents:
        model = spec.model if isinstance(spec.model, str) else type(spec.model).__name__
        tools = ", ".join(t.name for t in spec.agent_tools())
        table.add_row(spec.name, model, tools, ", ".join(spec.approvers))
    console.print(table)
    for team in teams:
        console.print(f"team {team['team']}: {', '.join(team['members'])} -> {team['merger']}")


def _show_event(kind: str, text: str, data: dict[str, Any] | None) -> None:
    style = _STYLE.get(kind, "")
    line = f"[{style}]{kind:<14}[/]" if style else f"{kind:<14}"
    console.print(f"{line} {escape(text)}", highlight=False)
    if kind == "approval_asked" and data and data.get("approval_id"):
        console.print(
            f"{'':<14} decide: agenthub approvals approve {data['approval_id']} (or reject)",
            highlight=False,
        )


async def _follow(tasks: Any, task_id: str, kind: str, stop: asyncio.Event) -> int:
    """Print the task's events until it ends (exit code 0 when it succeeded, 1 when not) or
    until ``stop`` (Ctrl-C: 130, the task goes on). ``kind`` is the task's (``agent`` or
    ``team``), as the caller already read it: a team's stream has a line per member."""
    steps = {"model": "thinking", "merge": "merging", "member": "members at work"}
    if kind == "team":
        steps["goal"] = "members at work"

    async def stream() -> None:
        step = "starting"
        with console.status(f"{task_id}: {step}") as status:
            async for item in await tasks.events(task_id):
                event = item.event
                _show_event(event.kind, event.text, event.data)
                if event.kind == "tool_call":
                    step = f"calling {event.text[:40]}"
                else:
                    step = steps.get(event.kind, event.kind)
                status.update(f"{task_id}: {escape(step)}")

    streaming = asyncio.ensure_future(stream())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait([streaming, stopping], return_when=asyncio.FIRST_COMPLETED)
    if not streaming.done():
        streaming.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await streaming
        console.print(
            f"detached; task {task_id} goes on. Re-attach: agenthub tasks watch {task_id}  "
            f"(cancel: agenthub tasks cancel {task_id})"
        )
        return 130
    stopping.cancel()
    streaming.result()
    return _print_end(await tasks.get(task_id))


def _print_end(view: Any) -> int:
    if view.status == "succeeded":
        u = view.usage
        console.print(
            f"[bold]answer[/] {escape(str(view.output))}\n"
            f"usage: {u.requests} requests, {u.tool_calls} tool calls, "
            f"{u.input_tokens + u.output_tokens} tokens",
            highlight=False,
        )
        return 0
    console.print(f"[red]{view.status}[/]: {escape(view.error or '')}", highlight=False)
    return 1


def run_task(
    agent: Annotated[str, typer.Argument(help="The agent (agenthub agents list).")],
    prompt: Annotated[str, typer.Argument(help="What the agent should do.")],
    task_id: Annotated[
        str | None, typer.Option("--id", help="Your id for the task (a rerun attaches).")
    ] = None,
    detach: Annotated[bool, typer.Option("--detach", help="Start it and return.")] = False,
    tenant: TenantOption = "default",
    task_queue: TaskQueueOption = None,
    config: ConfigOption = None,
) -> None:
    """Start an agent task and show its steps, tool calls, approvals and usage live, then
    its answer. Ctrl-C detaches: the task goes on (agenthub tasks watch ID)."""
    settings = settings_from(task_queue=task_queue, config=config)

    async def main(stop: asyncio.Event) -> int:
        tasks = await _tasks(settings, tenant, check_agents=True)
        started = await tasks.start(
            agent, prompt, task_id=task_id or f"{agent}-{uuid.uuid4().hex[:8]}",
            requested_by=settings.effective_identity,
        )  # fmt: skip
        task = started.task
        verb = "started" if started.created else "attached to"
        console.print(f"{verb} task [bold]{task.task_id}[/] ({agent})")
        if task.web_url:
            console.print(f"web UI: {task.web_url}", highlight=False)
        return await _follow_unless(detach, tasks, task, stop)

    code = run(main)
    if code:
        raise typer.Exit(code)


async def _follow_unless(detach: bool, tasks: Any, task: Any, stop: asyncio.Event) -> int:
    """Follow the task started (see :func:`_follow`), or say how to, with ``--detach``."""
    if detach:
        console.print(f"watch it: agenthub tasks watch {task.task_id}")
        return 0
    return await _follow(tasks, task.task_id, task.kind, stop)


def chat(
    agent: Annotated[str, typer.Argument(help="The agent to talk to.")],
    session: Annotated[
        str | None, typer.Option("--session", help="Resume this session id.")
    ] = None,
    tenant: TenantOption = "default",
    task_queue: TaskQueueOption = None,
    config: ConfigOption = None,
) -> None:
    """Talk to an agent in a durable session: each line you type is a message; an empty
    line or Ctrl-D ends (the session stays: resume it with --session)."""
    settings = settings_from(task_queue=task_queue, config=config)
    session_id = session or f"{agent}-{uuid.uuid4().hex[:8]}"

    async def main(stop: asyncio.Event) -> None:
        tasks = await _tasks(settings, tenant, check_agents=True)
        console.print(f"session [bold]{session_id}[/] with {agent}; empty line to end")
        if session:
            try:
                earlier = await tasks.history(session_id)
            except TaskNotFound:
                earlier = []  # a new session under the id given
            for turn in earlier:
                console.print(f"[dim]{turn.role}: {escape(turn.text)}[/]", highlight=False)
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                text = await loop.run_in_executor(None, input, "you> ")
            except EOFError:
                break
            if not text.strip():
                break
            with console.status("thinking ..."):
                reply = await tasks.send(session_id, agent, text)
            console.print(f"[bold]{agent}>[/] {escape(str(reply.output))}", highlight=False)
        console.print(f"resume: agenthub chat {agent} --session {session_id}")

    run(main)


@tasks_app.command("list")
def list_tasks(
    status: Annotated[
        str | None, typer.Option("--status", help="Only these: running, succeeded, failed, ...")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 20,
    tenant: TenantOption = "default",
    as_json: JsonOption = False,
) -> None:
    """The tenant's tasks, newest first."""
    settings = settings_from()

    async def main(stop: asyncio.Event) -> list[Any]:
        tasks = await _tasks(settings, tenant)
        found: list[Any] = await tasks.list_tasks(limit=limit, status=status)
        return found

    found = run(main)
    if as_json or not is_terminal():
        typer.echo(json.dumps(to_jsonable_python(found)))
        return
    table = Table(title=f"tasks of tenant {tenant}")
    for column in ("task", "agent", "status", "started", "goal"):
        table.add_column(column, overflow="fold")
    for t in found:
        started = t.started_at.strftime("%Y-%m-%d %H:%M:%S") if t.started_at else ""
        forked = f" (fork of {t.parent})" if t.parent else ""
        table.add_row(t.task_id, t.agent, t.status, started, t.goal[:60] + forked)
    console.print(table)


@tasks_app.command("show")
def show_task(task_id: str, tenant: TenantOption = "default", as_json: JsonOption = False) -> None:
    """A task's status, step, usage, transcript, and answer or error."""
    settings = settings_from()

    async def main(stop: asyncio.Event) -> Any:
        return await (await _tasks(settings, tenant)).get(task_id)

    view = run(main)
    if as_json or not is_terminal():
        typer.echo(json.dumps(to_jsonable_python(view)))
        return
    console.print(f"[bold]{view.task_id}[/] ({view.agent}) {view.status}, step {view.step}")
    if view.web_url:
        console.print(f"web UI: {view.web_url}", highlight=False)
    for entry in view.transcript:
        _show_event(entry.kind, entry.text, None)
    u = view.usage
    console.print(f"usage: {u.requests} requests, {u.tool_calls} tool calls")
    if view.error:
        console.print(f"[red]error[/]: {escape(view.error)}", highlight=False)


@tasks_app.command("watch")
def watch_task(task_id: str, tenant: TenantOption = "default") -> None:
    """Follow a task's events live from its start (Ctrl-C detaches; the task goes on)."""
    settings = settings_from()

    async def main(stop: asyncio.Event) -> int:
        tasks = await _tasks(settings, tenant)
        view = await tasks.get(task_id)
        if view.web_url:
            console.print(f"web UI: {view.web_url}", highlight=False)
        return await _follow(tasks, task_id, view.kind, stop)

    code = run(main)
    if code:
        raise typer.Exit(code)


@tasks_app.command("cancel")
def cancel_task(task_id: str, tenant: TenantOption = "default") -> None:
    """Cancel a task: its compensated tool calls are undone, newest first."""
    settings = settings_from()

    async def main(stop: asyncio.Event) -> None:
        summary = await (await _tasks(settings, tenant)).cancel(task_id)
        console.print(f"cancelling {summary.task_id}: watch it with agenthub tasks watch {task_id}")

    run(main)


def _write_json(text: str, output: str | None) -> None:
    if output is None or output == "-":
        typer.echo(text)
        return
    from pathlib import Path

    Path(output).write_text(text + "\n", encoding="utf-8")


@tasks_app.command("export")
def export_task(
    task_id: Annotated[str, typer.Argument(help="The task (or, with --session, the session).")],
    output: Annotated[
        str | None, typer.Option("-o", "--output", help="Write it here (default: stdout).")
    ] = None,
    member: Annotated[
        str | None, typer.Option("--member", help="Only this member of a team (its role).")
    ] = None,
    session: Annotated[
        bool, typer.Option("--session", help="TASK_ID is a session: export its turns.")
    ] = False,
    folder: Annotated[
        str | None,
        typer.Option("--dir", help="Write DIR/cassette.json, large payloads beside it."),
    ] = None,
    tenant: TenantOption = "default",
    task_queue: TaskQueueOption = None,
) -> None:
    """Write a task's cassette: goal, agent, every model response, tool call and result,
    approvals, undos and usage, as versioned JSON (agenthub tasks import checks one)."""
    settings = settings_from(task_queue=task_queue)

    async def main(stop: asyncio.Event) -> Any:
        tasks = await _tasks(settings, tenant)
        if session:
            return await tasks.export_session(task_id)
        return await tasks.export(task_id, member=member)

    cassette = run(main)
    if folder is not None:
        from pathlib import Path

        from agenthub.agents.cassette import write_cassette

        output = str(write_cassette(cassette, Path(folder)))
    else:
        _write_json(cassette.model_dump_json(indent=2), output)
    if output not in (None, "-"):
        console.print(
            f"wrote {output}: {cassette.kind} {cassette.task_id}, {len(cassette.steps)} steps, "
            f"{len(cassette.tool_sequence())} tool calls, {len(cassette.members)} members",
            highlight=False,
        )


@tasks_app.command("import")
def import_cassettes(
    files: Annotated[list[str], typer.Argument(help="Cassette files to check.")],
) -> None:
    """Check cassette files against the schema: one line per file, every problem named."""
    from pathlib import Path

    from agenthub.agents.cassette import load_cassette
    from agenthub.errors import InvalidCassette

    bad = 0
    for name in files:
        try:
            cassette = load_cassette(Path(name))
        except InvalidCassette as err:
            bad += 1
            console.print(f"[red]invalid[/] {escape(str(err))}", highlight=False)
            continue
        console.print(
            f"[green]valid[/] {escape(name)}: {cassette.kind} {escape(cassette.task_id)} "
            f"({escape(cassette.agent)}), {len(cassette.steps)} steps, "
            f"{len(cassette.tool_sequence())} tool calls, status {cassette.status}",
            highlight=False,
        )
    if bad:
        raise typer.Exit(1)


@tasks_app.command("fork")
def fork_task(
    source: Annotated[
        str, typer.Argument(help="The task to fork (a session with --turn), or a cassette file.")
    ],
    at: Annotated[int, typer.Option("--at", help="Replay steps 1..AT, then run live.")],
    instructions: Annotated[
        str | None, typer.Option("--instructions", help="New instructions for the fork.")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="Another model string.")] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="Another agent.")] = None,
    member: Annotated[
        str | None, typer.Option("--member", help="Fork this member of a team (its role).")
    ] = None,
    turn: Annotated[
        str | None, typer.Option("--turn", help="Fork this turn of a session (task-N).")
    ] = None,
    task_id: Annotated[str | None, typer.Option("--id", help="Your id for the fork.")] = None,
    redo_undone: Annotated[
        bool,
        typer.Option(
            "--redo-undone",
            help="The original undid that step's calls (it failed): make them again, live.",
        ),
    ] = False,
    detach: Annotated[bool, typer.Option("--detach", help="Start it and return.")] = False,
    tenant: TenantOption = "default",
    task_queue: TaskQueueOption = None,
    config: ConfigOption = None,
) -> None:
    """Start a new task from a task's first AT steps, replayed (no tool runs again; undos of
    their compensated calls carried), then live with the changes given; follow it live."""
    from pathlib import Path

    from agenthub.agents.cassette import load_cassette

    settings = settings_from(config=config, task_queue=task_queue)

    async def main(stop: asyncio.Event) -> int:
        origin: Any = load_cassette(Path(source)) if source.endswith(".json") else source
        tasks = await _tasks(settings, tenant, check_agents=True)
        started = await tasks.fork(
            origin, at=at, member=member, turn=turn, agent=agent, instructions=instructions,
            model=model, task_id=task_id, requested_by=settings.effective_identity,
            redo_undone=redo_undone,
        )  # fmt: skip
        task = started.task
        verb = "forked" if started.created else "attached to"
        console.print(f"{verb} [bold]{task.task_id}[/] from {escape(task.parent)}")
        return await _follow_unless(detach, tasks, task, stop)

    code = run(main)
    if code:
        raise typer.Exit(code)
