"""A worker process for the double-texting crash tests:
``python -m tests.double_texting_worker ADDRESS TASK_QUEUE DATA_DIR [hold]``.

Its agents are those of ``test_double_texting`` (scripted models, offline). ``book`` has a
side effect and an undo, each a line in ``<DATA_DIR>/effects``. With ``hold``, ``hold``
prints ``HELD`` and never returns: the test SIGKILLs the process there.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client

from agenthub.agents import AgentSpec, AgentsPlugin, tool
from agenthub.runtime import AgentHubPlugin, Settings, build_worker

ADDRESS, TASK_QUEUE, DATA_DIR = sys.argv[1:4]
HOLD = sys.argv[4:] == ["hold"]


def _effect(line: str) -> None:
    with (Path(DATA_DIR) / "effects").open("a") as out:
        out.write(line + "\n")


async def unbook(item: str) -> None:
    _effect(f"unbooked {item}")


@tool(side_effect=True, compensate=unbook)
async def book(item: str) -> str:
    """Book an item (undone by unbook)."""
    _effect(f"booked {item}")
    return f"booked {item}"


@tool(timeout=timedelta(seconds=3))
async def hold() -> str:
    """Take long (in the first worker: forever, until it is killed)."""
    if HOLD:
        print("HELD", flush=True)
        await asyncio.Event().wait()
    return "held"


def _specs() -> list[AgentSpec]:
    from pydantic_ai.models.function import FunctionModel

    from .test_double_texting import _script  # the same scripted model as in-process

    return [
        AgentSpec(
            name=f"dtk-{p}", model=FunctionModel(_script), tools=[book, hold], double_texting=p
        )
        for p in ("enqueue", "reject", "interrupt", "rollback")
    ]


async def main() -> None:
    settings = Settings(data_dir=Path(DATA_DIR), payload_offload="false")
    plugins = [AgentHubPlugin(settings), AgentsPlugin(*_specs(), settings=settings)]
    client = await Client.connect(ADDRESS, plugins=plugins)
    async with build_worker(client, settings, task_queue=TASK_QUEUE):
        print("READY", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
