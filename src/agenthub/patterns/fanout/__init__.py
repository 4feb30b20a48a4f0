"""Fan-out / fan-in: run an activity over many items, bounded, ordered, failure-aware.

In workflow code, :func:`fan_out` runs an activity (or a child workflow) once per item with
at most ``max_concurrency`` in flight, folds the results with a :class:`Reduce` so the fan-in stays
small, and applies a failure policy. Above ``batch_size`` items it splits the work over
child workflows (:class:`FanOutBatch`, registered on every agenthub worker), recursively, so
no history grows past Temporal's limits: 1M items are 1K children of 1K activities, never
1M activities in one workflow. Items may be a list; or come by reference, so a huge input
never enters the parent's history: an :class:`ItemRange` (the activity gets each index), or
:class:`ItemPages` (a loader activity reads each batch's items, from a file, a table or an
object store, in the child workflow that processes them).

Progress (done / failed / total) is served by the ``agenthub.fanout`` query of each
workflow, which also names the child workflows in flight; :func:`fan_out_progress` reads a
whole tree from a client (the parent's count plus what its running children have done), so a
progress bar moves with every item, not only when a child of 1,000 items finishes. Reading
progress adds nothing to any history. A workflow may run several fan-outs, in turn or at
once; their children are named apart, and the query reports the one started last.

Example::

    @workflow.defn
    class Thumbnails:
        @workflow.run
        async def run(self, count: int) -> FanOutResult:
            return await fan_out(
                make_thumbnail, ItemRange(0, count),
                max_concurrency=50, reduce=Reduce("count"), failures=Tolerate(max_ratio=0.01),
            )
"""

from agenthub.patterns.fanout.client import fan_out_progress
from agenthub.patterns.fanout.engine import (
    FANOUT_QUERY,
    ActivityOptions,
    FanOutBatch,
    FanOutJob,
    FanOutProgress,
    FanOutResult,
    fan_out,
)
from agenthub.patterns.fanout.items import ItemPages, ItemRange
from agenthub.patterns.fanout.policy import CollectErrors, FailFast, ItemFailure, Tolerate
from agenthub.patterns.fanout.reduce import Reduce, reducer

__all__ = [
    "FANOUT_QUERY",
    "ActivityOptions",
    "CollectErrors",
    "FailFast",
    "FanOutBatch",
    "FanOutJob",
    "FanOutProgress",
    "FanOutResult",
    "ItemFailure",
    "ItemPages",
    "ItemRange",
    "Reduce",
    "Tolerate",
    "fan_out",
    "fan_out_progress",
    "reducer",
]
