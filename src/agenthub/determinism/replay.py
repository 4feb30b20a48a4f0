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
from typing import Any

from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

from agenthub.errors import ConfigurationError
from agenthub.patterns._sdk import workflow_name
from agenthub.runtime.plugin import AgentHubPlugin
from agenthub.runtime.sandbox import sandboxed_runner
from agenthub.runtime.settings import Settings

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
    """True when the current code replays the history without error (or it was skipped)."""
    error: str | None = None
    """Why replay failed (a non-determinism error names the mismatching command)."""
    source: str = ""
    """Where the history came from (a file path, or ``server``)."""
    skipped: bool = False
    """The history's workflow type was not among the loaded workflows, so it was not run."""

    @property
    def verdict(self) -> str:
        """``ok``, ``skipped (type not loaded)`` or ``breaks: <one-line reason>``."""
        if self.skipped:
            return "skipped (type not loaded)"
        return "ok" if self.ok else f"breaks: {self.error}"


def _workflow_type(history: WorkflowHistory) -> str:
    for event in history.events:
        if event.HasField("workflow_execution_started_event_attributes"):
            return event.workflow_execution_started_event_attributes.workflow_type.name
    return "?"


_DUMPED_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')
_DUMPED_TYPE = re.compile(r'r#type: "([^"]*)"')


def _one_line(failure: BaseException) -> str:
    """The first line of a replay failure, without the SDK's ``Failure {...}`` dump; when
    the workflow code raised (a failed activation), that exception's type and first line."""
    full = str(failure).strip()
    message, kind = _DUMPED_MESSAGE.search(full), _DUMPED_TYPE.search(full)
    if "activation completion failed" in full and message and kind and kind.group(1):
        inner = message.group(1).replace('\\"', '"').split(". ", 1)[0]
        return f"{kind.group(1)}: {inner}"
    text = full
    for marker in (" Failure {", "\nFailure {"):
        text = text.split(marker, 1)[0]
    first = text.splitlines()[0] if text else ""
    return f"{type(failure).__name__}: {first}".rstrip(": ")


_RESTRICTED = "RestrictedWorkflowAccessError"


def _is_sandboxed(cls: type) -> bool:
    definition = getattr(cls, "__temporal_workflow_definition", None)
    return definition is None or bool(definition.sandboxed)


def _type_names(workflows: Sequence[type]) -> set[str]:
    names = set()
    for cls in workflows:
        name = workflow_name(cls)
        if name is None:
            raise ConfigurationError(
                f"{cls!r} is not a workflow class: was it decorated with @workflow.defn?"
            )
        names.add(name)
    return names


async def replay_histories(
    histories: Iterable[tuple[WorkflowHistory, str]],
    workflows: Sequence[type],
    *,
    settings: Settings | None = None,
    data_converter: DataConverter | None = None,
    in_sandbox: bool = True,
    plugins: Sequence[Any] = (),
) -> list[ReplayReport]:
    """Replay each ``(history, source)`` against ``workflows`` (plus agenthub's own, and
    those of ``plugins``: an ``AgentsPlugin`` replays agent tasks with the agents as they are
    now).

    The replayer carries :class:`~agenthub.runtime.plugin.AgentHubPlugin`, so payloads decode
    with the same converter as on the workers. Histories of other workflow types are reported
    as skipped rather than as failures.

    With ``in_sandbox`` (the default), workflows that run outside the sandbox
    (``@workflow.defn(sandboxed=False)``) replay inside it: the sandbox's restrictions then
    check what the opt-out skips at run time, such as a clock read in a helper module that
    ``agenthub lint`` does not see.
    """
    plugin = AgentHubPlugin(settings or Settings.from_env())
    options: dict[str, Any] = {}
    if data_converter is not None:
        options["data_converter"] = data_converter
    if in_sandbox:
        options["unsandboxed_workflow_runner"] = sandboxed_runner()
    replayer = Replayer(workflows=list(workflows), plugins=[plugin, *plugins], **options)
    loaded = replayer.config(active_config=True).get("workflows", ())
    known = _type_names(loaded)
    opted_out = {workflow_name(cls) for cls in loaded if not _is_sandboxed(cls)}
    reports = []
    for history, source in histories:
        workflow_type = _workflow_type(history)
        if workflow_type not in known:
            reports.append(
                ReplayReport(history.workflow_id, workflow_type, True, None, source, True)
            )
            continue
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        failure = result.replay_failure
        error = None if failure is None else _one_line(failure)
        if error and in_sandbox and workflow_type in opted_out and _RESTRICTED in str(failure):
            error = (
                f"{error} (this workflow runs outside the sandbox, so this call is not refused "
                "when it runs; make it deterministic, or keep the sandbox)"
            )
        reports.append(
            ReplayReport(
                workflow_id=history.workflow_id,
                workflow_type=workflow_type,
                ok=failure is None,
                error=error,
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
    except (OSError, ValueError, RecursionError) as err:
        raise ConfigurationError(f"{path}: not a readable JSON history: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise ConfigurationError(
            f"{path}: not a workflow history (expected a JSON object with an 'events' list, "
            "as `temporal workflow show --output json` writes)"
        )
    workflow_id = data.get("workflowId") or data.get("workflow_id") or path.stem
    try:
        return WorkflowHistory.from_json(workflow_id, data)
    except Exception as err:
        raise ConfigurationError(f"{path}: not a workflow history: {err}") from None


async def replay_history_files(
    paths: Iterable[Path], workflows: Sequence[type], **kwargs: Any
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
