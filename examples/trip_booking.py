"""Book a car, a hotel and a flight; the flight fails, so the hotel and car are cancelled.

    .venv/bin/python examples/trip_booking.py

Uses the embedded server (started, or reused if `agenthub up` is running).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from temporalio import activity, workflow
from temporalio.client import WorkflowFailureError

from agenthub.errors import PermanentFailure
from agenthub.patterns import Saga, saga_progress

try:
    from examples._common import embedded_worker
except ImportError:  # run as a script: examples/ is on sys.path, not the project root
    from _common import embedded_worker  # type: ignore[no-redef]


TASK_QUEUE = "examples.trip-booking"
"""This example's own task queue: its worker runs every workflow started there."""


@dataclass
class Trip:
    traveller: str
    city: str


@activity.defn
async def book_car(trip: Trip) -> str:
    activity.logger.info("car booked for %s", trip.traveller)
    return f"car in {trip.city}"


@activity.defn
async def cancel_car(trip: Trip) -> None:
    activity.logger.info("car cancelled for %s", trip.traveller)


@activity.defn
async def book_hotel(trip: Trip) -> str:
    return f"hotel in {trip.city}"


@activity.defn
async def cancel_hotel(trip: Trip) -> None:
    activity.logger.info("hotel cancelled for %s", trip.traveller)


@activity.defn
async def book_flight(trip: Trip) -> str:
    raise PermanentFailure(f"no seats to {trip.city}")


@activity.defn
async def cancel_flight(trip: Trip) -> None:
    activity.logger.info("flight cancelled (nothing was booked) for %s", trip.traveller)


@workflow.defn
class BookTrip:
    @workflow.run
    async def run(self, trip: Trip) -> list[str]:
        booked = []
        async with Saga() as saga:
            # Each undo is registered before its step: a flight booking that failed halfway
            # is cancelled too.
            booked.append(await saga.step(book_car, trip, compensation=cancel_car))
            booked.append(await saga.step(book_hotel, trip, compensation=cancel_hotel))
            booked.append(await saga.step(book_flight, trip, compensation=cancel_flight))
        return booked


async def main() -> None:
    activities = [book_car, cancel_car, book_hotel, cancel_hotel, book_flight, cancel_flight]
    async with embedded_worker(TASK_QUEUE, [BookTrip], activities) as (client, task_queue):
        handle = await client.start_workflow(
            BookTrip.run, Trip("Ada", "Lisbon"), id=f"trip-{uuid.uuid4()}", task_queue=task_queue
        )
        try:
            print("booked:", await handle.result())
        except WorkflowFailureError as err:
            print(f"trip failed: {err.cause.cause if err.cause else err}")
        progress = await saga_progress(handle)
        print(f"saga {progress.status}; undone newest first:")
        for comp in reversed(progress.compensations):
            print(f"  {comp.name:<14} {comp.state}")


if __name__ == "__main__":
    asyncio.run(main())
