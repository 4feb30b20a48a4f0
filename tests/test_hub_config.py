"""agenthub.toml: what a file declares becomes agent and team specs; every mistake is named by
file and key, all at once, before anything starts."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agenthub.agents.config import find_hub_config, load_hub_config
from agenthub.cli import app
from agenthub.errors import ConfigurationError
from agenthub.patterns.fanout import CollectErrors, Tolerate
from agenthub.runtime import Settings

from . import hub_tools

pytestmark = pytest.mark.fast
runner = CliRunner()

PAY = (
    '{ use = "tests.hub_tools:pay", side_effect = true, compensate = "tests.hub_tools:release", '
    'requires_approval = true, approvers = ["cfo"], timeout = "90s", '
    'retry = "PAYMENT_NEVER_TWICE", approval_timeout = "2d" }'
)
FULL = """
[agents.trip]
instructions = "Plan trips."
description = "plans"
approvers = ["ana", "bo"]
tools = ["tests.hub_tools:hold", {PAY}, "tests.hub_tools:reserve"]
limits = { max_requests = 20, max_tool_calls = 7, deadline = "10m" }
limiter = { name = "openai", max_concurrent = 2, tokens_per_minute = 1000, lease = "5m" }
session_budget = { max_messages = 30, keep = 10, policy = "summarize" }
mcp_servers = [{ id = "weather", command = "python", args = ["-m", "weather"], timeout = 5 }]

[agents.writer]

[teams.planners]
merger = "writer"
members = [
    { role = "flights", agent = "trip", brief = "cheap" },
    { role = "hotels", agent = "trip" },
]
failures = 1

[teams.loose]
merger = "writer"
members = [{ role = "a", agent = "writer" }]
failures = "collect_errors"
max_concurrency = 2
""".replace("{PAY}", PAY)


def load(text: str, tmp_path: Path) -> Any:
    path = tmp_path / "agenthub.toml"
    path.write_text(text)
    return load_hub_config(path, Settings(data_dir=tmp_path / ".agenthub"))


def test_a_full_file_becomes_specs(tmp_path: Path) -> None:
    hub = load_hub_config(tmp_path / "x.toml", Settings(data_dir=tmp_path), text=FULL)
    trip, writer = hub.agents
    assert (trip.name, trip.instructions, trip.description) == ("trip", "Plan trips.", "plans")
    assert list(trip.approvers) == ["ana", "bo"] and writer.instructions == ""
    hold, pay, reserve = trip.agent_tools()
    assert hold.name == "hold" and not hold.side_effect
    assert pay.side_effect and pay.requires_approval and pay.compensate is hub_tools.release
    assert pay.approvers == ("cfo",) and pay.timeout == timedelta(seconds=90)
    assert pay.retry == "PAYMENT_NEVER_TWICE" and pay.approval_timeout == timedelta(days=2)
    assert reserve is hub_tools.reserve  # an @tool declaration is used as declared
    assert trip.limits.max_requests == 20 and trip.limits.max_tool_calls == 7
    assert trip.limits.deadline == timedelta(minutes=10)
    assert trip.limiter is not None and trip.limiter.lease == timedelta(minutes=5)
    assert trip.session_budget.policy == "summarize" and trip.session_budget.keep == 10
    (server,) = trip.mcp_servers
    assert server.id == "weather" and list(server.args) == ["-m", "weather"]
    assert server.timeout == timedelta(seconds=5)
    planners, loose = hub.teams
    assert [m.role for m in planners.members] == ["flights", "hotels"]
    assert planners.members[0].brief == "cheap" and planners.failures == Tolerate(max_failures=1)
    assert loose.failures == CollectErrors() and loose.max_concurrency == 2


def test_every_mistake_is_named_by_file_and_key_at_once(tmp_path: Path) -> None:
    bad = """
[agents.trip]
instruction = "typo"
tools = ["not an import path", { use = "tests.hub_tools:pay", timeout = "soon" }]
limits = { max_requests = 0 }

[agents."9lives"]

[teams.t]
merger = "trip"
members = []
"""
    with pytest.raises(ConfigurationError) as caught:
        load(bad, tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'agenthub.toml'}: 6 problem(s)")
    for expected in [
        "agents.trip.instruction: unknown key 'instruction'; did you mean 'instructions'?",
        "agents.trip.tools[0]: write an import path like 'pkg.module:function'",
        "agents.trip.tools[1].timeout: 'soon' is not a duration",
        "agents.trip.limits.max_requests: Input should be greater than 0",
        "agents.9lives: a name starts with a letter",
        "teams.t.members: List should have at least 1 item",
    ]:
        assert expected in message, message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[agents.trip\n", "not valid TOML: Expected ']' at the end of a table declaration"),
        ('[agents.a]\ntools = ["no_such_module_xyz:f"]', "agents.a.tools[0]: cannot import"),
        ('[agents.a]\ntools = ["tests.hub_tools:nope"]', "tests.hub_tools has no 'nope'"),
        ('[agents.a]\ntools = ["tests.hub_tools:TOML"]', "tests.hub_tools:TOML is not a function"),
        ('[agents.a]\nmodel = "llama:7b"', "agents.a: model 'llama:7b' is not known"),
        ("[agents.a]\n[teams.t]\nmerger = 'b'\nmembers = [{role='r', agent='a'}]", "['b']"),
        (
            '[agents.a]\ntools = [{ use = "tests.hub_tools:pay", requires_approval = true }]',
            "require approval but nobody may approve",
        ),
        (
            "[agents.a]\n[schedules.s]\nagent = 'b'\ngoal = 'x'\nevery = '1h'",
            "schedules.s.agent: 'b' is not an agent or team of this file",
        ),
        (
            "[agents.a]\n[schedules.s]\nagent = 'a'\ngoal = 'x'",
            "schedules.s: set exactly one of cron",
        ),
        (
            "[agents.a]\n[schedules.s]\nagent = 'a'\ngoal = 'x'\ncron = '0 7 * *'",
            "schedules.s.cron: '0 7 * *' is not a cron expression",
        ),
        (
            "[agents.a]\n[schedules.s]\nagent = 'a'\ngoal = 'x'\nevery = '1h'\n"
            "timezone = 'Mars/Olympus'",
            "schedules.s.timezone: 'Mars/Olympus' is not a time zone",
        ),
        (
            "[agents.a]\n[schedules.s]\nagent = 'a'\ngoal = 'On {{ body.x }}'\nevery = '1h'",
            "schedules.s.goal: goal uses {{ body }}; known: {{ date }}, {{ fire_time }}",
        ),
        (
            "[agents.a]\n[schedules.s]\nagent = 'a'\ngoal = 'x'\nevery = '1h'\noverlap = 'x'",
            "schedules.s.overlap: Input should be 'skip', 'buffer_one', 'cancel_previous'",
        ),
        (
            "[agents.a]\n[webhooks.h]\nagent = 'a'\ngoal = 'x'",
            "webhooks.h: set exactly one of secret_env",
        ),
        (
            "[agents.a]\n[webhooks.h]\nagent = 'a'\ngoal = 'x'\nsecret_env = 'AGENTHUB_NO_VAR'",
            "webhooks.h.secret_env: AGENTHUB_NO_VAR is not set",
        ),
        (
            "[agents.a]\n[webhooks.h]\nagent = 'a'\ngoal = 'x'\nsecret_file = 'missing.txt'",
            "webhooks.h.secret_file: cannot read",
        ),
        (
            "[agents.a]\n[webhooks.h]\nagent = 'a'\ngoal = '{{ fire_time }}'\nsecret_env = 'X'",
            "webhooks.h.goal: goal uses {{ fire_time }}; known: {{ body }}, {{ hook }}",
        ),
    ],
)
def test_each_kind_of_mistake_says_where_and_what(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigurationError, match=r"agenthub\.toml") as caught:
        load(text, tmp_path)
    assert expected in str(caught.value)


def test_the_file_is_found_beside_the_data_dir_or_named(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / ".agenthub")
    assert find_hub_config(settings) is None
    (tmp_path / "agenthub.toml").write_text("")
    assert find_hub_config(settings) == tmp_path / "agenthub.toml"
    with pytest.raises(ConfigurationError, match=r"AGENTHUB_CONFIG=nope\.toml: no such file"):
        find_hub_config(Settings(data_dir=tmp_path, config="nope.toml"))


def test_agents_list_shows_what_is_loaded_and_refuses_a_bad_file(tmp_path: Path) -> None:
    (tmp_path / "agenthub.toml").write_text(FULL)
    shown = runner.invoke(app, ["agents", "list", "--config", str(tmp_path / "agenthub.toml")])
    assert shown.exit_code == 0, shown.output
    listed = json.loads(shown.output)
    assert [a["name"] for a in listed["agents"]] == ["trip", "writer"]
    assert listed["agents"][0]["tools"] == ["hold", "pay", "reserve"]
    assert [t["team"] for t in listed["teams"]] == ["planners", "loose"]
    (tmp_path / "bad.toml").write_text("[agents.trip]\nmodle = 'offline'\n")
    refused = runner.invoke(app, ["agents", "list", "--config", str(tmp_path / "bad.toml")])
    assert refused.exit_code == 1
    assert "agents.trip.modle: unknown key 'modle'; did you mean 'model'?" in refused.output
    worker = runner.invoke(app, ["worker", "--config", str(tmp_path / "bad.toml")])
    assert worker.exit_code == 1 and "did you mean 'model'?" in worker.output


def test_schedules_and_webhooks_become_specs(tmp_path: Path) -> None:
    (tmp_path / "hook.secret").write_text("a-file-secret-0123456789\n")
    text = """
[agents.a]
[teams.t]
merger = "a"
members = [{ role = "r", agent = "a" }]

[schedules.morning]
agent = "t"
goal = "Report for {{ date }}"
cron = "0 7 * * 1-5"
timezone = "Europe/Lisbon"
overlap = "buffer_one"
catchup_window = "1h"
jitter = "30s"
paused = true
tenant = "acme"

[webhooks.issues]
agent = "a"
goal = "Triage {{ body.issue.title }}"
signature = "timestamped"
secret_file = "hook.secret"
delivery_header = "X-Delivery"
tolerance = "2m"
"""
    hub = load(text, tmp_path)
    [schedule] = hub.schedules
    assert (schedule.name, schedule.agent, schedule.cron, schedule.timezone) == (
        "morning", "t", "0 7 * * 1-5", "Europe/Lisbon",
    )  # fmt: skip
    assert schedule.overlap == "buffer_one" and schedule.catchup_window == timedelta(hours=1)
    assert schedule.jitter == timedelta(seconds=30) and schedule.paused
    assert schedule.tenant == "acme"
    [hook] = hub.webhooks
    assert hook.secret == b"a-file-secret-0123456789" and hook.scheme == "timestamped"
    assert hook.header == "X-Webhook-Signature" and hook.tolerance == timedelta(minutes=2)
    assert hook.render({"issue": {"title": "Crash"}}) == "Triage Crash"
