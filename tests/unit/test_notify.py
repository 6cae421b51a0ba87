"""Slack delivery against the stand-in: one root message per incident, whatever crashes or retries."""

from __future__ import annotations

import copy

import pytest

from pipeline.devtools.slack_standin import SlackStandIn
from pipeline.errors import DeliveryError
from pipeline.notify.slack import BotSink, Notifier
from tests.unit.test_render import alert


@pytest.fixture
def standin():
    with SlackStandIn() as s:
        yield s


def notifier(standin) -> Notifier:
    return Notifier(BotSink("xoxb-test", standin.api_url), channel_for=lambda b: "#acme")


def roots(standin):
    return [m for m in standin.messages() if m["kind"] == "post" and not m["thread_ts"]]


def test_open_then_escalate_updates_in_place_and_replays_are_skipped(standin):
    n, ledger = notifier(standin), {}
    opened = alert("awful")
    escalated = {**opened, "status": "escalated", "seq": 2, "severity": "critical"}
    assert n.deliver(opened, ledger) == "posted"
    assert n.deliver(escalated, ledger) == "updated"
    assert n.deliver(opened, ledger) == "duplicate" and n.deliver(escalated, ledger) == "duplicate"
    assert len(roots(standin)) == 1
    updates = [m for m in standin.messages() if m["kind"] == "update"]
    assert len(updates) == 1 and updates[0]["ts"] == roots(standin)[0]["ts"]
    assert [m["thread_ts"] for m in standin.messages() if m["thread_ts"]] == [roots(standin)[0]["ts"]]


def test_a_crash_between_post_and_record_does_not_post_twice(standin):
    n, ledger = notifier(standin), {}
    opened = alert("awful")
    Notifier.mark_pending(opened, ledger)
    persisted = copy.deepcopy(ledger)  # what the changelog held when the process died
    n.deliver(opened, ledger)  # posted; its record never reached the changelog
    assert n.deliver(opened, persisted) == "recovered"
    assert len(roots(standin)) == 1
    assert persisted[opened["incident_id"]]["ts"] == roots(standin)[0]["ts"]


def test_a_crash_before_the_post_still_posts(standin):
    n, ledger = notifier(standin), {}
    opened = alert("awful")
    Notifier.mark_pending(opened, ledger)
    assert n.deliver(opened, ledger) == "posted" and len(roots(standin)) == 1


def test_slack_down_raises_delivery_error_and_nothing_is_recorded(standin):
    n, ledger = notifier(standin), {}
    standin.set_down(True)
    with pytest.raises(DeliveryError):
        n.deliver(alert("awful"), ledger)
    assert ledger == {}
    standin.set_down(False)
    assert n.deliver(alert("awful"), ledger) == "posted"


def test_rate_limit_is_honoured_then_delivered(standin):
    standin.rate_limit_next(1, retry_after=1)
    assert notifier(standin).deliver(alert("awful"), {}) == "posted"
    attempts = standin.requests("chat.postMessage")
    assert len(attempts) == 2 and attempts[1].received_at - attempts[0].received_at >= 0.9
