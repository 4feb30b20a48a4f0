"""``python -m agenthub``: the same as the ``agenthub`` command."""

from agenthub.cli import main

main()
