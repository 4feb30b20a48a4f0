"""``agenthub lint`` and ``agenthub replay``: determinism safety for workflow code."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from agenthub.cli._common import console, fail, is_terminal, run, settings_from
from agenthub.runtime.connect import connect
from agenthub.runtime.worker import load_apps
from agenthub.service import load_agents_file


def register(app: typer.Typer) -> None:
    """Add ``lint`` and ``replay`` to ``app``."""
    app.command()(lint)
    app.command()(replay)


def lint(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories to check.")],
    output_format: Annotated[
        str, typer.Option("--format", help="text or json.", case_sensitive=False)
    ] = "text",
) -> None:
    """Find non-deterministic code in workflows (exit 1 on findings, 2 on unreadable input)."""
    from agenthub.determinism.lint import LintError, lint_paths

    if output_format not in ("text", "json"):
        fail(f"--format must be text or json, not {output_format!r}", code=2)
    try:
        findings = lint_paths(paths)
    except LintError as err:
        fail(err, code=2)
    if output_format == "json":
        typer.echo(json.dumps([f.to_dict() for f in findings], indent=1))
    else:
        for finding in findings:
            typer.echo(finding.format())
        console.print(f"{len(findings)} finding(s)" if findings else "no findings")
    raise typer.Exit(1 if findings else 0)


def replay(
    workflows: Annotated[
        list[str] | None,
        typer.Option(
            "--workflows",
            "-w",
            help="Current workflow code: pkg.module or pkg.module:Class (agent tasks need "
            "none: the agents file's agents replay them).",
        ),
    ] = None,
    files: Annotated[
        list[Path] | None, typer.Option("--file", "-f", help="JSON history files or directories.")
    ] = None,
    workflow_ids: Annotated[
        list[str] | None, typer.Option("--workflow-id", help="Fetch this workflow's history.")
    ] = None,
    query: Annotated[
        str | None, typer.Option("--query", "-q", help="Fetch histories matching this query.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many histories from --query.")] = 100,
    save_dir: Annotated[
        Path | None, typer.Option(help="Also save fetched histories here (e.g. tests/histories).")
    ] = None,
    in_sandbox: Annotated[
        bool,
        typer.Option(
            "--in-sandbox/--as-deployed",
            help="Replay workflows that run outside the sandbox inside it, where its "
            "restrictions check them (default); or each as it is deployed.",
        ),
    ] = True,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="The agents file (agent tasks replay against its agents) [AGENTHUB_CONFIG; "
            "default: agenthub.toml beside the data dir].",
        ),
    ] = None,
) -> None:
    """Replay histories against the current code; exit 1 if any would break.

    Histories of workflow types not given with --workflows are listed as skipped. Agent
    tasks, sessions and teams replay against the agents of the agents file as they are now.
    """
    from agenthub.determinism.replay import (
        fetch_histories,
        load_history_file,
        replay_histories,
        save_history,
    )

    if not (files or workflow_ids or query):
        fail("give --file, --workflow-id or --query", code=2)
    settings = settings_from(config=config)
    # The agents of agenthub.toml as they are now: agent tasks replay against them.
    hub = load_agents_file(settings)
    if not workflows and hub is None:
        fail("give --workflows (your workflow code) or an agents file (--config)", code=2)

    async def main(stop: asyncio.Event) -> list[Any]:
        classes = load_apps(workflows).workflows if workflows else []
        histories = []
        for path in files or []:
            paths = sorted(path.glob("*.json")) if path.is_dir() else [path]
            histories += [(load_history_file(p), str(p)) for p in paths]
        if workflow_ids or query:
            client = await connect(settings)
            async for history in fetch_histories(
                client, workflow_ids=workflow_ids or [], query=query, limit=limit
            ):
                histories.append((history, "server"))
                if save_dir:
                    save_history(history, save_dir)
        plugins = [hub.plugin(settings)] if hub is not None else []
        return await replay_histories(
            histories, classes, settings=settings, in_sandbox=in_sandbox, plugins=plugins
        )

    reports = run(main)
    if is_terminal():
        from rich.markup import escape
        from rich.table import Table

        table = Table("workflow id", "type", "result", "source")
        for r in reports:
            style = "yellow" if r.skipped else "green" if r.ok else "red"
            verdict = f"[{style}]{escape(r.verdict)}[/]"
            table.add_row(escape(r.workflow_id), escape(r.workflow_type), verdict, r.source)
        Console().print(table)
    else:  # pipes and files: whole values, no colour codes, one history a line
        for r in reports:
            typer.echo(f"{r.workflow_id}\t{r.workflow_type}\t{r.verdict}\t{r.source}")
    broken = sum(not r.ok for r in reports)
    skipped = sum(r.skipped for r in reports)
    console.print(f"{len(reports)} histories: {broken} would break, {skipped} skipped")
    raise typer.Exit(1 if broken else 0)
