"""Pin the public names: every export exists, the lists are sorted, nothing leaks by accident."""

from __future__ import annotations

import importlib

import pytest

MODULES = [
    "agenthub",
    "agenthub.agents",
    "agenthub.agents.undo",
    "agenthub.agents.cassette",
    "agenthub.agents.evaluate",
    "agenthub.agents.forks",
    "agenthub.service",
    "agenthub.determinism",
    "agenthub.determinism.lint",
    "agenthub.determinism.replay",
    "agenthub.errors",
    "agenthub.patterns",
    "agenthub.patterns.callbacks",
    "agenthub.api",
    "agenthub.patterns.entity",
    "agenthub.patterns.entity.client",
    "agenthub.patterns.entity.workflow",
    "agenthub.patterns.callbacks",
    "agenthub.patterns.callbacks.client",
    "agenthub.patterns.callbacks.tokens",
    "agenthub.patterns.callbacks.workflow",
    "agenthub.patterns.fanout",
    "agenthub.patterns.fanout.client",
    "agenthub.patterns.fanout.engine",
    "agenthub.patterns.fanout.items",
    "agenthub.patterns.fanout.policy",
    "agenthub.patterns.fanout.reduce",
    "agenthub.patterns.heartbeat",
    "agenthub.patterns.idempotency",
    "agenthub.patterns.ledger",
    "agenthub.patterns.retry",
    "agenthub.patterns.saga",
    "agenthub.runtime",
    "agenthub.runtime.converter",
    "agenthub.runtime.plugin",
    "agenthub.runtime.worker",
    "agenthub.cli",
    "agenthub.testing",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_resolves(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    # isort-style order, which ruff's RUF022 keeps: CONSTANTS, then Classes, then functions.
    kind = lambda n: 0 if n.isupper() else 1 if n[:1].isupper() else 2  # noqa: E731
    assert exported == sorted(exported, key=lambda n: (kind(n), n)), "keep __all__ sorted"
    assert len(set(exported)) == len(exported)
    for attr in exported:
        assert hasattr(module, attr), f"{name}.__all__ names {attr!r}, which does not exist"


def test_top_level_names() -> None:
    import agenthub

    assert set(agenthub.__all__) == {
        "AgentHubError",
        "AgentHubPlugin",
        "BusinessRuleViolation",
        "ConfigurationError",
        "ConnectionFailedError",
        "EmbeddedServer",
        "InvalidInput",
        "PermanentFailure",
        "Settings",
        "TransientFailure",
        "WorkerUnavailable",
        "__version__",
        "build_worker",
        "connect",
        "run_worker",
    }


def test_agents_names() -> None:
    import agenthub.agents

    assert set(agenthub.agents.__all__) == {
        "AgentEvent", "AgentEventItem", "AgentLimits", "AgentSession", "AgentSpec",
        "AgentTask", "AgentTaskRequest", "AgentTaskResult", "AgentTool", "AgentUsage",
        "AgentsPlugin", "CaseResult", "Cassette", "EvalReport", "HubConfig", "HubTasks",
        "LimiterSpec", "LimiterStats",
        "MCPServerSpec", "MemberOutcome", "SessionBudget", "SessionEvent", "SessionEventItem",
        "SessionReply", "SessionTurn", "StartedTask", "TaskProgress", "TaskSummary", "TaskView",
        "Team", "TeamMember", "TeamResult", "TeamSpec", "TranscriptEntry", "agent_events",
        "agent_task_status", "evaluate", "idempotency_key", "limiter_stats", "load_cassette",
        "load_hub_config", "run_agent",
        "run_team", "send_message", "session_events", "session_transcript", "start_agent_task",
        "start_team", "tool", "web_fetch_tool",
    }  # fmt: skip


def test_determinism_is_the_linter_and_replay_lives_beside_it() -> None:
    import agenthub.determinism
    import agenthub.determinism.replay

    assert "lint_paths" in agenthub.determinism.__all__
    assert "replay_histories" in agenthub.determinism.replay.__all__
