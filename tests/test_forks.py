"""Cassettes and forks against the dev server: export a task (a team, a session turn), fork
it after a step with other instructions, and count every effect and undo outside agenthub:
no replayed tool runs again, a failure after the fork undoes the original's booking once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from agenthub.agents import HubTasks
from agenthub.agents.cassette import (
    Cassette,
    cassette_schema,
    load_cassette,
    schema_document,
    write_cassette,
)
from agenthub.agents.evaluate import evaluate
from agenthub.errors import ForkRefused, InvalidCassette, InvalidInput, TaskNotFound
from agenthub.patterns.approvals import decide, list_pending
from agenthub.runtime import Settings
from agenthub.testing import eventually, running_worker

from . import fork_agents
from .agent_apps import agents_client
from .conftest import free_port
from .fork_agents import EFFECTS, UNDO_KEYS

ROOT = Path(__file__).resolve().parent.parent


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def hub_tasks(
    dev_server_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[HubTasks]:
    # Offload on: a payload over 256 KiB travels by reference; a cassette inlines it.
    settings = Settings(data_dir=tmp_path_factory.mktemp("forks"), payload_offload="true")
    client = await agents_client(
        dev_server_env, settings, *fork_agents.AGENTS, teams=[fork_agents.TEAM]
    )
    async with running_worker(client) as tq:
        yield HubTasks(
            client, tenant="acme", task_queue=tq,
            agents=[a.name for a in fork_agents.AGENTS], teams=["fk-team"],
        )  # fmt: skip


async def approve_payment(client: Client, task_queue: str, workflow_id: str) -> None:
    async def asked() -> Any:
        pending = await list_pending(client, task_queue=task_queue)
        return next((p for p in pending if p.workflow_id == workflow_id), None)

    await decide(client, await eventually(asked, what="the payment's approval"),
                 approved=True, by="ana")  # fmt: skip


async def finished(tasks: HubTasks, task_id: str) -> Any:
    async def closed() -> Any:
        view = await tasks.get(task_id)
        busy = ("running", "waiting_for_approval", "compensating")
        return view if view.status not in busy else None

    return await eventually(closed, what=f"{task_id} to end", timeout=60)


async def a_trip(tasks: HubTasks, task_id: str) -> Cassette:
    """The original: hotel (compensated), payment (approved), flight TP123, answer."""
    started = await tasks.start("fk-trip", "Two nights in Lisbon", task_id=task_id)
    await approve_payment(tasks.client, tasks.task_queue, started.task.workflow_id)
    view = await finished(tasks, task_id)
    assert view.status == "succeeded", view.error
    return await tasks.export(task_id)


@pytest.fixture(autouse=True)
def _clean() -> None:
    EFFECTS.clear()
    UNDO_KEYS.clear()


async def test_a_cassette_holds_the_whole_story_validates_and_round_trips(
    hub_tasks: HubTasks,
) -> None:
    cassette = await a_trip(hub_tasks, "trip-export")
    assert cassette.status == "succeeded" and cassette.output.startswith("Done: hotel in Lisbon")
    assert [len(s.tool_calls) for s in cassette.steps] == [1, 1, 1, 0]
    assert cassette.tool_sequence() == ["book_hotel", "pay", "book_flight"]
    hotel = cassette.steps[0].tool_calls[0]
    assert (hotel.arguments, hotel.result) == ({"city": "Lisbon", "nights": 2},
                                               "hotel in Lisbon for 2 nights")  # fmt: skip
    [approval] = cassette.approvals
    assert (approval.tool, approval.decision, approval.by, approval.step) == (
        "pay", "approved", "ana", 2)  # fmt: skip
    [undo] = cassette.undos
    assert (undo.tool, undo.step, undo.arguments) == ("book_hotel", 1,
                                                      {"city": "Lisbon", "nights": 2})  # fmt: skip
    assert undo.origin.startswith(cassette.workflow_id)
    spec = cassette.agent_spec
    assert spec["instructions"] == "Book the trip." and len(spec["digest"]) == 16
    assert {t["name"]: t["signature"] for t in spec["tools"]}["book_flight"] == (
        "(flight: str) -> str"
    )
    assert (cassette.usage.requests, cassette.usage.tool_calls) == (4, 3)
    text = cassette.model_dump_json(indent=2)
    jsonschema.validate(json.loads(text), cassette_schema())
    assert load_cassette(text) == cassette
    # The shipped schema is the model's (regenerate: python -m agenthub.agents.cassette).
    assert cassette_schema() == schema_document()


def test_a_broken_cassette_is_refused_with_every_problem_named() -> None:
    with pytest.raises(InvalidCassette) as refused:
        load_cassette(json.dumps({
            "format": "agenthub.cassette", "version": 1, "task_id": "x", "workflow_id": "w",
            "agent": "a", "status": "ok", "steps": [{"step": 0}], "messages": [{"kind": "oops"}],
            "surprise": True,
        }))  # fmt: skip
    problems = refused.value.problems
    assert any(p.startswith("goal:") for p in problems), problems
    assert any(p.startswith("steps.0.step:") for p in problems), problems
    assert any(p.startswith("messages") for p in problems), problems
    assert any(p.startswith("surprise:") for p in problems), problems
    with pytest.raises(InvalidCassette, match="version: 7 is not known"):
        load_cassette('{"format": "agenthub.cassette", "version": 7}')
    with pytest.raises(InvalidCassette, match="not JSON"):
        load_cassette("{nope")


async def test_a_fork_replays_its_steps_runs_on_live_and_undoes_the_original_once(
    hub_tasks: HubTasks,
) -> None:
    original = await a_trip(hub_tasks, "trip-original")
    assert EFFECTS == {"hotel Lisbon": 1, "paid 420": 1, "flight TP123": 1}

    forked = await hub_tasks.fork("trip-original", at=2, task_id="trip-lufthansa",
                                  instructions="Book the trip. Fly Lufthansa.")  # fmt: skip
    assert forked.task.parent == "trip-original@2"
    view = await finished(hub_tasks, "trip-lufthansa")
    assert view.status == "succeeded", view.error
    assert view.output == "Done: hotel in Lisbon for 2 nights | paid 420 | flight LH9 booked"
    # Steps 1-2 (hotel, payment) did not run again; step 3 ran live with the new instructions.
    assert EFFECTS == {"hotel Lisbon": 1, "paid 420": 1, "flight TP123": 1, "flight LH9": 1}
    assert [s.task_id for s in await hub_tasks.list_tasks() if s.parent] == ["trip-lufthansa"]
    events = [item.event async for item in await hub_tasks.events("trip-lufthansa")]
    assert [e.kind for e in events][:2] == ["goal", "forked"]
    replayed = [e.kind for e in events if (e.data or {}).get("replayed")]
    assert replayed == ["tool_call", "tool_result", "tool_call", "tool_result"]
    assert not [e for e in events if e.kind == "approval_asked"]  # decided in the original

    # A failure after the fork undoes the original's booking; a second one finds it undone.
    for n in (1, 2):
        await hub_tasks.fork(original, at=2, task_id=f"trip-fails-{n}", instructions="fail")
        view = await finished(hub_tasks, f"trip-fails-{n}")
        assert view.status == "failed" and "flight FAIL is full" in (view.error or "")
    assert EFFECTS["undo hotel Lisbon"] == 1, EFFECTS
    assert EFFECTS["hotel Lisbon"] == 1 and EFFECTS["paid 420"] == 1
    assert len(UNDO_KEYS) == 1 and UNDO_KEYS[0].startswith(original.workflow_id)
    failed = await hub_tasks.export("trip-fails-2")
    assert failed.parent is not None and failed.parent.task_id == "trip-original"


async def test_a_fork_of_a_fork_keeps_the_replayed_steps_of_both(hub_tasks: HubTasks) -> None:
    await a_trip(hub_tasks, "trip-first")
    await hub_tasks.fork("trip-first", at=2, task_id="trip-second",
                         instructions="Fly Lufthansa.")  # fmt: skip
    await finished(hub_tasks, "trip-second")
    third = await hub_tasks.fork("trip-second", at=3, task_id="trip-third",
                                 instructions="Be cheerful.")  # fmt: skip
    assert third.task.parent == "trip-second@3"
    view = await finished(hub_tasks, "trip-third")
    assert view.output == "Gladly: hotel in Lisbon for 2 nights | paid 420 | flight LH9 booked"
    assert EFFECTS == {"hotel Lisbon": 1, "paid 420": 1, "flight TP123": 1, "flight LH9": 1}
    cassette = await hub_tasks.export("trip-third")
    assert cassette.tool_sequence() == ["book_hotel", "pay", "book_flight"]
    assert [u.step for u in cassette.undos] == [1]  # carried twice, still the one booking

    # Another model for what follows: the offline model answers from the results so far.
    await hub_tasks.fork("trip-first", at=2, task_id="trip-offline", model="offline")
    view = await finished(hub_tasks, "trip-offline")
    assert view.status == "succeeded" and "paid 420" in view.output, view
    assert EFFECTS == {"hotel Lisbon": 1, "paid 420": 1, "flight TP123": 1, "flight LH9": 1}
    with pytest.raises(InvalidInput, match="model 'gpt-9' is not known"):
        await hub_tasks.fork("trip-first", at=2, model="gpt-9")


async def test_a_fork_refuses_a_step_it_cannot_start_from_and_a_lost_tool(
    hub_tasks: HubTasks,
) -> None:
    cassette = await a_trip(hub_tasks, "trip-refusals")
    with pytest.raises(ForkRefused, match="step 4 of 'trip-refusals' is its answer"):
        await hub_tasks.fork(cassette, at=4)
    with pytest.raises(ForkRefused, match="has 4 step"):
        await hub_tasks.fork(cassette, at=9)
    with pytest.raises(ForkRefused, match="no tool 'book_hotel'"):
        await hub_tasks.fork(cassette, at=2, agent="fk-renamed")
    with pytest.raises(TaskNotFound):
        await hub_tasks.fork("no-such-task", at=1)
    other = HubTasks(hub_tasks.client, tenant="globex", task_queue=hub_tasks.task_queue)
    with pytest.raises(TaskNotFound):
        await other.export("trip-refusals")
    assert EFFECTS == {"hotel Lisbon": 1, "paid 420": 1, "flight TP123": 1}


async def test_a_team_member_and_a_session_turn_fork_on_their_own(hub_tasks: HubTasks) -> None:
    await hub_tasks.start("fk-team", "Plan the trip", task_id="team-trip")
    view = await finished(hub_tasks, "team-trip")
    assert view.status == "succeeded", view.error
    team = await hub_tasks.export("team-trip")
    assert team.kind == "team"
    assert [m.role for m in team.members] == ["scout", "guide", "merge"]
    assert team.members[0].tool_sequence() == ["book_hotel"]
    forked = await hub_tasks.fork("team-trip", member="scout", at=1, task_id="scout-again",
                                  instructions="scout v2")  # fmt: skip
    assert forked.task.parent == "team-trip.scout@1"
    view = await finished(hub_tasks, "scout-again")
    assert view.output == "Porto booked (1 prompts, scout v2)"
    assert EFFECTS == {"hotel Porto": 1, "hotel Faro": 1}
    with pytest.raises(ForkRefused, match="is a team"):
        await hub_tasks.fork(team, at=1)

    for city in ("Braga", "Evora"):
        await hub_tasks.send("chat-1", "fk-mate", f"A room in {city}", message_id=city)
    session = await hub_tasks.export_session("chat-1")
    assert [t.role for t in session.members] == ["task-1", "task-2"]
    second = session.members[1]
    assert second.history_base == 4 and second.tool_sequence() == ["book_hotel"]
    await hub_tasks.fork("chat-1", turn="task-2", at=1, task_id="chat-fork",
                         instructions="v2")  # fmt: skip
    view = await finished(hub_tasks, "chat-fork")
    assert view.output == "Evora booked (2 prompts, v2)"  # the earlier turn is its history
    assert EFFECTS == {"hotel Porto": 1, "hotel Faro": 1, "hotel Braga": 1, "hotel Evora": 1}


async def twenty_forecasts(tasks: HubTasks, folder: Path) -> dict[str, Cassette]:
    for i in range(20):
        await tasks.start("fk-forecaster", f"Weather in City{i}", task_id=f"fc-{i}")
    cases = {}
    for i in range(20):
        assert (await finished(tasks, f"fc-{i}")).status == "succeeded"
        cases[f"fc-{i}"] = cassette = await tasks.export(f"fc-{i}")
        (folder / f"fc-{i}.json").write_text(cassette.model_dump_json())
    return cases


async def test_eval_marks_exactly_the_cases_whose_tool_calls_changed(
    hub_tasks: HubTasks, tmp_path: Path
) -> None:
    cases = await twenty_forecasts(hub_tasks, tmp_path)
    EFFECTS.clear()
    client, tq = hub_tasks.client, hub_tasks.task_queue
    same = await evaluate(client, cases, agent="fk-forecaster", task_queue=tq)
    assert same.passed == 20 and not same.regressed
    assert EFFECTS == {}, "every call was answered from the recording"

    changed = await evaluate(client, cases, agent="fk-forecaster", task_queue=tq,
                             instructions="double", live_tools=True)  # fmt: skip
    marked = sorted(c.name for c in changed.cases if c.tool_calls_changed)
    assert marked == ["fc-17", "fc-7"]
    assert sorted(c.name for c in changed.regressed) == ["fc-17", "fc-7"]
    assert EFFECTS == {"weather City7": 1, "weather City17": 1}  # only the calls not recorded
    case = next(c for c in changed.cases if c.name == "fc-7")
    assert case.tool_calls == ["weather", "weather"] and case.original_tool_calls == ["weather"]
    assert (case.usage.requests, case.original_usage.requests) == (3, 2)

    strict = await evaluate(client, cases, agent="fk-forecaster", task_queue=tq,
                            instructions="double", max_concurrency=8)  # fmt: skip
    failed = {c.name: c.error for c in strict.cases if c.error}
    assert sorted(failed) == ["fc-17", "fc-7"]
    assert "ToolCallNotRecorded" in failed["fc-7"] and "weather(" in failed["fc-7"]

    loud = await evaluate(client, cases, agent="fk-forecaster", task_queue=tq,
                          instructions="shout", answer_check="any")  # fmt: skip
    assert loud.passed == 20 and all(c.answer_changed for c in loud.cases)
    assert not any(c.tool_calls_changed for c in loud.cases)


async def test_agenthub_eval_exits_0_then_1_when_a_change_regresses(
    hub_tasks: HubTasks, tmp_path: Path
) -> None:
    cases = await twenty_forecasts(hub_tasks, tmp_path)
    files = sorted(str(tmp_path / f"{name}.json") for name in cases)
    (tmp_path / "double.txt").write_text("double")
    env = {
        **os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "80",
        "AGENTHUB_DATA_DIR": str(tmp_path / "data"), "AGENTHUB_SERVER_PORT": str(free_port()),
        "AGENTHUB_UI": "false",
    }  # fmt: skip

    def agenthub_eval(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "agenthub", "eval", *files, "--agent", "fk-forecaster",
             "--app", "tests.eval_app", "--report", str(tmp_path / "report.json"), *args],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
        )  # fmt: skip

    same = agenthub_eval()
    assert same.returncode == 0, same.stdout + same.stderr
    assert "20 of 20 passed" in same.stderr  # the table and summary: for a person
    changed = agenthub_eval("--instructions", str(tmp_path / "double.txt"), "--live-tools")
    assert changed.returncode == 1, changed.stdout + changed.stderr
    assert "18 of 20 passed" in changed.stderr
    wide = [line for line in changed.stderr.splitlines()
            if len(line) > 80 and not line.startswith("report: ")]  # fmt: skip
    assert not wide, wide
    report = json.loads((tmp_path / "report.json").read_text())
    marked = sorted(c["name"] for c in report["cases"] if c["tool_calls_changed"])
    assert marked == ["fc-17", "fc-7"]


async def test_a_cassette_becomes_a_deterministic_test_in_two_lines(
    hub_tasks: HubTasks, replay_cassette: Any, tmp_path: Path
) -> None:
    cassette = await a_trip(hub_tasks, "trip-replayed")
    path = tmp_path / "trip.json"
    path.write_text(cassette.model_dump_json())
    EFFECTS.clear()

    run = await replay_cassette(path, fork_agents.TRIP)
    assert run.output == cassette.output and run.tool_calls == cassette.tool_sequence()
    assert EFFECTS == {}, "tools answered from the recording; no approval asked"

    await hub_tasks.start("fk-forecaster", "Weather in Oslo", task_id="fc-oslo")
    await finished(hub_tasks, "fc-oslo")
    live = await replay_cassette(await hub_tasks.export("fc-oslo"), fork_agents.FORECASTER,
                                 tools="live")  # fmt: skip
    assert live.output == "Oslo: sunny in Oslo on day 0"
    assert EFFECTS == {"weather Oslo": 2}  # the original's call, and the live replay's


async def test_a_fork_of_a_failed_task_makes_again_what_it_undid_only_when_asked(
    hub_tasks: HubTasks,
) -> None:
    started = await hub_tasks.start("fk-trip", "Two nights in Lisbon", task_id="trip-doomed",
                                    instructions="fail")  # fmt: skip
    await approve_payment(hub_tasks.client, hub_tasks.task_queue, started.task.workflow_id)
    assert (await finished(hub_tasks, "trip-doomed")).status == "failed"
    assert EFFECTS == {"hotel Lisbon": 1, "paid 420": 1, "undo hotel Lisbon": 1}
    doomed = await hub_tasks.export("trip-doomed")
    assert [u.undone for u in doomed.undos] == [True]

    with pytest.raises(ForkRefused, match=r"undid book_hotel\(city='Lisbon', nights=2\)"):
        await hub_tasks.fork(doomed, at=2)
    with pytest.raises(ForkRefused, match="fork at step 1 with redo_undone"):
        await hub_tasks.fork(doomed, at=2, redo_undone=True)
    forked = await hub_tasks.fork(doomed, at=1, redo_undone=True, task_id="trip-redone",
                                  instructions="Fly Lufthansa.")  # fmt: skip
    await approve_payment(hub_tasks.client, hub_tasks.task_queue, forked.task.workflow_id)
    view = await finished(hub_tasks, "trip-redone")
    assert view.status == "succeeded", view.error
    # The hotel is booked again (once, as the fork's own), the rest runs live.
    assert EFFECTS == {"hotel Lisbon": 2, "paid 420": 2, "undo hotel Lisbon": 1,
                       "flight LH9": 1}  # fmt: skip
    events = [item.event async for item in await hub_tasks.events("trip-redone")]
    assert "making again what the original undid: book_hotel" in events[1].text
    redone = await hub_tasks.export("trip-redone")
    assert [(u.step, u.undone, u.origin.startswith(redone.workflow_id)) for u in redone.undos] == [
        (1, False, True)
    ]


async def test_large_payloads_are_inlined_or_stored_beside_the_cassette(
    hub_tasks: HubTasks, tmp_path: Path
) -> None:
    await hub_tasks.start("fk-reporter", "Report on Lisbon", task_id="report")
    assert (await finished(hub_tasks, "report")).status == "succeeded"
    cassette = await hub_tasks.export("report")
    [call] = cassette.steps[0].tool_calls
    assert len(call.result.encode()) > 300_000 and call.result.startswith("Lisbon: données")
    written = write_cassette(cassette, tmp_path / "report")
    assert written.stat().st_size < 20_000
    [stored] = (tmp_path / "report" / "payloads").iterdir()
    assert load_cassette(written) == cassette
    stored.write_text(stored.read_text() + " ")
    with pytest.raises(InvalidCassette, match="does not match its digest"):
        load_cassette(written)
