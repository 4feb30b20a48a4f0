"""Replay: an incompatible change is caught before deploy; a patched one is not flagged."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from agenthub.cli import app
from agenthub.determinism.replay import replay_history_files, save_history
from agenthub.testing import assert_histories_replay, running_worker

from .replay_workflows import (
    BookTripReordered,
    OrderV1,
    OrderV2Incompatible,
    OrderV2Patched,
    charge,
)

HISTORIES = Path(__file__).parent / "histories"


@pytest.fixture(scope="module")
async def v1_history_file(time_skipping_env: WorkflowEnvironment, tmp_path_factory) -> Path:
    client = time_skipping_env.client
    async with running_worker(client, workflows=[OrderV1], activities=[charge]) as tq:
        handle = await client.start_workflow(
            OrderV1.run, "o-1", id=f"order-{uuid.uuid4()}", task_queue=tq
        )
        assert await handle.result() == "charged o-1"
    return save_history(await handle.fetch_history(), tmp_path_factory.mktemp("histories"))


async def test_incompatible_change_is_reported(v1_history_file: Path) -> None:
    (report,) = await replay_history_files([v1_history_file], [OrderV2Incompatible])
    assert not report.ok
    assert report.workflow_type == "Order"
    assert "NondeterminismError" in (report.error or "")


async def test_patched_change_replays(v1_history_file: Path) -> None:
    reports = await replay_history_files([v1_history_file], [OrderV2Patched])
    assert [r.ok for r in reports] == [True]
    assert (await replay_history_files([v1_history_file], [OrderV1]))[0].ok


def test_cli_replay_from_files(v1_history_file: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(
        app, ["replay", "-w", "tests.replay_workflows:OrderV2Patched", "-f", str(v1_history_file)]
    )
    assert ok.exit_code == 0, ok.output
    assert "1 histories: 0 would break, 0 skipped" in ok.output
    assert "\x1b[" not in ok.output  # no colour codes outside a terminal
    broken = runner.invoke(
        app,
        ["replay", "-w", "tests.replay_workflows:OrderV2Incompatible", "-f", str(v1_history_file)],
    )
    assert broken.exit_code == 1
    assert "1 histories: 1 would break" in broken.output
    assert "breaks: NondeterminismError" in broken.output and "Failure {" not in broken.output
    other_type = runner.invoke(
        app, ["replay", "-w", "examples.trip_booking:BookTrip", "-f", str(v1_history_file)]
    )
    assert other_type.exit_code == 0, other_type.output
    assert "skipped (type not loaded)" in other_type.output
    for junk in ("[1, 2]", '"a string"', "{}"):
        bad_file = v1_history_file.parent / "junk.json"
        bad_file.write_text(junk)
        result = runner.invoke(app, ["replay", "-w", "tests.replay_workflows", "-f", str(bad_file)])
        assert result.exit_code == 1 and "not a workflow history" in result.output, result.output
        assert "Traceback" not in result.output
        bad_file.unlink()
    missing = runner.invoke(app, ["replay", "-w", "tests.nope:X", "-f", str(v1_history_file)])
    assert missing.exit_code == 1 and "cannot import tests.nope" in missing.output


async def test_saved_histories_replay_against_current_code() -> None:
    """tests/histories/ holds histories recorded from the examples; changing an example's
    workflow incompatibly makes this fail."""
    from examples.bank_account import BankAccount
    from examples.money_transfer import MoneyTransfer
    from examples.trip_booking import BookTrip

    assert list(HISTORIES.glob("*.json")), "no saved histories"
    await assert_histories_replay(HISTORIES, [BookTrip, MoneyTransfer, BankAccount])
    # The helper really fails on an incompatible version, and on histories it cannot replay.
    with pytest.raises(AssertionError, match="would break"):
        await assert_histories_replay(HISTORIES, [BookTripReordered, MoneyTransfer, BankAccount])
    with pytest.raises(AssertionError, match="no workflow class given"):
        await assert_histories_replay(HISTORIES, [OrderV2Incompatible])
