"""Slack interactivity: only requests Slack signed, recently, once, become feedback records."""

from __future__ import annotations

import asyncio
import logging

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from pipeline.devtools.broker import free_port
from pipeline.devtools.slack_standin import SlackStandIn
from pipeline.metrics import Metrics
from pipeline.notify.interact import REJECTIONS, Rejected, Verifier, feedback_for, parse_payload, sign
from pipeline.notify.render import button_value
from pipeline.notify.slack import BotSink, Notifier
from pipeline.stream.web import Health, make_web, start_web
from tests.unit.test_render import alert

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # Slack's documentation example shape
NOW = 1772440000
BODY = b"payload=%7B%22type%22%3A%22block_actions%22%7D"


def headers(stamp: int = NOW, body: bytes = BODY, secret: str = SECRET) -> dict[str, str]:
    return {"X-Slack-Request-Timestamp": str(stamp), "X-Slack-Signature": sign(secret, str(stamp), body)}


@pytest.mark.parametrize("hdrs, body, now, reason", [
    (headers(), BODY, NOW + 299, None),                           # valid, 5 minutes minus a second old
    ({k.lower(): v for k, v in headers().items()}, BODY, NOW, None),  # header names are case-insensitive
    (headers(secret="not-the-secret"), BODY, NOW, "bad_signature"),
    (headers(), BODY + b"&x=1", NOW, "bad_signature"),            # body tampered with
    (headers(), BODY, NOW + 301, "stale_timestamp"),              # captured and replayed later
    (headers(), BODY, NOW - 301, "stale_timestamp"),              # stamped in the future
    ({"X-Slack-Signature": headers()["X-Slack-Signature"]}, BODY, NOW, "missing_headers"),
    ({"X-Slack-Request-Timestamp": str(NOW)}, BODY, NOW, "missing_headers"),
    ({}, BODY, NOW, "missing_headers"),
    ({**headers(), "X-Slack-Request-Timestamp": "yesterday"}, BODY, NOW, "bad_timestamp"),
    ({**headers(), "X-Slack-Signature": "v0=" + "0" * 64}, BODY, NOW, "bad_signature"),
    ({**headers(), "X-Slack-Signature": "v1=abc"}, BODY, NOW, "bad_signature"),
])
def test_signature_verification(hdrs, body, now, reason):
    verifier = Verifier(SECRET)
    if reason is None:
        verifier.check(hdrs, body, now=now)
    else:
        with pytest.raises(Rejected) as err:
            verifier.check(hdrs, body, now=now)
        assert err.value.reason == reason
        assert reason in REJECTIONS  # the worker exposes its counter at 0 from the start


def test_a_replayed_request_within_the_window_is_refused():
    verifier = Verifier(SECRET)
    verifier.check(headers(), BODY, now=NOW)
    with pytest.raises(Rejected, match="replayed") as err:
        verifier.check(headers(), BODY, now=NOW + 10)
    assert err.value.reason in REJECTIONS
    verifier.check(headers(NOW + 20), BODY, now=NOW + 20)  # the same press, newly signed: a new request


def test_the_secret_is_not_in_the_verifiers_repr():
    assert SECRET not in repr(Verifier(SECRET))


def test_payload_to_feedback():
    value = button_value({"brand": "acme", "incident_id": "acme-2026-03-02T09:20:00Z"})
    payload = {"type": "block_actions", "user": {"id": "U0ALICE", "username": "alice"},
               "container": {"channel_id": "C0ACME", "message_ts": "1.2"},
               "actions": [{"action_id": "grafana"}, {"action_id": "confirmed", "value": value}]}
    (record,) = feedback_for(payload, now=NOW)
    assert record == {"source": "slack", "action": "confirmed", "incident_id": "acme-2026-03-02T09:20:00Z",
                      "brand": "acme", "user_id": "U0ALICE", "user_name": "alice", "at": "2026-03-02T08:26:40Z",
                      "channel": "C0ACME", "message_ts": "1.2"}
    assert feedback_for({"type": "view_submission"}, now=NOW) == []
    for bad in ({**payload, "user": {"id": "<!channel>"}}, {**payload, "actions": [{"action_id": "confirmed"}]}):
        with pytest.raises(Rejected, match="bad_payload"):
            feedback_for(bad, now=NOW)
    for body in (b"payload=not-json", b"nothing=here", b"\xff"):
        with pytest.raises(Rejected, match="bad_payload"):
            parse_payload(body)
    assert "bad_payload" in REJECTIONS


def test_endpoint_end_to_end_with_the_stand_in_pressing_buttons(caplog):
    """The stand-in plays Slack: posts a real incident, then sends signed presses to the real endpoint."""
    caplog.set_level(logging.DEBUG)
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    published: list[dict] = []
    health = Health(watch={"mentions"})

    async def publish(record):
        published.append(record)

    async def scenario(standin: SlackStandIn) -> None:
        port = free_port()
        runner = await start_web(make_web(health, metrics, Verifier(SECRET), publish), port)
        url = f"http://127.0.0.1:{port}"
        try:
            await asyncio.to_thread(Notifier(BotSink("xoxb-test", standin.api_url),
                                             channel_for=lambda b: "C0ACME",
                                             grafana_template="https://g.example/d/bw?var-brand={brand}",
                                             buttons=True).deliver, alert("awful"), {})
            ts = standin.messages()[0]["ts"]

            def press(*args, **kw):
                return asyncio.to_thread(standin.press, f"{url}/slack/actions", *args, **kw)

            assert (await press(SECRET, ts, "acknowledge", "U0ALICE"))[0] == 200
            assert (await press("wrong-secret", ts, "confirmed"))[0] == 401
            assert (await press(SECRET, ts, "confirmed", timestamp=NOW - 3600))[0] == 401
            assert (await press(SECRET, ts, "grafana"))[0] == 200  # link buttons are reported too: no record
            status, _ = await asyncio.to_thread(_get, f"{url}/healthz")
            assert status == 200
            assert (await asyncio.to_thread(_get, f"{url}/readyz"))[0] == 503
            health.observe({("mentions", 0): (5, 5)}, now=0.0)
            assert await asyncio.to_thread(_get, f"{url}/readyz") == (200, "caught up\n")
        finally:
            await runner.cleanup()

    with SlackStandIn() as standin:
        asyncio.run(scenario(standin))
    assert [(r["action"], r["user_id"], r["brand"]) for r in published] == [("acknowledge", "U0ALICE", "acme")]
    assert registry.get_sample_value("buzzwatch_slack_actions_total", {"action": "acknowledge"}) == 1
    assert registry.get_sample_value("buzzwatch_slack_rejected_requests_total", {"reason": "bad_signature"}) == 1
    assert registry.get_sample_value("buzzwatch_slack_rejected_requests_total", {"reason": "stale_timestamp"}) == 1
    exposed = generate_latest(registry).decode()
    assert SECRET not in exposed and SECRET not in caplog.text and "xoxb-test" not in caplog.text


def test_without_a_signing_secret_every_press_is_refused():
    registry = CollectorRegistry()

    async def scenario() -> int:
        port = free_port()
        runner = await start_web(make_web(Health(watch=set()), Metrics(registry), None, _never), port)
        try:
            return (await asyncio.to_thread(_post, f"http://127.0.0.1:{port}/slack/actions", BODY, headers()))[0]
        finally:
            await runner.cleanup()

    assert asyncio.run(scenario()) == 401
    assert registry.get_sample_value("buzzwatch_slack_rejected_requests_total", {"reason": "not_configured"}) == 1
    assert "not_configured" in REJECTIONS


async def _never(record):
    raise AssertionError("nothing may be published")


def _get(url: str) -> tuple[int, str]:
    return _post(url, None, {})


def _post(url: str, body: bytes | None, hdrs: dict[str, str]) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=hdrs), timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_lag_positions_from_faust_consumer_state():
    """Committed offset when there is one, else the next offset to read; unknown ends are left out."""
    from types import SimpleNamespace

    from faust.types import TP

    from pipeline.stream.web import lag_positions

    a, b, c, d, other = TP("mentions", 0), TP("mentions", 1), TP("mentions", 2), TP("alerts", 0), TP("x", 0)
    ends = {a: 100, b: 50, c: None, d: 0, other: 7}
    consumer = SimpleNamespace(assignment=lambda: set(ends), highwater=ends.get,
                               _committed_offset={a: 90}, _read_offset={b: 44})
    assert lag_positions(consumer, ["mentions", "alerts"]) == {
        ("mentions", 0): (90, 100),   # committed
        ("mentions", 1): (45, 50),    # nothing committed yet: next to read
        ("alerts", 0): (0, 0),        # empty partition: no lag
    }
