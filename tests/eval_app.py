"""The forecaster agent for ``agenthub eval --app tests.eval_app`` (a process of its own)."""

from agenthub.agents import AgentsPlugin

from .fork_agents import FORECASTER

PLUGIN = AgentsPlugin(FORECASTER)
