"""``make bench``: the worker measured end to end on a real broker, next to the limits it runs against.

Every streaming figure is read from outside one ``buzzwatch worker`` process (Tansu on loopback,
the Slack stand-in): its ``/metrics`` counters polled every 1 s (0.05 s in the latency phase; only
the counted families), its RSS from ``/proc``. Phases,
each on a fresh broker (Tansu keeps everything in memory):

1. *scorer only*: ``Ingestor.run`` (decode, brand, language id, model) over the bench's mentions in
   batches of 1,000, in this process - the ceiling the production path can reach; and the same
   in a process on glibc's allocator, which the worker runs on (``stream/heap.py``).
2. *production*: the mentions are produced to ``mentions`` (keyed by brand), a bare aiokafka
   consumer reads them back decoding each with orjson (the raw ceiling), then the worker starts
   and drains the backlog: mentions -> ingest/score -> windows/detect (keyed by brand, each is
   counted where it is scored). Throughput is the slope of the windows' counter between 10% and
   90% of the backlog. A process that scores and consumes, one after the other, cannot beat
   1 / (1/scorer + 1/raw ceiling - 1/orjson decode): that bound is printed beside the worker's
   figure.
3. *latency*: each rate on a fresh broker and worker (Tansu's memory storage slows down with what
   it holds, Kafka does not), mentions at 50% of the measured maximum for ``--latency-s``,
   their event time going on from the backlog's at the clock's pace, as a live stream's. Latency =
   the poll that saw mention *k* counted - the moment *k* was handed to the producer (an upper
   bound by one poll interval, 0.05 s), next to the worker's own per-stage histogram (from the
   mention's append to its scoring, and to its window's update: a scored record carries its
   mention's timestamp).
   Then synthetic alerts go to ``alerts`` at 2/s and the stand-in's receive time is matched to
   each (as ``make latency`` does).
4. *pre-scored*: scored records produced straight to ``mentions.scored`` (the detect stage's
   input): the streaming machinery without the scorer, and its raw ceiling on the same records.
5. *memory*: pre-scored mentions for 10,000 and then 100,000 distinct brands, in waves of 10,000
   that go idle (one mention per partition 3 h of event time later); RSS after each, and how many
   brands the worker still holds in memory (idle ones wait in the brand-state table).

The worker runs with the producer's normal batching (``BUZZWATCH_PRODUCER_MAX_BATCH_BYTES`` 16384,
as on real Kafka): the one-record-per-batch setting the dev tools use on Tansu only matters for
table recovery after a restart, which no phase here does. Prints a table with the issue's ratios,
writes a PNG of throughput and latency over the run, and last one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import DefaultPartitioner

from pipeline.core import compiled
from pipeline.core.ingest import Ingestor
from pipeline.core.scoring import Scorer
from pipeline.devtools.broker import LocalBroker
from pipeline.devtools.latency import percentile, synthetic_alert
from pipeline.devtools.slack_standin import SlackStandIn
from pipeline.devtools.worker_process import WorkerProcess
from pipeline.records import ScoredMention, encode, format_time
from pipeline.sim.generate import mention_text
from pipeline.stream.heap import allocator_env, find_mimalloc, tune_gc

ROOT = Path(__file__).resolve().parents[2]
TOPICS = ("mentions", "mentions.scored", "mentions.dlq", "alerts", "feedback")
PARTITIONS = 4
START = 1772323200.0  # 2026-03-01T00:00:00Z: the bench's event time starts here
# Mentions the windows have taken (counted, duplicates, late): one label-free counter, cheap to poll
# 20 times a second (the per-brand families cost the worker ~12% of a core at that rate).
COUNTED = ("buzzwatch_detect_records_total",)
# Kafka answers a fetch as soon as a record is there; Tansu holds it for the whole wait. A short
# wait makes Tansu's hop latency close to Kafka's (a few idle fetches a second more per consumer).
FETCH_WAIT_MS = {"BUZZWATCH_FETCH_MAX_WAIT_MS": "20"}
# Tansu (memory storage) also answers with what it has read when the wait is over: a fetch over
# thousands of one-record batches (the changelogs below) came back empty at 20 ms, and a restart's
# table recovery crawled for minutes. The phases that recover tables use the dev tools' 100 ms.
RECOVERY_SAFE = {"BUZZWATCH_PRODUCER_MAX_BATCH_BYTES": "16", "BUZZWATCH_FETCH_MAX_WAIT_MS": "100"}


# --- data ---------------------------------------------------------------------------------------

def mentions(n: int, brands: int, start: float, span_s: float, seed: int, prefix: str = "m") -> list[dict[str, Any]]:
    """``n`` mentions over ``brands`` brands (a few loud, many quiet), in event-time order, each carrying its brand."""
    rng = random.Random(seed)
    weights = [1 / (i + 1) ** 0.8 for i in range(brands)]
    picks = rng.choices(range(brands), weights=weights, k=n)
    out = []
    for i, b in enumerate(picks):
        kind = rng.choices(("negative", "neutral", "positive"), (0.15, 0.5, 0.35))[0]
        author = f"u{rng.randrange(20000)}"
        out.append({"id": f"{prefix}{seed}-{i}", "text": mention_text(rng, kind, f"@b{b}"),
                    "created_at": format_time(round(start + span_s * i / n, 3)), "brand": f"b{b}",
                    "author_id": author, "author_followers": int(rng.paretovariate(1.2) * 50), "source": "bench"})
    return out


def prescored(n_brands: int, start: float, seed: int, first: int = 0) -> list[tuple[bytes, bytes]]:
    """One scored mention for each brand ``first .. first + n_brands - 1`` (key, value): many idle brands."""
    rng = random.Random(seed)
    out = []
    for i in range(first, first + n_brands):
        rec = {"id": f"s{i}", "text": f"@m{i} ordinary day", "created_at": format_time(start + i * 0.01),
               "brand": f"m{i}", "negativity": round(rng.random() * 0.3, 3), "sentiment": "neutral", "lang": "en",
               "author_id": f"u{i % 5000}"}
        out.append((rec["brand"].encode(), orjson.dumps(rec)))
    return out


def clock_ticks(ts: float, rnd: int, partitions: int = PARTITIONS) -> list[tuple[bytes, bytes]]:
    """One scored mention at ``ts`` on each partition (brands chosen by the partitioner): every
    partition's watermark moves to ``ts``."""
    partitioner, parts = DefaultPartitioner(), list(range(partitions))
    out: dict[int, tuple[bytes, bytes]] = {}
    i = 0
    while len(out) < partitions:
        brand = f"tick{rnd}-{i}"
        part = partitioner(brand.encode(), parts, parts)
        if part not in out:
            rec = {"id": brand, "text": "tick", "created_at": format_time(ts), "brand": brand,
                   "negativity": 0.1, "sentiment": "neutral", "lang": "en", "author_id": "u-tick"}
            out[part] = (brand.encode(), orjson.dumps(rec))
        i += 1
    return list(out.values())


# --- Kafka from the outside ---------------------------------------------------------------------

async def create_topics(bootstrap: str, partitions: int = PARTITIONS) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, partitions, 1) for t in TOPICS])
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> float:
    """Everything, batched; returns records/s."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=512 * 1024)
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for key, value in records:
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return len(records) / (time.perf_counter() - started)


async def raw_ceiling(bootstrap: str, topic: str, n: int, partitions: int = PARTITIONS) -> float:
    """A bare aiokafka consumer decoding each value with orjson: records/s over ``n`` records, timed from its start.

    Partitions are assigned, not joined through a group: Tansu forms a group only after half the
    session timeout, which would measure the broker's timer rather than the consumer.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                max_partition_fetch_bytes=4 * 1024 * 1024, fetch_max_bytes=16 * 1024 * 1024)
    started = time.perf_counter()
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        await consumer.seek_to_beginning()
        done = 0
        deadline = time.monotonic() + 120
        while done < n and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=10000)
            for records in batch.values():
                for r in records:
                    orjson.loads(r.value)
                done += len(records)
    finally:
        await consumer.stop()
    return done / (time.perf_counter() - started)


# --- the worker from the outside -----------------------------------------------------------------

def scrape(port: int, names: tuple[str, ...] = ()) -> dict[str, float]:
    """``/metrics`` (only ``names`` if given: polling every family of 500 brands many times a second would
    cost the worker more CPU than Prometheus ever does) as {sample name with labels: value} plus
    each name's sum over its labels."""
    query = "?" + "&".join(f"name[]={n}" for n in names) if names else ""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics{query}", timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        out[key] = float(value)
        name = key.partition("{")[0]
        out[name + "{*}"] = out.get(name + "{*}", 0.0) + float(value)
    return out


def counted(sample: dict[str, float]) -> float:
    """Mentions the windows have taken (counted, recognised as duplicates, or late): each one processed."""
    return sum(sample.get(name + "{*}", 0.0) for name in COUNTED)


def stage_buckets(sample: dict[str, float], stage: str) -> dict[float, float]:
    """The worker's latency histogram of one stage: upper bound (s) -> cumulative count."""
    out = {}
    for key, value in sample.items():
        if key.startswith("buzzwatch_processing_latency_seconds_bucket{") and f'stage="{stage}"' in key:
            le = key.split('le="')[1].split('"')[0]
            out[float(le)] = value
    return out


def histogram_p99_ms(before: dict[float, float], after: dict[float, float]) -> float:
    """The bucket bound under which 99% of the stage's samples taken between two scrapes fall."""
    bounds = sorted(after)
    total = after[bounds[-1]] - before.get(bounds[-1], 0.0)
    for le in bounds:
        if total and after[le] - before.get(le, 0.0) >= 0.99 * total:
            return le * 1000
    return float("nan")


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from ``/proc``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def family_cpu_s(worker: WorkerProcess) -> float:
    """``cpu_s`` of the worker's process and of the processes it started (its scoring child)."""
    total = cpu_s(worker.proc.pid)
    for child in worker.children():
        with contextlib.suppress(OSError):  # gone meanwhile
            total += cpu_s(child)
    return total


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Timeline:
    """(wall second, phase, windows-updated count) polled from the worker, for the rate and the plot."""

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.points: list[tuple[float, str, float]] = []
        self.latency: list[tuple[float, float]] = []  # (wall second, ms)

    def poll_until(self, worker: WorkerProcess, phase: str, target: float, timeout: float,
                   interval: float = 1.0) -> list[tuple[float, float]]:
        deadline = time.monotonic() + timeout
        seen: list[tuple[float, float]] = []
        while time.monotonic() < deadline:
            value = counted(scrape(worker.metrics_port, COUNTED))
            now = time.time()
            seen.append((now, value))
            self.points.append((now - self.t0, phase, value))
            if value >= target:
                return seen
            time.sleep(interval)
        raise TimeoutError(f"{phase}: {seen[-1][1] if seen else 0:.0f} of {target:.0f} mentions after "
                           f"{timeout:.0f} s\n{worker.log_tail()}")


def slope(seen: list[tuple[float, float]], base: float, n: int) -> float:
    """Records/s between 10% and 90% of a backlog of ``n`` (start-up and tail left out)."""
    def when(fraction: float) -> float:
        goal = base + fraction * n
        for (t0, v0), (t1, v1) in zip(seen, seen[1:], strict=False):
            if v1 >= goal:
                return t0 + (t1 - t0) * (goal - v0) / max(v1 - v0, 1e-9)
        return seen[-1][0]
    return 0.8 * n / max(when(0.9) - when(0.1), 1e-9)


@contextmanager
def stack(work: Path, name: str, slack: SlackStandIn, partitions: int = PARTITIONS,
          **env: str) -> Iterator[tuple[LocalBroker, WorkerProcess]]:
    """A fresh broker with the topics created, and a worker (not started) pointed at it and at Slack."""
    with LocalBroker(log_path=str(work / f"{name}-broker.log")) as broker:
        asyncio.run(create_topics(broker.bootstrap, partitions))
        worker = new_worker(broker, work / name, slack, partitions, **env)
        try:
            yield broker, worker
        finally:
            worker.stop()


def new_worker(broker: LocalBroker, workdir: Path, slack: SlackStandIn, partitions: int = PARTITIONS,
               **env: str) -> WorkerProcess:
    return WorkerProcess(broker.bootstrap, workdir, env={
        "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_API_URL": slack.api_url, "SLACK_DEFAULT_CHANNEL": "#bench",
        "BUZZWATCH_PRODUCER_MAX_BATCH_BYTES": "16384", "BUZZWATCH_TOPIC_PARTITIONS": str(partitions),
        **FETCH_WAIT_MS, **env})


# --- phases --------------------------------------------------------------------------------------

def scorer_only(raws: list[bytes], passes: int = 3) -> float:
    """The best of ``passes`` runs over ``raws``: one pass over 60,000 is ~2 s, and fresh processes on this
    machine measured the same pass at 31,000 to 44,000/s. The best makes the ratio the hardest."""
    ingestor = Ingestor(Scorer())
    ingestor.run(raws[:200])  # warm the caches, as a running worker has
    threshold = gc.get_threshold()
    tune_gc()  # the garbage collector set as the worker sets it: this process's data out of its scans
    try:
        best = 0.0
        for _ in range(passes):
            started = time.perf_counter()
            for i in range(0, len(raws), 1000):
                ingestor.run(raws[i:i + 1000])
            best = max(best, len(raws) / (time.perf_counter() - started))
        return best
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


_SCORER_ONLY = """
import sys
import orjson
from pipeline.sim.bench import START, mentions, scorer_only
backlog = mentions(int(sys.argv[1]), int(sys.argv[2]), START, 12 * 3600.0, seed=1)  # as main_phases makes it
print(round(scorer_only([orjson.dumps(m) for m in backlog[:60_000]])))
"""


def scorer_only_worker_allocator(n: int, brands: int) -> int:
    """``scorer_only`` on the same 60,000 mentions in a process on the allocator the worker runs on
    (``stream/heap.py``: the system's, mimalloc where installed). The scorer allocates many small
    objects: on glibc's allocator it pays ~19% for it."""
    env = {**os.environ, **allocator_env(os.environ)}
    done = subprocess.run([sys.executable, "-c", _SCORER_ONLY, str(n), str(brands)], env=env, capture_output=True,
                          text=True, check=True)
    return int(done.stdout.strip().splitlines()[-1])


def decode_only(raws: list[bytes], passes: int = 3) -> float:
    """orjson's decode rate over ``raws``, best of ``passes``: the share the scorer and the raw
    consumer both include, counted once in the one-process bound."""
    loads, best = orjson.loads, 0.0
    for _ in range(passes):
        started = time.perf_counter()
        for raw in raws:
            loads(raw)
        best = max(best, len(raws) / (time.perf_counter() - started))
    return best


async def send_alerts(bootstrap: str, alerts: int, alert_sent: dict[str, float]) -> None:
    """``alerts`` synthetic incidents (with chart data) at 2/s, as ``make latency`` sends them."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    try:
        for i in range(alerts):
            alert = synthetic_alert(i, time.time())
            alert_sent[alert["incident_id"]] = time.time()
            await producer.send_and_wait("alerts", key=alert["brand"].encode(), value=encode(alert))
            await asyncio.sleep(0.5)
    finally:
        await producer.stop()


async def paced(bootstrap: str, records: list[tuple[bytes, bytes]], rate: float, sent_at: list[float],
                partitions: int = PARTITIONS) -> None:
    """Mentions at ``rate``/s, in 20 ms slices, each slice one produce batch per partition (what a
    collector in front of Kafka does; one ``send`` per mention would make the load generator the
    slowest process on these two cores)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2, max_batch_size=1024 * 1024)
    await producer.start()
    partitioner, all_partitions = DefaultPartitioner(), list(range(partitions))
    try:
        started, i = time.monotonic(), 0
        while i < len(records):
            due = min(len(records), int((time.monotonic() - started) * rate) + 1)
            batches: dict[int, Any] = {}
            sends = []
            now = time.time()
            while i < due:
                key, value = records[i]
                part = partitioner(key, all_partitions, all_partitions)
                if part not in batches:
                    batches[part] = producer.create_batch()
                if batches[part].append(key=key, value=value, timestamp=None) is None:  # full: send it
                    sends.append(await producer.send_batch(batches.pop(part), "mentions", partition=part))
                    continue
                sent_at.append(now)
                i += 1
            sends += [await producer.send_batch(b, "mentions", partition=p) for p, b in batches.items()]
            await asyncio.gather(*sends)
            await asyncio.sleep(0.02)
    finally:
        await producer.stop()


def latency_phase(worker: WorkerProcess, bootstrap: str, slack: SlackStandIn, timeline: Timeline,
                  records: list[tuple[bytes, bytes]], rate: float, alerts: int) -> dict[str, Any]:
    first = scrape(worker.metrics_port)
    base = counted(first)
    sent_at: list[float] = []
    alert_sent: dict[str, float] = {}
    stop = False
    samples: list[tuple[float, float]] = []

    def watch() -> None:
        while not stop or (samples and samples[-1][1] < base + len(records)):
            value = counted(scrape(worker.metrics_port, COUNTED))
            now = time.time()
            timeline.points.append((now - timeline.t0, "latency", value))
            samples.append((now, value))
            time.sleep(0.05)  # the latency's upper bound by one poll; a scrape of the counted families is cheap
            if stop and time.time() - sent_at[-1] > 30:
                break

    async def run() -> None:
        nonlocal stop
        watcher = asyncio.create_task(asyncio.to_thread(watch))
        await paced(bootstrap, records, rate, sent_at)
        stop = True
        await watcher
        # Alerts once the mentions are done: each draws a chart (0.1-0.5 s of CPU), and 2 alerts/s
        # is far more than production sees; mixed in, they would measure the charts, not the stream.
        await send_alerts(bootstrap, alerts, alert_sent)

    asyncio.run(run())
    last = scrape(worker.metrics_port)
    hist = {stage: histogram_p99_ms(stage_buckets(first, stage), stage_buckets(last, stage))
            for stage in ("ingest", "detect")}
    lat = []
    for now, value in samples:
        k = int(value - base)
        if 0 < k <= len(sent_at):
            ms = (now - sent_at[k - 1]) * 1000
            lat.append(ms)
            timeline.latency.append((now - timeline.t0, ms))

    def received() -> dict[str, float]:
        return {r.body["metadata"]["event_payload"]["incident_id"]: r.received_at
                for r in slack.requests("chat.postMessage") if r.status == 200 and r.body.get("metadata")}

    slack.wait_for(lambda: len(received()) >= len(alert_sent), timeout=60, interval=0.2)
    got = received()
    slack_ms = [(got[k] - t) * 1000 for k, t in alert_sent.items() if k in got]
    return {"rate": rate, "processing_ms": lat, "hist_p99_ms": hist, "slack_ms": slack_ms, "alerts_sent": len(alert_sent),
            "alerts_received": len(slack_ms)}


def scale_out(work: Path, slack: SlackStandIn, timeline: Timeline, records: list[tuple[bytes, bytes]],
              say: Callable[[str], None]) -> dict[str, Any]:
    """Pre-scored backlog on 8 partitions: one worker alone; then one worker joined by a second at 10%.

    Rebalance time: from the second process's start to its first mention counted (spawn, group
    join, assignment, table recovery, first batch); the first worker's longest stall around it is
    the pause the rebalance costs it. Two-worker throughput: both counters together, from the
    second's first mention to 90% of the backlog.
    """
    out: dict[str, Any] = {}
    # One record per producer batch: the rebalance makes Faust recover table partitions, and Tansu's
    # end offsets (the last batch's base + 1) would put rocksdb's persisted offsets past the end.
    with stack(work, "scale-1", slack, partitions=8, **RECOVERY_SAFE) as (broker, worker):
        asyncio.run(produce(broker.bootstrap, "mentions.scored", records))
        worker.start()
        worker.wait_ready()
        seen = timeline.poll_until(worker, "scale: 1 worker", len(records), timeout=300)
        out["scale_1_worker_per_s"] = round(slope(seen, 0, len(records)))
    say(f"8 partitions, 1 worker: {out['scale_1_worker_per_s']:,}/s")
    with stack(work, "scale-2a", slack, partitions=8, **RECOVERY_SAFE) as (broker, first):
        asyncio.run(produce(broker.bootstrap, "mentions.scored", records))
        first.start()
        first.wait_ready()
        timeline.poll_until(first, "scale: 2 workers", 0.1 * len(records), timeout=300)
        second = new_worker(broker, work / "scale-2b", slack, partitions=8, **RECOVERY_SAFE)
        started = time.time()
        second.start()
        try:
            points: list[tuple[float, float, float]] = []  # (time, first, second)
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                a, b = counted(scrape(first.metrics_port)), _counted_or_zero(second)
                now = time.time()
                points.append((now, a, b))
                timeline.points.append((now - timeline.t0, "scale: 2 workers", a + b))
                if a + b >= len(records):
                    break
                time.sleep(0.25)
            joined = next((t for t, _, b in points if b > 0), float("nan"))
            out["rebalance_s"] = round(joined - started, 1)
            stalls = [t1 - t0 for (t0, a0, _), (t1, a1, _) in zip(points, points[1:], strict=False) if a1 == a0]
            out["rebalance_first_worker_stall_s"] = round(_longest_run(points), 1) if stalls else 0.0
            both = [(t, a + b) for t, a, b in points if t >= joined]
            if len(both) > 2:
                base = both[0][1]
                n = max(1.0, 0.9 * len(records) - base)
                out["scale_2_workers_per_s"] = round(slope(both, base, int(n / 0.8)) if n > 0 else 0)
        finally:
            second.stop()
    if out.get("scale_2_workers_per_s"):
        out["scale_ratio"] = round(out["scale_2_workers_per_s"] / out["scale_1_worker_per_s"], 2)
    if math.isnan(out["rebalance_s"]):
        say("8 partitions, 2 workers: the first worker drained the backlog before the second joined "
            "(raise --scale-mentions)")
    else:
        say(f"8 partitions, 2 workers: {out.get('scale_2_workers_per_s', 0):,}/s; rebalance {out['rebalance_s']} s")
    return out


async def changelog_records(bootstrap: str, topic: str = "buzzwatch-brand-state-changelog") -> int:
    """Records in a topic, from its partitions' end offsets."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - a fresh client knows no topic yet
            parts = consumer.partitions_for_topic(topic) or set()
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in parts])
        return int(sum(ends.values()))
    finally:
        await consumer.stop()


def recovery(work: Path, slack: SlackStandIn, timeline: Timeline, brands: int,
             say: Callable[[str], None]) -> dict[str, Any]:
    """Restart time with ``brands`` brands of state, memory:// (rebuilt from the changelog) vs rocksdb://.

    The worker counts one mention per brand, its states reach the changelog at the next commit,
    it is stopped (SIGTERM) and started again on the same data directory; recovery = from the
    new process's start to Faust's "Worker ready" (tables recovered, agents running). One
    record per producer batch here: Tansu's end offsets would otherwise hide the last batch of
    each changelog partition from Faust's recovery (see README).
    """
    out: dict[str, Any] = {}
    records = prescored(brands, START, seed=5)
    for store in ("memory://", "rocksdb://"):
        name = store.split(":")[0]
        with stack(work, f"recovery-{name}", slack, BUZZWATCH_STORE=store, **RECOVERY_SAFE) as (broker, worker):
            worker.start()
            worker.wait_ready()
            asyncio.run(produce(broker.bootstrap, "mentions.scored", records))
            crash = _count_or_crash(worker, timeline, f"recovery: {name}", brands)
            if crash:
                out[f"recovery_s_{name}"] = out[f"rss_mib_recovered_{name}"] = "failed"
                out[f"recovery_error_{name}"] = crash
                say(f"recovery, {store}: the worker failed before the restart: {crash}")
                continue
            deadline = time.monotonic() + 300
            while asyncio.run(changelog_records(broker.bootstrap)) < brands and time.monotonic() < deadline:
                time.sleep(1.0)
            worker.stop(timeout=60)
            started = time.monotonic()
            worker.start()
            worker.wait_ready(timeout=600)
            out[f"recovery_s_{name}"] = round(time.monotonic() - started, 1)
            out[f"rss_mib_recovered_{name}"] = round(rss_mib(worker.proc.pid), 1)
        say(f"recovery with {brands:,} brands, {store}: {out[f'recovery_s_{name}']} s "
            f"(RSS {out[f'rss_mib_recovered_{name}']} MiB)")
    out["recovery_brands"] = brands
    return out


def _count_or_crash(worker: WorkerProcess, timeline: Timeline, phase: str, target: int) -> str | None:
    """Poll until ``target`` mentions are counted; the worker's first crash line if an agent crashed instead."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        value = counted(scrape(worker.metrics_port, COUNTED))
        timeline.points.append((time.time() - timeline.t0, phase, value))
        if value >= target:
            return None
        crashed = [line for line in worker.log_tail(400).splitlines() if "Crashed reason=" in line]
        if crashed:
            return crashed[0].split("Crashed reason=")[1].strip()[:200]
        time.sleep(0.5)
    return f"{phase}: not done after 600 s"


def _counted_or_zero(worker: WorkerProcess) -> float:
    try:
        return counted(scrape(worker.metrics_port, COUNTED))
    except OSError:  # not listening yet
        return 0.0


def _longest_run(points: list[tuple[float, float, float]]) -> float:
    """The longest time the first worker's counter stood still (its pause for the rebalance)."""
    longest, since = 0.0, None
    for (t0, a0, _), (t1, a1, _) in zip(points, points[1:], strict=False):
        if a1 == a0:
            since = t0 if since is None else since
            longest = max(longest, t1 - since)
        else:
            since = None
    return longest


def plot(timeline: Timeline, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    phases: dict[str, list[tuple[float, float]]] = {}
    for t, phase, value in timeline.points:
        phases.setdefault(phase, []).append((t, value))
    for phase, pts in phases.items():
        xs, rates, j = [], [], 0
        for t1, v1 in pts:  # over the last second: the polls are finer than the worker's batches
            while pts[j][0] < t1 - 1.0:
                j += 1
            t0, v0 = pts[max(0, j - 1)]
            if t1 - t0 >= 0.5:
                xs.append(t1)
                rates.append((v1 - v0) / (t1 - t0))
        top.plot(xs, rates, label=phase, lw=1)
    top.set_ylabel("mentions/s into the windows")
    top.legend(loc="upper right")
    top.grid(alpha=0.3)
    if timeline.latency:
        bottom.plot(*zip(*timeline.latency, strict=True), ".", ms=2, label="mention appended -> window updated")
    bottom.set_ylabel("latency (ms)")
    bottom.set_xlabel("seconds since the bench started")
    bottom.grid(alpha=0.3)
    if timeline.latency:
        bottom.legend(loc="upper right")
    fig.suptitle("buzzwatch make bench: one worker, Tansu on loopback")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main_phases(args: argparse.Namespace, work: Path, slack: SlackStandIn, timeline: Timeline,
                say: Callable[[str], None], fig: dict[str, Any]) -> None:
    """Scorer only, production (+ raw ceiling), latency, pre-scored (+ raw ceiling), memory."""
    span = 12 * 3600.0
    backlog = mentions(args.mentions, args.brands, START, span, seed=1)
    raws = [orjson.dumps(m) for m in backlog]
    fig["scorer_only_per_s"] = round(scorer_only(raws[:60000]))
    fig["scorer_only_worker_allocator_per_s"] = scorer_only_worker_allocator(args.mentions, args.brands)
    fig["worker_allocator"] = "mimalloc" if find_mimalloc(os.environ) else "glibc malloc"
    say(f"scorer only: {fig['scorer_only_per_s']:,}/s; on the worker's allocator ({fig['worker_allocator']}): "
        f"{fig['scorer_only_worker_allocator_per_s']:,}/s")

    with stack(work, "production", slack) as (broker, worker):
        keyed = [(m["brand"].encode(), r) for m, r in zip(backlog, raws, strict=True)]
        asyncio.run(produce(broker.bootstrap, "mentions", keyed))
        fig["raw_ceiling_per_s"] = round(asyncio.run(raw_ceiling(broker.bootstrap, "mentions", len(keyed))))
        say(f"raw ceiling (mentions): {fig['raw_ceiling_per_s']:,}/s")
        worker.start()
        worker.wait_ready()
        seen = timeline.poll_until(worker, "production", len(keyed), timeout=300)
        fig["mentions_per_s"] = round(slope(seen, 0, len(keyed)))
        fig["scorer_processes"] = len(worker.children())
        say(f"production path: {fig['mentions_per_s']:,}/s "
            f"({'scoring in a child process' if fig['scorer_processes'] else 'scoring in the worker process'})")
        if fig["scorer_processes"]:
            # The same backlog again, scored in the worker's own process (BUZZWATCH_SCORER_PROCESSES=0),
            # as on a one-CPU pod: what the child process gives.
            worker.stop()
            one = new_worker(broker, work / "production-one-process", slack, BUZZWATCH_SCORER_PROCESSES="0",
                             BUZZWATCH_APP_ID="buzzwatch-one-process")
            try:
                one.start()
                one.wait_ready()
                seen = timeline.poll_until(one, "production, one process", len(keyed), timeout=300)
                fig["mentions_per_s_one_process"] = round(slope(seen, 0, len(keyed)))
            finally:
                one.stop()
            say(f"production path, scoring in the worker process: {fig['mentions_per_s_one_process']:,}/s")
    # One process does, per mention, at least what the scorer and the bare consumer each do alone, one
    # after the other - the JSON decoding, which both include, once: its throughput cannot pass
    # 1 / (1/scorer + 1/raw - 1/decode), whatever the rest of the machinery costs.
    fig["orjson_decode_per_s"] = round(decode_only(raws[:60000]))
    fig["one_process_bound_per_s"] = round(1 / (1 / fig["scorer_only_per_s"] + 1 / fig["raw_ceiling_per_s"]
                                                - 1 / fig["orjson_decode_per_s"]))

    # Each latency rate on a fresh broker and worker: Tansu's memory storage costs more CPU the more
    # it holds (at a constant 2,000/s: 15% of a core in the first 10 s, 61% in the sixth -
    # `python -m pipeline.devtools.broker_growth`), and after the backlog it took the core the
    # worker needed. Kafka's fetch cost does not depend on the log's length.
    def live(rate: float, seed: int, alerts: int) -> dict[str, Any]:
        """Live traffic at ``rate``: event time goes on at the pace of the clock (mention *k* is
        stamped ``k / rate`` s after the part's start), as on a real stream, where a brand's buckets
        close once a minute. (Before, the live parts kept the backlog's density, 42 h of event time
        in 15 s: every fetch closed minutes for all 500 brands, a load no live stream has.)"""
        n_live = int(rate * args.latency_s)
        part = mentions(n_live, args.brands, START + span, n_live / rate, seed=seed, prefix=f"l{seed}-")
        records = [(m["brand"].encode(), orjson.dumps(m)) for m in part]
        with stack(work, f"latency-{rate:g}", slack) as (broker, worker):
            worker.start()
            worker.wait_ready()
            cpu_before = (family_cpu_s(worker), cpu_s(broker.pid), time.monotonic())
            lat = latency_phase(worker, broker.bootstrap, slack, timeline, records, rate, alerts)
            wall = time.monotonic() - cpu_before[2]
            lat["cpu_pct"] = [round(100 * (family_cpu_s(worker) - cpu_before[0]) / wall),
                              round(100 * (cpu_s(broker.pid) - cpu_before[1]) / wall)]
        return lat

    for i, fixed in enumerate(r for r in args.latency_rates if r < 0.5 * fig["mentions_per_s"]):
        lat = live(fixed, 10 + i, 0)
        fig[f"p50_p99_processing_ms_at_{fixed:g}"] = [round(percentile(lat["processing_ms"], q), 1)
                                                      for q in (0.5, 0.99)]
        say(f"latency at {fixed:,.0f}/s: p50 / p99 {fig[f'p50_p99_processing_ms_at_{fixed:g}']} ms "
            f"(CPU: worker / broker {lat['cpu_pct'][0]} / {lat['cpu_pct'][1]}%)")
    rate = 0.5 * fig["mentions_per_s"]
    lat = live(rate, 2, args.alerts)
    fig["latency_rate_per_s"] = round(rate)
    for q in (0.5, 0.99):
        fig[f"p{int(q * 100)}_processing_ms"] = round(percentile(lat["processing_ms"], q), 1)
        fig[f"p{int(q * 100)}_alert_to_slack_ms"] = round(percentile(lat["slack_ms"], q), 1)
    fig["alerts_to_slack"] = f"{lat['alerts_received']}/{lat['alerts_sent']}"
    fig["p99_ingest_stage_ms_at_most"] = lat["hist_p99_ms"]["ingest"]
    fig["p99_detect_stage_ms_at_most"] = lat["hist_p99_ms"]["detect"]
    fig["cpu_pct_worker_broker_at_50"] = lat["cpu_pct"]
    say(f"latency at {rate:,.0f}/s: p99 {fig['p99_processing_ms']} ms, alert->Slack p99 "
        f"{fig['p99_alert_to_slack_ms']} ms (CPU: worker / broker {lat['cpu_pct'][0]} / {lat['cpu_pct'][1]}%)")

    scorer = Ingestor(Scorer())
    scored_raws = [(o.brand.encode(), encode(o)) for o in
                   (x for i in range(0, len(raws), 1000) for x in scorer.run(raws[i:i + 1000]))
                   if isinstance(o, ScoredMention)]
    reps = max(1, math.ceil(args.prescored / len(scored_raws)))
    pre = _repeat_in_time(scored_raws, reps, span)[: args.prescored]
    with stack(work, "prescored", slack) as (broker, worker):
        asyncio.run(produce(broker.bootstrap, "mentions.scored", pre))
        fig["raw_ceiling_scored_per_s"] = round(asyncio.run(raw_ceiling(broker.bootstrap, "mentions.scored",
                                                                         len(pre))))
        worker.start()
        worker.wait_ready()
        seen = timeline.poll_until(worker, "pre-scored", len(pre), timeout=300)
        fig["prescored_mentions_per_s"] = round(slope(seen, 0, len(pre)))
        say(f"pre-scored: {fig['prescored_mentions_per_s']:,}/s (raw ceiling on the same records "
            f"{fig['raw_ceiling_scored_per_s']:,}/s)")

    if args.brands_rss:
        memory_phase(args, work, slack, timeline, say, fig)


def memory_phase(args: argparse.Namespace, work: Path, slack: SlackStandIn, timeline: Timeline,
                 say: Callable[[str], None], fig: dict[str, Any]) -> None:
    """RSS idle, then with 10,000 and ``args.brands_rss`` brands, made idle wave by wave."""
    with stack(work, "memory", slack) as (broker, worker):
        worker.start()
        worker.wait_ready()
        fig["rss_mib_idle"] = round(rss_mib(worker.proc.pid), 1)
        done, ticks, wave = 0, 0, min(10000, args.brands_rss)
        for n in sorted({wave, args.brands_rss}):
            while done < n:
                # Brands arrive in waves of 10,000, each wave later in event time than the last
                # (a new brand's first mention must not be older than its partition's watermark),
                # followed 3 h on by one mention per partition, which makes the wave idle: nothing
                # open, its state in the table, out of the worker's memory at the next commit.
                rnd = done // wave
                start = START + rnd * 4 * 3600.0
                batch = prescored(min(wave, n - done), start, seed=3, first=done) + clock_ticks(
                    start + 3 * 3600.0, rnd)
                asyncio.run(produce(broker.bootstrap, "mentions.scored", batch))
                done, ticks = min(n, done + wave), ticks + PARTITIONS
                timeline.poll_until(worker, "memory", done + ticks, timeout=300, interval=0.5)
            # A commit writes the states and evicts the idle brands, and gives their memory back at its
            # end, or at the next one if it trimmed < 5 s before (stream/heap.py). On a loaded machine
            # a commit of a 10,000-brand wave runs 5-14 s, so a fixed wait read RSS before or after
            # the trim by chance: wait until the wave has left memory, then as long as before.
            evicted_by = time.monotonic() + 120
            while time.monotonic() < evicted_by and in_memory(worker) > PARTITIONS * 2:
                time.sleep(0.5)
            time.sleep(12.0)
            fig[f"rss_mib_{n // 1000}k_brands"] = round(rss_mib(worker.proc.pid), 1)
            fig["rss_mib_scoring_child"] = round(sum(rss_mib(c) for c in worker.children()), 1)
            fig[f"brands_in_memory_{n // 1000}k"] = int(in_memory(worker))
            say(f"RSS with {n:,} brands: {fig[f'rss_mib_{n // 1000}k_brands']} MiB (and the scoring child's "
                f"{fig['rss_mib_scoring_child']} MiB)")
        if "rss_mib_10k_brands" in fig and "rss_mib_100k_brands" in fig:
            fig["kib_per_idle_brand"] = round(
                (fig["rss_mib_100k_brands"] - fig["rss_mib_10k_brands"]) * 1024 / 90000, 2)


def in_memory(worker: WorkerProcess) -> float:
    """The worker's ``buzzwatch_brands_in_memory`` (-1 if unread)."""
    return scrape(worker.metrics_port, ("buzzwatch_brands_in_memory",)).get("buzzwatch_brands_in_memory", -1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # Backlogs long enough for a steady state (~20 s and ~10 s of draining): with 30,000 mentions
    # the drain took ~1 s, and the slope between 10% and 90% of the windows' counter caught the
    # detect stage catching up on mentions already scored - 28,900/s, for a worker that spends
    # ~100 us of CPU on each mention (~10,000/s) whatever the backlog.
    ap.add_argument("--mentions", type=int, default=200000, help="backlog for the production phase")
    ap.add_argument("--prescored", type=int, default=300000, help="backlog for the pre-scored phase")
    ap.add_argument("--brands", type=int, default=500, help="brands in the throughput phases")
    ap.add_argument("--latency-s", type=float, default=12.0, help="seconds of load at 50%% for the latency phase")
    ap.add_argument("--latency-rates", type=lambda v: [float(x) for x in v.split(",") if x], default=[1000.0, 3000.0],
                    help="fixed rates (mentions/s) measured before the 50%% one, comma-separated ('' for none)")
    ap.add_argument("--alerts", type=int, default=20, help="synthetic alerts sent during the latency phase")
    ap.add_argument("--brands-rss", type=int, default=100000, help="idle brands for the memory phase (0: skip)")
    ap.add_argument("--fetch-wait-ms", type=int, default=20, help="the worker's BUZZWATCH_FETCH_MAX_WAIT_MS")
    ap.add_argument("--memory-only", action="store_true", help="only the memory phase")
    ap.add_argument("--png", default=str(ROOT / ".run" / "bench.png"), help="where the plot goes")
    ap.add_argument("--scale", action="store_true", help="then two workers on 8 partitions (make bench-scale)")
    ap.add_argument("--scale-only", action="store_true", help="only the scale-out phase")
    ap.add_argument("--scale-mentions", type=int, default=1000000,
                    help="pre-scored backlog of the scale-out phase (the first worker must still be busy "
                         "when the second has joined: ~12 s of rebalance)")
    ap.add_argument("--recovery", action="store_true", help="then restart times, memory:// vs rocksdb:// (rocksdict)")
    ap.add_argument("--recovery-brands", type=int, default=100000, help="brands of state for --recovery")
    args = ap.parse_args(argv)
    FETCH_WAIT_MS["BUZZWATCH_FETCH_MAX_WAIT_MS"] = str(args.fetch_wait_ms)
    work = Path(tempfile.mkdtemp(prefix="buzzwatch-bench-"))
    t0 = time.time()
    timeline = Timeline(t0)
    say = lambda text: print(f"[{time.time() - t0:6.1f} s] {text}", flush=True)  # noqa: E731
    load_before = os.getloadavg()[0]
    fig: dict[str, Any] = {}

    with SlackStandIn() as slack:
        if args.memory_only:
            memory_phase(args, work, slack, timeline, say, fig)
        elif not args.scale_only:
            main_phases(args, work, slack, timeline, say, fig)
        if (args.scale or args.scale_only) and args.scale_mentions:
            records = prescored_stream(args.scale_mentions, args.brands)
            fig.update(scale_out(work, slack, timeline, records, say))
        if args.recovery:
            fig.update(recovery(work, slack, timeline, args.recovery_brands, say))

    fig["core_compiled"] = compiled()  # the worker's detection core as the image runs it (see setup.py)
    fig["load_avg_1m_before"] = round(load_before, 2)
    fig["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    fig["wall_s"] = round(time.time() - t0, 1)
    plot(timeline, Path(args.png))
    fig["png"] = str(args.png)
    print_table(fig)
    print(json.dumps(fig))
    return 0


def prescored_stream(n: int, brands: int) -> list[tuple[bytes, bytes]]:
    """``n`` scored mentions (key, value) over ``brands`` brands, scored once here by the production scorer."""
    base = mentions(min(n, 30000), brands, START, 12 * 3600.0, seed=4)
    ingestor = Ingestor(Scorer())
    raws = [orjson.dumps(m) for m in base]
    scored = [(o.brand.encode(), encode(o)) for i in range(0, len(raws), 1000)
              for o in ingestor.run(raws[i:i + 1000]) if isinstance(o, ScoredMention)]
    return _repeat_in_time(scored, math.ceil(n / len(scored)), 12 * 3600.0)[:n]


def _repeat_in_time(records: list[tuple[bytes, bytes]], reps: int, span: float) -> list[tuple[bytes, bytes]]:
    """The scored stream ``reps`` times, each copy shifted later by ``span`` with fresh ids (all counted)."""
    out = []
    for rep in range(reps):
        for key, value in records:
            rec = orjson.loads(value)
            if rep:
                rec["id"] = f"{rec['id']}-r{rep}"
                rec["created_at"] = format_time(_ts(rec["created_at"]) + rep * span)
            out.append((key, orjson.dumps(rec)))
    return out


def _ts(text: str) -> float:
    from pipeline.records import parse_time
    return parse_time(text)


def print_table(fig: dict[str, Any]) -> None:
    def ratio(a: str, b: str) -> str:
        return f"{fig[a] / fig[b]:.0%}" if fig.get(a) and fig.get(b) else "-"

    rows: list[tuple[str, str, str, str]] = []
    one_process = "mentions_per_s_one_process" if "mentions_per_s_one_process" in fig else "mentions_per_s"
    if "mentions_per_s" in fig:
        rows += [
            ("scorer only (Ingestor.run, batches of 1,000, best of 3)", f"{fig['scorer_only_per_s']:,}/s", "", ""),
            (f"  the same on the worker's allocator ({fig['worker_allocator']})",
             f"{fig['scorer_only_worker_allocator_per_s']:,}/s",
             f"the worker end to end: {ratio('mentions_per_s', 'scorer_only_worker_allocator_per_s')} of it", ""),
            ("raw ceiling: aiokafka + orjson, mentions", f"{fig['raw_ceiling_per_s']:,}/s", "", ""),
            ("raw ceiling: aiokafka + orjson, scored", f"{fig['raw_ceiling_scored_per_s']:,}/s", "", ""),
            ("worker, production scorer (end to end)" + (", scoring in its child process" if fig.get(
                "scorer_processes") else ""), f"{fig['mentions_per_s']:,}/s",
             f"{ratio('mentions_per_s', 'scorer_only_per_s')} of scorer only", ">= 80%, >= 10,000/s"),
            *([("  the same, scoring in the worker's process", f"{fig['mentions_per_s_one_process']:,}/s",
                f"{ratio('mentions_per_s_one_process', 'scorer_only_per_s')} of scorer only", "")]
              if "mentions_per_s_one_process" in fig else []),
            ("  bound for one process: scorer + raw consumer, nothing else",
             f"{fig['one_process_bound_per_s']:,}/s",
             f"{ratio('one_process_bound_per_s', 'scorer_only_per_s')} of scorer only; the worker in one process "
             f"{ratio(one_process, 'one_process_bound_per_s')} of it", ""),
            ("worker, pre-scored (streaming machinery)", f"{fig['prescored_mentions_per_s']:,}/s",
             f"{ratio('prescored_mentions_per_s', 'raw_ceiling_scored_per_s')} of raw ceiling",
             ">= 25%, >= 30,000/s"),
            (f"processing p50 / p99 at {fig['latency_rate_per_s']:,}/s (50%)",
             f"{fig['p50_processing_ms']} / {fig['p99_processing_ms']} ms",
             "CPU worker / broker {} / {}%".format(*fig["cpu_pct_worker_broker_at_50"]), "p99 <= 250 ms"),
            *[(f"processing p50 / p99 at {k.rsplit('_', 1)[1]}/s", f"{v[0]} / {v[1]} ms", "", "")
              for k, v in fig.items() if k.startswith("p50_p99_processing_ms_at_")],
            ("  the worker's histogram, p99 bucket: scored / window updated",
             f"<= {fig['p99_ingest_stage_ms_at_most']:g} / <= {fig['p99_detect_stage_ms_at_most']:g} ms", "", ""),
            ("alert -> Slack stand-in p50 / p99",
             f"{fig['p50_alert_to_slack_ms']} / {fig['p99_alert_to_slack_ms']} ms",
             f"{fig['alerts_to_slack']} delivered", "p99 <= 1 s"),
        ]
    if "rss_mib_100k_brands" in fig:
        rows += [("RSS idle / 10k / 100k brands",
                  f"{fig['rss_mib_idle']} / {fig['rss_mib_10k_brands']} / {fig['rss_mib_100k_brands']} MiB",
                  f"{fig['kib_per_idle_brand']} KiB per idle brand", "<= 512 MiB, <= 1 KiB")]
        if fig.get("rss_mib_scoring_child"):
            rows += [("  the scoring child (whatever the brands)", f"{fig['rss_mib_scoring_child']} MiB", "", "")]
    if "scale_1_worker_per_s" in fig:
        rows += [("8 partitions: 1 worker / 2 workers",
                  f"{fig['scale_1_worker_per_s']:,} / {fig.get('scale_2_workers_per_s', 0):,}/s",
                  f"x{fig.get('scale_ratio', 0)}", "report"),
                 ("rebalance: 2nd worker start -> its first mention",
                  f"{fig['rebalance_s']} s", f"1st worker stalled {fig['rebalance_first_worker_stall_s']} s", "report")]
    if "recovery_brands" in fig:
        rows += [(f"restart with {fig['recovery_brands']:,} brands: memory:// / rocksdb://",
                  f"{fig['recovery_s_memory']} / {fig['recovery_s_rocksdb']} s",
                  f"RSS {fig['rss_mib_recovered_memory']} / {fig['rss_mib_recovered_rocksdb']} MiB", "report")]
        rows += [(f"  {store} failed", fig[f"recovery_error_{store}"][:60], "", "")
                 for store in ("memory", "rocksdb") if f"recovery_error_{store}" in fig]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    head = ("figure", "value", "ratio", "target")
    widths = [max(w, len(h)) for w, h in zip(widths, head, strict=True)]
    for row in (head, *rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    print(f"load average (1 min) before / after: {fig['load_avg_1m_before']} / {fig['load_avg_1m_after']} "
          f"(2 shared cores); {fig['wall_s']} s; plot: {fig['png']}")
    print("detection core: " + ("compiled (mypyc), as in the image" if fig["core_compiled"] else
                                "Python source (the image compiles it: `make bench CORE=compiled`)"))


if __name__ == "__main__":
    raise SystemExit(main())
