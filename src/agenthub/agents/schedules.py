"""Agents that start on a schedule, on Temporal's own Schedules (no timer loop of ours).

Each ``[schedules.NAME]`` of ``agenthub.toml`` is a Temporal schedule with id
``hub/<tenant>/schedule/<NAME>`` whose action starts an ordinary hub task (listed, watched
and cancelled like any other) with task id ``schedule.<NAME>-<fire time>``: the server starts
one workflow per fire time, so a fire never runs twice. ``up`` and ``worker`` create or
update the file's schedules on start (idempotent); a schedule that left the file is paused,
with a note saying so, never deleted behind anyone's back.

Example::

    schedules = HubSchedules(client, tenant="acme", task_queue="agenthub")
    await schedules.trigger("morning-report")
    for view in await schedules.list():
        print(view.name, view.paused, view.next_fires)
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from temporalio.api.common.v1 import Payload
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from agenthub.agents.hub import check_id, task_workflow_id
from agenthub.agents.task import TASK_MEMO, AgentTaskRequest, ScheduledGoal
from agenthub.agents.team import TeamRequest
from agenthub.errors import ConfigurationError, ScheduleNotFound

__all__ = ["HubSchedules", "ScheduleSpecConfig", "ScheduleView", "schedule_id", "sync_schedules"]

Overlap = Literal["skip", "buffer_one", "cancel_previous", "allow_all"]
_OVERLAP = {
    "skip": ScheduleOverlapPolicy.SKIP,
    "buffer_one": ScheduleOverlapPolicy.BUFFER_ONE,
    "cancel_previous": ScheduleOverlapPolicy.CANCEL_OTHER,
    "allow_all": ScheduleOverlapPolicy.ALLOW_ALL,
}
_HUB_SCHEDULE = re.compile(r"hub/[^/]+/schedule/[^/]+")
REMOVED_NOTE = "removed from agenthub.toml: paused, not deleted"
"""The note of a schedule that left the file (``agenthub schedules list`` shows it)."""


def schedule_id(tenant: str, name: str) -> str:
    """The Temporal schedule id of schedule ``name`` of ``tenant``."""
    return f"hub/{tenant}/schedule/{name}"


@dataclass(frozen=True)
class ScheduleSpecConfig:
    """One ``[schedules.NAME]``: start ``agent`` (or a team) on ``goal`` by ``cron`` or
    ``every``. ``goal`` may use ``{{ fire_time }}``, ``{{ date }}`` (in ``timezone``) and
    ``{{ schedule }}``."""

    name: str
    agent: str
    goal: str
    cron: str = ""
    every: timedelta | None = None
    timezone: str = "UTC"
    overlap: Overlap = "skip"
    catchup_window: timedelta = timedelta(minutes=10)
    """Fires missed while the server was down are still run if no older than this."""
    jitter: timedelta = timedelta(0)
    paused: bool = False
    """Paused when created (a pause by a person is kept across restarts)."""
    tenant: str = "default"


@dataclass
class ScheduleView:
    """A schedule as ``agenthub schedules list`` and ``GET /schedules`` show it."""

    name: str
    tenant: str
    agent: str
    goal: str
    when: str
    """``cron 0 7 * * *`` or ``every 0:15:00``, with its time zone."""
    paused: bool
    note: str = ""
    overlap: str = ""
    next_fires: list[datetime] = field(default_factory=list)
    fires: int = 0
    skipped: int = 0
    """Fires skipped by the overlap policy."""
    recent: list[str] = field(default_factory=list)
    """Task ids of the latest fires, oldest first."""


def _task_id(name: str) -> str:
    # The server appends "-<fire time>": schedule.report-2026-12-03T07:00:00Z
    return f"schedule.{name}"


def _digest(spec: ScheduleSpecConfig, task_queue: str, team: bool) -> str:
    return hashlib.sha256(repr((spec, task_queue, team)).encode()).hexdigest()[:16]


def _schedule(spec: ScheduleSpecConfig, *, task_queue: str, team: bool) -> Schedule:
    scheduled = ScheduledGoal(spec.name, spec.timezone)
    memo = {
        TASK_MEMO: {
            "agent": spec.agent, "goal": spec.goal[:500], "tenant": spec.tenant,
            "by": f"schedule:{spec.name}", "team": team,
            "config": _digest(spec, task_queue, team), "when": _spec_when(spec),
        }
    }  # fmt: skip
    request: Any = (
        TeamRequest(spec.agent, spec.goal, scheduled)
        if team
        else AgentTaskRequest(spec.agent, spec.goal, scheduled=scheduled)
    )
    action = ScheduleActionStartWorkflow(
        "agenthub.Team" if team else "agenthub.AgentTask",
        request,
        id=task_workflow_id(spec.tenant, _task_id(spec.name)),
        task_queue=task_queue,
        memo=memo,
    )
    when = ScheduleSpec(
        cron_expressions=[spec.cron] if spec.cron else [],
        intervals=[ScheduleIntervalSpec(every=spec.every)] if spec.every else [],
        time_zone_name=spec.timezone,
        jitter=spec.jitter or None,
    )
    policy = SchedulePolicy(overlap=_OVERLAP[spec.overlap], catchup_window=spec.catchup_window)
    return Schedule(action, when, policy, ScheduleState(paused=spec.paused))


async def sync_schedules(
    client: Client,
    specs: Sequence[ScheduleSpecConfig],
    *,
    task_queue: str,
    teams: Sequence[str] = (),
) -> list[str]:
    """Create or update each schedule of ``specs``; pause the hub's schedules on
    ``task_queue`` that are not among them. Returns one line per change.
    Running it twice changes nothing the second time."""
    lines: list[str] = []
    wanted = {schedule_id(s.tenant, s.name): s for s in specs}
    for sid, spec in wanted.items():
        schedule = _schedule(spec, task_queue=task_queue, team=spec.agent in teams)
        try:
            await client.create_schedule(sid, schedule)
            lines.append(f"schedule {spec.name!r} created ({_spec_when(spec)})")
            continue
        except ScheduleAlreadyRunningError:
            pass
        changed: list[bool] = []
        digest = _digest(spec, task_queue, spec.agent in teams)

        def update(
            current: ScheduleUpdateInput,
            new: Schedule = schedule,
            digest: str = digest,
            changed: list[bool] = changed,
        ) -> ScheduleUpdate | None:
            now = current.description.schedule
            back = now.state.note == REMOVED_NOTE  # it is in the file again
            if _recorded(client, now).get("config") == digest and not back:
                return None
            # A pause a person made (CLI, API) stays; the file only ever adds one.
            new.state.paused = new.state.paused or (now.state.paused and not back)
            new.state.note = "" if back else (now.state.note or "")
            changed.append(True)
            return ScheduleUpdate(schedule=new)

        await client.get_schedule_handle(sid).update(update)
        if changed:
            lines.append(f"schedule {spec.name!r} updated ({_spec_when(spec)})")
    # The file owns every hub schedule that starts tasks on its task queue.
    async for listed in await client.list_schedules():
        if listed.id in wanted or not _HUB_SCHEDULE.fullmatch(listed.id):
            continue
        handle = client.get_schedule_handle(listed.id)
        try:
            description = await handle.describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                continue  # deleted a moment ago: the list catches up on its own
            raise
        action = description.schedule.action
        mine = isinstance(action, ScheduleActionStartWorkflow) and action.task_queue == task_queue
        if not mine or description.schedule.state.note == REMOVED_NOTE:
            continue
        await handle.pause(note=REMOVED_NOTE)
        lines.append(
            f"schedule {listed.id.rsplit('/', 1)[1]!r} is no longer in the file: paused "
            f"(agenthub schedules history, or delete it with the temporal CLI)"
        )
    return lines


def _recorded(client: Client, schedule: Schedule) -> dict[str, Any]:
    """The hub's memo on a described schedule's action (agent, goal, config digest)."""
    action = schedule.action
    memo = action.memo if isinstance(action, ScheduleActionStartWorkflow) else None
    raw = memo.get(TASK_MEMO) if memo else None
    if raw is None:
        return {}
    value = (
        client.data_converter.payload_converter.from_payload(raw)
        if isinstance(raw, Payload)
        else raw
    )
    return value if isinstance(value, dict) else {}


def _spec_when(spec: ScheduleSpecConfig) -> str:
    # Kept in the memo: a described schedule has its cron turned into calendars.
    return f"cron {spec.cron} {spec.timezone}" if spec.cron else f"every {spec.every}"


def _when(schedule: Schedule) -> str:
    spec = schedule.spec
    zone = f" {spec.time_zone_name}" if spec.time_zone_name else ""
    if spec.cron_expressions:
        return f"cron {spec.cron_expressions[0]}{zone}"
    if spec.intervals:
        return f"every {spec.intervals[0].every}"
    return "on demand"


class HubSchedules:
    """The schedules of one tenant: list, pause, unpause, trigger, history.

    Raises (every method naming a schedule):
        ScheduleNotFound: the tenant has no schedule of that name.
    """

    def __init__(self, client: Client, *, tenant: str = "default") -> None:
        self.client = client
        self.tenant = tenant

    def _handle(self, name: str) -> ScheduleHandle:
        return self.client.get_schedule_handle(schedule_id(self.tenant, check_id("schedule", name)))

    async def get(self, name: str) -> ScheduleView:
        """The schedule ``name`` with its next fires and latest tasks."""
        handle = self._handle(name)
        try:
            description = await handle.describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise ScheduleNotFound(
                    f"no schedule {name!r} in tenant {self.tenant!r} (declare it under "
                    f"[schedules.{name}] in agenthub.toml)"
                ) from None
            raise
        schedule, info = description.schedule, description.info
        recorded = _recorded(self.client, schedule)
        prefix = task_workflow_id(self.tenant, "")
        recent = [
            r.action.workflow_id.removeprefix(prefix)
            for r in info.recent_actions
            if isinstance(r.action, ScheduleActionExecutionStartWorkflow)
        ]
        return ScheduleView(
            name=name,
            tenant=self.tenant,
            agent=str(recorded.get("agent", "")),
            goal=str(recorded.get("goal", "")),
            when=str(recorded.get("when", "")) or _when(schedule),
            paused=schedule.state.paused,
            note=schedule.state.note or "",
            overlap=schedule.policy.overlap.name.lower(),
            next_fires=list(info.next_action_times[:5]),
            fires=info.num_actions,
            skipped=info.num_actions_skipped_overlap,
            recent=recent,
        )

    async def list(self) -> list[ScheduleView]:
        """The tenant's schedules, by name."""
        prefix = schedule_id(self.tenant, "")
        names = sorted(
            [s.id.removeprefix(prefix) async for s in await self.client.list_schedules()
             if s.id.startswith(prefix)]
        )  # fmt: skip
        views = []
        for name in names:
            try:
                views.append(await self.get(name))
            except ScheduleNotFound:
                continue  # deleted a moment ago: the list catches up on its own
        return views

    async def pause(self, name: str, note: str = "paused") -> ScheduleView:
        """Stop firing until :meth:`unpause` (a pause survives ``up`` restarts)."""
        await self.get(name)
        await self._handle(name).pause(note=note)
        return await self.get(name)

    async def unpause(self, name: str) -> ScheduleView:
        await self.get(name)
        await self._handle(name).unpause(note="unpaused")
        return await self.get(name)

    async def trigger(self, name: str) -> ScheduleView:
        """Fire now, once (the schedule's overlap policy applies)."""
        await self.get(name)
        await self._handle(name).trigger()
        return await self.get(name)


def check_schedule(spec: ScheduleSpecConfig, where: str) -> None:
    """Refuse a schedule the server would refuse later, naming the key.

    Raises:
        ConfigurationError: neither or both of ``cron`` and ``every``, an unknown time zone.
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if bool(spec.cron) == (spec.every is not None):
        raise ConfigurationError(f'{where}: set exactly one of cron = "..." or every = "..."')
    if spec.every is not None and spec.every < timedelta(seconds=1):
        raise ConfigurationError(f"{where}.every: at least 1s")
    if spec.cron and len(spec.cron.split()) not in (5, 6, 7) and not spec.cron.startswith("@"):
        raise ConfigurationError(
            f"{where}.cron: {spec.cron!r} is not a cron expression (5 fields: minute hour "
            'day-of-month month day-of-week, e.g. "0 7 * * 1-5")'
        )
    try:
        ZoneInfo(spec.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(
            f'{where}.timezone: {spec.timezone!r} is not a time zone (e.g. "Europe/Lisbon")'
        ) from None


def fire_task_id(name: str, fired_at: datetime) -> str:
    """The task id of schedule ``name``'s fire at ``fired_at`` (what the server names it)."""
    return f"{_task_id(name)}-{fired_at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"
