"""Durable agents: pydantic-ai agents as agenthub tasks, with tools that act once, undo and
wait for approval.

Example::

    from agenthub.agents import AgentSpec, AgentsPlugin, run_agent, tool

    @tool(side_effect=True, compensate=cancel_hotel, requires_approval=True)
    async def book_hotel(city: str, nights: int) -> str:
        \"\"\"Book a hotel room.\"\"\"
        ...

    trip = AgentSpec(name="trip", instructions="Plan trips.", tools=[book_hotel], approvers=["ana"])
    client = await connect(settings, plugins=[AgentsPlugin(trip)])
    result = await run_agent(client, "trip", "Two nights in Lisbon", task_queue="agenthub")
"""

from agenthub.agents.capability import TaskProgress, TranscriptEntry
from agenthub.agents.cassette import Cassette, load_cassette
from agenthub.agents.config import HubConfig, load_hub_config
from agenthub.agents.evaluate import CaseResult, EvalReport, evaluate
from agenthub.agents.hub import HubTasks, StartedTask, TaskSummary, TaskView
from agenthub.agents.limiter import LimiterSpec, LimiterStats, limiter_stats
from agenthub.agents.plugin import AgentsPlugin
from agenthub.agents.session import (
    AgentSession,
    SessionEvent,
    SessionEventItem,
    SessionReply,
    SessionTurn,
    send_message,
    session_events,
    session_transcript,
)
from agenthub.agents.spec import AgentLimits, AgentSpec, MCPServerSpec, SessionBudget
from agenthub.agents.task import (
    AgentEvent,
    AgentEventItem,
    AgentTask,
    AgentTaskRequest,
    AgentTaskResult,
    AgentUsage,
    agent_events,
    agent_task_status,
    run_agent,
    start_agent_task,
)
from agenthub.agents.team import (
    MemberOutcome,
    Team,
    TeamMember,
    TeamResult,
    TeamSpec,
    run_team,
    start_team,
)
from agenthub.agents.tools import AgentTool, tool
from agenthub.agents.web import web_fetch_tool
from agenthub.patterns.ledger import idempotency_key

__all__ = [
    "AgentEvent",
    "AgentEventItem",
    "AgentLimits",
    "AgentSession",
    "AgentSpec",
    "AgentTask",
    "AgentTaskRequest",
    "AgentTaskResult",
    "AgentTool",
    "AgentUsage",
    "AgentsPlugin",
    "CaseResult",
    "Cassette",
    "EvalReport",
    "HubConfig",
    "HubTasks",
    "LimiterSpec",
    "LimiterStats",
    "MCPServerSpec",
    "MemberOutcome",
    "SessionBudget",
    "SessionEvent",
    "SessionEventItem",
    "SessionReply",
    "SessionTurn",
    "StartedTask",
    "TaskProgress",
    "TaskSummary",
    "TaskView",
    "Team",
    "TeamMember",
    "TeamResult",
    "TeamSpec",
    "TranscriptEntry",
    "agent_events",
    "agent_task_status",
    "evaluate",
    "idempotency_key",
    "limiter_stats",
    "load_cassette",
    "load_hub_config",
    "run_agent",
    "run_team",
    "send_message",
    "session_events",
    "session_transcript",
    "start_agent_task",
    "start_team",
    "tool",
    "web_fetch_tool",
]
