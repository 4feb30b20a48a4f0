"""The hub's HTTP API (FastAPI): a thin shell over agenthub.runtime and agenthub.patterns."""

from agenthub.api.app import create_app

__all__ = ["create_app"]
