"""The Faust shell: topics, tables, two batch handlers and four agents around the pure core.

    mentions --ingest--> mentions.scored (keyed by brand) --detect--> alerts --notify--> Slack
         |   \\--> mentions.dlq (bad records, with the reason)      ^   \\--> digest --notify-digest--> Slack
         \\-- already in its brand's partition: counted where scored --/       (slow drifts, once a day)

A mention keyed by its brand at the source is already in its brand's partition, which this
worker holds with the brand's state: ``ingest`` counts it in the windows right there, and only
the others go through ``mentions.scored`` (a repartition, as Kafka Streams does only when the
key changes). That round trip - encode, produce, fetch, decode, check - was a sixth to a third
of a mention's worker CPU (alternated drains, docs/measurements.md). ``BUZZWATCH_PUBLISH_SCORED=true`` publishes every scored mention anyway (for
other readers), the ones already counted marked with the ``buzzwatch-counted`` header that
``detect`` skips.

Faust does what it is good at - consumer groups, partition assignment, changelog-backed tables
and their recovery; per-mention work stays in memory. ``ingest`` and ``detect`` are batch
handlers (``stream/batches.py``): each gets a fetch's records in one call, and the records'
offsets become committable only once every write the call caused is acknowledged: nothing is
lost. Brand states reach their table once per commit (``write_states``), acknowledged before the
offsets they cover are committed. Effects are idempotent, so a replay after a crash doubles
nothing: the windows drop mention ids they already counted, alerts are deterministic, and Slack
delivery is deduplicated per incident step through the ``slack-ledger`` table.

Slack's button presses arrive on the worker's HTTP port (``stream/web.py``), are written to the
``feedback`` topic keyed by brand, and come back through the ``slack-feedback`` agent, which
records the acknowledgement in the same ``slack-ledger`` entry (same partition) and redraws the
root message. A per-brand lock keeps that agent and ``notify`` from overwriting each other's
ledger entry.

Tables are plain (not windowed): Faust's windowed tables expire by wall clock, which would delete
the windows of a backfill. The brand tables are keyed by brand and use the producer's partitioner,
so a brand's state lives in the same partition number as its scored mentions and alerts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import faust
import orjson
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import ConsumerRecord
from faust.types import TP
from prometheus_client import CollectorRegistry

from pipeline.core.brands import Brand, BrandMatcher
from pipeline.core.detector import DetectorConfig
from pipeline.core.ingest import Ingestor, Prepared, scored_mention
from pipeline.core.langid import UND
from pipeline.core.monitor import MAX_STATE_MEMORY, FetchTally, Monitor, count_decoded, count_records
from pipeline.core.scoring import LANGS, Scorer
from pipeline.errors import DeliveryError, InvalidRecord
from pipeline.metrics import Metrics
from pipeline.notify.interact import REJECTIONS, Verifier
from pipeline.notify.slack import DELIVERY_RESULTS, Notifier, Sink, digest_key, prune_ledger
from pipeline.records import (
    SEVERITIES,
    dead_letter,
    decode_alert,
    decode_digest,
    decode_feedback,
    encode,
    format_time,
    is_label_bytes,
)
from pipeline.settings import Settings
from pipeline.stream import batches
from pipeline.stream.heap import HeapTrimmer
from pipeline.stream.learning import FeedbackLearner
from pipeline.stream.offload import InOrder, ScorerProcess
from pipeline.stream.web import Health, lag_positions, make_web

log = logging.getLogger(__name__)

#: Marks a scored record already counted where it was scored: ``detect`` skips it.
COUNTED_HEADER = "buzzwatch-counted"


# RocksDB (rocksdb://) per partition of each table. Faust's defaults are sized for big hosts: a
# 64 MiB memtable (x3) and a 2 GiB block cache per partition, which a worker's RSS grows into as
# brands are written. Brand states are ~1 KiB and read once per idle brand's return: small
# memtables and a small cache cost a few more compactions, not latency.
ROCKSDB_OPTIONS = {"write_buffer_size": 4 << 20, "max_write_buffer_number": 2, "block_cache_size": 8 << 20}


class BrandTable(faust.Table):
    """A table keyed by brand whose changelog partition is the brand's partition in every topic.

    Keys are brand ids as raw UTF-8, exactly like the topics' keys, and the partition is Kafka's
    default partitioner (murmur2) over the same partition count - computed here rather than from
    "the current event", which in a batch may belong to another brand.
    """

    def __init__(self, app: faust.App, *, name: str, partitions: int, value_serializer: str = "json") -> None:
        super().__init__(app, name=name, partitions=partitions, options=dict(ROCKSDB_OPTIONS),
                         schema=faust.Schema(key_type=str, key_serializer="raw", value_serializer=value_serializer))
        # The store (rocksdb://) and the changelog writer read the table's own serializer, which
        # Faust derives from the value type ("json"), not the schema's.
        self.value_serializer = value_serializer
        self._partitions = partitions

    def partition_for_key(self, key: Any) -> int | None:
        return brand_partition(key.encode(), self._partitions)


def clock_key(partition: int, partitions: int) -> str:
    """The brand-state table's key for a partition's event clock (``Monitor.take_clock_states``):
    its watermark, what its brands expected next and its last outages, written with the brands'
    states and restored by the next owner of the partition, so that an input outage spanning a
    restart or a rebalance is seen as one. The first of ``"\\x00clock/<partition>/<n>"`` that the
    brands' partitioner puts in that partition: in the partition's own changelog, recovered with its
    brands, and never a brand id (none starts with a NUL).

    >>> [brand_partition(clock_key(p, 4).encode(), 4) for p in range(4)]
    [0, 1, 2, 3]
    """
    n = 0
    while brand_partition(f"\x00clock/{partition}/{n}".encode(), partitions) != partition:
        n += 1
    return f"\x00clock/{partition}/{n}"


def brand_partition(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (murmur2, as every client computes it) for a brand's key."""
    every = list(range(partitions))
    return int(_PARTITIONER(key, every, every))


class PartitionMemo:
    """``brand_partition`` remembered for the brands seen lately: aiokafka's murmur2 is pure Python
    (~2 us) and the ingest handler asks once per mention. Bounded, and emptied when full: an entry
    kept for each of 100,000 brands (an unbounded ``lru_cache``) pinned a page of the heap each
    against ``malloc_trim`` - 100,000 idle brands took 655-685 MiB instead of 370-380."""

    def __init__(self, partitions: int, size: int = 4096) -> None:
        self.partitions = partitions
        self.size = size
        self._known: dict[bytes | str, int] = {}

    def __call__(self, key: bytes | str) -> int:
        part = self._known.get(key)
        if part is None:
            if len(self._known) >= self.size:
                self._known.clear()
            part = self._known[key] = brand_partition(key if isinstance(key, bytes) else key.encode(), self.partitions)
        return part


_PARTITIONER = DefaultPartitioner()


class ScorerTable(faust.GlobalTable):
    """The scorer's learned state: a global table (every worker reads it all, so every worker scores
    with what was learned), written only by the owner of the labels' partition - all its keys go
    to the partition of the key ``scorer``, like the labels themselves."""

    def __init__(self, app: faust.App, *, name: str, partitions: int) -> None:
        super().__init__(app, name=name, partitions=partitions,
                         schema=faust.Schema(key_type=str, key_serializer="raw", value_serializer="json"))
        self._partition = int(DefaultPartitioner()(b"scorer", list(range(partitions)), list(range(partitions))))

    def partition_for_key(self, key: Any) -> int | None:
        return self._partition


def kafka_credentials(settings: Settings) -> faust.auth.Credentials | None:
    """TLS and SASL (PLAIN, SCRAM) for real clusters, from the KAFKA_* settings; None on plaintext."""
    protocol = settings.kafka_security_protocol
    context = settings.kafka_tls()
    if protocol.startswith("SASL_"):
        return faust.SASLCredentials(username=settings.kafka_sasl_username, password=settings.kafka_sasl_password,
                                     mechanism=settings.kafka_sasl_mechanism, ssl_context=context)
    return faust.SSLCredentials(context) if context is not None else None


def build_app(settings: Settings, brands: list[Brand], sink: Sink, registry: CollectorRegistry | None = None,
              detector: DetectorConfig | None = None, clock: Callable[[], float] = time.time) -> faust.App:
    """A configured Faust app; the caller serves ``app.buzzwatch_web`` on the web port and runs the app
    (``faust.Worker(app).execute_from_commandline()``)."""
    registry = registry or CollectorRegistry()
    metrics = Metrics(registry, brands=[b.id for b in brands] or None, results=DELIVERY_RESULTS,
                      langs=(*LANGS, UND), rejections=REJECTIONS)
    by_id = {b.id: b for b in brands}
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{s.strip()}" for s in settings.kafka_bootstrap_servers.split(",")],
        store=settings.store,
        datadir=settings.data_dir,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        broker_credentials=kafka_credentials(settings),
        topic_allow_declare=True,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        broker_rebalance_timeout=max(10.0, 3 * settings.session_timeout_s),
        producer_max_batch_size=settings.producer_max_batch_bytes,
        producer_linger=0.005,  # a batch's scored mentions go out in a few requests, not one each
        broker_commit_interval=settings.commit_interval_s,
        broker_max_poll_records=settings.batch_size,
        broker_commit_every=settings.commit_every,
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        web_enabled=False,  # our own aiohttp app serves the port (stream/web.py): no Faust views exposed
        stream_wait_empty=False,
        table_cleanup_interval=3600.0,
    )
    raw = {"key_serializer": "raw", "value_serializer": "raw"}
    # The hot topics have no agent to declare them; the conductor declares internal topics before
    # it subscribes (created if missing, left alone if they exist).
    mentions = app.topic(settings.topic_mentions, internal=True, **raw)
    scored = app.topic(settings.topic_scored, internal=True, **raw)
    dlq = app.topic(settings.topic_dlq, **raw)
    alerts = app.topic(settings.topic_alerts, **raw)
    digest = app.topic(settings.topic_digest, **raw)
    feedback = app.topic(settings.topic_feedback, **raw)
    # Brand states are held as their JSON bytes (~0.6 KB for a quiet brand), not as dicts (~4 KB):
    # the table keeps every brand of its partitions in memory.
    brand_state = app.tables.add(BrandTable(app, name="brand-state", partitions=settings.topic_partitions,
                                            value_serializer="raw"))
    ledger = app.tables.add(BrandTable(app, name="slack-ledger", partitions=settings.topic_partitions))

    scorer_state = app.tables.add(ScorerTable(app, name="scorer-state", partitions=settings.topic_partitions))
    # With the scorer in a child process (stream/offload.py), this process builds one (~160 MB) only to
    # learn: at the first label, or to load a learned state from the table.
    # A child that dies stops the worker at once (restarted, it reads what was in flight again).
    scorer_process = ScorerProcess(state_key=0, on_broken=lambda exc: asyncio.ensure_future(app.crash(exc))) \
        if settings.scorer_processes else None
    ingestor = Ingestor(Scorer() if scorer_process is None else None, BrandMatcher(brands) if brands else None,
                        settings.max_future_s)

    def learning_scorer() -> Scorer:
        if ingestor.scorer is None:
            ingestor.scorer = Scorer()
        return cast(Scorer, ingestor.scorer)

    learner = FeedbackLearner(learning_scorer, lambda s: setattr(ingestor, "scorer", s), scorer_state, metrics)
    clock_keys = [clock_key(p, settings.topic_partitions) for p in range(settings.topic_partitions)]

    def load_clock(part: int) -> dict[str, Any] | None:
        clock = _json_or_none(brand_state.get(clock_keys[part]))
        if clock is not None:
            log.info("partition %d: event clock restored at %s (%d outages remembered)", part,
                     format_time(clock["w"]), len(clock.get("o", ())))
        return clock

    monitor = Monitor(detector or DetectorConfig(), load=lambda brand: _json_or_none(brand_state.get(brand)),
                      timezones={b.id: b.timezone for b in brands if b.timezone}, load_clock=load_clock)
    # Buttons only when their presses can be verified: without a signing secret each one is refused.
    verifier = Verifier(settings.slack_signing_secret) if settings.slack_signing_secret else None
    notifier = Notifier(sink, channel_for=lambda b: (by_id[b].slack_channel if b in by_id else None)
                        or settings.slack_default_channel,
                        name_for=lambda b: by_id[b].name if b in by_id else None,
                        on_result=lambda result, seconds: (metrics.slack_deliveries.labels(result).inc(),
                                                           metrics.slack_latency.observe(seconds)),
                        ping_for=lambda b, severity, ts: by_id[b].ping(severity, ts) if b in by_id else None,
                        grafana_template=settings.grafana_url_template, clock=clock, background_charts=True,
                        digest_channel=settings.slack_digest_channel, buttons=verifier is not None,
                        runbook_for=lambda b: (by_id[b].runbook_url if b in by_id else None) or settings.runbook_url)
    ledger_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)  # brand -> its ledger entry
    health = Health(watch={settings.topic_mentions, settings.topic_scored})

    async def publish(record: dict[str, Any]) -> None:
        sent = await feedback.send(key=record["brand"].encode(), value=encode(record))
        await asyncio.wait_for(sent, timeout=5.0)

    trimmer = HeapTrimmer()
    unsent_alerts: set[asyncio.Future[Any]] = set()  # queued in Faust's producer, not acknowledged yet
    state_changelog = brand_state.changelog_topic.get_topic_name()

    async def write_states() -> None:
        """Every brand changed since the last commit, into the table: its store and its changelog.

        Runs at each commit (``batches.install``), which then commits the offsets processed before
        it began: no committed offset is ahead of its brand's state, and uncommitted mentions re-read
        after a crash are recognised by the offset each state carries. Once per commit, not per
        batch: a hot brand's state would otherwise be serialised and produced for every batch it
        appears in. Bypasses Faust's per-key changelog path (a queued message, JSON key encoding
        and a send per key; thousands of them queued at once after a busy interval): the states go
        out as produce batches and the store's changelog offsets advance once they are acknowledged.
        """
        dirty = monitor.take_dirty_brands()
        # Taken with the brands, before any pause lets another fetch move a watermark past what this
        # commit covers: restored after a crash, such a watermark would make a new brand's replayed
        # first mentions late.
        clocks = monitor.take_clock_states()
        store = brand_state.data
        states: list[tuple[str, bytes]] = []
        # Hundreds of brands' states take ~0.1 s to serialise: in slices, so that fetches and their
        # handlers go on meanwhile (what they change is written next time) instead of waiting for
        # the whole commit - at 2,000 mentions/s, commits were what made the p99 (~200 against ~100 ms).
        pause = batches.TimeSlices()
        for brand in dirty:
            det = monitor.brands.get(brand)
            if det is None:  # its partition moved away meanwhile
                continue
            states.append((brand, orjson.dumps(det.to_state(MAX_STATE_MEMORY), option=orjson.OPT_NON_STR_KEYS)))
            _export_gauges(metrics, monitor, brand)
            await pause()
        # An alert is in the broker before the state that records it as sent: otherwise a crash in
        # between would restart from a state that never alerts again.
        if unsent_alerts:
            await asyncio.gather(*list(unsent_alerts))
        records = []
        for brand, value in states:
            store[brand] = value  # the local store only (no changelog message per key)
            records.append((int(brand_state.partition_for_key(brand)), store._encode_key(brand), value, None))
            await pause()
        for part, clock in clocks.items():  # each partition's clock, in its partition
            if part not in monitor.clocks:  # the partition moved away meanwhile: its new owner writes it
                continue
            value = orjson.dumps(clock)
            store[clock_keys[part]] = value
            records.append((part, store._encode_key(clock_keys[part]), value, None))
        # Written and idle: the table holds them until their next mention.
        trimmer.evicted(monitor.evict_idle(dirty))
        metrics.brands_in_memory.set(len(monitor.brands))
        written = await batches.produce_batches(app.producer._ensure_producer(), state_changelog, records)
        if written:
            await asyncio.gather(*(w.ack for w in written))
        last: dict[int, int] = {}
        for w in written:
            last[w.partition] = max(last.get(w.partition, -1), w.last_offset)
        for part, offset in last.items():  # a restart on the same disk replays only what follows
            store.set_persisted_offset(TP(state_changelog, part), offset)
        # What this commit evicted, and what it allocated to write them, is garbage now: give it back
        # to the OS here rather than at the next commit, which may come many seconds later when
        # commits run long (stream/heap.py).
        del states, records, written
        trimmer.maybe_trim()
    app.buzzwatch_web = make_web(health, metrics, verifier, publish, clock=clock)  # type: ignore[attr-defined]
    app.buzzwatch_registry = registry  # type: ignore[attr-defined]
    app.buzzwatch_metrics = metrics  # type: ignore[attr-defined]
    app.buzzwatch_notifier = notifier  # type: ignore[attr-defined]
    app.buzzwatch_monitor = monitor  # type: ignore[attr-defined]
    app.buzzwatch_scorer_process = scorer_process  # type: ignore[attr-defined]

    async def to_dlq(event: Any, reason: str) -> None:
        """An agent's bad record to the dead letters, acknowledged before the agent goes on (Faust
        then acks the record, which makes its offset committable). If the write fails the worker stops
        with the record never acked: an agent that just raised would be restarted by Faust's supervisor
        and its record acked all the same - committed without its dead letter."""
        try:
            await (await dead_letter_message(event.message, reason))
        except Exception as exc:
            event.message.acked = True  # taken as acked, so never counted as committable (Faust skips it)
            log.error("the dead letter of %s[%s]@%s was not written (%r): stopping", event.message.topic,
                      event.message.partition, event.message.offset, exc)
            await app.crash(exc)
            raise

    async def dead_letter_message(msg: ConsumerRecord, reason: str) -> Any:
        metrics.dlq.labels(msg.topic).inc()
        record = dead_letter(msg.value if isinstance(msg.value, bytes) else b"", reason,
                             msg.topic, msg.partition, msg.offset)
        return await app.producer.send(settings.topic_dlq, msg.key, encode(record), None, None, None)

    scored_partition = PartitionMemo(settings.topic_partitions)
    brand_home = PartitionMemo(settings.topic_partitions)  # by brand id (str): where its scored records belong
    held: set[int] = set()  # the brand partitions this worker holds now (``drop_moved_brands``)
    counted_header = [(COUNTED_HEADER, b"1")]

    in_order = InOrder(depth=2)

    async def ingest(messages: list[ConsumerRecord]) -> list[Awaitable[Any]]:
        """Score a fetch of raw mentions. One already in its brand's partition, held here, is counted
        in the windows now; the others go on to their brand's partition of the scored topic."""
        now = clock()
        batch = ingestor.prepare([m.value or b"" for m in messages], now=now)
        if scorer_process is None:
            scorer = cast(Scorer, ingestor.scorer)
            return await ingested(messages, batch, scorer.score_batch(batch.texts(), batch.langs()), now)
        # Scored in the child (stream/offload.py) while this process goes on with the next fetch.
        await scorer_process.sync_state(learner.version, lambda: learning_scorer().to_state())
        scores = await scorer_process.score(batch.texts(), batch.langs())

        async def count() -> list[Awaitable[Any]]:
            return await ingested(messages, batch, await scores, now)

        return [await in_order.submit(count)]

    async def ingested(messages: list[ConsumerRecord], batch: Prepared, scores: Sequence[tuple[float, str, str]],
                       now: float) -> list[Awaitable[Any]]:
        """What ``ingest`` does with a fetch once scored, in the order fetched; returns the writes to wait for.

        A mention counted here stays its decoded dict (``count_decoded``): only one that leaves, through
        the scored topic, is built into its ScoredMention."""
        now_ms = int(now * 1000)
        for lang, n in Counter(lang for _, _, lang in scores).items():
            metrics.scored.labels(lang).inc(n)
        invalid = [(messages[i], out.reason) for i, out in enumerate(batch.outcomes) if isinstance(out, InvalidRecord)]
        metrics.unmatched.inc(len(messages) - len(invalid) - len(batch.todo))
        moved = []  # to another partition: through the scored topic
        here = []  # (mention, ts, brand, negativity, sentiment, partition, offset): counted here
        published = []  # counted here and published all the same (BUZZWATCH_PUBLISH_SCORED)
        here_appended: list[float] = []  # a sample of their append times (the latency histogram)
        publish_scored = settings.publish_scored
        for entry, score in zip(batch.todo, scores, strict=True):
            msg = messages[entry[0]]
            key = entry[3].encode()
            part = scored_partition(key)
            if part == msg.partition and part in held:
                here.append((entry[1], entry[2], entry[3], score[0], score[1], part, msg.offset))
                if len(here) % 50 == 1:
                    here_appended.append(msg.timestamp / 1000)
                if not publish_scored:
                    continue
                out_to = published
            else:
                out_to = moved
            out_to.append((part, key, encode(scored_mention(entry, score)),
                           batches.carried_timestamp(msg.timestamp, now_ms)))
        # Counted before anything here is awaited: with the scorer in a child process, the drain loop
        # goes on meanwhile and may count the moved mentions of this very fetch from the scored topic,
        # whose later event times would make these late.
        tally = count_decoded(monitor, here) if here else None
        pending = [await dead_letter_message(msg, reason) for msg, reason in invalid]
        producer = app.producer._ensure_producer()  # aiokafka's, under Faust's Producer service
        pending += [w.ack for w in await batches.produce_batches(producer, settings.topic_scored, moved)]
        if published:
            pending += [w.ack for w in await batches.produce_batches(producer, settings.topic_scored, published,
                                                                     headers=counted_header)]
        if tally is not None:
            pending += await settle(tally, [])
            _observe_latency(metrics, "detect", here_appended)  # their window is updated
        metrics.repartitioned.inc(len(moved))
        metrics.ingested.inc(len(messages))
        metrics.batch_records.labels("ingest").observe(len(messages))
        _observe_latency(metrics, "ingest", [m.timestamp / 1000 for m in messages[::50]])
        return pending  # the fetch's offsets become committable once these are acknowledged

    async def detect(messages: list[ConsumerRecord]) -> list[Awaitable[Any]]:
        """Count a fetch of scored mentions into the windows, then evaluate the brands it touched."""
        if any(m.headers for m in messages):  # those counted where they were scored are not counted again
            messages = [m for m in messages if not any(k == COUNTED_HEADER for k, _ in m.headers)]
        # the same compiled steps as `buzzwatch detect`; a brand's record outside its partition is dead-lettered
        latest = clock() + settings.max_future_s  # the latest event time accepted, as at ingest
        tally = count_records(monitor, messages, brand_home, latest)
        pending = await settle(tally, messages)
        metrics.batch_records.labels("detect").observe(len(messages))
        # A scored record carries its mention's timestamp (``ingest``): this is the mention's latency
        # (for a mention appended within the hour; an older one's is from its scoring).
        _observe_latency(metrics, "detect", [m.timestamp / 1000 for m in messages[::50]])
        return pending

    async def settle(tally: FetchTally, records: list[ConsumerRecord]) -> list[Awaitable[Any]]:
        """What counting ``records`` (or mentions counted where they were scored) did: its dead letters,
        metrics and alerts; returns the writes to wait for."""
        pending = [await dead_letter_message(records[i], reason) for i, reason in tally.bad]
        for brand, (n, negative) in tally.counted.items():
            label = metrics.brand(brand)
            metrics.mentions.labels(label).inc(n)
            if negative:
                metrics.negatives.labels(label).inc(negative)
        metrics.too_late.inc(tally.late)
        metrics.duplicates.inc(tally.duplicates)
        metrics.detected.inc(sum(n for n, _ in tally.counted.values()) + tally.late + tally.duplicates)
        for alert in tally.alerts:
            metrics.alerts.labels(metrics.brand(alert["brand"]), alert["status"]).inc()
            log.info("alert %s %s %s: %s", alert["incident_id"], alert["status"], alert["severity"],
                     alert["reason"])
            sent = alerts.send_soon(key=alert["brand"].encode(), value=encode(alert))
            unsent_alerts.add(sent)  # the next write_states waits for it
            sent.add_done_callback(unsent_alerts.discard)
            pending.append(sent)
        for notice in tally.digest:  # a slow drift: the daily digest, never a page (core/drift.py)
            metrics.digest.labels(metrics.brand(notice["brand"])).inc()
            log.info("digest %s %s: %s", notice["brand"], notice["day"], notice["reason"])
            sent = digest.send_soon(key=digest_key(notice).encode(), value=encode(notice))
            unsent_alerts.add(sent)  # like an alert: in the broker before the state that made it
            sent.add_done_callback(unsent_alerts.discard)
            pending.append(sent)
        return pending

    batches.install(app, {mentions: ingest, scored: detect}, fetch_max_wait_ms=settings.fetch_max_wait_ms,
                    before_commit=write_states)

    @app.task
    async def declare_dlq() -> None:
        await dlq.maybe_declare()

    @app.on_partitions_revoked.connect
    async def finish_in_flight(app: faust.App, revoked: set[TP], **kwargs: Any) -> None:
        """Fetches still being scored are counted before their partitions can move."""
        await in_order.drain()

    @app.on_partitions_assigned.connect
    async def drop_moved_brands(app: faust.App, assigned: set[TP], **kwargs: Any) -> None:
        """Brands whose partition went to another worker leave memory, and so does its clock: if one
        comes back, its state is read again from the table, which its other owner kept writing. Their
        gauges go too (also those of brands evicted as idle earlier): the new owner reports them now."""
        kept = batches.partitions_of(assigned, settings.topic_scored)
        held.clear()
        held.update(kept)
        monitor.forget([b for b in list(monitor.brands) if brand_state.partition_for_key(b) not in kept])
        monitor.forget_clocks([part for part in list(monitor.clocks) if part not in kept])
        metrics.drop_brand_gauges(lambda brand: brand_state.partition_for_key(brand) in kept, monitor.brands)

    async def deliver_once(key: str, record: dict[str, Any], mark: Callable[[dict[str, Any], dict[str, Any]], None],
                           step: Callable[[dict[str, Any], dict[str, Any]], str], what: str,
                           prune: Callable[[dict[str, Any]], dict[str, Any]] = prune_ledger) -> None:
        """One Slack step of ``record`` through the ledger entry ``key`` (its topic's key: the entry
        is in the partition this worker reads it from). Write-ahead: the intent reaches the changelog
        before Slack sees anything, so a process killed between the post and its record knows to
        check Slack first."""
        async with ledger_locks[key]:
            entries = dict(ledger.get(key) or {})
            mark(record, entries)
            ledger[key] = prune(entries)
            await app.producer.flush()
            await _until_done(step, record, entries, what)
            ledger[key] = prune(entries)

    @app.agent(alerts, name="notify")
    async def notify(stream: faust.StreamT) -> None:
        async for events in stream.take_events(100, within=0.02):  # alerts are few: latency over batching
            for left, event in enumerate(events):
                metrics.slack_pending.set(len(events) - left)
                try:
                    alert = decode_alert(event.value or b"")
                except InvalidRecord as exc:
                    await to_dlq(event, exc.reason)
                    continue
                await deliver_once(alert["brand"], alert, notifier.mark_pending, notifier.deliver,
                                   f"{alert['incident_id']}/{alert['seq']}")
            metrics.slack_pending.set(0)
            _observe_latency(metrics, "notify", [e.message.timestamp for e in events])

    @app.agent(digest, name="notify-digest")
    async def notify_digest(stream: faust.StreamT) -> None:
        """Digest notices to Slack, each once, in order. The topic is keyed by day, so a day's notices
        meet in one partition and its ledger entry: one message a day in the digest channel."""
        async for event in stream.events():
            try:
                notice = decode_digest(event.value or b"")
            except InvalidRecord as exc:
                await to_dlq(event, exc.reason)
                continue
            await deliver_once(digest_key(notice), notice, notifier.mark_digest_pending, notifier.deliver_digest,
                               f"digest {notice['brand']}/{notice['day']}", prune=dict)  # a day: every brand kept

    @app.agent(feedback, name="slack-feedback")
    async def slack_feedback(stream: faust.StreamT) -> None:
        """Acknowledgements: recorded in the incident's ledger entry, shown on its root message."""
        async for event in stream.events():
            if is_label_bytes(event.value or b""):
                continue  # a label for the scorer: the learn agent's
            try:
                record = decode_feedback(event.value or b"")
            except InvalidRecord as exc:
                await to_dlq(event, exc.reason)
                continue
            async with ledger_locks[record["brand"]]:
                entries = dict(ledger.get(record["brand"]) or {})
                await _until_done(notifier.acknowledge, record, entries, f"ack of {record['incident_id']}")
                ledger[record["brand"]] = prune_ledger(entries)

    @app.agent(feedback, name="learn")
    async def learn(stream: faust.StreamT) -> None:
        """Labels teach the scorer (once each); the learned state goes to the scorer-state table."""
        async for events in stream.take_events(100, within=1.0):
            bad: list[tuple[int, str]] = []
            learner.apply([e.value or b"" for e in events], lambda i, reason, out=bad: out.append((i, reason)))
            await asyncio.gather(*(to_dlq(events[i], reason) for i, reason in bad))

    @app.timer(interval=10.0)
    async def sync_scorer() -> None:
        """Workers that do not own the labels' partition (and any worker after a restart) pick up
        the learned scorer from the global table."""
        learner.sync()

    @app.timer(interval=5.0)
    async def watch_lag() -> None:
        """Consumer lag per partition (gauge) and the readiness it implies."""
        topics = (settings.topic_mentions, settings.topic_scored, settings.topic_alerts, settings.topic_digest,
                  settings.topic_feedback)
        positions = lag_positions(app.consumer, topics)
        for (topic, partition), (done, end) in positions.items():
            metrics.consumer_lag.labels(topic, str(partition)).set(max(0, end - done))
        health.observe(positions, time.monotonic())

    return app


async def _until_done(step: Callable[[dict[str, Any], dict[str, Any]], str], record: dict[str, Any],
                      entries: dict[str, Any], what: str) -> None:
    """Retry with backoff until Slack takes the step; the offset waits meanwhile (in order, nothing dropped)."""
    delay = 1.0
    while True:
        try:
            await asyncio.to_thread(step, record, entries)
            return
        except DeliveryError as exc:
            wait = float(exc.retry_after) if exc.retry_after else delay
            log.warning("Slack delivery of %s failed (%s); retrying in %.0f s", what, exc, wait)
            await asyncio.sleep(wait)
            delay = min(delay * 2, 30.0)


def _json_or_none(value: bytes | None) -> dict[str, Any] | None:
    return orjson.loads(value) if value else None


def _export_gauges(metrics: Metrics, monitor: Monitor, brand: str) -> None:
    det = monitor.brands.get(brand)
    ev = det.current() if det is not None else None
    if det is None or ev is None:
        return
    minutes = ev.window_minutes
    metrics.set_brand_gauges(brand, ev.observed / minutes, ev.expected / minutes,
                             (ev.observed - ev.previous) / minutes / minutes,
                             SEVERITIES.index(det.incident["severity"]) + 1 if det.incident else 0)


def _observe_latency(metrics: Metrics, stage: str, appended: list[float]) -> None:
    """Seconds from each sampled record's append to the broker (its timestamp) until now."""
    now = time.time()
    hist = metrics.latency.labels(stage)
    for ts in appended:
        if ts:
            hist.observe(max(0.0, now - ts))
