"""Determinism safety: a static linter and a replay checker for workflow code."""

from agenthub.determinism.lint import RULES, Finding, LintError, lint_paths, lint_source
from agenthub.determinism.replay import ReplayReport, replay_histories, replay_history_files

__all__ = [
    "RULES",
    "Finding",
    "LintError",
    "ReplayReport",
    "lint_paths",
    "lint_source",
    "replay_histories",
    "replay_history_files",
]
