"""The whole pipeline on a real broker: replayed mentions -> worker -> Slack stand-in and /metrics."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import time

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from pipeline.records import format_time
from pipeline.sim.bench import clock_ticks, prescored, produce
from pipeline.sim.generate import demo_spec, generate
from tests.integration.conftest import ROOT, replay, write_jsonl

pytestmark = pytest.mark.integration
MALFORMED = b'{"id": "bad-1", "text": "@acme broken record", "created_at": "not a time"}'


def wait_until(predicate, timeout: float, what: str, worker=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}" + (f"\n{worker.log_tail()}" if worker else ""))


def root_posts(slack, channel: str) -> list[dict]:
    return [m for m in slack.messages() if m["kind"] == "post" and m["channel"] == channel and not m.get("thread_ts")]


async def read_topic(bootstrap: str, topic: str, n: int, timeout: float = 20.0) -> list:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    out: list = []
    try:
        deadline = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                out.extend(records)
    finally:
        await consumer.stop()
    return out


@pytest.fixture(scope="module")
def demo_rows() -> list[dict]:
    return generate(demo_spec(), seed=7)


def test_negative_burst_alerts_positive_burst_does_not_bad_record_goes_to_dlq(
        broker, slack, start_worker, tmp_path, demo_rows):
    worker = start_worker()
    early = len(demo_rows) // 10  # the malformed record sits early: everything after it must still count
    path = write_jsonl(tmp_path / "stream.jsonl", [*demo_rows[:early], MALFORMED, *demo_rows[early:]])
    replay(path, broker.bootstrap)

    per_brand = {b: sum(1 for r in demo_rows if r["text"].startswith(f"@{b} ")) for b in ("acme", "globex", "initech")}
    wait_until(lambda: all(worker.sample("buzzwatch_mentions_total", brand=b) == n for b, n in per_brand.items()),
               60, "every valid mention counted", worker)
    posts = wait_until(lambda: root_posts(slack, "#acme-oncall"), 30, "the acme alert in Slack", worker)
    assert len(posts) == 1
    assert "Acme Air" in posts[0]["text"] and "negative mentions" in posts[0]["text"]
    assert root_posts(slack, "#globex-oncall") == []
    assert not [m for m in slack.messages() if "globex" in json.dumps(m).lower()]

    assert worker.sample("buzzwatch_alerts_total", brand="acme", status="open") == 1
    assert worker.sample("buzzwatch_alerts_total", brand="globex", status="open") == 0
    assert worker.sample("buzzwatch_dlq_records_total", topic="mentions") == 1

    dead = asyncio.run(read_topic(broker.bootstrap, "mentions.dlq", 1))
    assert len(dead) == 1
    record = json.loads(dead[0].value)
    assert base64.b64decode(record["original"]) == MALFORMED
    assert record["reason"].startswith("created_at: not an RFC 3339 time")
    assert record["topic"] == "mentions" and record["offset"] == early

    # Labels for the scorer, through `buzzwatch feedback` on the real topic - sent twice: learned once.
    labels = write_jsonl(tmp_path / "labels.jsonl", [
        {"id": f"lab-{i}", "text": f"gate agent left us waiting {i} hours", "label": "negative", "source": "analyst"}
        for i in range(12)])
    for _ in range(2):
        subprocess.run([sys.executable, "-m", "pipeline.cli", "feedback", str(labels), "--bootstrap",
                        broker.bootstrap], check=True, timeout=60, cwd=ROOT)
    wait_until(lambda: worker.sample("buzzwatch_feedback_records_total", source="analyst") == 12, 30,
               "the labels learned", worker)
    time.sleep(3)  # the replayed copies have had time to arrive: still 12, none in the dead-letter topic
    assert worker.sample("buzzwatch_feedback_records_total", source="analyst") == 12
    assert 'buzzwatch_scorer_error_rate{lang="en"}' in worker.metrics()  # exported once learning began
    assert worker.sample("buzzwatch_dlq_records_total", topic="feedback") == 0


def test_killed_and_restarted_worker_does_not_post_the_incident_twice(
        broker, slack, start_worker, tmp_path, demo_rows):
    # No offset is committed before the kill, so the new process re-reads everything the first one
    # did: the windows must recognise every mention and the ledger every alert.
    slow_commits = {"BUZZWATCH_COMMIT_INTERVAL_S": "600", "BUZZWATCH_COMMIT_EVERY": "1000000"}
    worker = start_worker("first", **slow_commits)
    path = write_jsonl(tmp_path / "stream.jsonl", demo_rows)
    replaying = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "replay", str(path),
                                  "--bootstrap", broker.bootstrap, "--quiet", "--speed", "3000"])
    try:
        wait_until(lambda: root_posts(slack, "#acme-oncall"), 90, "the first acme post", worker)
        worker.kill()
        # Restart once the dead member's session has expired (6 s): on Tansu, a member that joins
        # while the dead one is still registered gets all partitions but reads nothing until the
        # next rebalance (observed; real Kafka rebalances when the session expires).
        time.sleep(8)
        restarted = start_worker("second", **slow_commits)
        assert replaying.wait(timeout=120) == 0
        wait_until(lambda: any(m["kind"] == "update" for m in slack.messages()), 60, "the escalation", restarted)
        # Nothing was committed, so the new process re-reads the topics from the start.
        wait_until(lambda: restarted.sample("buzzwatch_ingested_records_total") >= len(demo_rows) * 0.9, 150,
                   "the stream re-read", restarted)
        # Recognised from the ledger ("duplicate") or - when the kill came between the post and its
        # record in the ledger - found in the channel's history ("recovered"): either way not re-posted.
        wait_until(lambda: sum(restarted.sample("buzzwatch_slack_deliveries_total", result=r)
                               for r in ("duplicate", "recovered")) >= 1, 60,
                   "the replayed alert recognised", restarted)
    finally:
        replaying.kill()
    # The replayed part was recognised, not counted again, and the replayed alert was not re-posted.
    # Re-read mentions were recognised (by offset or id) or fell in buckets already final: none counted twice.
    assert restarted.sample("buzzwatch_duplicate_mentions_total") + restarted.sample(
        "buzzwatch_late_mentions_total") > 0
    posts = root_posts(slack, "#acme-oncall")
    assert len(posts) == 1, [p["text"] for p in posts]
    updates = [m for m in slack.messages() if m["kind"] == "update"]
    assert updates and all(u["ts"] == posts[0]["ts"] for u in updates)


def test_an_idle_brand_leaves_memory_and_its_next_mention_reloads_it_from_the_store(broker, start_worker):
    """Default store (rocksdb://): a brand with nothing open is written, dropped from memory at the
    next commit, and read back from the store when it is mentioned again - counted, not re-counted."""
    worker = start_worker("idle")
    start = time.time() - 6 * 3600
    first = prescored(20, start, seed=1) + clock_ticks(start + 3 * 3600, 0)
    asyncio.run(produce(broker.bootstrap, "mentions.scored", first))
    wait_until(lambda: worker.sample("buzzwatch_detect_records_total") >= len(first), 60, "the first wave", worker)
    wait_until(lambda: 0 < worker.sample("buzzwatch_brands_in_memory") <= 4, 30, "idle brands evicted", worker)
    # The same 20 brands again (new ids, an hour after the ticks): each reloaded from the store.
    again = [(key, orjson.dumps({**orjson.loads(value), "id": f"again-{i}", "created_at": format_time(start + 4 * 3600)}))
             for i, (key, value) in enumerate(first[:20])]
    asyncio.run(produce(broker.bootstrap, "mentions.scored", again))
    wait_until(lambda: worker.sample("buzzwatch_detect_records_total") >= len(first) + 20, 60, "the second wave",
               worker)
    assert worker.proc.poll() is None, worker.log_tail()
    assert worker.sample("buzzwatch_mentions_total", brand="_other") == len(first) + 20
    assert worker.sample("buzzwatch_duplicate_mentions_total") == 0
