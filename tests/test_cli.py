"""The CLI as a user runs it: a real process, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest
from typer.testing import CliRunner

from agenthub import __version__
from agenthub.cli import app
from agenthub.runtime import ApiTokenStore
from agenthub.runtime.server import probe_temporal
from agenthub.testing import eventually

from .conftest import free_port, read_stderr_until

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"agenthub {__version__}"


@pytest.mark.parametrize(
    "command", ["server", "worker", "up", "lint", "replay", "callback", "approvals", "fanout"]
)
def test_every_command_has_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output and "--help" in result.output


def test_bad_port_is_a_clear_error() -> None:
    result = runner.invoke(app, ["server", "--port", "70000"])
    assert result.exit_code == 1
    assert "AGENTHUB_SERVER_PORT=70000 is not a valid port" in result.output


def _spawn(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "COLUMNS": "200", "TEMPORAL_CONFIG_FILE": str(cwd / "none.toml")}
    env.pop("TEMPORAL_ADDRESS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "agenthub", *args],
        cwd=cwd, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip


@pytest.mark.slow
def test_killed_cli_takes_its_server_along(tmp_path: Path, port: int) -> None:
    process = _spawn(["server", "--port", str(port), "--headless"], tmp_path)
    try:
        read_stderr_until(process, "press Ctrl-C to stop")
        server_pid = next(
            p.pid for p in psutil.Process(process.pid).children() if "temporal" in p.name()
        )
        process.kill()  # SIGKILL: the CLI cannot clean up
        process.wait(timeout=10)
        psutil.Process(server_pid).wait(timeout=30)  # gone with its parent
    finally:
        process.kill()
    assert not psutil.pid_exists(server_pid) or (
        psutil.Process(server_pid).status() == psutil.STATUS_ZOMBIE
    )


@pytest.mark.slow
async def test_server_command_starts_and_stops(tmp_path: Path, port: int) -> None:
    process = _spawn(["server", "--port", str(port), "--headless"], tmp_path)
    try:
        output = read_stderr_until(process, "press Ctrl-C to stop")
        assert f"127.0.0.1:{port}" in output
        assert await probe_temporal(f"127.0.0.1:{port}")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
    assert (tmp_path / ".agenthub" / "temporal.db").exists()
    assert not await probe_temporal(f"127.0.0.1:{port}", timeout=1)


@pytest.mark.slow
async def test_up_runs_server_and_worker(tmp_path: Path, port: int) -> None:
    ui_port, api_port = free_port(), free_port()
    process = _spawn(
        ["up", "--port", str(port), "--ui-port", str(ui_port), "--api-port", str(api_port),
         "--data-dir", "state"],
        tmp_path,
    )  # fmt: skip
    try:
        output = read_stderr_until(process, "worker polling task queue 'agenthub'")
        assert f"http://127.0.0.1:{ui_port}" in output
        assert f"HTTP API http://127.0.0.1:{api_port}" in output

        async def healthy() -> bool:
            try:
                async with httpx.AsyncClient() as http:
                    r = await http.get(f"http://127.0.0.1:{api_port}/health")
                return r.status_code == 200 and r.json()["status"] == "ok"
            except httpx.HTTPError:
                return False

        await eventually(healthy, what="API health")
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=30)
        assert process.returncode == 0
        assert "stopped" in rest and "Traceback" not in rest and "ERROR" not in rest, rest
    finally:
        process.kill()
    assert (tmp_path / "state" / "temporal.db").exists()


@pytest.mark.slow
def test_up_with_the_api_port_taken_is_one_line_and_prints_no_address(
    tmp_path: Path, port: int
) -> None:
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        api_port = holder.getsockname()[1]
        process = _spawn(
            ["up", "--port", str(port), "--api-port", str(api_port), "--headless"], tmp_path
        )
        _, err = process.communicate(timeout=60)
    assert process.returncode == 1, err
    assert f"the HTTP API port {api_port} on 127.0.0.1 is not free" in err
    assert "AGENTHUB_API_PORT" in err and "Traceback" not in err
    assert f"127.0.0.1:{port}" not in err  # nothing was started or announced
    assert len(err.strip().splitlines()) == 1


def test_bad_app_and_empty_inbox_are_one_line_errors(tmp_path: Path) -> None:
    result = runner.invoke(app, ["worker", "--app", "no_such_module_xyz"])
    assert result.exit_code == 1
    assert "--app no_such_module_xyz: cannot import no_such_module_xyz" in result.output
    result = runner.invoke(app, ["approvals", "list", "--inbox", ""])
    assert result.exit_code == 1
    assert "neither may be empty" in result.output and "Traceback" not in result.output


def test_up_refuses_an_open_api_beyond_this_machine(tmp_path: Path) -> None:
    result = runner.invoke(app, ["up", "--ip", "0.0.0.0", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "refusing to serve the HTTP API on 0.0.0.0 without authentication" in result.output
    assert not (tmp_path / "temporal.db").exists()  # nothing was started


def test_token_commands_create_list_and_revoke(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AGENTHUB_DATA_DIR", str(tmp_path))
    created = runner.invoke(app, ["token", "create", "--identity", "ana", "--tenant", "acme"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[0]
    assert token.startswith("ahk_")
    record = ApiTokenStore(tmp_path / "api-tokens.json").authenticate(token)
    assert record is not None and (record.identity, record.tenant) == ("ana", "acme")
    listed = runner.invoke(app, ["token", "list"])
    assert listed.exit_code == 0 and f"{record.token_id}\tana\tacme" in listed.stdout
    assert token not in listed.output
    assert runner.invoke(app, ["token", "revoke", record.token_id]).exit_code == 0
    assert "revoked" in runner.invoke(app, ["token", "list"]).stdout
    unknown = runner.invoke(app, ["token", "revoke", "nope"])
    assert unknown.exit_code == 1 and "no API token 'nope'" in unknown.output
    odd = runner.invoke(app, ["token", "create", "--identity", "é" * 3])
    assert odd.exit_code == 2 and "is not a valid name" in odd.output
    # A revoked token is no authentication: up still refuses to serve beyond loopback.
    up = runner.invoke(app, ["up", "--ip", "0.0.0.0", "--port", "1"])
    assert "refusing to serve the HTTP API" in up.output, "the only token is revoked"


def test_a_table_never_cuts_the_column_a_person_copies(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from agenthub.cli import _common

    monkeypatch.setattr(_common, "is_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", "80")
    approval_id = "pay_the_whole_trip_in_eur-6a01d0f232d44435"
    long = "trip: pay({'amount_eur': 420, 'card': 'visa', 'note': '" + "x" * 120 + "'})"
    _common.print_rows(
        ("approval id", "summary", "approvers", "expires", "workflow"),
        [(approval_id, long, "ana, bo", "2026-12-04 10:00", "hub/acme/task/trip-1234567")],
        keep=0,
    )
    shown = capsys.readouterr().out
    assert approval_id in shown, shown
    assert max(len(line) for line in shown.splitlines()) <= 80
