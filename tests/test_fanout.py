"""Fan-out / fan-in on the real dev server."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from agenthub.cli import app
from agenthub.errors import ConfigurationError
from agenthub.patterns.fanout import (
    FANOUT_QUERY,
    FanOutJob,
    FanOutProgress,
    FanOutResult,
    ItemPages,
    Reduce,
    fan_out,
    fan_out_progress,
)
from agenthub.testing import eventually, running_worker

from .fanout_workflows import (
    BOUND,
    CANCELLED,
    GATES,
    LOADS,
    MAX_RUNNING,
    SOURCES,
    STARTED,
    FanOutTest,
    FanSpec,
    SeveralFanOuts,
    SquareItem,
    forever,
    gated,
    keyed,
    load_lines,
    picky,
    short_loader,
    square,
    words,
)


@pytest.fixture
async def run(dev_server_env: WorkflowEnvironment):
    client = dev_server_env.client
    async with running_worker(
        client,
        workflows=[FanOutTest, SquareItem, SeveralFanOuts],
        activities=[square, picky, forever, gated, load_lines, short_loader, words, keyed],
    ) as tq:

        async def go(spec: FanSpec, wid: str | None = None):
            wid = wid or f"fan-{uuid.uuid4().hex[:10]}"
            return wid, await client.execute_workflow(FanOutTest.run, spec, id=wid, task_queue=tq)

        async def start(spec: FanSpec) -> WorkflowHandle[FanOutTest, FanOutResult]:
            wid = f"fan-{uuid.uuid4().hex[:10]}"
            return await client.start_workflow(FanOutTest.run, spec, id=wid, task_queue=tq)

        go.start = start  # type: ignore[attr-defined]
        go.tq = tq  # type: ignore[attr-defined]
        yield go


async def test_order_kept_and_concurrency_bounded(run) -> None:
    wid = f"fan-{uuid.uuid4().hex[:10]}"
    BOUND[wid] = 5
    _, result = await run(FanSpec("square", 40, max_concurrency=5), wid)
    assert result.value == [i * i for i in range(40)]
    assert (result.succeeded, result.failed) == (40, 0)
    assert MAX_RUNNING[wid] == 5, "the bound was reached and never passed"


@pytest.mark.parametrize(
    ("reduce", "expected"),
    [
        (Reduce("count"), 30),
        (Reduce("sum"), sum(i * i for i in range(30))),
        (Reduce("max"), 29 * 29),
        (Reduce("top_k", k=3), [841, 784, 729]),
    ],
)
async def test_reducers_keep_the_fan_in_small(run, reduce: Reduce, expected) -> None:
    _, result = await run(FanSpec("square", 30, reduce=reduce))
    assert result.value == expected


@pytest.mark.parametrize("batch_size", [1000, 4])  # flat, and children's partials combined
async def test_merge_and_user_defined_reducers(run, batch_size: int) -> None:
    _, merged = await run(FanSpec("keyed", 30, batch_size=batch_size, reduce=Reduce("merge")))
    assert merged.value == {"k0": 25, "k1": 26, "k2": 27, "k3": 28, "k4": 29}, "later wins"
    counts = Reduce.using("test_word_counts")
    _, words = await run(FanSpec("words", 30, batch_size=batch_size, reduce=counts))
    assert words.value == {"w0": 10, "w1": 10, "w2": 10, "total": sum(range(30))}


async def test_an_unregistered_reducer_is_refused_before_anything_runs() -> None:
    with pytest.raises(ConfigurationError, match="no reducer 'nope' is registered"):
        await fan_out("square", [1], reduce=Reduce.using("nope"))


async def test_fail_fast_stops_at_the_first_failure(run) -> None:
    with pytest.raises(WorkflowFailureError) as info:
        await run(FanSpec("picky", 50, max_concurrency=1))
    cause = info.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "FanOutFailed"
    assert "first: item 3: PermanentFailure: item 3 is malformed" in cause.message


async def test_collect_errors_returns_successes_and_failures(run) -> None:
    _, result = await run(FanSpec("picky", 50, policy="collect"))
    bad = [i for i in range(50) if i % 7 == 3]
    assert result.value == [i for i in range(50) if i not in bad]
    assert result.failed == len(bad) and result.succeeded == 50 - len(bad)
    assert [f.index for f in result.failures] == bad
    assert result.failures[0].error_type == "PermanentFailure"


async def test_tolerate_up_to_n_failures(run) -> None:
    _, result = await run(FanSpec("picky", 50, policy="tolerate", max_failures=7))
    assert result.failed == 7
    with pytest.raises(WorkflowFailureError) as info:
        await run(FanSpec("picky", 50, policy="tolerate", max_failures=3))
    assert "limit 3" in info.value.cause.message  # type: ignore[union-attr]


async def test_hierarchical_equals_flat_and_histories_stay_small(
    run, dev_server_env: WorkflowEnvironment
) -> None:
    client = dev_server_env.client
    _, flat = await run(FanSpec("square", 30, reduce=Reduce("collect")))
    wid, tree = await run(FanSpec("square", 30, batch_size=3, reduce=Reduce("collect")))
    assert tree.value == flat.value == [i * i for i in range(30)]
    _, tree_list = await run(FanSpec("square", 30, batch_size=3, as_list=True))
    assert tree_list.value == flat.value
    _, tree_sum = await run(FanSpec("square", 30, batch_size=3, reduce=Reduce("sum")))
    assert tree_sum.value == sum(flat.value)
    # 30 items in batches of 3: parent -> 2 children -> grandchildren -> leaves (3 levels).
    runs = [w async for w in client.list_workflows(f"WorkflowId STARTS_WITH '{wid}'")]
    depth = max(w.id.count("/") for w in runs)
    assert depth == 3
    for w in runs:
        events = (await client.get_workflow_handle(w.id, run_id=w.run_id).fetch_history()).events
        assert len(events) < 10_240, w.id


async def test_items_by_reference_are_loaded_one_batch_per_workflow(
    run, tmp_path: Path, dev_server_env: WorkflowEnvironment
) -> None:
    wid = f"fan-{uuid.uuid4().hex[:10]}"
    SOURCES[wid] = tmp_path / "items.jsonl"
    SOURCES[wid].write_text("".join(f"{100 + i}\n" for i in range(30)))
    spec = FanSpec("square", 30, batch_size=7, loader="load_lines", reduce=Reduce("collect"))
    _, result = await run(spec, wid)
    assert result.value == [(100 + i) ** 2 for i in range(30)]
    # Each leaf read its own slice once; the parent got ranges, never the items.
    assert sorted(LOADS[wid]) == [(0, 7), (7, 14), (14, 21), (21, 28), (28, 30)]
    client = dev_server_env.client
    history = await client.get_workflow_handle(wid).fetch_history()
    started = [
        e.start_child_workflow_execution_initiated_event_attributes.input.payloads
        for e in history.events
        if e.HasField("start_child_workflow_execution_initiated_event_attributes")
    ]
    jobs = [(await client.data_converter.decode(p, [FanOutJob]))[0] for p in started]
    assert [job.items for job in jobs] == [
        ItemPages("load_lines", lo, min(lo + 7, 30)) for lo in range(0, 30, 7)
    ]


async def test_a_loader_returning_the_wrong_count_fails_its_batch(run) -> None:
    _, result = await run(FanSpec("square", 30, loader="short_loader", policy="collect"))
    assert (result.succeeded, result.failed) == (0, 30)
    failure = result.failures[0]
    assert failure.error_type == "InvalidInput"
    assert "loader 'short_loader' returned 29 items for items 0..29" in failure.message
    with pytest.raises(WorkflowFailureError) as info:
        await run(FanSpec("square", 30, loader="short_loader"))
    assert "must return a list of exactly 30" in info.value.cause.message  # type: ignore[union-attr]


async def test_items_as_child_workflows(run, dev_server_env: WorkflowEnvironment) -> None:
    wid = f"fan-{uuid.uuid4().hex[:10]}"
    spec = FanSpec("SquareItem", 20, batch_size=6, max_concurrency=3, policy="collect")
    _, result = await run(spec, wid)
    bad = [3, 10, 17]
    assert result.value == [i * i for i in range(20) if i not in bad]
    assert [(f.index, f.error_type) for f in result.failures] == [
        (i, "PermanentFailure") for i in bad
    ]
    # 20 items in batches of 6: 4 batch children, each starting one workflow per item.
    item = await dev_server_env.client.get_workflow_handle(f"{wid}/fanout-6/item-7").describe()
    assert (item.workflow_type, item.status) == ("SquareItem", WorkflowExecutionStatus.COMPLETED)

    _, by_name = await run(FanSpec("SquareItem", 3, unit="workflow"))
    assert by_name.value == [0, 1, 4]


async def test_several_fan_outs_in_one_workflow(run, dev_server_env: WorkflowEnvironment) -> None:
    client = dev_server_env.client
    wid = f"fan-{uuid.uuid4().hex[:10]}"
    values = await client.execute_workflow(SeveralFanOuts.run, id=wid, task_queue=run.tq)
    assert values == [sum(i * i for i in range(12)), sum(i * i for i in range(100, 112)), 21]
    children = {w.id async for w in client.list_workflows(f"WorkflowId STARTS_WITH '{wid}/'")}
    assert children == {
        *(f"{wid}/fanout-{o}" for o in (0, 4, 8)),
        *(f"{wid}/fanout2-{o}" for o in (0, 4, 8)),
        *(f"{wid}/item3-{i}" for i in range(3)),
    }


async def test_cancelling_the_parent_cancels_children(
    run, dev_server_env: WorkflowEnvironment
) -> None:
    client = dev_server_env.client
    handle = await run.start(FanSpec("forever", 12, batch_size=4, max_concurrency=4))
    wid = handle.id

    async def progress() -> FanOutProgress | None:
        try:
            p = await handle.query(FANOUT_QUERY, result_type=FanOutProgress)
        except Exception:
            return None
        return p if p.total == 12 else None

    assert (await eventually(progress, what="progress query")).done == 0
    children = [f"{wid}/fanout-{offset}" for offset in (0, 4, 8)]

    async def all_running() -> bool:
        try:
            statuses = [(await client.get_workflow_handle(c).describe()).status for c in children]
        except Exception:
            return False  # not started yet
        running = statuses == [WorkflowExecutionStatus.RUNNING] * 3
        return running and STARTED[wid] == 12 and CANCELLED[wid] == 0

    await eventually(all_running, what="children and their 12 activities running")
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()

    # Cancelled (a request passed down), not terminated by the parent close policy.
    async def children_cancelled() -> bool:
        statuses = [(await client.get_workflow_handle(c).describe()).status for c in children]
        assert WorkflowExecutionStatus.TERMINATED not in statuses, statuses
        return statuses == [WorkflowExecutionStatus.CANCELED] * 3

    await eventually(children_cancelled, what="children cancelled")
    await eventually(lambda: _cancelled(wid, 12), what="activities cancelled")


async def _cancelled(wid: str, n: int) -> bool:
    return CANCELLED[wid] == n


async def test_progress_counts_items_of_children_in_flight(
    run, dev_server_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = dev_server_env.client
    handle = await run.start(FanSpec("gated", 12, batch_size=4, max_concurrency=4))
    wid = handle.id
    children = [f"{wid}/fanout-{offset}" for offset in (0, 4, 8)]

    # The even items of the 3 children are done, the odd ones wait: no child has finished, so
    # the parent's own count is 0, yet the tree's progress shows the 6 finished items.
    async def six_done() -> FanOutProgress | None:
        p = await fan_out_progress(client, wid)
        return p if p.done == 6 else None

    tree = await eventually(six_done, what="6 items done in the children")
    assert (tree.total, tree.failed, sorted(tree.running_children)) == (12, 0, children)
    own = await handle.query(FANOUT_QUERY, result_type=FanOutProgress)
    assert (own.done, own.total) == (0, 12)

    monkeypatch.setenv("TEMPORAL_ADDRESS", client.service_client.config.target_host)
    runner = CliRunner()
    shown = await asyncio.to_thread(runner.invoke, app, ["fanout", "progress", wid, "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output) == {
        "total": 12, "done": 6, "failed": 0, "running_children": children,
    }  # fmt: skip

    watching = asyncio.ensure_future(
        asyncio.to_thread(
            runner.invoke, app, ["fanout", "progress", wid, "--watch", "--interval", "0.1"]
        )
    )
    GATES[wid].set()
    result = await handle.result()
    assert result.value == list(range(12))
    watched = await watching
    assert watched.exit_code == 0, watched.output
    assert f"{wid} completed" in watched.output and "12/12" in watched.output
    done = await fan_out_progress(client, wid)
    assert (done.done, done.running_children) == (12, [])

    missing = await asyncio.to_thread(runner.invoke, app, ["fanout", "progress", "no-such-wf"])
    assert missing.exit_code == 1
    assert "no workflow 'no-such-wf'" in missing.output
