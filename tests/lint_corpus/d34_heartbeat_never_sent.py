# expect: AH112
from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def transcode(video: str) -> str:
    return f"transcoded {video}"  # a long job that never calls activity.heartbeat()


@workflow.defn
class Transcode:
    @workflow.run
    async def run(self, video: str) -> str:
        return await workflow.execute_activity(
            transcode,
            video,
            start_to_close_timeout=timedelta(hours=1),
            heartbeat_timeout=timedelta(seconds=30),
        )
