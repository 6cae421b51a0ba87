"""A worker that began to stop exits within its deadline, whatever hangs (stream/worker.py)."""

from __future__ import annotations

import asyncio
import threading
import time

from pipeline.stream.worker import STOP_DEADLINE_S, arm_stop_deadline, waiting_tasks, waiting_threads


def test_a_stop_that_hangs_past_its_deadline_exits_with_status_1_then_and_not_before(caplog):
    exited: list[int] = []
    done = threading.Event()

    def exit_now(code: int) -> None:
        exited.append(code)
        done.set()

    armed = time.monotonic()
    timer = arm_stop_deadline(0.3, exit_now)
    assert timer.daemon  # never holds up an exit of its own
    time.sleep(0.1)
    assert exited == []  # an orderly stop still has its time
    assert done.wait(5)
    assert time.monotonic() - armed >= 0.3
    assert exited == [1]
    assert "exiting now" in caplog.text and "nothing is lost" in caplog.text
    assert 5 < STOP_DEADLINE_S < 60  # an orderly stop takes a few seconds; the worker tests wait 60


def test_the_deadline_says_where_each_task_still_waits(caplog):
    """The hang it cuts short is logged first, task by task, innermost await first."""
    loop = asyncio.new_event_loop()
    gate = asyncio.Event()

    async def fetch_from_broker() -> None:
        await gate.wait()

    async def stop_consumer() -> None:
        await fetch_from_broker()

    task = loop.create_task(stop_consumer(), name="consumer-stop")
    loop.run_until_complete(asyncio.sleep(0))  # the task runs up to its await
    try:
        lines = waiting_tasks(loop)
        assert len(lines) == 1 and lines[0].startswith("task consumer-stop (main loop): wait ("), lines
        assert lines[0].index("fetch_from_broker") < lines[0].index("stop_consumer")
        done = threading.Event()
        arm_stop_deadline(0.05, lambda code: done.set(), describe=lambda: waiting_tasks(loop))
        assert done.wait(5)
        assert "still waiting: task consumer-stop (main loop): wait (" in caplog.text
    finally:
        task.cancel()
        loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
        loop.close()


def test_a_report_that_fails_does_not_keep_the_process_alive(caplog):
    exited: list[int] = []
    done = threading.Event()

    def broken() -> list[str]:
        raise RuntimeError("no loop")

    arm_stop_deadline(0.05, lambda code: (exited.append(code), done.set()), describe=broken)
    assert done.wait(5)
    assert exited == [1] and "could not tell what is still waiting" in caplog.text


def test_a_thread_blocked_in_a_plain_call_is_reported_where_it_blocks():
    """A loop stuck in a join or a lock has no task to show: its thread's frames tell."""
    release = threading.Event()

    def join_the_consumer_thread() -> None:
        release.wait()

    blocked = threading.Thread(target=join_the_consumer_thread, name="faust-consumer", daemon=True)
    blocked.start()
    try:
        line, = [t for t in waiting_threads() if t.startswith("thread faust-consumer:")]
        assert "wait (threading.py" in line and "join_the_consumer_thread (test_worker_stop.py" in line
        assert line.index("wait (") < line.index("join_the_consumer_thread")
    finally:
        release.set()
        blocked.join()


def test_the_workers_stop_arms_the_deadline_first_and_once(monkeypatch):
    """Every way a worker stops (a crash, SIGTERM) goes through ``Worker.stop``: the deadline must be
    running before Faust's own stop, which is what hangs, and a second stop must not push it back."""
    import faust

    from pipeline.stream import worker

    armed: list[float] = []
    order: list[str] = []

    def arm(seconds: float = STOP_DEADLINE_S, *args: object, **kwargs: object) -> threading.Timer:
        armed.append(seconds)
        order.append("armed")
        return threading.Timer(3600, lambda: None)  # never started: nothing fires

    async def faust_stop(self: object) -> None:
        order.append("faust stop")

    monkeypatch.setattr(worker, "arm_stop_deadline", arm)
    monkeypatch.setattr(faust.Worker, "stop", faust_stop)
    w = worker.Worker.__new__(worker.Worker)  # no app, no broker: only its stop is under test

    async def stop_twice() -> None:
        await w.stop()
        await w.stop()

    asyncio.run(stop_twice())
    assert armed == [STOP_DEADLINE_S]
    assert order == ["armed", "faust stop", "faust stop"]
