"""A shared rate limiter for model APIs: a concurrency limit and a tokens-per-minute budget
per provider or key, shared by every agent and worker that names it.

The limiter is one long-lived workflow per name, driven by signals only (the server caps
updates in flight per workflow, so waiters never hold one): before each model request, the
agent task asks for a permit (a local activity signals-with-start the limiter) and waits
durably for the limiter's grant signal, first come first served; after the request it gives
the permit back with the tokens the response used. A permit is a lease: if its holder
never gives it back (the task was terminated), it expires after ``lease``. A 429 with
``Retry-After`` pauses the whole limiter for that long, so 50 agents against a small limit
slow down together instead of failing one by one.

Example::

    openai = LimiterSpec("openai-main", max_concurrent=4, tokens_per_minute=200_000)
    writer = AgentSpec(name="writer", model="openai:gpt-4o-mini", limiter=openai)
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from agenthub.agents._client import worker_client
from agenthub.errors import ConfigurationError

__all__ = [
    "GRANT_SIGNAL",
    "Limiter",
    "LimiterSpec",
    "LimiterStats",
    "limiter_stats",
    "limiter_workflow_id",
]

GRANT_SIGNAL = "agenthub.limiter.grant"
"""Signal the limiter sends a waiting holder: its permit id."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_MAX_HISTORY = 5_000
_SECONDS_IDLE = 3600.0


@dataclass(frozen=True)
class LimiterSpec:
    """A named limit on a model API.

    Args:
        name: the provider or key it guards (agents naming it share it).
        max_concurrent: model requests in flight at once.
        tokens_per_minute: tokens (input + output) granted per rolling minute; ``None``:
            no token budget.
        lease: how long a permit lives if its holder never gives it back.
    """

    name: str
    max_concurrent: int = 4
    tokens_per_minute: int | None = None
    lease: timedelta = timedelta(minutes=10)

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ConfigurationError(f"limiter name {self.name!r}: letters, digits, . _ -")
        if self.max_concurrent < 1:
            raise ConfigurationError("LimiterSpec.max_concurrent must be at least 1")
        if self.tokens_per_minute is not None and self.tokens_per_minute < 1:
            raise ConfigurationError("LimiterSpec.tokens_per_minute must be > 0 or None")
        if self.lease <= timedelta(0):
            raise ConfigurationError("LimiterSpec.lease must be positive")


@dataclass
class LimiterStats:
    """What a limiter holds, and has done."""

    held: int = 0
    waiting: int = 0
    granted: int = 0
    expired: int = 0
    """Permits taken back because their lease ran out (a holder that never returned)."""
    most_held: int = 0
    paused_until: float = 0.0
    """Workflow time (epoch seconds) until which a 429 paused the limiter."""
    tokens_last_minute: int = 0


@dataclass
class PermitAsk:
    permit_id: str
    holder: str
    """Workflow id of the holder, which gets the grant signal."""


@dataclass
class PermitRelease:
    permit_id: str
    tokens: int = 0


@dataclass
class _LimiterState:
    held: dict[str, float] = field(default_factory=dict)  # permit id -> lease end
    waiting: list[PermitAsk] = field(default_factory=list)
    spent: list[tuple[float, int]] = field(default_factory=list)  # (time, tokens)
    paused_until: float = 0.0
    granted: int = 0
    expired: int = 0
    most_held: int = 0


@dataclass
class LimiterStart:
    spec: LimiterSpec
    state: _LimiterState | None = None


def limiter_workflow_id(name: str) -> str:
    """The workflow id of the limiter ``name``."""
    return f"agenthub-limiter:{name}"


@workflow.defn(name="agenthub.Limiter")
class Limiter:
    """See the module docstring."""

    @workflow.init
    def __init__(self, start: LimiterStart) -> None:
        self.spec = start.spec
        self.state = start.state or _LimiterState()
        self.changed = False

    def _now(self) -> float:
        return workflow.now().timestamp()

    def _sweep(self, now: float) -> None:
        expired = [p for p, end in self.state.held.items() if end <= now]
        for permit in expired:
            del self.state.held[permit]
        self.state.expired += len(expired)
        self.state.spent = [(t, n) for t, n in self.state.spent if t > now - 60]

    def _next_wake(self, now: float) -> float:
        """Seconds until something changes on its own: a lease ends, the pause ends, or
        spent tokens leave the rolling minute."""
        moments = [*self.state.held.values(), *(t + 60 for t, _ in self.state.spent)]
        if self.state.paused_until > now:
            moments.append(self.state.paused_until)
        return min([m - now for m in moments if m > now] + [_SECONDS_IDLE])

    def _may_grant(self, now: float) -> bool:
        budget = self.spec.tokens_per_minute
        return (
            bool(self.state.waiting)
            and len(self.state.held) < self.spec.max_concurrent
            and self.state.paused_until <= now
            and (budget is None or sum(n for _, n in self.state.spent) < budget)
        )

    @workflow.run
    async def run(self, start: LimiterStart) -> None:
        while True:
            now = self._now()
            self._sweep(now)
            grants = []
            while self._may_grant(now):
                ask = self.state.waiting.pop(0)
                self.state.held[ask.permit_id] = now + self.spec.lease.total_seconds()
                self.state.granted += 1
                self.state.most_held = max(self.state.most_held, len(self.state.held))
                grants.append(self._grant(ask))
            # All grants of this round go out together, in one workflow task.
            await asyncio.gather(*grants)
            info = workflow.info()
            if info.is_continue_as_new_suggested() or info.get_current_history_length() > (
                _MAX_HISTORY
            ):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(LimiterStart(self.spec, self.state))
            self.changed = False
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self.changed, timeout=self._next_wake(now))

    async def _grant(self, ask: PermitAsk) -> None:
        holder = workflow.get_external_workflow_handle(ask.holder)
        with contextlib.suppress(ApplicationError):  # a holder gone meanwhile
            await holder.signal(GRANT_SIGNAL, ask.permit_id)

    @workflow.signal
    def ask(self, ask: PermitAsk) -> None:
        """Queue for a permit; the grant comes as the holder's ``GRANT_SIGNAL``."""
        if ask.permit_id in self.state.held:
            return  # asked again after a crash: it was granted already
        if all(w.permit_id != ask.permit_id for w in self.state.waiting):
            self.state.waiting.append(ask)
        self.changed = True

    @workflow.signal
    def release(self, release: PermitRelease) -> None:
        """Give a permit back with the tokens its request used."""
        self.state.held.pop(release.permit_id, None)
        self.state.waiting = [w for w in self.state.waiting if w.permit_id != release.permit_id]
        if release.tokens:
            self.state.spent.append((self._now(), release.tokens))
        self.changed = True

    @workflow.signal
    def pause(self, seconds: float) -> None:
        """A 429 asked to wait ``seconds``: no permit is granted before then."""
        self.state.paused_until = max(self.state.paused_until, self._now() + seconds)
        self.changed = True

    @workflow.query
    def stats(self) -> LimiterStats:
        """Permits held and waiting, totals, the pause, tokens spent in the last minute."""
        now = self._now()
        return LimiterStats(
            held=len(self.state.held),
            waiting=len(self.state.waiting),
            granted=self.state.granted,
            expired=self.state.expired,
            most_held=self.state.most_held,
            paused_until=self.state.paused_until,
            tokens_last_minute=sum(n for t, n in self.state.spent if t > now - 60),
        )


@dataclass
class _AskInput:
    spec: LimiterSpec
    ask: PermitAsk


@activity.defn(name="agenthub.limiter.ask")
async def ask_for_permit(request: _AskInput) -> None:
    """Signal-with-start the limiter: it queues the ask (and exists from now on)."""
    await worker_client().start_workflow(
        Limiter.run,
        LimiterStart(request.spec),
        id=limiter_workflow_id(request.spec.name),
        task_queue=activity.info().task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal="ask",
        start_signal_args=[request.ask],
    )


class PermitHolder:
    """Workflow side of a permit: ask, wait for the grant, give it back.

    The holding workflow must route ``GRANT_SIGNAL`` to :meth:`granted_signal` (the agent
    task does).
    """

    def __init__(self) -> None:
        self.granted: set[str] = set()

    def granted_signal(self, permit_id: str) -> None:
        self.granted.add(permit_id)

    async def acquire(self, spec: LimiterSpec, permit_id: str) -> None:
        await workflow.execute_local_activity(
            ask_for_permit,
            _AskInput(spec, PermitAsk(permit_id, workflow.info().workflow_id)),
            start_to_close_timeout=timedelta(seconds=30),
        )
        await workflow.wait_condition(lambda: permit_id in self.granted)

    async def release(self, spec: LimiterSpec, permit_id: str, tokens: int) -> None:
        self.granted.discard(permit_id)
        limiter = workflow.get_external_workflow_handle(limiter_workflow_id(spec.name))
        with contextlib.suppress(ApplicationError):  # a limiter that is gone holds nothing
            await limiter.signal(Limiter.release, PermitRelease(permit_id, tokens))


async def pause_limiter(client: Client, spec: LimiterSpec, seconds: float) -> None:
    """Tell the limiter a request was rate limited (activity code, on a 429)."""
    handle = client.get_workflow_handle(limiter_workflow_id(spec.name))
    await handle.signal(Limiter.pause, seconds)


async def limiter_stats(client: Client, name: str) -> LimiterStats:
    """The limiter ``name``'s :class:`LimiterStats`."""
    stats: LimiterStats = await client.get_workflow_handle(limiter_workflow_id(name)).query(
        Limiter.stats
    )
    return stats


def retry_after_of(error: BaseException) -> float:
    """Seconds a rate-limited model request asked to wait (``next_retry_delay`` of the
    activity's error), or 0."""
    if isinstance(error, ApplicationError) and error.next_retry_delay is not None:
        return error.next_retry_delay.total_seconds()
    return 0.0


def tokens_of(response: Any) -> int:
    """Tokens a model response reports (0 when it says nothing)."""
    usage = getattr(response, "usage", None)
    inputs, outputs = getattr(usage, "input_tokens", 0), getattr(usage, "output_tokens", 0)
    return int(inputs or 0) + int(outputs or 0)
