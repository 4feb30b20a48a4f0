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

from .replay_workflows import OrderV1, OrderV2Incompatible, OrderV2Patched, charge

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
    assert "1 replayed, 0 would break" in ok.output
    broken = runner.invoke(
        app,
        ["replay", "-w", "tests.replay_workflows:OrderV2Incompatible", "-f", str(v1_history_file)],
    )
    assert broken.exit_code == 1
    assert "1 replayed, 1 would break" in broken.output
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
    # The helper really fails on an incompatible version.
    with pytest.raises(AssertionError, match="would break"):
        await assert_histories_replay(HISTORIES, [OrderV2Incompatible])
