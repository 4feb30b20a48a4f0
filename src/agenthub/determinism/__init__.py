"""Determinism safety: a static linter (:mod:`.lint`) and a replay checker (:mod:`.replay`)
for workflow code.

The package itself is the linter's: pure analysis of source, which runtime's plugin uses to
check workflows that leave the sandbox. The replay checker runs the SDK's ``Replayer`` with
agenthub's plugin, so it sits above runtime: import it as ``agenthub.determinism.replay``.
"""

from agenthub.determinism.lint import RULES, Finding, LintError, lint_paths, lint_source

__all__ = [
    "RULES",
    "Finding",
    "LintError",
    "lint_paths",
    "lint_source",
]
