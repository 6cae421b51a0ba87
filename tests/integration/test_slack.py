"""Slack on a real broker: an outage holds alerts (nothing lost, nothing doubled, in order), 429s are
honoured, the incident renders with its chart, and signed button presses reach the feedback topic."""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.error
import urllib.request

import pytest

from pipeline.sim.generate import demo_spec, generate
from tests.integration.conftest import replay, write_jsonl
from tests.integration.test_worker import read_topic, root_posts, wait_until

pytestmark = pytest.mark.integration
SECRET = "it-signing-secret-5c1e0b"
TOKEN = "xoxb-test-token"  # what conftest's start_worker gives the worker
OUTAGE_S = float(os.environ.get("BUZZWATCH_OUTAGE_S", "20"))


@pytest.fixture(scope="module")
def demo_rows() -> list[dict]:
    return generate(demo_spec(), seed=7)


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def outage_scenario(broker, slack, start_worker, tmp_path, rows, outage_s: float) -> None:
    worker = start_worker(SLACK_SIGNING_SECRET=SECRET,
                          BUZZWATCH_GRAFANA_URL_TEMPLATE="https://grafana.example/d/bw?var-brand={brand}")
    web = f"http://127.0.0.1:{worker.web_port}"
    assert get(f"{web}/healthz") == 200

    slack.set_down(True)
    down_since = time.monotonic()
    replay(write_jsonl(tmp_path / "stream.jsonl", rows), broker.bootstrap)
    wait_until(lambda: worker.sample("buzzwatch_slack_pending_alerts") >= 1, 90, "an alert held by the outage",
               worker)
    alerts = [json.loads(r.value) for r in asyncio.run(read_topic(broker.bootstrap, "alerts", 2))]
    assert [a["status"] for a in alerts] == ["open", "escalated"], alerts
    time.sleep(max(0.0, outage_s - (time.monotonic() - down_since)))
    assert not [m for m in slack.messages()], "nothing gets through while Slack is down"
    assert worker.sample("buzzwatch_slack_deliveries_total", result="posted") == 0

    slack.set_down(False)
    slack.rate_limit_next(2, retry_after=1)  # Slack comes back rate limiting
    wait_until(lambda: worker.sample("buzzwatch_slack_deliveries_total", result="updated") >= 1, 120,
               "both alerts delivered after the outage", worker)

    # Nothing lost, nothing doubled, in order: one root, then the escalation updating it and replying in its thread.
    (root,) = root_posts(slack, "#acme-oncall")
    steps = [m for m in slack.messages() if m["kind"] in ("post", "update")]
    assert [(m["kind"], m["ts"] == root["ts"], m["thread_ts"]) for m in steps] == [
        ("post", True, None), ("update", True, None), ("post", False, root["ts"])]
    assert "[NEW] HIGH" in steps[0]["text"] and "[ESCALATED] CRITICAL" in steps[2]["text"]
    # The brands file pings acme's comms and exec groups on critical at any hour (high is quiet at night in Paris).
    assert steps[2]["text"].startswith("<!subteam^S0ACMECOMMS> <!subteam^S0ACMEEXEC> ")
    assert "<!subteam" not in steps[1]["text"]
    assert [r.status for r in slack.requests() if r.status == 429] == [429, 429]
    assert worker.sample("buzzwatch_slack_deliveries_total", result="posted") + worker.sample(
        "buzzwatch_slack_deliveries_total", result="recovered") == 1
    assert worker.sample("buzzwatch_slack_pending_alerts") == 0

    # What on-call sees: numbers, terms, samples, buttons, the Grafana link, the chart in the thread.
    current = slack.message(root["ts"])
    text = json.dumps(current["blocks"])
    assert "*Negatives*" in text and "Driving it" in text and "Top negative mentions" in text
    assert "https://grafana.example/d/bw?var-brand=acme" in text
    charts = wait_until(lambda: slack.files(), 30, "the charts", worker)
    assert all(f["data"].startswith(b"\x89PNG") and f["thread_ts"] == root["ts"] for f in charts)

    # Buttons: a forged and a stale press are refused, a signed one is written to `feedback` and shown.
    endpoint = f"{web}/slack/actions"
    assert slack.press(endpoint, "not-the-secret", root["ts"], "acknowledge")[0] == 401
    assert slack.press(endpoint, SECRET, root["ts"], "acknowledge", timestamp=int(time.time()) - 600)[0] == 401
    assert slack.press(endpoint, SECRET, root["ts"], "acknowledge", "U0ALICE")[0] == 200
    wait_until(lambda: "Acknowledged by <@U0ALICE>" in json.dumps(slack.message(root["ts"])["blocks"]), 30,
               "the ack on the root message", worker)
    (fb,) = [json.loads(r.value) for r in asyncio.run(read_topic(broker.bootstrap, "feedback", 1))]
    assert (fb["action"], fb["brand"], fb["incident_id"], fb["user_id"]) == (
        "acknowledge", "acme", alerts[0]["incident_id"], "U0ALICE")
    assert worker.sample("buzzwatch_slack_actions_total", action="acknowledge") == 1
    assert worker.sample("buzzwatch_slack_rejected_requests_total", reason="bad_signature") == 1
    assert worker.sample("buzzwatch_slack_rejected_requests_total", reason="stale_timestamp") == 1

    # Probes and lag: ready once caught up; lag exported per partition.
    wait_until(lambda: get(f"{web}/readyz") == 200, 30, "readiness", worker)
    assert 'buzzwatch_consumer_lag_records{partition="0",topic="mentions"}' in worker.metrics()
    # Secrets never in /metrics or the log.
    exposed = worker.metrics() + worker.log_path.read_text(errors="replace")
    assert SECRET not in exposed and TOKEN not in exposed


def test_slack_outage_429_buttons_and_probes(broker, slack, start_worker, tmp_path, demo_rows):
    outage_scenario(broker, slack, start_worker, tmp_path, demo_rows, OUTAGE_S)


@pytest.mark.soak
@pytest.mark.timeout(900)
@pytest.mark.skipif(not os.environ.get("BUZZWATCH_SOAK"), reason="soak: make test-soak (BUZZWATCH_SOAK=1)")
def test_five_minute_slack_outage(broker, slack, start_worker, tmp_path, demo_rows):
    outage_scenario(broker, slack, start_worker, tmp_path, demo_rows, 300.0)


def drifting_rows(shares: list[float]) -> list[dict]:
    """acme at ~40 mentions an hour, one day per share from 2026-03-02, then two quiet hours that
    end the last day in event time."""
    from pipeline.records import format_time, parse_time
    from pipeline.sim.generate import BrandSpec, StreamSpec

    rows: list[dict] = []
    start = parse_time("2026-03-02T00:00:00Z")
    for d, share in enumerate([*shares, 0.12]):
        spec = StreamSpec(start=format_time(start + d * 86400), hours=24 if d < len(shares) else 2,
                          brands=[BrandSpec("acme", 40, negative_share=share, daily_amplitude=0.3)])
        rows += generate(spec, seed=d, with_brand=True)
    for i, r in enumerate(rows):
        r["id"] = f"drift-{i}"
    return rows


def test_a_drift_over_days_reaches_the_digest_channel_once_a_day_and_never_pages(broker, slack, start_worker, tmp_path):
    """The worker scores and counts a brand whose negative share goes 12, 12, 12, 20, 30%: no alert; the
    digest topic gets the two days that rose - the same notices as `buzzwatch score | buzzwatch detect
    --digest` over the same mentions - and the digest channel one message a day, without a ping. A notice
    delivered again (a replay after a crash) posts nothing."""
    import subprocess
    import sys

    from tests.integration.conftest import ROOT

    rows = drifting_rows([0.12, 0.12, 0.12, 0.2, 0.3])
    path = write_jsonl(tmp_path / "drift.jsonl", rows)
    scored, digest_file = tmp_path / "scored.jsonl", tmp_path / "digest.jsonl"
    for cmd in (["score", "--input", str(path), "--output", str(scored)],
                ["detect", "--input", str(scored), "--output", str(tmp_path / "alerts.jsonl"), "--digest", str(digest_file)]):
        subprocess.run([sys.executable, "-m", "pipeline.cli", *cmd], check=True, cwd=ROOT, timeout=120)
    offline = [json.loads(x) for x in digest_file.read_text().splitlines()]
    assert [n["day"] for n in offline] == ["2026-03-05", "2026-03-06"]
    assert (tmp_path / "alerts.jsonl").read_text() == ""

    worker = start_worker(SLACK_DIGEST_CHANNEL="#brand-digest")
    replay(path, broker.bootstrap)
    posts = wait_until(lambda: len(root_posts(slack, "#brand-digest")) >= 2 and root_posts(slack, "#brand-digest"),
                       120, "two digest messages", worker)
    written = asyncio.run(read_topic(broker.bootstrap, "digest", 2))  # keyed by day: one partition a day
    online = sorted((json.loads(r.value) for r in written), key=lambda n: n["day"])
    assert online == offline  # what the worker decided is what the offline CLI decides
    assert sorted(r.key for r in written) == [b"digest/2026-03-05", b"digest/2026-03-06"]
    assert [json.loads(r.value) for r in asyncio.run(read_topic(broker.bootstrap, "alerts", 0, timeout=3))] == []
    posts = sorted(posts, key=lambda p: p["text"])  # two days, two partitions: either may be told first
    assert [p["text"] for p in posts] == [f"Daily digest {d}: negativity rising for 1 brand - Acme Air"
                                          for d in ("2026-03-05", "2026-03-06")]  # no ping
    shown = json.dumps(posts[1]["blocks"], ensure_ascii=False)
    assert "Day by day: 03-02 *11%*" in shown and f"03-06 *{offline[1]['negative_share']:.0%}*" in shown
    assert worker.sample("buzzwatch_digest_notices_total", brand="acme") == 2

    # A notice delivered twice (the topic re-read after a crash) is recognised: still two messages.
    # The topic is keyed by day: a day's notices, and its ledger entry, share a partition.
    asyncio.run(_produce(broker.bootstrap, "digest", [(b"digest/2026-03-05", json.dumps(offline[0]).encode())]))
    wait_until(lambda: worker.sample("buzzwatch_slack_deliveries_total", result="duplicate") >= 1, 60,
               "the repeated notice recognised", worker)
    assert len(root_posts(slack, "#brand-digest")) == 2
    # A record on the digest topic that is no notice goes to the dead letters with its reason.
    asyncio.run(_produce(broker.bootstrap, "digest", [(b"digest/2026-03-07", b'{"brand": "acme"}')]))
    wait_until(lambda: worker.sample("buzzwatch_dlq_records_total", topic="digest") == 1, 60, "the dead letter", worker)
    (dead,) = [json.loads(r.value) for r in asyncio.run(read_topic(broker.bootstrap, "mentions.dlq", 1))]
    assert (dead["topic"], dead["reason"]) == ("digest", "day: required non-empty string, got nothing")
    assert len(root_posts(slack, "#brand-digest")) == 2


async def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, key=key, value=value)
    finally:
        await producer.stop()


def test_an_escalation_slack_took_without_answering_is_replied_once_in_its_thread(broker, slack, start_worker):
    """An escalation updates the root and replies in its thread, pinging on-call. Slack takes the reply
    but its answer never comes (the client times out after 10 s): the step fails and is tried again.
    Slack is asked first whether the thread has the reply (as for a root message, by its metadata),
    so the second attempt does not post it, and ping everyone, a second time."""
    from pipeline.devtools.example_incident import incident_alerts
    from pipeline.records import encode

    opened, escalated = incident_alerts("acme")[:2]
    assert (opened["status"], escalated["status"]) == ("open", "escalated")
    worker = start_worker()
    asyncio.run(_produce(broker.bootstrap, "alerts", [(b"acme", encode(opened))]))
    (root,) = wait_until(lambda: root_posts(slack, "#acme-oncall"), 60, "the root post", worker)
    slack.stall_next(1, 12.0, method="chat.postMessage")  # the next post: the escalation's reply
    asyncio.run(_produce(broker.bootstrap, "alerts", [(b"acme", encode(escalated))]))
    wait_until(lambda: worker.sample("buzzwatch_slack_deliveries_total", result="updated")
               + worker.sample("buzzwatch_slack_deliveries_total", result="recovered") >= 1, 90,
               "the escalation delivered", worker)
    replies = [m for m in slack.messages() if m["kind"] == "post" and m["thread_ts"] == root["ts"]]
    assert len(replies) == 1, [r["text"] for r in replies]
    assert "[ESCALATED] CRITICAL" in replies[0]["text"]
    assert len(root_posts(slack, "#acme-oncall")) == 1
    assert all(m["ts"] == root["ts"] for m in slack.messages() if m["kind"] == "update")
    assert worker.sample("buzzwatch_slack_deliveries_total", result="recovered") == 1  # found, not posted again


def test_a_bad_record_on_the_alerts_and_feedback_topics_is_dead_lettered_and_the_next_alert_still_goes_out(
        broker, slack, start_worker):
    """The agents' dead letters (``to_dlq``) are written, acknowledged, and the agent goes on."""
    from pipeline.devtools.example_incident import incident_alerts
    from pipeline.records import encode

    worker = start_worker()
    asyncio.run(_produce(broker.bootstrap, "alerts", [(b"acme", b'{"brand": "acme"}'),
                                                      (b"acme", encode(incident_alerts("acme")[0]))]))
    asyncio.run(_produce(broker.bootstrap, "feedback", [(b"acme", b"not json")]))
    wait_until(lambda: root_posts(slack, "#acme-oncall"), 60, "the root post after the bad alert", worker)
    wait_until(lambda: worker.sample("buzzwatch_dlq_records_total", topic="feedback") == 1, 60,
               "the bad feedback dead-lettered", worker)
    assert worker.sample("buzzwatch_dlq_records_total", topic="alerts") == 1
    dead = [json.loads(r.value) for r in asyncio.run(read_topic(broker.bootstrap, "mentions.dlq", 2))]
    assert sorted(d["topic"] for d in dead) == ["alerts", "feedback"]
