"""Delete offloaded payload files that no history references any more.

Offloaded payloads (``<data_dir>/payloads``) are content-addressed files named by their
SHA-256; a history holds only that hash. The server deletes a closed workflow's history
when its namespace's retention ends, and :func:`collect_payload_garbage` then deletes the
files no remaining history (nor a running activity's heartbeat) names. Files younger than
``grace`` are always kept: a workflow may be about to record a reference just stored.

``agenthub gc`` runs it by hand; ``agenthub up`` runs it every
``AGENTHUB_PAYLOAD_GC_INTERVAL`` seconds.

Example::

    report = await collect_payload_garbage(client, settings.data_dir / "payloads")
    print(f"deleted {report.deleted} files, {report.freed_bytes} bytes")
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

__all__ = ["PayloadGcReport", "collect_payload_garbage", "describe_gc"]

_HASH = re.compile(rb"[0-9a-f]{64}")


@dataclass
class PayloadGcReport:
    """What a collection found and did."""

    workflows: int = 0
    """Histories scanned (open and closed within retention)."""
    files: int = 0
    """Payload files found."""
    kept_referenced: int = 0
    kept_young: int = 0
    deleted: int = 0
    """Files deleted (with ``dry_run``: that would be deleted)."""
    freed_bytes: int = 0
    dry_run: bool = False
    deleted_hashes: list[str] = field(default_factory=list)


def _payload_files(directory: Path) -> dict[str, Path]:
    if not directory.is_dir():
        return {}
    return {
        p.name: p
        for p in directory.glob("??/*")
        if p.is_file() and len(p.name) == 64 and not p.name.startswith(".")
    }


async def _referenced(
    client: Client, candidates: set[str], progress: Callable[[int], None] | None
) -> tuple[set[str], int]:
    """The candidates named anywhere in the namespace's histories or pending heartbeats."""
    found: set[str] = set()
    scanned = 0
    async for execution in client.list_workflows():
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        try:
            history = await handle.fetch_history()
            blobs = [event.SerializeToString() for event in history.events]
            if execution.status == WorkflowExecutionStatus.RUNNING:
                # Heartbeat details live in the pending activity, not in the history.
                description = await handle.describe()
                blobs.append(description.raw_description.SerializeToString())
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:  # deleted while we looked
                continue
            raise
        for blob in blobs:
            found.update(m.decode() for m in _HASH.findall(blob) if m.decode() in candidates)
        scanned += 1
        if progress is not None:
            progress(scanned)
    return found, scanned


async def collect_payload_garbage(
    client: Client,
    directory: Path,
    *,
    grace: timedelta = timedelta(hours=1),
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> PayloadGcReport:
    """Delete payload files in ``directory`` that no history of ``client``'s namespace
    references and that are older than ``grace``.

    Every client and worker sharing ``directory`` must use that namespace: a file another
    namespace references looks unreferenced here. ``progress`` is called with the number
    of histories scanned so far.
    """
    report = PayloadGcReport(dry_run=dry_run)
    files = _payload_files(directory)
    report.files = len(files)
    cutoff = time.time() - grace.total_seconds()
    old = {name for name, path in files.items() if path.stat().st_mtime < cutoff}
    report.kept_young = len(files) - len(old)
    if not old:
        report.workflows = 0
        return report
    referenced, report.workflows = await _referenced(client, old, progress)
    report.kept_referenced = len(referenced)
    for name in sorted(old - referenced):
        path = files[name]
        try:
            size = path.stat().st_size
            if not dry_run and not await asyncio.to_thread(
                _delete_unless_stored_again, path, cutoff
            ):
                report.kept_young += 1
                continue
        except FileNotFoundError:
            continue
        report.deleted += 1
        report.freed_bytes += size
        report.deleted_hashes.append(name)
    return report


def _delete_unless_stored_again(path: Path, cutoff: float) -> bool:
    """Delete ``path`` unless it was stored again after ``cutoff``; whether it was deleted.

    It is moved aside first: a writer storing it again meanwhile either touched it before
    the move (seen here, moved back) or finds it gone and writes it anew.
    """
    doomed = path.with_name(f".tmp-gc-{path.name}")
    path.rename(doomed)
    if doomed.stat().st_mtime >= cutoff:
        doomed.rename(path)
        return False
    doomed.unlink()
    return True


def describe_gc(report: PayloadGcReport) -> str:
    """One line about a sweep."""
    verb = "would delete" if report.dry_run else "deleted"
    return (
        f"{verb} {report.deleted} of {report.files} payload files "
        f"({report.freed_bytes / 1_000_000:.1f} MB); kept {report.kept_referenced} still "
        f"referenced and {report.kept_young} stored recently; scanned {report.workflows} "
        "histories"
    )
