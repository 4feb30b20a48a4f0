"""Replay recorded histories against the current workflow code, before a deploy.

A history replays cleanly when the current code issues the same commands in the same order;
otherwise the SDK's :class:`~temporalio.worker.Replayer` reports non-determinism, which in
production would leave those workflows stuck. Histories come from a server (by workflow id
or a visibility query) or from JSON files (``temporal workflow show --output json`` or
:func:`save_history`).

Example::

    reports = await replay_history_files(Path("tests/histories").glob("*.json"), [Order])
    broken = [r for r in reports if not r.ok]
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

from agenthub.errors import ConfigurationError
from agenthub.runtime.worker import PACKAGE_WORKFLOWS, sandboxed_runner

__all__ = [
    "ReplayReport",
    "fetch_histories",
    "load_history_file",
    "replay_histories",
    "replay_history_files",
    "save_history",
]


@dataclass(frozen=True)
class ReplayReport:
    """The outcome of replaying one history."""

    workflow_id: str
    """Workflow id of the history."""
    workflow_type: str
    """Workflow type name from the history."""
    ok: bool
    """True when the current code replays the history without error."""
    error: str | None = None
    """Why replay failed (a non-determinism error names the mismatching command)."""
    source: str = ""
    """Where the history came from (a file path, or ``server``)."""


def _workflow_type(history: WorkflowHistory) -> str:
    for event in history.events:
        if event.HasField("workflow_execution_started_event_attributes"):
            return event.workflow_execution_started_event_attributes.workflow_type.name
    return "?"


async def replay_histories(
    histories: Iterable[tuple[WorkflowHistory, str]],
    workflows: Sequence[type],
    *,
    data_converter: DataConverter = pydantic_data_converter,
) -> list[ReplayReport]:
    """Replay each ``(history, source)`` against ``workflows`` (plus agenthub's own)."""
    replayer = Replayer(
        workflows=[*PACKAGE_WORKFLOWS, *workflows],
        data_converter=data_converter,
        workflow_runner=sandboxed_runner(),
    )
    reports = []
    for history, source in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        failure = result.replay_failure
        reports.append(
            ReplayReport(
                workflow_id=history.workflow_id,
                workflow_type=_workflow_type(history),
                ok=failure is None,
                error=None if failure is None else f"{type(failure).__name__}: {failure}",
                source=source,
            )
        )
    return reports


def load_history_file(path: Path) -> WorkflowHistory:
    """Read a JSON history (the format of ``temporal workflow show --output json``).

    Raises:
        ConfigurationError: the file is missing or is not a history.
    """
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, ValueError) as err:
        raise ConfigurationError(f"{path}: not a readable JSON history: {err}") from None
    workflow_id = data.get("workflowId") or data.get("workflow_id") or path.stem
    try:
        return WorkflowHistory.from_json(workflow_id, data)
    except Exception as err:
        raise ConfigurationError(f"{path}: not a workflow history: {err}") from None


async def replay_history_files(
    paths: Iterable[Path], workflows: Sequence[type], **kwargs: DataConverter
) -> list[ReplayReport]:
    """Replay JSON history files; see :func:`replay_histories`."""
    histories = [(load_history_file(p), str(p)) for p in sorted(paths)]
    return await replay_histories(histories, workflows, **kwargs)


async def fetch_histories(
    client: Client,
    *,
    workflow_ids: Sequence[str] = (),
    query: str | None = None,
    limit: int = 100,
) -> AsyncIterator[WorkflowHistory]:
    """Histories of the given workflow ids and of up to ``limit`` matches of ``query``."""
    for workflow_id in workflow_ids:
        yield await client.get_workflow_handle(workflow_id).fetch_history()
    if query is not None:
        async for history in client.list_workflows(query, limit=limit).map_histories():
            yield history


def save_history(history: WorkflowHistory, directory: Path) -> Path:
    """Write a history as JSON into ``directory`` (for ``tests/histories/``); returns the path."""
    directory.mkdir(parents=True, exist_ok=True)
    data = json.loads(history.to_json())
    data["workflowId"] = history.workflow_id
    name = re.sub(r"[^A-Za-z0-9._-]", "_", f"{_workflow_type(history)}-{history.workflow_id}")
    path = directory / f"{name}.json"
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path
