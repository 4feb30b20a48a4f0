"""Cassettes: an agent task's whole story as one versioned JSON document, to keep, to fork
from and to evaluate against.

A cassette holds the goal, the agent as it was (instructions, model, tools with their
signatures, a digest), every model request and response in order (pydantic-ai messages),
every tool call with its arguments and result, the approvals and their decisions, the undos
of compensated calls, and usage; a team's cassette holds its members' too. Payloads that
travelled by reference are inlined. ``cassette.schema.json`` (in this package) is its JSON
Schema; :func:`load_cassette` checks a file and names every problem.

A **step** is one model response of the task, with the tool calls it asked for and their
results. :func:`fork_point` cuts a cassette after a step: the conversation so far (nothing
of it runs again), the undos of its compensated calls (carried: a failure after the fork
undoes them once, under the original's ledger keys) and its usage.

Example::

    cassette = await tasks.export("trip-42")
    Path("trip-42.json").write_text(cassette.model_dump_json(indent=2))
    forked = await tasks.fork(cassette, at=2, instructions="Prefer trains.")
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agenthub.agents.task import (
    AgentUsage,
    ForkPoint,
    RecordedCall,
    TaskRecord,
    ToolReplay,
)
from agenthub.agents.tools import arguments_digest
from agenthub.agents.undo import UndoCall
from agenthub.errors import ForkRefused, InvalidCassette

__all__ = [
    "CASSETTE_FORMAT",
    "CASSETTE_VERSION",
    "Cassette",
    "CassetteStep",
    "CassetteToolCall",
    "cassette_from_record",
    "cassette_schema",
    "fork_point",
    "load_cassette",
    "tool_calls_of",
    "tool_replay",
    "total_usage",
    "write_cassette",
]

CASSETTE_FORMAT: Literal["agenthub.cassette"] = "agenthub.cassette"
CASSETTE_VERSION: Literal[1] = 1
"""Raised when the document changes in a way older readers cannot read."""

SCHEMA_FILE = "cassette.schema.json"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CassetteToolCall(_Strict):
    """One tool call of a step: what the model asked, and what came back."""

    tool: str
    tool_call_id: str
    arguments: Any = None
    result: Any = None
    error: str | None = None
    """The retry prompt the model got instead of a result (a tool error, bad arguments)."""
    finished: bool = True
    """``False``: the call had no result yet when the cassette was made."""


class CassetteStep(_Strict):
    """One model response of the task (1-based ``step``) and its tool calls."""

    step: int = Field(ge=1)
    text: str = ""
    tool_calls: list[CassetteToolCall] = Field(default_factory=list)
    model_name: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0


class CassetteApproval(_Strict):
    approval_id: str
    tool: str
    tool_call_id: str
    step: int
    decision: Literal["waiting", "approved", "denied", "timed_out"]
    by: str = ""
    reason: str = ""


class CassetteUndo(_Strict):
    """The undo of a compensated call (``origin``: its ledger key in the task that made it)."""

    agent: str
    tool: str
    arguments: dict[str, Any]
    tool_call_id: str = ""
    origin: str = ""
    step: int = 0
    undone: bool = False
    """It ran: the task failed or was cancelled, and this call's effect was undone."""


class CassetteUsage(_Strict):
    requests: int = 0
    tool_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


class CassetteParent(_Strict):
    task_id: str
    step: int


class Cassette(_Strict):
    """An exported task (see the module docstring)."""

    format: Literal["agenthub.cassette"] = CASSETTE_FORMAT
    version: Literal[1] = CASSETTE_VERSION
    kind: Literal["agent", "team", "member", "turn", "session"] = "agent"
    """``agent`` (a task), ``team`` (its members in ``members``), ``member`` (one of a
    team's), ``session`` (its turns in ``members``) or ``turn`` (a session's turn)."""
    task_id: str
    workflow_id: str
    agent: str
    """The agent (or, for a team, the team)."""
    role: str = ""
    """A member's role in its team."""
    goal: str
    status: str
    output: Any = None
    error: str | None = None
    agent_spec: dict[str, Any] = Field(default_factory=dict)
    """``name``, ``instructions``, ``model``, ``tools`` (name, signature, side_effect,
    compensated, requires_approval), ``mcp_servers`` and ``digest``."""
    usage: CassetteUsage = Field(default_factory=CassetteUsage)
    history_base: int = Field(default=0, ge=0)
    """Messages that came before the task (a session's earlier turns)."""
    messages: list[dict[str, Any]] = Field(default_factory=list)
    """Every message of the conversation, in order (pydantic-ai's JSON form)."""
    steps: list[CassetteStep] = Field(default_factory=list)
    approvals: list[CassetteApproval] = Field(default_factory=list)
    undos: list[CassetteUndo] = Field(default_factory=list)
    parent: CassetteParent | None = None
    """The task this one was forked from, and at which step."""
    members: list[Cassette] = Field(default_factory=list)
    exported_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @field_validator("messages")
    @classmethod
    def _pydantic_ai_messages(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from pydantic_ai.messages import ModelMessagesTypeAdapter

        ModelMessagesTypeAdapter.validate_python(value)
        return value

    def tool_sequence(self) -> list[str]:
        """The tools the task called, in order."""
        return [call.tool for step in self.steps for call in step.tool_calls]


def _arguments(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError:
            return raw
    return raw


def tool_calls_of(messages: list[dict[str, Any]]) -> list[str]:
    """The tools the model asked for in ``messages`` (pydantic-ai's JSON form), in order."""
    return [
        str(part.get("tool_name"))
        for message in messages
        if message.get("kind") == "response"
        for part in message.get("parts", [])
        if part.get("part_kind") == "tool-call"
    ]


def total_usage(cassettes: list[Cassette]) -> CassetteUsage:
    """The usage of several cassettes together (a team's members, a session's turns)."""
    return CassetteUsage(
        requests=sum(c.usage.requests for c in cassettes),
        tool_calls=sum(c.usage.tool_calls for c in cassettes),
        input_tokens=sum(c.usage.input_tokens for c in cassettes),
        output_tokens=sum(c.usage.output_tokens for c in cassettes),
    )


def steps_of(messages: list[dict[str, Any]], base: int) -> list[CassetteStep]:
    """The task's steps from its messages (those from ``base`` on)."""
    steps: list[CassetteStep] = []
    for i in range(base, len(messages)):
        message = messages[i]
        if message.get("kind") != "response":
            continue
        after = messages[i + 1] if i + 1 < len(messages) else None
        answers = {
            p.get("tool_call_id"): p
            for p in (after or {}).get("parts", [])
            if p.get("part_kind") in ("tool-return", "retry-prompt")
        }
        calls: list[CassetteToolCall] = []
        text = ""
        for part in message.get("parts", []):
            if part.get("part_kind") == "text":
                text += part.get("content", "")
            elif part.get("part_kind") == "tool-call":
                answer = answers.get(part.get("tool_call_id"))
                retry = answer is not None and answer.get("part_kind") == "retry-prompt"
                error = answer.get("content") if retry and answer is not None else None
                calls.append(
                    CassetteToolCall(
                        tool=part.get("tool_name", ""),
                        tool_call_id=part.get("tool_call_id", ""),
                        arguments=_arguments(part.get("args")),
                        result=None if answer is None or retry else answer.get("content"),
                        error=error if isinstance(error, str) or error is None else str(error),
                        finished=answer is not None,
                    )
                )
        usage = message.get("usage") or {}
        steps.append(
            CassetteStep(
                step=len(steps) + 1, text=text, tool_calls=calls,
                model_name=message.get("model_name"),
                input_tokens=int(usage.get("input_tokens") or 0),
                output_tokens=int(usage.get("output_tokens") or 0),
            )
        )  # fmt: skip
    return steps


def cassette_from_record(
    record: TaskRecord,
    *,
    task_id: str,
    workflow_id: str,
    status: str,
    output: Any = None,
    error: str | None = None,
    kind: Literal["agent", "member", "turn"] = "agent",
    role: str = "",
) -> Cassette:
    """A cassette of one agent task from its record (``AGENT_RECORD_QUERY``)."""
    usage = record.usage
    return Cassette(
        kind=kind, task_id=task_id, workflow_id=workflow_id, agent=record.agent, role=role,
        goal=record.goal, status=status, output=output, error=error,
        agent_spec=record.agent_spec,
        usage=CassetteUsage(
            requests=usage.requests, tool_calls=usage.tool_calls,
            input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
        ),
        history_base=record.history_base,
        messages=record.messages,
        steps=steps_of(record.messages, record.history_base),
        approvals=[CassetteApproval(**asdict(a)) for a in record.approvals],
        undos=[CassetteUndo(**asdict(u), undone=u.origin in record.undone) for u in record.undos],
        parent=CassetteParent(**record.fork) if record.fork else None,
    )  # fmt: skip


PAYLOAD_REF = "$agenthub_payload"
"""The key of a part content stored beside the cassette (:func:`write_cassette`)."""


def write_cassette(cassette: Cassette, folder: Path, *, inline_limit: int = 256 * 1024) -> Path:
    """Write ``cassette`` as ``<folder>/cassette.json``, each text (a tool result, a
    message part's content, an output) larger than ``inline_limit`` bytes stored beside it
    once, in ``payloads/<sha256>.json``, and referenced by
    ``{"$agenthub_payload": "payloads/<sha256>.json"}``; :func:`load_cassette` puts them back
    (and checks their digests)."""
    import hashlib

    folder.mkdir(parents=True, exist_ok=True)

    def _stored(text: str) -> dict[str, str]:
        digest = hashlib.sha256(text.encode()).hexdigest()
        (folder / "payloads").mkdir(exist_ok=True)
        (folder / "payloads" / f"{digest}.json").write_text(text, encoding="utf-8")
        return {PAYLOAD_REF: f"payloads/{digest}.json"}

    def store_strings(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: store_strings(v) for k, v in value.items()}
        if isinstance(value, list):
            return [store_strings(v) for v in value]
        if isinstance(value, str) and len(value.encode()) > inline_limit:
            return _stored(json.dumps(value, ensure_ascii=False))
        return value

    data = store_strings(cassette.model_dump(mode="json"))
    target = folder / "cassette.json"
    target.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target


def _inline_payloads(value: Any, base: Path, problems: list[str], where: str = "") -> Any:
    """``value`` with the payloads :func:`write_cassette` stored beside it put back."""
    import hashlib

    if isinstance(value, list):
        return [_inline_payloads(v, base, problems, f"{where}{i}.") for i, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    if set(value) != {PAYLOAD_REF}:
        return {k: _inline_payloads(v, base, problems, f"{where}{k}.") for k, v in value.items()}
    place, ref = where.rstrip("."), str(value[PAYLOAD_REF])
    path = (base / ref).resolve()
    if base.resolve() not in path.parents:
        problems.append(f"{place}: {ref!r} is outside the cassette's folder")
        return value
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        problems.append(f"{place}: {ref} cannot be read ({err.strerror})")
        return value
    if hashlib.sha256(text.encode()).hexdigest() != path.stem:
        problems.append(f"{place}: {ref} does not match its digest (changed?)")
        return value
    return json.loads(text)


def load_cassette(source: str | Path, *, name: str | None = None) -> Cassette:
    """A cassette from a file (a path) or from its JSON text.

    Raises:
        InvalidCassette: not JSON, or not a cassette: every problem, each with its place.
    """
    if isinstance(source, Path):
        label = name or str(source)
        try:
            text = source.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise InvalidCassette(label, [f"cannot be read: {err}"]) from None
    else:
        label, text = name or "the cassette", source
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidCassette(label, [f"not JSON: {err}"]) from None
    if isinstance(source, Path):
        missing: list[str] = []
        data = _inline_payloads(data, source.parent, missing)
        if missing:
            raise InvalidCassette(label, missing)
    if isinstance(data, dict) and data.get("format") == CASSETTE_FORMAT:
        version = data.get("version")
        if version != CASSETTE_VERSION:
            raise InvalidCassette(
                label,
                [f"version: {version!r} is not known to this agenthub (it reads version "
                 f"{CASSETTE_VERSION}): export it again, or upgrade agenthub"],
            )  # fmt: skip
    try:
        return Cassette.model_validate(data)
    except ValidationError as err:
        problems = [
            f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}"
            for e in err.errors(include_url=False)
        ]
        raise InvalidCassette(label, problems) from None


def schema_document() -> dict[str, Any]:
    """The JSON Schema of :class:`Cassette` as generated now (the shipped file must equal it;
    regenerate with ``python -m agenthub.agents.cassette``)."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            **Cassette.model_json_schema()}  # fmt: skip


def cassette_schema() -> dict[str, Any]:
    """The JSON Schema of a cassette, as shipped in the package (``cassette.schema.json``)."""
    text = resources.files("agenthub.agents").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def fork_point(cassette: Cassette, step: int, *, redo_undone: bool = False) -> ForkPoint:
    """Cut ``cassette`` after ``step``: what a fork starts from (see the module docstring).

    When the original undid some of the replayed calls (it failed or was cancelled), their
    effects are gone: the fork is refused unless ``redo_undone``, and then only at the step
    that made them, whose calls the fork makes again, live, as its own (its other steps
    stay replayed).

    Raises:
        ForkRefused: the step is out of range, is the task's answer, has not finished, or
            rests on undone calls (see above).
    """
    steps = cassette.steps
    if cassette.kind in ("team", "session"):
        raise ForkRefused(
            f"{cassette.task_id!r} is a {cassette.kind}: fork one of its "
            f"{'members' if cassette.kind == 'team' else 'turns'} "
            f"({', '.join(m.role for m in cassette.members) or 'none yet'})"
        )
    if not 1 <= step <= len(steps):
        raise ForkRefused(
            f"task {cassette.task_id!r} has {len(steps)} step(s); fork at 1-{len(steps)}"
            if steps
            else f"task {cassette.task_id!r} has no step yet: nothing to fork from"
        )
    at = steps[step - 1]
    if not at.tool_calls:
        raise ForkRefused(
            f"step {step} of {cassette.task_id!r} is its answer (no tool call): fork at an "
            f"earlier step (1-{step - 1}) to change what follows"
            if step > 1
            else f"step 1 of {cassette.task_id!r} is its answer: start a new task instead"
        )
    if not all(call.finished for call in at.tool_calls):
        raise ForkRefused(
            f"step {step} of {cassette.task_id!r} has not finished (a tool call has no result "
            "yet): fork at an earlier step, or once it finished"
        )
    undone = [u for u in cassette.undos if u.step <= step and u.undone]
    said = ", ".join(f"{u.tool}({_brief(u.arguments)})" for u in undone)
    if undone and not redo_undone:
        raise ForkRefused(
            f"the original undid {said} (it failed or was cancelled): a fork after step {step} "
            "would rest on effects that no longer exist. Fork with redo_undone "
            "(--redo-undone) to make that step's calls again, live, as the fork's own"
        )
    earlier = sorted({u.step for u in undone if u.step < step})
    if earlier:
        raise ForkRefused(
            f"the original undid calls of step {earlier[0]} ({said}): fork at step "
            f"{earlier[0]} with redo_undone to make them again, then go on from there"
        )
    redo = bool(undone)
    responses = [
        i
        for i, m in enumerate(cassette.messages)
        if i >= cassette.history_base and m.get("kind") == "response"
    ]
    # The response and the request with its tool results; when the step's calls are made
    # again, the response alone (pydantic-ai then runs its calls first).
    cut = responses[step - 1] + (1 if redo else 2)
    replayed = steps[:step]
    acted = steps[: step - 1] if redo else replayed
    usage = AgentUsage(
        requests=step,
        tool_calls=sum(len(s.tool_calls) for s in acted),
        input_tokens=sum(s.input_tokens for s in replayed),
        output_tokens=sum(s.output_tokens for s in replayed),
    )
    last = step - 1 if redo else step
    return ForkPoint(
        parent=cassette.task_id,
        step=step,
        messages=cassette.messages[:cut],
        undos=[
            UndoCall(**u.model_dump(exclude={"undone"})) for u in cassette.undos if u.step <= last
        ],
        usage=usage,
        tools=sorted({call.tool for s in replayed for call in s.tool_calls}),
        history_base=cassette.history_base,
        undone=[f"{u.tool}({_brief(u.arguments)})" for u in undone],
    )


def _brief(arguments: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
    return text if len(text) <= 80 else text[:79] + "…"


def tool_replay(cassette: Cassette, *, live_tools: bool = False) -> ToolReplay:
    """The cassette's tool calls as recordings for an evaluation (see
    :class:`~agenthub.agents.task.ToolReplay`)."""
    calls = [
        RecordedCall(
            tool=call.tool,
            arguments_digest=arguments_digest(
                call.arguments if isinstance(call.arguments, dict) else {}
            ),
            result=call.result,
            error=call.error,
        )
        for step in cassette.steps
        for call in step.tool_calls
        if call.finished
    ]
    return ToolReplay(calls, live_tools=live_tools)


if __name__ == "__main__":  # regenerate the shipped schema
    target = Path(__file__).with_name(SCHEMA_FILE)
    target.write_text(json.dumps(schema_document(), indent=2, sort_keys=True) + "\n")
