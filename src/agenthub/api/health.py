"""Route of the health check."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from agenthub._version import __version__

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, Any]:
    """``{"status": "ok", "version": ...}`` while the API serves."""
    return {"status": "ok", "version": __version__}
