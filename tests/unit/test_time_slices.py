"""``batches.TimeSlices``: a long loop in the worker's event loop gives way to other tasks once a
slice of work is spent, and not at every step (each yield is a trip through the event loop)."""

from __future__ import annotations

import asyncio
import time

from pipeline.stream.batches import TimeSlices


async def _interleaving(slice_s: float, steps: int, step_s: float) -> list[str]:
    order: list[str] = []

    async def long_loop() -> None:
        pause = TimeSlices(slice_s)
        for _ in range(steps):
            end = time.perf_counter() + step_s
            while time.perf_counter() < end:  # work that holds the loop
                pass
            order.append("step")
            await pause()

    async def other() -> None:  # a fetch waiting for its turn
        order.append("other")

    await asyncio.gather(long_loop(), other())
    return order


def test_a_spent_slice_lets_a_waiting_task_run_before_the_loop_ends() -> None:
    order = asyncio.run(_interleaving(slice_s=0.003, steps=10, step_s=0.002))
    # the other task ran once the first slice was spent - after two steps of 2 ms, or after one if
    # the machine held this process past the slice - and not after all ten
    assert order.index("other") in (1, 2), order


def test_within_a_slice_the_loop_does_not_yield() -> None:
    order = asyncio.run(_interleaving(slice_s=10.0, steps=10, step_s=0.0))
    assert order == ["step"] * 10 + ["other"]


def test_a_spent_slice_gives_way_long_enough_for_a_task_that_needs_several_turns() -> None:
    """A fetch needs a few turns of the loop (a thread's answer, the handler, the count): it finishes
    within one pause of the long loop, not one turn per slice."""
    order: list[str] = []

    async def long_loop() -> None:
        pause = TimeSlices(0.003)
        for _ in range(10):
            end = time.perf_counter() + 0.002
            while time.perf_counter() < end:
                pass
            order.append("step")
            await pause()

    async def several_turns() -> None:
        for _ in range(5):
            await asyncio.sleep(0)
        order.append("done")

    async def both() -> None:
        await asyncio.gather(long_loop(), several_turns())

    asyncio.run(both())
    assert order.index("done") in (1, 2), order
