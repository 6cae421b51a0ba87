"""``buzzwatch replay`` and ``feedback`` against a real broker whose advertised address is wrong."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest

from pipeline.devtools.broker import LocalBroker, free_port
from tests.integration.conftest import ROOT, write_jsonl

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("cmd", ["replay", "feedback"])
def test_replay_and_feedback_to_a_broker_advertising_an_address_they_cannot_reach_stop_in_one_line_naming_it(
        cmd, tmp_path):
    """The bootstrap server answers, but the broker it names (advertised.listeners) cannot be reached.
    Before: the producer started, and ``replay`` ran 30 s and printed 625 lines of aiokafka's log
    ('Unable connect to node with id 111 ...') ending in a traceback: UnknownTopicOrPartitionError."""
    port = free_port()  # nothing listens there
    path = write_jsonl(tmp_path / "in.jsonl", [{"id": "l1", "text": "never again", "label": "negative"}])
    with LocalBroker(log_path=str(tmp_path / "broker.log"), advertised=f"127.0.0.1:{port}") as broker:
        started = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "pipeline.cli", cmd, str(path), "--bootstrap", broker.bootstrap],
                           capture_output=True, timeout=120, cwd=ROOT)
        took = time.monotonic() - started
    assert r.returncode == 1 and r.stderr.decode().splitlines() == [
        f"buzzwatch {cmd}: the Kafka broker at {broker.bootstrap} answers, but advertises 127.0.0.1:{port}, which "
        f"cannot be reached: [Errno 111] Connect call failed ('127.0.0.1', {port}) (the broker's "
        "advertised.listeners must be reachable from here)"], r.stderr.decode()[-3000:]
    assert took < 20, took


def test_feedback_to_a_broker_advertising_an_address_that_never_answers_says_how_long_it_waited(
        tmp_path, monkeypatch, silent_broker):
    """An advertised address that accepts connections and never answers is named, within the
    commands' time limit (30 s in use)."""
    from pipeline.errors import BrokerUnavailable
    from pipeline.stream import replay

    monkeypatch.setattr(replay, "REQUEST_TIMEOUT_MS", 2000)
    advertised = silent_broker
    with LocalBroker(log_path=str(tmp_path / "broker.log"), advertised=advertised) as broker:
        started = time.monotonic()
        with pytest.raises(BrokerUnavailable) as err:
            asyncio.run(replay.send_labels([{"id": "l1", "text": "x", "label": "negative"}], broker.bootstrap,
                                           "feedback"))
        took = time.monotonic() - started
    assert str(err.value) == (f"the Kafka broker at {broker.bootstrap} answers, but advertises {advertised}, which "
                              "cannot be reached: no answer within 2 s (the broker's advertised.listeners must be "
                              "reachable from here)")
    assert took < 3, took
