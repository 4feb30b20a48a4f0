"""Saga: undo completed steps, newest first, when a later step fails.

Register each undo **before** the step it undoes: a step that times out or crashes halfway
may still have acted, and its undo must run too (so undos must be idempotent activities).

Undos run in reverse order of registration (LIFO), always, also with
``parallel_compensation=True`` (they are *started* newest first and run concurrently).
Each undo is an activity with its own timeout and a retry policy that, by default, retries
with backoff until it succeeds. Compensation is shielded from workflow cancellation: a
cancelled workflow still undoes what it did, then reports itself cancelled.

If undos fail, one :class:`~agenthub.errors.CompensationFailed` lists every failure with its
cause (with ``continue_on_error=True`` every undo is attempted first). A step in flight when
the workflow is cancelled is asked to stop and waited for, so its undo never runs before the
step's effect has landed. Progress is readable
from outside with the query ``agenthub.saga:<name>`` (see :func:`saga_progress`).

Example::

    @workflow.defn
    class BookTrip:
        @workflow.run
        async def run(self, trip: Trip) -> str:
            async with Saga() as saga:
                await saga.step(book_car, trip, compensation=cancel_car)
                await saga.step(book_hotel, trip, compensation=cancel_hotel)
                await saga.step(book_flight, trip, compensation=cancel_flight)
            return "booked"
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from types import TracebackType
from typing import Any, Literal, TypeVar, overload

from temporalio import workflow
from temporalio.client import WorkflowHandle
from temporalio.exceptions import CancelledError
from temporalio.workflow import ActivityCancellationType

from agenthub.errors import CompensationFailed, FailedCompensation, SagaError
from agenthub.patterns import retry
from agenthub.patterns._sdk import activity_name, describe_failure

__all__ = [
    "SAGA_QUERY_PREFIX",
    "CompensationProgress",
    "Saga",
    "SagaProgress",
    "saga_progress",
]

T = TypeVar("T")

SAGA_QUERY_PREFIX = "agenthub.saga:"
"""A saga named ``N`` answers the query ``agenthub.saga:N``."""

_ACTIVITY_OPTIONS = frozenset(workflow.ActivityConfig.__annotations__)
_LOCAL_OPTIONS = frozenset(workflow.LocalActivityConfig.__annotations__)
_DEFAULT_STEP_TIMEOUT = timedelta(minutes=1)
_DEFAULT_UNDO_TIMEOUT = timedelta(minutes=1)

CompensationState = Literal["pending", "running", "done", "failed", "skipped"]
SagaStatus = Literal["running", "completed", "compensating", "compensated", "compensation_failed"]


@dataclass
class CompensationProgress:
    """One registered undo and where it stands."""

    name: str
    """Activity type or function name of the undo."""
    state: CompensationState = "pending"
    """``pending`` until compensation starts; ``skipped`` if an earlier undo stopped it."""
    error: str | None = None
    """The failure, when ``state == "failed"``."""


@dataclass
class SagaProgress:
    """A saga's progress, as returned by its query."""

    name: str
    """The saga's name."""
    status: SagaStatus = "running"
    """Where the saga stands as a whole."""
    steps_done: list[str] = field(default_factory=list)
    """Steps run through :meth:`Saga.step` that completed, in order."""
    compensations: list[CompensationProgress] = field(default_factory=list)
    """Every undo registered, in registration order."""


@dataclass
class _Compensation:
    target: Callable[..., Any] | str
    args: tuple[Any, ...]
    options: dict[str, Any]
    progress: CompensationProgress
    is_activity: bool


def _check_options(options: dict[str, Any], where: str, *, local: bool = False) -> None:
    valid = _LOCAL_OPTIONS if local else _ACTIVITY_OPTIONS
    unknown = sorted(set(options) - valid)
    if unknown:
        kind = "local activity" if local else "activity"
        hint = (
            " (a local step cannot heartbeat or name a task queue: make it a regular step "
            "with local=False)"
            if local and set(unknown) & (_ACTIVITY_OPTIONS - _LOCAL_OPTIONS)
            else ""
        )
        raise SagaError(
            f"{where} got unknown {kind} option(s) {', '.join(unknown)}; valid options are "
            f"{', '.join(sorted(valid))}{hint}"
        )


class Saga:
    """Compensations for a sequence of workflow steps; use only in workflow code.

    Args:
        name: names the progress query (``agenthub.saga:<name>``); unique per workflow.
        parallel_compensation: run undos concurrently (started newest first) instead of one
            after another.
        continue_on_error: keep undoing after an undo fails; the error raised at the end lists
            every failure. Parallel compensation always waits for every undo.
        compensation_timeout: default start-to-close timeout of each undo activity.
        compensation_retry_policy: default retry policy of each undo activity
            (:data:`agenthub.patterns.retry.COMPENSATION`: until it succeeds).
        step_timeout: default start-to-close timeout of activities run by :meth:`step`.
        step_retry_policy: default retry policy of activities run by :meth:`step`
            (:data:`agenthub.patterns.retry.DEFAULT`).
        local_steps: run steps as local activities (in the worker that runs the workflow,
            recorded in the workflow's own task: no separate activity task round trips).
            Only for steps that are idempotent, short (seconds, not minutes) and never
            heartbeat; :meth:`step` takes ``local=`` to choose per step. Undos stay regular
            activities with their own retries.

    Raises:
        SagaError: created outside a workflow, or the name is already used in this workflow.
    """

    def __init__(
        self,
        name: str = "saga",
        *,
        parallel_compensation: bool = False,
        continue_on_error: bool = False,
        compensation_timeout: timedelta = _DEFAULT_UNDO_TIMEOUT,
        compensation_retry_policy: Any = None,
        step_timeout: timedelta = _DEFAULT_STEP_TIMEOUT,
        step_retry_policy: Any = None,
        local_steps: bool = False,
    ) -> None:
        if not workflow.in_workflow():
            raise SagaError(
                "Saga can only be used in workflow code (a @workflow.run method or a handler "
                "of a @workflow.defn class); it was created outside a workflow"
            )
        query = SAGA_QUERY_PREFIX + name
        if workflow.get_query_handler(query) is not None:
            raise SagaError(f"a saga named {name!r} already exists in this workflow; pass name=")
        self.name = name
        self.parallel_compensation = parallel_compensation
        self.continue_on_error = continue_on_error
        self.local_steps = local_steps
        self._undo_defaults: dict[str, Any] = {
            "start_to_close_timeout": compensation_timeout,
            "retry_policy": compensation_retry_policy or retry.preset("COMPENSATION"),
        }
        self._step_defaults: dict[str, Any] = {
            "start_to_close_timeout": step_timeout,
            "retry_policy": step_retry_policy or retry.preset("DEFAULT"),
        }
        self._compensations: list[_Compensation] = []
        self._progress = SagaProgress(name=name)
        workflow.set_query_handler(query, self.progress)

    def progress(self) -> SagaProgress:
        """The saga's progress (also served by the ``agenthub.saga:<name>`` query)."""
        return self._progress

    def add_compensation(
        self, compensation: Callable[..., Any] | str, *args: Any, **activity_options: Any
    ) -> None:
        """Register an undo; call it **before** the step it undoes.

        Args:
            compensation: an activity (decorated with ``@activity.defn``) or an activity
                type name, run as an activity; or a plain function or coroutine function,
                called in the workflow (it must be deterministic).
            args: arguments for the undo.
            activity_options: options for ``workflow.execute_activity`` (e.g.
                ``start_to_close_timeout``, ``retry_policy``), overriding the saga's defaults.

        Raises:
            SagaError: the compensation is neither an activity nor a callable, options were
                given for a plain function, or an option name is unknown.
        """
        undo_name = compensation if isinstance(compensation, str) else None
        undo_name = undo_name or activity_name(compensation)
        if undo_name is None and not callable(compensation):
            raise SagaError(
                f"add_compensation expects an activity (a function decorated with "
                f"@activity.defn), an activity type name, or a callable; got "
                f"{compensation!r} of type {type(compensation).__name__}"
            )
        if undo_name is None and activity_options:
            raise SagaError(
                f"activity options were given for {compensation!r}, which is not an activity; "
                "decorate it with @activity.defn or drop the options"
            )
        _check_options(activity_options, "add_compensation")
        name = undo_name or str(getattr(compensation, "__qualname__", repr(compensation)))
        progress = CompensationProgress(name=name)
        self._compensations.append(
            _Compensation(
                target=compensation,
                args=args,
                options={**self._undo_defaults, **activity_options},
                progress=progress,
                is_activity=undo_name is not None,
            )
        )
        self._progress.compensations.append(progress)

    @overload
    async def step(
        self,
        activity: Callable[..., Awaitable[T]],
        *args: Any,
        compensation: Callable[..., Any] | str | None = None,
        compensation_args: Sequence[Any] | None = None,
        compensation_options: dict[str, Any] | None = None,
        local: bool | None = None,
        **activity_options: Any,
    ) -> T: ...

    @overload
    async def step(
        self,
        activity: Callable[..., T],
        *args: Any,
        compensation: Callable[..., Any] | str | None = None,
        compensation_args: Sequence[Any] | None = None,
        compensation_options: dict[str, Any] | None = None,
        local: bool | None = None,
        **activity_options: Any,
    ) -> T: ...

    @overload
    async def step(
        self,
        activity: str,
        *args: Any,
        compensation: Callable[..., Any] | str | None = None,
        compensation_args: Sequence[Any] | None = None,
        compensation_options: dict[str, Any] | None = None,
        local: bool | None = None,
        **activity_options: Any,
    ) -> Any: ...

    async def step(
        self,
        activity: Callable[..., Any] | str,
        *args: Any,
        compensation: Callable[..., Any] | str | None = None,
        compensation_args: Sequence[Any] | None = None,
        compensation_options: dict[str, Any] | None = None,
        local: bool | None = None,
        **activity_options: Any,
    ) -> Any:
        """Register ``compensation`` (if any), then run ``activity`` and return its result.

        The undo gets ``compensation_args``, or the step's own arguments when omitted.
        ``local`` runs the step as a local activity (default: the saga's ``local_steps``).
        """
        if activity_name(activity) is None and not isinstance(activity, str):
            raise SagaError(
                f"step expects an activity (decorated with @activity.defn) or an activity type "
                f"name; got {activity!r}. Call plain functions directly in the workflow."
            )
        local = self.local_steps if local is None else local
        _check_options(activity_options, "step", local=local)
        if compensation is not None:
            undo_args = tuple(args if compensation_args is None else compensation_args)
            self.add_compensation(compensation, *undo_args, **(compensation_options or {}))
        options = {**self._step_defaults, **activity_options}
        # A cancel must not start the undo while the step may still land: the activity is
        # asked to stop and the saga waits for its outcome (an activity that does not
        # heartbeat never hears the request and simply finishes).
        options.setdefault(
            "cancellation_type", ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
        )
        run = workflow.execute_local_activity if local else workflow.execute_activity
        step = asyncio.ensure_future(run(activity, args=list(args), **options))
        try:
            result = await asyncio.shield(step)
        except asyncio.CancelledError:
            if not step.done():
                step.cancel()
            with contextlib.suppress(BaseException):  # landed, failed or cancelled: all settled
                await step
            raise  # the workflow stays cancelled; the saga compensates on the way out
        self._progress.steps_done.append(
            activity if isinstance(activity, str) else activity_name(activity) or "?"
        )
        return result

    async def compensate(self) -> None:
        """Run every registered undo, newest first; shielded from workflow cancellation.

        Raises:
            CompensationFailed: listing each undo that failed.
        """
        task = asyncio.ensure_future(self._compensate())
        cancelled = False
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                # The workflow was cancelled while undoing: finish undoing first.
                if task.done():
                    break
                cancelled = True
        failures = task.result()
        if failures:
            raise CompensationFailed(failures)
        if cancelled:
            raise asyncio.CancelledError()

    async def _compensate(self) -> list[FailedCompensation]:
        self._progress.status = "compensating"
        pending = [c for c in reversed(self._compensations) if c.progress.state == "pending"]
        failures: list[FailedCompensation] = []
        if self.parallel_compensation:
            results = await asyncio.gather(
                *(self._run_one(c) for c in pending), return_exceptions=False
            )
            failures = [f for f in results if f is not None]
        else:
            for index, comp in enumerate(pending):
                failure = await self._run_one(comp)
                if failure is not None:
                    failures.append(failure)
                    if not self.continue_on_error:
                        for rest in pending[index + 1 :]:
                            rest.progress.state = "skipped"
                        break
        self._progress.status = "compensation_failed" if failures else "compensated"
        return failures

    async def _run_one(self, comp: _Compensation) -> FailedCompensation | None:
        comp.progress.state = "running"
        try:
            if comp.is_activity:
                await workflow.execute_activity(
                    comp.target,
                    args=list(comp.args),
                    **comp.options,
                )
            else:
                assert callable(comp.target)
                outcome = comp.target(*comp.args)
                if inspect.isawaitable(outcome):
                    await outcome
        except (Exception, CancelledError) as err:
            error_type, message = describe_failure(err)
            comp.progress.state = "failed"
            comp.progress.error = f"{error_type}: {message}"
            workflow.logger.warning(
                "saga %s: undo %s failed: %s", self.name, comp.progress.name, err
            )
            return FailedCompensation(comp.progress.name, error_type, message)
        comp.progress.state = "done"
        return None

    async def __aenter__(self) -> Saga:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self._progress.status = "completed"
            return
        try:
            await self.compensate()
        except CompensationFailed as failed:
            _type, message = describe_failure(exc)
            raise CompensationFailed(failed.failures, original=f"{_type}: {message}") from exc
        except asyncio.CancelledError:
            if not isinstance(exc, asyncio.CancelledError):
                raise
        # Returning None re-raises the original exception (including cancellation).


async def saga_progress(handle: WorkflowHandle[Any, Any], name: str = "saga") -> SagaProgress:
    """Read a running (or closed) workflow's saga progress from outside.

    Example::

        progress = await saga_progress(client.get_workflow_handle("trip-42"))
        print(progress.status, [c.state for c in progress.compensations])
    """
    progress: SagaProgress = await handle.query(SAGA_QUERY_PREFIX + name, result_type=SagaProgress)
    return progress
