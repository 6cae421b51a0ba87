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
