"""Goal templates of tasks that start on their own (schedules, webhooks).

A deliberately small language: ``{{ name }}`` or ``{{ name.path.0.key }}`` is replaced by a
value; nothing else is evaluated (no attribute access, calls or filters), so a webhook's body
can never run code. A string value is inserted as it is, any other JSON value as compact
JSON; a path that does not exist inserts nothing.

Example::

    render_goal("Triage {{ body.issue.title }}", {"body": {"issue": {"title": "Crash"}}})
    # 'Triage Crash'
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from agenthub.errors import ConfigurationError

__all__ = ["GOAL_LIMIT", "check_goal_template", "render_goal"]

GOAL_LIMIT = 100_000
"""Characters of a rendered goal (the rest is cut)."""

_FIELD = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_-]+)*)\s*\}\}")


def _lookup(value: Any, path: list[str]) -> Any:
    for step in path:
        if isinstance(value, Mapping):
            value = value.get(step)
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return None
    return value


def render_goal(template: str, values: Mapping[str, Any]) -> str:
    """``template`` with each ``{{ name.path }}`` replaced from ``values``."""

    def replace(match: re.Match[str]) -> str:
        path = [p for p in match.group(2).split(".") if p]
        found = _lookup(values.get(match.group(1)), path)
        if found is None:
            return ""
        if isinstance(found, str):
            return found
        return json.dumps(found, ensure_ascii=False, separators=(",", ":"))

    return _FIELD.sub(replace, template)[:GOAL_LIMIT]


def check_goal_template(template: str, names: set[str], where: str) -> None:
    """Refuse a template that uses a name other than ``names``.

    Raises:
        ConfigurationError: names the unknown field and the known ones.
    """
    if not template.strip():
        raise ConfigurationError(f"{where}: goal must not be empty")
    for match in _FIELD.finditer(template):
        if match.group(1) not in names:
            raise ConfigurationError(
                f"{where}: goal uses {{{{ {match.group(1)} }}}}; known: "
                + ", ".join(f"{{{{ {n} }}}}" for n in sorted(names))
            )
