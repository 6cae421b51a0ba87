"""The whole pipeline on a real broker: replayed mentions -> worker -> Slack stand-in and /metrics."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.core.brands import BrandMatcher, load_brands
from pipeline.core.detector import DetectorConfig
from pipeline.core.ingest import Ingestor
from pipeline.core.monitor import Monitor, add_mention
from pipeline.core.scoring import Scorer
from pipeline.records import ScoredMention, encode, format_time, new_scored, parse_time
from pipeline.sim.bench import clock_ticks, prescored, produce
from pipeline.sim.generate import demo_spec, generate
from pipeline.stream.app import COUNTED_HEADER, brand_partition, clock_key
from pipeline.stream.heap import find_mimalloc
from tests.integration.conftest import BRANDS, ROOT, replay, write_jsonl

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


async def read_topic(bootstrap: str, topic: str, n: int, timeout: float = 20.0, **client: Any) -> list:
    """At least ``n`` records of ``topic`` (waiting up to ``timeout`` for them), then the rest of what it
    holds by then: read to its end offsets, so that a test asserting an exact count sees a duplicate
    written after the first ``n`` too. ``n=0``: the topic as it is now. Fewer than ``n`` come back
    when the time runs out (the caller's assertion says what is missing). ``client``: more of
    AIOKafkaConsumer's arguments (``security_protocol``, ``ssl_context``)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False,
                                **client)
    await consumer.start()
    out: list = []
    try:
        deadline = time.monotonic() + timeout
        tps: list[TopicPartition] = []
        while not tps and time.monotonic() < deadline:  # the topic may not exist yet
            await consumer.topics()  # refreshes the metadata
            tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
            if not tps:
                await asyncio.sleep(0.5)
        if not tps:
            return out
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends: dict | None = None
        while time.monotonic() < deadline:
            if ends is None and len(out) >= n:
                ends = await consumer.end_offsets(tps)
            if ends is not None and all([await consumer.position(tp) >= ends[tp] for tp in tps]):
                break
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                out.extend(records)
    finally:
        await consumer.stop()
    return out


def wait_caught_up(worker, topics: tuple[str, ...] = ("mentions", "mentions.scored"), quiet_s: float = 3.0,
                   timeout: float = 90.0) -> None:
    """Until ``worker`` has read ``topics`` to their end on every partition it holds (its lag gauges at
    0) and its detect counter has not moved for ``quiet_s``: everything fetched went through the
    windows (where it was scored, or through the scored topic)."""
    def lags() -> list[float]:
        return [float(line.rsplit(" ", 1)[1]) for line in worker.metrics().splitlines()
                if line.startswith("buzzwatch_consumer_lag_records{")
                and any(f'topic="{t}"' in line for t in topics)]

    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        done = worker.sample("buzzwatch_detect_records_total")
        if done != last:
            last, since = done, time.monotonic()
        elif time.monotonic() - since >= quiet_s and (lag := lags()) and not any(lag):
            return
        time.sleep(0.5)
    raise AssertionError(f"{topics}: not caught up after {timeout:.0f} s (lags {lags()})\n{worker.log_tail()}")


def final_states(bootstrap: str, timeout: float = 15.0) -> dict[str, dict]:
    """The brand-state table as its changelog ends: the last state written per brand."""
    msgs = asyncio.run(read_topic(bootstrap, "buzzwatch-brand-state-changelog", 0, timeout=timeout))
    return {json.loads(m.key): json.loads(m.value) for m in sorted(msgs, key=lambda m: m.offset) if m.value}


def offline_alerts(folder: Path, rows: list[dict], *detect_args: str) -> list[dict]:
    """The alerts ``buzzwatch score --brands ... | buzzwatch detect`` writes for ``rows``."""
    mentions, scored, alerts = folder / "offline.jsonl", folder / "offline.scored.jsonl", folder / "offline.alerts.jsonl"
    write_jsonl(mentions, rows)
    cli = [sys.executable, "-m", "pipeline.cli"]
    subprocess.run([*cli, "score", "-i", str(mentions), "-o", str(scored), "--brands", str(BRANDS)],
                   check=True, timeout=120, cwd=ROOT)
    subprocess.run([*cli, "detect", "-i", str(scored), "-o", str(alerts), *detect_args], check=True, timeout=120, cwd=ROOT)
    return [json.loads(line) for line in alerts.read_text().splitlines()]


def offline_buckets(rows: list[dict]) -> dict[str, dict[str, int]]:
    """Each brand's bucket -> mentions, as the offline pipeline counts the whole stream once."""
    ingestor = Ingestor(Scorer(), BrandMatcher(load_brands(str(BRANDS))))
    monitor = Monitor(DetectorConfig())
    raws = [orjson.dumps(r) for r in rows]
    for i in range(0, len(raws), 1000):
        for out in ingestor.run(raws[i:i + 1000]):
            if isinstance(out, ScoredMention):
                add_mention(monitor, out)
                monitor.advance()
    return {b: {i: v[0] for i, v in d.to_state()["w"]["b"].items()} for b, d in monitor.brands.items()}


def assert_counted_once(bootstrap: str, rows: list[dict]) -> None:
    """Every bucket the brand-state table holds (as its changelog ends) counts exactly what the
    offline pipeline counts over ``rows`` once: nothing lost, nothing doubled, nothing invented -
    checked both ways over the span both keep."""
    online, offline = final_states(bootstrap), offline_buckets(rows)
    for brand in ("acme", "globex", "initech"):
        held = {i: v[0] for i, v in online[brand]["w"]["b"].items()}
        common = set(held) & set(offline[brand])
        assert len(common) >= min(50, 0.6 * len(offline[brand])), (brand, len(held), len(offline[brand]))
        assert {i: held[i] for i in common} == {i: offline[brand][i] for i in common}, brand
        # ... and no bucket the offline pipeline counted is missing inside the span the table holds.
        low, high = min(map(int, held)), max(map(int, held))
        assert {int(i) for i in offline[brand] if low <= int(i) <= high} <= {int(i) for i in held}, brand
        # ... nor a bucket the table holds inside the span the offline run keeps that it never counted.
        low, high = min(map(int, offline[brand])), max(map(int, offline[brand]))
        assert {int(i) for i in held if low <= int(i) <= high} <= {int(i) for i in offline[brand]}, brand


@pytest.fixture(scope="module")
def demo_rows() -> list[dict]:
    return generate(demo_spec(), seed=7)


@pytest.mark.parametrize("scorer_processes", ["0", "1"], ids=["scored-in-worker", "scored-in-child"])
def test_negative_burst_alerts_positive_burst_does_not_bad_record_goes_to_dlq(
        broker, slack, start_worker, tmp_path, demo_rows, scorer_processes):
    """Both ways of scoring (in the worker's process, or in its child: stream/offload.py) give the
    offline CLI's alerts, and both score with what feedback taught."""
    worker = start_worker(BUZZWATCH_SCORER_PROCESSES=scorer_processes)
    if scorer_processes == "1":
        wait_until(lambda: any("pipeline.stream.offload" in c for c in worker.children().values()), 30,
                   "the scoring child", worker)
    else:
        assert worker.children() == {}
    # It runs again on the allocator that gives memory back: mimalloc where installed (stream/heap.py).
    assert f"allocator {'mimalloc' if find_mimalloc() else 'malloc'}" in worker.log_path.read_text()
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

    # The worker's alerts are the offline CLI's: `buzzwatch score | buzzwatch detect` over the same
    # stream (what the benches measure is what runs). Its partition's clock has reached each brand's
    # last mention, so every offline alert of a minute before that is due online too - not only
    # those up to the worker's own last (a worker that stopped alerting would pass that); the
    # offline run's end-of-input ticks past the stream are not.
    offline = offline_alerts(tmp_path, demo_rows)

    def key(alert: dict) -> tuple:
        return alert["at"], alert["incident_id"], alert["seq"], alert["status"], alert["severity"], alert["evidence"]

    last = {b: max(parse_time(r["created_at"]) for r in demo_rows if r["text"].startswith(f"@{b} "))
            for b in per_brand}

    def settled(alert: dict) -> bool:
        return parse_time(alert["at"]) <= last[alert["brand"]] - 120

    due = sorted(key(a) for a in offline if settled(a))
    online = [json.loads(r.value) for r in asyncio.run(read_topic(broker.bootstrap, "alerts", len(due)))]
    assert due and online
    online.sort(key=key)
    assert [key(a) for a in online if settled(a)] == due
    said = [key(a) for a in offline]
    assert all(key(a) in said for a in online)  # and nothing the offline run did not say
    assert {a["status"] for a in online} >= {"open"} and {a["brand"] for a in online} == {"acme"}

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

    # A mention scored after the labels were learned is scored with them - in the child too. Keyed
    # away from its brand's partition, it goes through the scored topic, where its score can be read.
    learned = Scorer()
    for i in range(12):
        learned.learn_one(f"gate agent left us waiting {i} hours", "negative", feedback_id=f"lab-{i}")
    text = "@acme gate agent left us waiting 3 hours"
    key = next(k for k in (f"k{i}".encode() for i in range(100)) if brand_partition(k, 4) != brand_partition(b"acme", 4))
    after = {"id": "after-labels", "text": text, "created_at": format_time(time.time())}
    asyncio.run(produce(broker.bootstrap, "mentions", [(key, orjson.dumps(after))]))

    def scored_after_labels() -> tuple[float] | None:
        records = [json.loads(r.value) for r in asyncio.run(read_topic(broker.bootstrap, "mentions.scored", 0))]
        return next(((r["negativity"],) for r in records if r["id"] == "after-labels"), None)

    got, = wait_until(scored_after_labels, 30, "the mention after the labels, scored", worker)
    assert got == pytest.approx(learned.score(text).negativity, abs=1e-3)
    assert got > Scorer().score(text).negativity + 0.2


def test_killed_and_restarted_worker_restores_its_states_counts_every_mention_once_posts_once(
        broker, slack, start_worker, tmp_path, demo_rows):
    # Commits every second: brand states reach the changelog at each commit, before its offsets. The
    # first process is killed (-9) mid-stream; the second restores the states and re-reads what
    # followed the last commit. Together they must count every mention exactly once.
    quick = {"BUZZWATCH_COMMIT_INTERVAL_S": "1"}
    worker = start_worker("first", **quick)
    path = write_jsonl(tmp_path / "stream.jsonl", demo_rows)
    replaying = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "replay", str(path),
                                  "--bootstrap", broker.bootstrap, "--quiet", "--speed", "3000"])
    try:
        wait_until(lambda: root_posts(slack, "#acme-oncall"), 90, "the first acme post", worker)
        worker.kill()
        assert "acme" in final_states(broker.bootstrap, timeout=3), "acme's state was committed before the kill"
        # Restart once the dead member's session has expired (6 s): on Tansu, a member that joins
        # while the dead one is still registered gets all partitions but reads nothing until the
        # next rebalance (observed; real Kafka rebalances when the session expires).
        time.sleep(8)
        restarted = start_worker("second", **quick)
        assert replaying.wait(timeout=120) == 0
        wait_until(lambda: any(m["kind"] == "update" for m in slack.messages()), 60, "the escalation", restarted)
        wait_until(lambda: restarted.sample("buzzwatch_ingested_records_total") > 0, 60, "the stream read", restarted)
        wait_caught_up(restarted)
        counted_by_second = restarted.sample("buzzwatch_mentions_total", brand="acme")
        restarted.stop()  # a clean stop commits: the final states reach the table
    finally:
        replaying.kill()
    # One incident in Slack: one root post, every update on it.
    posts = root_posts(slack, "#acme-oncall")
    assert len(posts) == 1, [p["text"] for p in posts]
    updates = [m for m in slack.messages() if m["kind"] == "update"]
    assert updates and all(u["ts"] == posts[0]["ts"] for u in updates)
    # Every bucket the table holds counts what the offline pipeline counts over the stream once.
    assert_counted_once(broker.bootstrap, demo_rows)
    # ... and part of acme's count came from the restored state, not from the second process.
    acme = sum(1 for r in demo_rows if r["text"].startswith("@acme "))
    assert counted_by_second < acme
    # Each partition's event clock is in the table beside its brands: its watermark is the latest
    # mention counted there (acme's partition 0, initech's 2, globex's 3), and the second process restored it.
    clocks = {k: v["w"] for k, v in final_states(broker.bootstrap, timeout=3).items() if k.startswith("\x00clock/")}
    latest: dict[str, float] = {}
    for r in demo_rows:
        part = brand_partition(r["text"].split()[0].removeprefix("@").encode(), 4)
        latest[clock_key(part, 4)] = max(latest.get(clock_key(part, 4), 0.0), parse_time(r["created_at"]))
    assert clocks == latest and len(clocks) == 3
    assert "event clock restored at" in restarted.log_path.read_text()


def test_a_killed_scoring_child_stops_the_worker_and_a_restart_counts_every_mention_once(
        broker, slack, start_worker, tmp_path, demo_rows):
    """The scoring child (stream/offload.py) killed mid-stream, as the OOM killer might: the worker
    stops by itself, naming it (scores are never guessed, the fetches in flight never acknowledged),
    and the next worker counts every mention exactly once and continues the same incident."""
    quick = {"BUZZWATCH_COMMIT_INTERVAL_S": "1", "BUZZWATCH_SCORER_PROCESSES": "1"}
    worker = start_worker("first", **quick)
    child, = wait_until(lambda: [p for p, c in worker.children().items() if "pipeline.stream.offload" in c], 30,
                        "the scoring child", worker)
    path = write_jsonl(tmp_path / "stream.jsonl", demo_rows)
    replaying = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "replay", str(path),
                                  "--bootstrap", broker.bootstrap, "--quiet", "--speed", "3000"])
    try:
        wait_until(lambda: root_posts(slack, "#acme-oncall"), 90, "the first acme post", worker)
        os.kill(child, signal.SIGKILL)
        assert worker.proc.wait(timeout=60) != 0, worker.log_tail()
        assert "the scoring process exited (-9)" in worker.log_path.read_text()
        time.sleep(8)  # the stopped member's session expires (see the test above)
        restarted = start_worker("second", **quick)
        assert replaying.wait(timeout=120) == 0
        wait_until(lambda: restarted.sample("buzzwatch_ingested_records_total") > 0, 60, "the stream read", restarted)
        wait_caught_up(restarted)
        restarted.stop()
    finally:
        replaying.kill()
    assert len(root_posts(slack, "#acme-oncall")) == 1
    assert_counted_once(broker.bootstrap, demo_rows)


def test_a_brand_in_a_crisis_keeps_a_state_kafka_can_hold_and_the_worker_keeps_going(broker, start_worker):
    """40,000 mentions of one brand in 10 minutes from 40,000 authors: its full memories (ids,
    authors) would make a 2 MB state, which Kafka refuses (1 MB a record) - the commit would fail
    and the worker stop, again at each restart, during the very crisis. Stored capped instead
    (``MAX_STATE_MEMORY``), every mention counted."""
    worker = start_worker("crisis", BUZZWATCH_COMMIT_INTERVAL_S="1")
    start = time.time() - 1800
    n = 40_000
    rows = [(b"acme", encode(new_scored(f"c{i}", f"@acme the app lost my booking {i}", format_time(start + 600 * i / n),
                                        start + 600 * i / n, "acme", 0.9, "negative" if i % 2 else "neutral", "en",
                                        f"author{i}", 10, None, None))) for i in range(n)]
    asyncio.run(produce(broker.bootstrap, "mentions.scored", rows))
    wait_until(lambda: worker.sample("buzzwatch_detect_records_total") >= n, 120, "every mention counted", worker)
    assert worker.sample("buzzwatch_mentions_total", brand="acme") == n

    def written() -> list:
        msgs = asyncio.run(read_topic(broker.bootstrap, "buzzwatch-brand-state-changelog", 0, timeout=5))
        return [m for m in msgs if m.key == b'"acme"' or json.loads(m.key) == "acme"]

    states = wait_until(lambda: [m for m in written() if json.loads(m.value)["o"] == n - 1], 30,
                        "the state after the last mention", worker)
    assert max(len(m.value) for m in written()) < 1_000_000
    last = json.loads(states[-1].value)
    assert sum(b[0] for b in last["w"]["b"].values()) == n  # every mention in its bucket
    assert last["b"]["tz"] == "UTC"  # the brands file's timezone (docs/examples/brands.yaml) reached its baseline
    assert worker.proc.poll() is None, worker.log_tail()


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
    # Reloaded, not rebuilt: the state written after the second mention still holds the hours the
    # first wave's baseline learned (a new detector, started at the second mention, has learned none).
    second = str(int((start + 4 * 3600) // 60))

    def written_after_second_wave() -> dict | None:
        state = final_states(broker.bootstrap, timeout=3).get("m0")
        return state if state is not None and second in state["w"]["b"] else None

    wait_until(lambda: written_after_second_wave() is not None, 30, "m0's state after its second mention", worker)
    state = written_after_second_wave()
    assert state is not None and state["b"]["a"][5] >= 2, state["b"]["a"]


@pytest.mark.parametrize("publish", [False, True], ids=["moved-only", "publish-all"])
def test_a_mention_keyed_by_its_brand_is_counted_where_scored_the_others_move_through_the_scored_topic(
        broker, start_worker, publish):
    """Keyed by brand, a mention is in its brand's partition already: counted by ``ingest``, it never
    makes the scored topic's round trip (unless every scored mention is published, then marked so
    that ``detect`` skips it). One under another key must move: it goes through the scored topic.
    Every mention is counted exactly once either way."""
    worker = start_worker("keyed", BUZZWATCH_PUBLISH_SCORED=str(publish).lower())
    brands = ("acme", "globex", "initech")
    # For each brand, a key that puts its mention in another partition than the brand's.
    elsewhere = {b: next(k for k in (f"k{i}".encode() for i in range(100))
                         if brand_partition(k, 4) != brand_partition(b.encode(), 4)) for b in brands}
    start = time.time() - 1800
    rows = [{"id": f"m{i}", "text": f"@{b} flight {i} was on time", "created_at": format_time(start + i), "brand": b,
             "author_id": f"u{i}"} for i, b in enumerate(brands * 20)]
    keyed = [(r["brand"].encode(), orjson.dumps(r)) for r in rows[:45]]
    moved = [(elsewhere[r["brand"]], orjson.dumps(r)) for r in rows[45:]]
    asyncio.run(produce(broker.bootstrap, "mentions", keyed + moved))
    wait_until(lambda: worker.sample("buzzwatch_detect_records_total") >= len(rows), 60, "every mention counted", worker)
    wait_caught_up(worker, quiet_s=2.0)
    for b in brands:
        assert worker.sample("buzzwatch_mentions_total", brand=b) == 20, (b, {m: worker.sample(m) for m in (
            "buzzwatch_late_mentions_total", "buzzwatch_duplicate_mentions_total")})
    assert worker.sample("buzzwatch_detect_records_total") == len(rows)
    assert worker.sample("buzzwatch_duplicate_mentions_total") == 0
    assert worker.sample("buzzwatch_repartitioned_mentions_total") == len(moved)
    scored = asyncio.run(read_topic(broker.bootstrap, "mentions.scored", len(rows), timeout=5))
    marked = [r for r in scored if (COUNTED_HEADER, b"1") in list(r.headers)]
    assert len(scored) == (len(rows) if publish else len(moved))
    assert len(marked) == (len(keyed) if publish else 0)
    assert sorted(json.loads(r.value)["id"] for r in scored if r not in marked) == sorted(
        json.loads(v)["id"] for _, v in moved)


def test_a_scored_mention_outside_its_brands_partition_is_dead_lettered_and_loses_no_other_mention(
        broker, start_worker):
    """A brand's state guards against replays with the last offset it applied from its partition of
    ``mentions.scored``. A ScoredMention written to another partition (a producer keyed by something
    else, or with another partitioner than Kafka's murmur2 - librdkafka's default is crc32) carries an
    offset of *another* partition: counted, it moved the guard there, and the brand's own next
    mentions at lower offsets were taken for replays and silently dropped (and the state was written
    to a changelog partition another worker may own). It goes to the dead-letter topic with its reason
    instead, and the brand's own mentions are all counted."""
    worker = start_worker("misplaced")
    home = brand_partition(b"acme", 4)
    key = next(k for k in (f"k{i}".encode() for i in range(100)) if brand_partition(k, 4) != home)
    start = time.time() - 1800

    def scored(i: int) -> bytes:
        return encode(new_scored(f"s{i}", f"@acme flight {i} was on time", format_time(start + i), start + i,
                                 "acme", 0.1, "neutral", "en", f"u{i}", 10, None, None))

    def read() -> float:  # counted (or taken for a duplicate, or late), or dead-lettered
        return worker.sample("buzzwatch_detect_records_total") + worker.sample("buzzwatch_dlq_records_total",
                                                                               topic="mentions.scored")

    misplaced = [(key, scored(i)) for i in range(30)]
    asyncio.run(produce(broker.bootstrap, "mentions.scored", misplaced))
    wait_until(lambda: read() >= len(misplaced), 60, "the misplaced ones read", worker)
    placed = [(b"acme", scored(i)) for i in range(30, 40)]
    asyncio.run(produce(broker.bootstrap, "mentions.scored", placed))
    wait_until(lambda: read() >= len(misplaced) + len(placed), 60, "the brand's own read", worker)
    wait_caught_up(worker, quiet_s=2.0)
    dead = [json.loads(r.value) for r in asyncio.run(read_topic(broker.bootstrap, "mentions.dlq", len(misplaced),
                                                                timeout=10))]
    assert worker.sample("buzzwatch_duplicate_mentions_total") == 0
    assert worker.sample("buzzwatch_mentions_total", brand="acme") == len(placed)
    assert sorted(json.loads(base64.b64decode(d["original"]))["id"] for d in dead) == sorted(
        f"s{i}" for i in range(30))
    assert all(d["topic"] == "mentions.scored" and "partition" in d["reason"] for d in dead), dead[:1]
    assert worker.sample("buzzwatch_dlq_records_total", topic="mentions.scored") == len(misplaced)


def test_a_scored_mention_from_the_far_future_is_dead_lettered_and_does_not_make_its_partition_late(
        broker, start_worker):
    """Raw mentions more than ``BUZZWATCH_MAX_FUTURE_S`` ahead of the wall clock are dead-lettered at
    ingest; a ScoredMention written straight to ``mentions.scored`` was counted whatever its time.
    One dated 9999 moved its partition's watermark there for good: every later mention of every brand
    of that partition came "too late" and was dropped. It goes to the dead-letter topic instead."""
    worker = start_worker("future")
    start = time.time() - 1800

    def scored(i: int, at: float) -> bytes:
        return encode(new_scored(f"f{i}", f"@acme flight {i} was on time", format_time(at), at,
                                 "acme", 0.1, "neutral", "en", f"u{i}", 10, None, None))

    def read() -> float:
        return worker.sample("buzzwatch_detect_records_total") + worker.sample("buzzwatch_dlq_records_total",
                                                                               topic="mentions.scored")

    asyncio.run(produce(broker.bootstrap, "mentions.scored", [(b"acme", scored(0, parse_time("9999-12-31T00:00:00Z")))]))
    wait_until(lambda: read() >= 1, 60, "the future one read", worker)
    rows = [(b"acme", scored(i, start + i)) for i in range(1, 21)]
    asyncio.run(produce(broker.bootstrap, "mentions.scored", rows))
    wait_until(lambda: read() >= 1 + len(rows), 60, "the others read", worker)
    assert worker.sample("buzzwatch_late_mentions_total") == 0
    assert worker.sample("buzzwatch_mentions_total", brand="acme") == len(rows)
    (dead,) = [json.loads(r.value) for r in asyncio.run(read_topic(broker.bootstrap, "mentions.dlq", 1, timeout=10))]
    assert dead["topic"] == "mentions.scored" and "in the future" in dead["reason"], dead


def test_the_start_up_broker_check_lets_a_worker_start_when_one_bootstrap_server_answers(broker, start_worker):
    """The check that stops a worker whose broker cannot be reached (stream/worker.py, ``check_broker``)
    keeps Kafka's meaning of the list: any one server that answers will do. Here the first is dead;
    the worker starts, joins its group and counts what it is sent."""
    worker = start_worker("listed", KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:1,{broker.bootstrap}")
    assert b"cannot reach" not in worker.log_path.read_bytes()
    start = time.time() - 600
    rows = [(b"acme", encode(new_scored(f"l{i}", f"@acme delayed again {i}", format_time(start + i), start + i,
                                        "acme", 0.9, "negative", "en", f"author{i}", 10, None, None)))
            for i in range(50)]
    asyncio.run(produce(broker.bootstrap, "mentions.scored", rows))
    wait_until(lambda: worker.sample("buzzwatch_detect_records_total") >= 50, 60, "every mention counted", worker)
    assert worker.proc.poll() is None, worker.log_tail()


def test_a_worker_whose_broker_advertises_an_address_it_cannot_reach_stops_in_one_line_naming_it(tmp_path):
    """The commonest Kubernetes mistake: the bootstrap server answers, but the broker address in its
    metadata (advertised.listeners, e.g. ``localhost:9092`` given to a pod) cannot be reached from the
    worker. Here a real broker listens on one port and advertises another, where nothing listens.
    Before: the start-up check passed (the bootstrap server answered), the worker logged that it had
    started and ended ~4 s later in a 100-line Faust traceback (NodeNotReadyError)."""
    from pipeline.devtools.broker import LocalBroker, free_port

    port = free_port()  # nothing listens there
    with LocalBroker(log_path=str(tmp_path / "broker.log"), advertised=f"127.0.0.1:{port}") as broker:
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker"], cwd=ROOT, start_new_session=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={
                                    **os.environ, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
                                    "BUZZWATCH_METRICS_PORT": str(free_port()), "BUZZWATCH_WEB_PORT": str(free_port()),
                                    "BUZZWATCH_STORE": "memory://", "BUZZWATCH_SCORER_PROCESSES": "0",
                                    "BUZZWATCH_DATA_DIR": str(tmp_path / "w")})
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate()
            pytest.fail(f"the worker was still running after 60 s; its stderr:\n{err.decode()[-3000:]}")
    assert proc.returncode == 1 and err.decode().splitlines() == [
        f"buzzwatch worker: the Kafka broker at {broker.bootstrap} answers, but advertises 127.0.0.1:{port}, which "
        f"cannot be reached: [Errno 111] Connect call failed ('127.0.0.1', {port}) (the broker's "
        "advertised.listeners must be reachable from the worker)"], err.decode()
    assert time.monotonic() - started < 30


def test_the_broker_check_gives_an_advertised_broker_that_never_answers_the_rest_of_its_time(tmp_path, silent_broker):
    """An advertised address that accepts connections and never answers (a wrong service, a dead
    proxy) is tried within the check's one time limit, and named. Before: the check passed."""
    from pipeline.devtools.broker import LocalBroker
    from pipeline.errors import BrokerUnavailable
    from pipeline.settings import Settings
    from pipeline.stream.worker import check_broker

    advertised = silent_broker
    with LocalBroker(log_path=str(tmp_path / "broker.log"), advertised=advertised) as broker:
        started = time.monotonic()
        with pytest.raises(BrokerUnavailable) as err:
            asyncio.run(check_broker(Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap}), timeout_s=3))
        took = time.monotonic() - started
    assert str(err.value) == (f"the Kafka broker at {broker.bootstrap} answers, but advertises {advertised}, which "
                              "cannot be reached: no answer within 3 s (the broker's advertised.listeners must be "
                              "reachable from the worker)")
    assert took < 4, took


def test_the_broker_check_asks_every_server_at_once_so_one_that_never_answers_hides_none_that_does(broker):
    """Kafka's meaning of the list: any one server that answers will do. aiokafka asks them one after
    the other, in random order, so a server that accepts connections and never answers, asked first,
    took the whole time limit: before, this list (five such, then the broker) stopped the worker
    5 times in 6."""
    from contextlib import ExitStack

    from pipeline.settings import Settings
    from pipeline.stream.worker import check_broker
    from tests.conftest import silent_listener

    with ExitStack() as stack:
        silent = [stack.enter_context(silent_listener()) for _ in range(5)]
        servers = ",".join([*silent, broker.bootstrap])
        for _ in range(3):
            started = time.monotonic()
            asyncio.run(check_broker(Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": servers}), timeout_s=3))
            assert time.monotonic() - started < 2
