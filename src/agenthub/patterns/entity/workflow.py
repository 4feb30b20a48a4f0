"""Entity workflows, the workflow side: the base class and the message decorators."""

from __future__ import annotations

import asyncio
import functools
import inspect
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar, Generic, Literal, ParamSpec, TypeVar, overload

from pydantic import TypeAdapter
from temporalio import workflow

from agenthub.errors import ConfigurationError, EntityContinuingAsNew

__all__ = [
    "ENTITY_CONTINUING_ERROR",
    "ENTITY_SIGNAL",
    "Entity",
    "EntityConfig",
    "EntityStart",
    "SignalEnvelope",
    "entity_signal",
    "entity_update",
]

S = TypeVar("S")
R = TypeVar("R")
P = ParamSpec("P")
SignalHandler = TypeVar("SignalHandler", bound=Callable[..., Awaitable[None]])

ENTITY_CONTINUING_ERROR = EntityContinuingAsNew.__name__
"""Error type of a message turned away while the entity moves to a new run (retry it)."""


@dataclass(frozen=True)
class EntityConfig:
    """How an entity manages its history and idleness."""

    max_history_events: int = 10_000
    """Upper bound on one run's history (the server warns at 10,240 and stops at 51,200)."""
    drain_at: float = 0.8
    """Fraction of ``max_history_events`` at which the entity stops taking messages and
    continues as new; the rest is headroom for handlers already in flight."""
    idle_timeout: timedelta | None = None
    """Passivate after this long without a message; ``None`` never does."""
    passivate: Literal["continue", "complete"] = "continue"
    """``continue``: move to a fresh minimal run that keeps the state; ``complete``: finish
    the workflow with the state as its result (the next message starts from
    ``initial_state``)."""
    dedupe_window: int = 1000
    """How many recent message ids (with their results) are remembered, across runs."""

    def __post_init__(self) -> None:
        if self.max_history_events < 100:
            raise ValueError("EntityConfig.max_history_events must be at least 100")
        if not 0.1 <= self.drain_at <= 0.95:
            raise ValueError("EntityConfig.drain_at must be between 0.1 and 0.95")
        if self.dedupe_window < 0:
            raise ValueError("EntityConfig.dedupe_window must be >= 0")


ENTITY_SIGNAL = "agenthub.entity.signal"
"""Name of the signal that carries an entity signal with a message id (see
:class:`SignalEnvelope`); ``EntityClient.signal(..., message_id=...)`` sends it."""


@dataclass
class SignalEnvelope:
    """An ``@entity_signal`` message with its message id, for handlers whose arguments have
    no ``message_id`` of their own."""

    name: str
    """The entity signal's name."""
    message_id: str
    """Deduplicates the message, as an update id does."""
    args: list[Any] = field(default_factory=list)
    """The signal's arguments (decoded with the handler's parameter types)."""


@dataclass
class EntityStart:
    """The input of every run of an entity workflow."""

    entity_id: str
    """The entity's own id (the workflow id is derived from it)."""
    state: Any = None
    """State carried from the previous run; ``None`` starts from ``initial_state``."""
    recent: dict[str, Any] = field(default_factory=dict)
    """Recent message ids and their results, oldest first."""
    runs: int = 1
    """How many runs this entity has had, this one included."""
    passivated: bool = False
    """This run was started because the previous one was idle."""


class Entity(Generic[S]):
    """Base class of entity workflows; see the module docstring for an example.

    Subclasses set :attr:`state_type`, may override :meth:`initial_state` and :attr:`config`,
    define ``@workflow.run async def run(self, start: EntityStart) -> S`` that returns
    ``await self.run_entity(start)``, and mark state-changing updates with
    :func:`entity_update`.
    """

    state_type: ClassVar[type]
    """The state's type (a dataclass or pydantic model): state is rebuilt with it."""
    config: ClassVar[EntityConfig] = EntityConfig()
    """History, idleness and dedupe settings."""

    state: S
    """The entity's current state."""
    entity_id: str
    """The entity's id."""

    def initial_state(self) -> S:
        """State of a new entity; by default ``state_type()``."""
        state_type = getattr(type(self), "state_type", None)
        if state_type is None:
            raise ConfigurationError(
                f"{type(self).__name__} has no state_type; set `state_type = YourState` on "
                "the Entity subclass (or override initial_state)"
            )
        return state_type()  # type: ignore[no-any-return]

    # The attributes below are set by run_entity; handlers may run before it (a message that
    # starts the workflow), so each is also initialised lazily.
    def _entity_init(self) -> None:
        if getattr(self, "_entity_ready", False):
            return
        self._entity_ready = True
        self._entity_lock = asyncio.Lock()
        self._entity_recent: dict[str, Any] = {}
        self._entity_messages = 0
        self._entity_draining = False
        self._entity_rotate = False
        self._entity_started = False
        self.state = self.initial_state()
        self.entity_id = ""

    @workflow.signal(name=ENTITY_SIGNAL)
    async def _entity_signal_with_id(self, envelope: SignalEnvelope) -> None:
        handler = getattr(type(self), _entity_signals(type(self)).get(envelope.name, ""), None)
        apply = getattr(handler, "__agenthub_apply__", None)
        if handler is None or apply is None:
            workflow.logger.warning("entity signal %r with a message id: no such @entity_signal "
                                    "handler; dropped", envelope.name)  # fmt: skip
            return
        hints = _parameter_types(handler)
        args = [
            TypeAdapter(hint).validate_python(value) if hint is not None else value
            for hint, value in zip(hints, envelope.args, strict=False)
        ]
        await apply(self, envelope.message_id, *args)

    def before_continue_as_new(self) -> None:
        """Called once the entity stops taking messages to move to a new run, before it
        waits for handlers in flight: put into :attr:`state` what the next run needs and
        release long waits (e.g. a workflow stream's pollers). Does nothing by default."""

    async def entity_message_waiting(
        self, handler: str, message_id: str | None, *args: Any
    ) -> None:
        """Called when a message (of ``@entity_signal``/``@entity_update`` ``handler``)
        arrives, before it waits its turn behind the message being handled: an entity may
        act on the one in flight (e.g. interrupt it). Not called for a message id already
        answered. Does nothing by default."""

    def request_continue_as_new(self) -> None:
        """Move to a new run as soon as in-flight handlers finish (e.g. after a migration)."""
        self._entity_init()
        self._entity_rotate = True

    @property
    def entity_runs(self) -> int:
        """How many runs this entity has had, this one included."""
        return getattr(self, "_entity_run_count", 1)

    def _entity_should_continue(self) -> bool:
        cfg = type(self).config
        info = workflow.info()
        return (
            self._entity_rotate
            or info.is_continue_as_new_suggested()
            or (info.get_current_history_length() >= cfg.max_history_events * cfg.drain_at)
        )

    async def run_entity(self, start: EntityStart) -> S:
        """The entity's main loop: returns only when passivating with ``complete``."""
        self._entity_init()
        cfg = type(self).config
        self.entity_id = start.entity_id
        self._entity_run_count = start.runs
        if start.state is not None:
            self.state = TypeAdapter(self.state_type).validate_python(start.state)
        self._entity_recent = {**start.recent, **self._entity_recent}
        # Handlers wait for this: the SDK may deliver a message before the run method starts,
        # and it must apply to the carried-over state, not to a fresh one.
        self._entity_started = True
        idle = cfg.idle_timeout.total_seconds() if cfg.idle_timeout else None
        while True:
            seen = self._entity_messages
            try:
                await workflow.wait_condition(
                    lambda seen=seen: (  # type: ignore[misc]
                        self._entity_should_continue() or self._entity_messages != seen
                    ),
                    timeout=idle,
                )
            except TimeoutError:
                if workflow.all_handlers_finished() and self._entity_messages == seen:
                    return await self._entity_passivate(start)
                continue
            if self._entity_should_continue():
                self._entity_draining = True
                self.before_continue_as_new()
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._entity_next(start, passivated=False))

    async def _entity_passivate(self, start: EntityStart) -> S:
        cfg = type(self).config
        if cfg.passivate == "complete":
            return self.state
        self._entity_draining = True
        self.before_continue_as_new()
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._entity_next(start, passivated=True))

    def _entity_next(self, start: EntityStart, *, passivated: bool) -> EntityStart:
        return EntityStart(
            entity_id=self.entity_id,
            state=self.state,
            recent=self._entity_recent,
            runs=start.runs + 1,
            passivated=passivated,
        )

    def _entity_remember(self, message_id: str, result: Any) -> None:
        window = type(self).config.dedupe_window
        if window == 0:
            return
        self._entity_recent[message_id] = result
        while len(self._entity_recent) > window:
            del self._entity_recent[next(iter(self._entity_recent))]


def _message_id(*_args: Any) -> str | None:
    info = workflow.current_update_info()
    return info.id if info else None


def current_message_id() -> str | None:
    """(Workflow code.) The id of the update message being handled (``None`` for a
    signal): what an entity's handler uses to tell messages apart."""
    return _message_id()


def _serialized(
    handler: Callable[..., Awaitable[R]], message_id_of: Callable[..., str | None]
) -> Callable[..., Awaitable[Any]]:
    """Run ``handler`` under the entity's lock, once per message id, after state is restored."""

    @functools.wraps(handler)
    async def serialized(self: Entity[Any], *args: Any) -> Any:
        return await apply(self, message_id_of(*args), *args)

    async def apply(self: Entity[Any], message_id: str | None, *args: Any) -> Any:
        self._entity_init()
        if not self._entity_started:  # fast path: every wait_condition is re-checked per step
            await workflow.wait_condition(lambda: self._entity_started)
        if message_id is None or message_id not in self._entity_recent:
            await self.entity_message_waiting(handler.__name__, message_id, *args)
        async with self._entity_lock:
            if message_id is not None and message_id in self._entity_recent:
                return self._entity_recent[message_id]
            result = await handler(self, *args)
            if message_id is not None:
                self._entity_remember(message_id, result)
            self._entity_messages += 1
            return result

    serialized.__agenthub_apply__ = apply  # type: ignore[attr-defined]
    return serialized


def _entity_signals(cls: type) -> dict[str, str]:
    """Signal name -> attribute name of the ``@entity_signal`` handlers of ``cls``."""
    found: dict[str, str] = {}
    for attr in dir(cls):
        member = getattr(cls, attr, None)
        definition = getattr(member, "__temporal_signal_definition", None)
        if definition is not None and hasattr(member, "__agenthub_apply__"):
            found[str(definition.name)] = attr
    return found


def _parameter_types(handler: Callable[..., Any]) -> list[Any]:
    """The declared types of a handler's parameters after ``self`` (None where missing)."""
    target = inspect.unwrap(handler)
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # unresolvable annotations: pass values as decoded
        hints = {}
    names = list(inspect.signature(target).parameters)[1:]
    return [hints.get(name) for name in names]


def _signal_message_id(*args: Any) -> str | None:
    message_id = getattr(args[0], "message_id", None) if args else None
    return message_id if isinstance(message_id, str) else None


@overload
def entity_signal(fn: SignalHandler, *, name: str | None = None) -> SignalHandler: ...


@overload
def entity_signal(
    fn: None = None, *, name: str | None = None
) -> Callable[[SignalHandler], SignalHandler]: ...


def entity_signal(fn: Any = None, *, name: str | None = None) -> Any:
    """``@workflow.signal`` for entities: serialized with the updates; deduplicated when its
    first argument has a ``message_id`` attribute. Signals are fire-and-forget (no result,
    no validator) and never turned away: the server redelivers a signal that arrives while
    the entity continues as new."""

    def decorate(handler: Callable[..., Awaitable[None]]) -> Any:
        serialized = _serialized(handler, _signal_message_id)
        return workflow.signal(name=name)(serialized) if name else workflow.signal(serialized)

    return decorate(fn) if fn is not None else decorate


@overload
def entity_update(
    fn: Callable[P, Awaitable[R]], *, name: str | None = None
) -> workflow.UpdateMethodMultiParam[P, R]: ...


@overload
def entity_update(
    fn: None = None, *, name: str | None = None
) -> Callable[[Callable[P, Awaitable[R]]], workflow.UpdateMethodMultiParam[P, R]]: ...


def entity_update(fn: Any = None, *, name: str | None = None) -> Any:
    """``@workflow.update`` for entities: serialized, deduplicated, turned away while the
    entity continues as new. Add a validator with ``@<handler>.validator`` as usual."""

    def decorate(handler: Callable[..., Awaitable[R]]) -> Any:
        serialized = _serialized(handler, _message_id)
        update = workflow.update(name=name)(serialized) if name else workflow.update(serialized)
        # The SDK runs validation only for updates that have a validator, so the guard is
        # registered once through its public decorator; a user's validator is chained into it.
        chained: list[Callable[..., None]] = []

        @functools.wraps(handler)  # the SDK checks a validator's parameters against the update
        def guard(self: Entity[Any], *args: Any) -> None:
            self._entity_init()
            # The main loop sets _entity_draining only once it runs; a message delivered in
            # the same activation as request_continue_as_new() is turned away too.
            moving = self._entity_draining or self._entity_rotate
            if moving and _message_id() not in self._entity_recent:
                raise EntityContinuingAsNew(
                    "the entity is moving to a new run; send the message again"
                )
            for user_validator in chained:
                user_validator(self, *args)

        update.validator(guard)

        def validator(user_validator: Callable[..., None]) -> Callable[..., None]:
            if chained:
                raise RuntimeError(f"validator already set for entity update {handler.__name__}")
            chained.append(user_validator)
            return user_validator

        setattr(update, "validator", validator)  # noqa: B010 - chains into the guard
        return update

    return decorate(fn) if fn is not None else decorate
