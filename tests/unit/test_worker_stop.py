"""A worker that began to stop exits within its deadline, whatever hangs (stream/worker.py)."""

from __future__ import annotations

import threading
import time

from pipeline.stream.worker import STOP_DEADLINE_S, arm_stop_deadline


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
