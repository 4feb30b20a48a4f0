# expect: clean
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow

from agenthub.patterns import Heartbeat

OPTIONS: dict[str, Any] = {"start_to_close_timeout": timedelta(minutes=1)}


@activity.defn
async def transcode(video: str) -> str:
    activity.heartbeat("started")
    return f"transcoded {video}"


@activity.defn
async def index(video: str) -> str:
    async with Heartbeat() as hb:
        hb.progress(1)
    return f"indexed {video}"


@workflow.defn
class Pipeline:
    @workflow.run
    async def run(self, video: str) -> list[str]:
        hour, beat = timedelta(hours=1), timedelta(seconds=30)
        return [
            await workflow.execute_activity(
                transcode, video, start_to_close_timeout=hour, heartbeat_timeout=beat
            ),
            await workflow.execute_activity(
                index, video, schedule_to_close_timeout=hour, heartbeat_timeout=beat
            ),
            await workflow.execute_local_activity(
                transcode, video, start_to_close_timeout=timedelta(seconds=5)
            ),
            await workflow.execute_activity(index, video, **OPTIONS),
        ]
