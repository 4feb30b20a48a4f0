"""``agenthub eval``: run recorded tasks (cassettes) against an agent as it is now."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.markup import escape
from rich.table import Table

from agenthub.cli._common import console, fail, run, settings_from

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``eval`` to ``app``."""
    app.command(name="eval")(evaluate_cases)


def evaluate_cases(
    cases: Annotated[list[Path], typer.Argument(help="Cassette files (agenthub tasks export).")],
    agent: Annotated[str, typer.Option("--agent", help="The agent to evaluate.")],
    model: Annotated[str | None, typer.Option("--model", help="Another model string.")] = None,
    instructions: Annotated[
        Path | None, typer.Option("--instructions", help="A file of new instructions.")
    ] = None,
    live_tools: Annotated[
        bool,
        typer.Option(
            "--live-tools",
            help="Run tool calls the recording does not have, for real (default: the case fails).",
        ),
    ] = False,
    answer: Annotated[
        str, typer.Option("--answer", help="How answers are checked: equals, contains or any.")
    ] = "equals",
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=64)] = 4,
    report: Annotated[Path, typer.Option("--report", help="Where the JSON report goes.")] = Path(
        "eval-report.json"
    ),
    apps: Annotated[
        list[str] | None, typer.Option("--app", help="A module with your agents (pkg.module).")
    ] = None,
    config: Annotated[str | None, typer.Option("--config", help="The agents file.")] = None,
) -> None:
    """Run each cassette's goal against AGENT on the embedded server, tools answered from
    the recording, and score it: answer and tool-call sequence against the original. Prints
    a table, writes a report; exit 1 when a case regresses."""
    from agenthub.agents.cassette import load_cassette

    if answer not in ("equals", "contains", "any"):
        fail(f"--answer {answer!r} is not one of equals, contains, any")
    if model is not None:
        from agenthub.agents.spec import check_model_name
        from agenthub.errors import ConfigurationError

        try:
            check_model_name(model)
        except ConfigurationError as err:
            fail(err)
    settings = settings_from(config=config)
    told = None
    if instructions is not None:
        try:
            told = instructions.read_text(encoding="utf-8")
        except OSError as err:
            fail(f"--instructions {instructions}: {err.strerror}")

    async def main(stop: asyncio.Event) -> Any:
        loaded = {}
        for path in cases:
            name = path.stem if path.stem not in loaded else str(path)
            loaded[name] = load_cassette(path)
        return await _evaluate(settings, loaded, agent, told, model, live_tools,
                               answer, concurrency, apps or [])  # fmt: skip

    result = run(main)
    _print(result)
    report.write_text(json.dumps(asdict(result), indent=2, default=str) + "\n", encoding="utf-8")
    console.print(f"{result.passed} of {len(result.cases)} passed", highlight=False)
    console.print(f"report: {report}", highlight=False, soft_wrap=True)
    if result.regressed:
        raise typer.Exit(1)


async def _evaluate(
    settings: Any,
    cases: dict[str, Any],
    agent: str,
    instructions: str | None,
    model: str | None,
    live_tools: bool,
    answer: Literal["equals", "contains", "any"] | str,
    concurrency: int,
    apps: list[str],
) -> Any:
    from rich.progress import Progress

    from agenthub.agents.evaluate import evaluate
    from agenthub.agents.registry import agent_specs
    from agenthub.errors import UnknownAgent
    from agenthub.patterns.fanout import fan_out_progress
    from agenthub.runtime.connect import connect
    from agenthub.runtime.server import EmbeddedServer
    from agenthub.runtime.worker import build_worker, load_apps
    from agenthub.service import load_agents_file

    found = load_apps(apps)
    hub = load_agents_file(settings)
    if hub is not None:
        found.plugins.append(hub.plugin(settings))
    if agent not in agent_specs():
        raise UnknownAgent(
            f"no agent {agent!r} in {', '.join(apps) or 'the agents file'} (known: "
            f"{sorted(agent_specs())}): name it in agenthub.toml, --config or --app"
        )
    queue = f"agenthub-eval-{uuid.uuid4().hex[:8]}"  # its own: no other worker polls it
    evaluation_id = f"{queue}/run"
    async with EmbeddedServer(settings) as server:
        client = await connect(settings, target_host=server.address, plugins=found.plugins)
        worker = build_worker(client, settings, workflows=found.workflows,
                              activities=found.activities, task_queue=queue)  # fmt: skip
        async with worker:
            running = asyncio.ensure_future(evaluate(
                client, cases, agent=agent, task_queue=queue, instructions=instructions,
                model=model, live_tools=live_tools, answer_check=answer,  # type: ignore[arg-type]
                max_concurrency=concurrency, evaluation_id=evaluation_id,
            ))  # fmt: skip
            with Progress(console=console, transient=True) as progress:
                bar = progress.add_task(f"{len(cases)} cases", total=len(cases))
                while not running.done():
                    await asyncio.wait([running], timeout=0.5)
                    try:
                        now = await fan_out_progress(client, evaluation_id)
                    except Exception:  # not started yet, or done
                        continue
                    progress.update(bar, completed=now.done + now.failed)
            return await running


def _mark(changed: bool) -> str:
    return "[yellow]changed[/]" if changed else "same"


def _print(report: Any) -> None:
    table = Table(title=f"{report.agent}: {report.passed} of {len(report.cases)} passed")
    for header in ("case", "passed", "answer", "tool calls", "requests (was)", "why"):
        table.add_column(header, overflow="fold")
    for case in report.cases:
        table.add_row(
            escape(case.name),
            "[green]yes[/]" if case.passed else "[red]no[/]",
            _mark(case.answer_changed),
            _mark(case.tool_calls_changed),
            f"{case.usage.requests} ({case.original_usage.requests})",
            escape("; ".join(case.reasons))[:200],
        )
    console.print(table)
