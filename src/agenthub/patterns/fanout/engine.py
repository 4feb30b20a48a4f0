"""The fan-out engine (workflow side): bounded lanes, batches as child workflows, progress."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
)

from agenthub.errors import ConfigurationError, FanOutFailed, InvalidInput
from agenthub.patterns import retry
from agenthub.patterns._sdk import workflow_name
from agenthub.patterns.fanout.items import ItemPages, ItemRange, activity_type_name
from agenthub.patterns.fanout.policy import (
    FailFast,
    FailurePolicy,
    ItemFailure,
    Tolerate,
    item_failure,
)
from agenthub.patterns.fanout.reduce import Reduce, combiner, fold, merge

__all__ = [
    "FANOUT_QUERY",
    "ActivityOptions",
    "FanOutBatch",
    "FanOutJob",
    "FanOutProgress",
    "FanOutResult",
    "fan_out",
]

FANOUT_QUERY = "agenthub.fanout"
"""Query name of a fan-out's progress (:class:`FanOutProgress`)."""

_MAX_LISTED_FAILURES = 100


@dataclass
class FanOutResult:
    """The fan-in: the reduced value, counts, and the first failures."""

    value: Any
    """The reduction (a list for ``collect``, a number for ``count``/``sum`` ...)."""
    succeeded: int = 0
    failed: int = 0
    failures: list[ItemFailure] = field(default_factory=list)
    """Up to 100 failures, lowest index first."""


@dataclass
class FanOutProgress:
    """Where a fan-out stands."""

    total: int
    done: int = 0
    failed: int = 0
    running_children: list[str] = field(default_factory=list)
    """Workflow ids of the child workflows in flight (hierarchical mode), whose items are
    not yet in ``done``/``failed``; :func:`fan_out_progress` adds theirs in."""


@dataclass
class ActivityOptions:
    """Timeouts and retries of each item's activity, in JSON-native fields.

    Seconds rather than ``timedelta``, so a :class:`FanOutJob` reaches its children through
    any payload converter, the SDK's default JSON one included.
    """

    start_to_close_seconds: float
    heartbeat_seconds: float | None = None
    retry_initial_seconds: float = 1.0
    retry_backoff: float = 2.0
    retry_maximum_seconds: float | None = None
    retry_maximum_attempts: int = 0
    non_retryable_error_types: list[str] | None = None

    @classmethod
    def of(
        cls, start_to_close: timedelta, heartbeat: timedelta | None, policy: RetryPolicy
    ) -> ActivityOptions:
        return cls(
            start_to_close_seconds=start_to_close.total_seconds(),
            heartbeat_seconds=heartbeat.total_seconds() if heartbeat else None,
            retry_initial_seconds=policy.initial_interval.total_seconds(),
            retry_backoff=policy.backoff_coefficient,
            retry_maximum_seconds=(
                policy.maximum_interval.total_seconds() if policy.maximum_interval else None
            ),
            retry_maximum_attempts=policy.maximum_attempts,
            non_retryable_error_types=(
                list(policy.non_retryable_error_types)
                if policy.non_retryable_error_types is not None
                else None
            ),
        )

    def as_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``workflow.execute_activity`` (built once per batch)."""
        seconds = self.retry_maximum_seconds
        return {
            "start_to_close_timeout": timedelta(seconds=self.start_to_close_seconds),
            "heartbeat_timeout": (
                timedelta(seconds=self.heartbeat_seconds) if self.heartbeat_seconds else None
            ),
            "retry_policy": RetryPolicy(
                initial_interval=timedelta(seconds=self.retry_initial_seconds),
                backoff_coefficient=self.retry_backoff,
                maximum_interval=timedelta(seconds=seconds) if seconds is not None else None,
                maximum_attempts=self.retry_maximum_attempts,
                non_retryable_error_types=self.non_retryable_error_types,
            ),
        }


@dataclass
class FanOutJob:
    """Everything a :class:`FanOutBatch` child needs (kept small: items by range or list)."""

    work: str
    """Name of the activity (or, with ``unit="workflow"``, the workflow) run per item."""
    # ItemPages first: the converter tries union members in order, and a range's fields
    # alone cannot make an ItemPages (it needs ``loader``).
    items: ItemPages | ItemRange | list[Any]
    max_concurrency: int
    batch_size: int
    reduce: Reduce
    policy: FailurePolicy
    options: ActivityOptions
    offset: int = 0
    """Index of this job's first item in the whole fan-out."""
    max_concurrent_children: int = 4
    """Child workflows in flight at once (each runs up to ``max_concurrency`` activities)."""
    unit: Literal["activity", "workflow"] = "activity"
    """What runs per item: an activity, or a child workflow."""
    failure_budget: int | None = None
    """Failures this job may pass before it stops: set by the parent for each child (the
    whole fan-out's limit less the failures known when the child starts), so a policy holds
    over the whole fan-out, never per batch. ``None``: from the policy and the item count."""


def _work_name(
    work: Callable[..., Any] | type | str, unit: Literal["activity", "workflow"] | None
) -> tuple[str, Literal["activity", "workflow"]]:
    """The type name of what runs per item, and whether it is an activity or a workflow."""
    if isinstance(work, str):
        return work, unit or "activity"
    name = workflow_name(work)
    if name is not None:
        return name, "workflow"
    expected = "an activity (@activity.defn), a workflow (@workflow.defn) or a name"
    return activity_type_name(work, "fan_out", expected), "activity"


class _Run:
    """One fan-out in one workflow: progress, failure accounting, cancellation."""

    def __init__(self, job: FanOutJob, total: int, call: int = 1) -> None:
        self.job = job
        # The 2nd, 3rd ... fan-out of one workflow names its children apart from the 1st's.
        self.id_suffix = "" if call == 1 else str(call)
        self.progress = FanOutProgress(total=total)
        self.failures: list[ItemFailure] = []
        self.failed = 0
        self.cancelled = 0
        """Items in flight when the policy tripped, cancelled (their outcome is unknown)."""
        self.not_run = 0
        """Items never started because the policy tripped first."""
        # How many failures the policy lets pass before it stops the fan-out.
        if job.failure_budget is not None:
            self.limit = job.failure_budget
        elif isinstance(job.policy, FailFast):
            self.limit = 0
        elif isinstance(job.policy, Tolerate):
            self.limit = job.policy.limit(total)
        else:
            self.limit = total

    def record_failures(self, failures: Sequence[ItemFailure], count: int) -> None:
        self.failed += count
        self.progress.failed += count
        self.failures = sorted([*self.failures, *failures], key=lambda f: f.index)[
            :_MAX_LISTED_FAILURES
        ]

    @property
    def tripped(self) -> bool:
        """The policy's limit is passed: the fan-out stops."""
        return self.failed > self.limit

    def budget_left(self) -> int:
        """Failures a child started now may pass: what the limit has not used yet."""
        return max(0, self.limit - self.failed)

    def error(self) -> ApplicationError:
        assert self.tripped and self.failures
        t = self.failures[0]  # the lowest index known to have failed, by the end
        summary = {
            "succeeded": self.progress.done,
            "failed": self.failed,
            "cancelled": self.cancelled,
            "not_run": self.not_run,
            "failures": [
                {"index": f.index, "error_type": f.error_type, "message": f.message}
                for f in self.failures
            ],
        }
        return FanOutFailed(
            f"fan-out stopped: {self.failed} item(s) failed (policy {self.job.policy.kind}, "
            f"limit {self.limit}), {self.cancelled} cancelled in flight, {self.not_run} not "
            f"run, {self.progress.done} succeeded; first: item {t.index}: {t.error_type}: "
            f"{t.message}",
            summary,
        )


def _child_summary(err: BaseException) -> dict[str, Any] | None:
    """The counts a child fan-out reported when its share of the budget ran out."""
    cause = err.cause if isinstance(err, ChildWorkflowError) else None
    if isinstance(cause, ApplicationError) and cause.type == FanOutFailed.__name__:
        details = cause.details[0] if cause.details else None
        if isinstance(details, dict) and "failures" in details:
            return details
    return None


async def _bounded(
    run: _Run,
    count: int,
    start_one: Callable[[int], Any],
    on_done: Callable[[int, Any], None],
    concurrency: int,
) -> tuple[set[int], int]:
    """Run ``start_one(i)`` for i in range(count) in order, at most max_concurrency at once.

    A pool of lanes pulls the next index (O(n) work, whatever the size); once the policy
    trips, lanes stop pulling and the ones in flight are cancelled. Cancelling the workflow
    cancels every lane, and so every activity or child in flight. Returns the indexes that
    were cancelled in flight and the first index never started.
    """
    next_index = 0
    in_flight: set[int] = set()
    lanes: list[asyncio.Task[None]] = []

    async def lane() -> None:
        nonlocal next_index
        while not run.tripped and next_index < count:
            i = next_index
            next_index += 1
            in_flight.add(i)
            try:
                outcome = await start_one(i)
            except (ActivityError, ChildWorkflowError) as err:
                if run.tripped and isinstance(err.cause, CancelledError):
                    return  # cancelled because the policy tripped: it stays "in flight"
                outcome = err
            in_flight.discard(i)
            on_done(i, outcome)
            if run.tripped:
                for other in lanes:
                    if other is not asyncio.current_task():
                        other.cancel()

    lanes.extend(asyncio.ensure_future(lane()) for _ in range(min(concurrency, count)))
    try:
        await workflow.wait(lanes)
    except asyncio.CancelledError:
        # The workflow was cancelled: cancel every lane and wait until each child and
        # activity in flight has really been cancelled, so none outlives the fan-out.
        for task in lanes:
            task.cancel()
        await workflow.wait(lanes)
        raise
    for task in lanes:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    return in_flight, next_index


async def _load_page(job: FanOutJob, pages: ItemPages) -> list[Any]:
    """This batch's items from the loader activity (same timeouts and retries as an item)."""
    page = await workflow.execute_activity(
        pages.loader, args=[pages.start, pages.stop], **job.options.as_kwargs()
    )
    if not isinstance(page, list) or len(page) != len(pages):
        got = f"{len(page)} items" if isinstance(page, list) else type(page).__name__
        raise InvalidInput(
            f"loader {pages.loader!r} returned {got} for items {pages.start}..{pages.stop - 1}; "
            f"it must return a list of exactly {len(pages)} (one per index)"
        )
    return page


async def _run_flat(job: FanOutJob, run: _Run) -> FanOutResult:
    items = job.items
    count = len(items)
    values: list[tuple[int, Any]] = []
    if isinstance(items, ItemPages):
        try:
            items = await _load_page(job, items)
        except (ActivityError, ApplicationError) as err:
            # The batch cannot be read: all its items fail, with the loader's error.
            run.record_failures([item_failure(job.offset, err)], count)
            if run.tripped:
                raise run.error() from None
            return FanOutResult(fold(job.reduce, []), 0, run.failed, run.failures)

    info = workflow.info()
    options = job.options.as_kwargs()

    def start(i: int) -> Any:
        arg = items.start + i if isinstance(items, ItemRange) else items[i]
        if job.unit == "workflow":
            # The id names the item, so a retried or replayed start is the same child.
            return workflow.execute_child_workflow(
                job.work, arg, id=f"{info.workflow_id}/item{run.id_suffix}-{job.offset + i}",
                task_queue=info.task_queue,
            )  # fmt: skip
        return workflow.execute_activity(job.work, arg, **options)

    def done(i: int, outcome: Any) -> None:
        if isinstance(outcome, BaseException):
            run.record_failures([item_failure(job.offset + i, outcome)], 1)
        else:
            values.append((i, outcome))
            run.progress.done += 1

    cancelled, started = await _bounded(run, count, start, done, job.max_concurrency)
    if run.tripped:
        run.cancelled, run.not_run = len(cancelled), count - started
        raise run.error()
    return FanOutResult(
        value=fold(job.reduce, values),
        succeeded=len(values),
        failed=run.failed,
        failures=run.failures,
    )


def _split(job: FanOutJob) -> list[FanOutJob]:
    """Cut a job into at most ``batch_size`` children of equal size (each may split again)."""
    count = len(job.items)
    per_child = job.batch_size
    while math.ceil(count / per_child) > job.batch_size:
        per_child *= job.batch_size
    children = []
    for lo in range(0, count, per_child):
        hi = min(lo + per_child, count)
        items: ItemPages | ItemRange | list[Any]
        if isinstance(job.items, ItemRange):
            items = ItemRange(job.items.start + lo, job.items.start + hi)
        elif isinstance(job.items, ItemPages):
            items = ItemPages(job.items.loader, job.items.start + lo, job.items.start + hi)
        else:
            items = job.items[lo:hi]
        children.append(FanOutJob(**{**job.__dict__, "items": items, "offset": job.offset + lo}))
    return children


async def _run_hierarchical(job: FanOutJob, run: _Run) -> FanOutResult:
    children = _split(job)
    parts: list[tuple[int, Any]] = []
    info = workflow.info()

    def child_id(i: int) -> str:
        return f"{info.workflow_id}/fanout{run.id_suffix}-{children[i].offset}"

    def start(i: int) -> Any:
        run.progress.running_children.append(child_id(i))
        # The child may pass only what the whole fan-out's limit has left.
        child = dataclasses.replace(children[i], failure_budget=run.budget_left())
        return workflow.execute_child_workflow(
            FanOutBatch.run, child, id=child_id(i), task_queue=info.task_queue
        )

    def done(i: int, outcome: Any) -> None:
        run.progress.running_children.remove(child_id(i))
        if isinstance(outcome, BaseException):
            summary = _child_summary(outcome)
            if summary is None:
                # The child failed as a whole (not by policy): its items did not complete.
                failure = item_failure(children[i].offset, outcome)
                run.record_failures([failure], len(children[i].items))
                return
            # Its share of the budget ran out: take its real counts and failed items.
            run.progress.done += int(summary["succeeded"])
            run.cancelled += int(summary["cancelled"])
            run.not_run += int(summary["not_run"])
            failures = [ItemFailure(**f) for f in summary["failures"]]
            run.record_failures(failures, int(summary["failed"]))
            return
        result: FanOutResult = outcome
        parts.append((i, result.value))
        run.progress.done += result.succeeded
        if result.failed:
            run.record_failures(result.failures, result.failed)

    # Few children at a time, each with many activities: a child's workflow task then takes
    # many completions at once. 100 children of 100 activities each ran at a quarter of the
    # speed of 4 children (one completion per workflow task).
    cancelled, started = await _bounded(
        run, len(children), start, done, job.max_concurrent_children
    )
    if run.tripped:
        run.cancelled += sum(len(children[i].items) for i in cancelled)
        run.not_run += sum(len(c.items) for c in children[started:])
        raise run.error()
    return FanOutResult(
        value=merge(job.reduce, parts),
        succeeded=run.progress.done,
        failed=run.failed,
        failures=run.failures,
    )


async def _execute(job: FanOutJob) -> FanOutResult:
    # Count the fan-outs of this workflow (in turn or at once) on the workflow instance:
    # module state would be shared by every workflow of the worker.
    instance = workflow.instance()
    call = getattr(instance, "_agenthub_fan_out_calls", 0) + 1
    setattr(instance, "_agenthub_fan_out_calls", call)  # noqa: B010
    run = _Run(job, len(job.items), call)
    workflow.set_query_handler(FANOUT_QUERY, lambda: run.progress)  # the latest fan-out's
    if len(job.items) > job.batch_size:
        return await _run_hierarchical(job, run)
    return await _run_flat(job, run)


async def fan_out(
    work: Callable[..., Any] | type | str,
    items: Sequence[Any] | ItemRange | ItemPages,
    *,
    unit: Literal["activity", "workflow"] | None = None,
    max_concurrency: int = 100,
    reduce: Reduce = Reduce("collect"),
    failures: FailurePolicy = FailFast(),
    batch_size: int = 1000,
    max_concurrent_children: int = 4,
    start_to_close_timeout: timedelta = timedelta(minutes=1),
    retry_policy: RetryPolicy | None = None,
    heartbeat_timeout: timedelta | None = None,
) -> FanOutResult:
    """Run ``work`` once per item; see the module docstring.

    Args:
        work: an activity (decorated with ``@activity.defn``), a workflow (its
            ``@workflow.defn`` class or run method: each item runs as a child workflow with
            id ``<parent id>/item-<index>``), or a name; it gets one item (or one index, for
            an :class:`ItemRange`).
        items: the items, an :class:`ItemRange` or :class:`ItemPages`.
        unit: ``"activity"`` or ``"workflow"``; needed only when ``work`` is a workflow's
            name (a name is an activity's otherwise).
        max_concurrency: activities (or item workflows) in flight at once in each workflow.
        reduce: how results are folded (:class:`Reduce`; own combiners via :func:`reducer`).
        failures: :class:`FailFast` (default), :class:`CollectErrors` or :class:`Tolerate`.
        batch_size: the most items one workflow runs itself; more go to child workflows.
        max_concurrent_children: child workflows in flight at once in each workflow.
        start_to_close_timeout, retry_policy, heartbeat_timeout: per activity
            (retry default :data:`agenthub.patterns.retry.DEFAULT`); item workflows
            retry inside, through their own activities.

    Raises:
        ConfigurationError: bad arguments (neither activity nor workflow, sizes < 1).
        FanOutFailed: (an ``ApplicationError``) when the failure policy trips; the message
            names the first failed item and its cause, the details list the failures.
    """
    name, unit = _work_name(work, unit)
    if reduce.kind == "custom":
        combiner(reduce)  # an unknown name fails here, before anything runs
    if max_concurrency < 1 or batch_size < 2 or max_concurrent_children < 1:
        raise ConfigurationError(
            "fan_out needs max_concurrency >= 1, max_concurrent_children >= 1, batch_size >= 2"
        )
    job = FanOutJob(
        work=name,
        unit=unit,
        items=items if isinstance(items, (ItemRange, ItemPages)) else list(items),
        max_concurrency=max_concurrency,
        batch_size=batch_size,
        reduce=reduce,
        policy=failures,
        options=ActivityOptions.of(
            start_to_close_timeout, heartbeat_timeout, retry_policy or retry.preset("DEFAULT")
        ),
        max_concurrent_children=max_concurrent_children,
    )
    return await _execute(job)


@workflow.defn(name="agenthub.FanOutBatch")
class FanOutBatch:
    """A child workflow running one slice of a hierarchical fan-out."""

    @workflow.run
    async def run(self, job: FanOutJob) -> FanOutResult:
        return await _execute(job)
