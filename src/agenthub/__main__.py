"""``python -m agenthub``: the same as the ``agenthub`` command."""

from agenthub.cli import app

app(prog_name="agenthub")
