"""Whole fetches to a handler: Faust's consumer, minus its per-message machinery on the hot topics.

Faust hands every fetched message to its agents one at a time: two asyncio tasks per message
(``wait_first(callback, suspend_flow.wait())``), an ``Event``, a queue hop and the stream's
sensors. Measured on this project's worker that is about twice the cost of the detector itself,
which caps a worker near 2,000 mentions/s whatever the core does (issue #7).

``BatchConsumer`` keeps everything else Faust does - the consumer group and partition
assignment, table changelogs and their recovery, offset commits (which flush the producer first)
and rebalances - but for the topics given a *batch handler* it passes each fetch's messages of
that topic to the handler in one call, and acks them (makes their offsets
committable) only once the handler is done and every write it started is acknowledged: a crash
before that re-reads the batch, nothing is lost. Other topics (alerts, feedback, changelogs) take
Faust's normal path.

A commit first runs an optional *before-commit* coroutine (the worker writes its brand states
there) and commits only the offsets that were committable when it began, once it has returned:
state written by the hook is never behind a committed offset, even if processing goes on while
the hook waits for the broker. ``produce_batches`` writes keyed records as one produce batch per
partition (aiokafka's ``send_batch``, ~4x cheaper than a ``send`` per record).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, NamedTuple, cast

import faust
from aiokafka.structs import ConsumerRecord
from faust.exceptions import ProducerSendError
from faust.transport.consumer import CONSUMER_COMMITTING
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.types import TP
from faust.types.tuples import ack_lock
from mode import Service

#: Called with a fetch's new records of one topic, all partitions (aiokafka's ``ConsumerRecord``:
#: ``key``, ``value`` bytes, ``partition``, ``offset``, ``timestamp`` in ms); returns the writes it started
#: (producer futures). The records become committable once every one of those is acknowledged -
#: without holding up the next fetch, so a live trickle does not pay a broker round trip per batch.
BatchHandler = Callable[[list[ConsumerRecord]], Awaitable[list[Awaitable[Any]]]]


class _ConsumerThread(AIOKafkaConsumerThread):
    """Faust's consumer thread, with the broker's fetch wait ours to set (Faust fixes it at 1.5 s)."""

    fetch_max_wait_ms = 500  # Kafka's default: a fetch returns as soon as data is there

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = self.fetch_max_wait_ms  # read when the consumer starts
        return consumer


class BatchConsumer(AIOKafkaConsumer):
    """Faust's aiokafka consumer whose drain loop gives hot topics their records a fetch at a time."""

    batch_handlers: dict[str, BatchHandler] = {}  # set per app by ``install``
    before_commit: Callable[[], Awaitable[None]] | None = None
    fetch_max_wait_ms = 500

    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        thread_cls = type("ConsumerThread", (_ConsumerThread,), {"fetch_max_wait_ms": self.fetch_max_wait_ms})
        return thread_cls(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - exercised by the worker tests
        callback = self.callback
        handlers = self.batch_handlers
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                fetched = await self._fetch()
                await asyncio.sleep(0)
                hot: dict[str, list[tuple[TP, list[ConsumerRecord]]]] = {}
                for tp, records in fetched.items():
                    if self.should_stop or not self.flow_active:
                        break  # a rebalance began: what is left is fetched again after it
                    records = self._unread(tp, records)
                    if not records:
                        continue
                    self._read_offset[tp] = records[-1].offset
                    if tp.topic in handlers:
                        hot.setdefault(tp.topic, []).append((tp, records))
                    else:  # Faust's own path, a message at a time
                        for record in records:
                            await self.wait_first(callback(self._to_message(tp, record)), self.suspend_flow.wait())
                for topic, parts in hot.items():
                    # One call per topic and fetch, all partitions together: live traffic comes in
                    # small fetches, and the scorer and the detector have a cost per call.
                    writes = await handlers[topic]([r for _, part in parts for r in part])
                    if writes:
                        done = asyncio.gather(*writes)
                        done.add_done_callback(functools.partial(self._on_written, parts))
                    else:
                        self._ack_parts(parts)
                if self._commit_every is not None and self._n_acked >= self._commit_every:
                    self._n_acked = 0
                    # In the background: the commit waits for the brand states' acknowledgements,
                    # and fetching goes on meanwhile (one commit at a time, Faust's ``_commit_fut``).
                    asyncio.ensure_future(self.commit()).add_done_callback(self._on_committed)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise

    @Service.transitions_to(CONSUMER_COMMITTING)
    async def force_commit(self, topics: Any = None, start_new_transaction: bool = True) -> bool:
        """Faust's commit, with ``before_commit`` awaited between choosing the offsets and committing them."""
        sensor_state = self.app.sensors.on_commit_initiated(self)
        offsets = self._filter_committable_offsets(list(self._filter_tps_with_pending_acks(topics)))
        if self.before_commit is not None:
            await self.before_commit()  # a failure propagates: Faust crashes the worker, nothing committed
        did_commit = False
        if offsets:
            try:
                await self._handle_attached(offsets)
            except ProducerSendError as exc:
                await self.crash(exc)
            else:
                did_commit = await self._commit_offsets(offsets, start_new_transaction=start_new_transaction)
        self.app.sensors.on_commit_completed(self, sensor_state)
        return did_commit

    async def _fetch(self) -> dict[TP, list[ConsumerRecord]]:
        """One fetch's records per partition (Faust's ``getmany`` without its per-record work)."""
        records, active = await self._wait_next_records(1.0)
        if not records or self.should_stop or not self.flow_active:
            return {}
        generation = self.app.consumer_generation_id
        out = {}
        for tp, batch in records.items():
            if active is None or tp in active or tp in self._buffered_partitions:
                self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                out[tp] = batch
        return out if generation == self.app.consumer_generation_id else {}

    def _unread(self, tp: TP, records: list[ConsumerRecord]) -> list[ConsumerRecord]:
        """The records not read yet (``unread``); a jump over offsets (compaction, aborted
        transactions) becomes a gap Faust's commit steps over."""
        r_offset = self._read_offset[tp]
        records = unread(records, r_offset)
        if records and r_offset and self.app.topics.acks_enabled_for(tp.topic):
            start = max(r_offset + 1, (self._committed_offset[tp] or 0) + 1)
            if start < records[0].offset:
                self._gap[tp].addi(start, records[0].offset)
                self._gap[tp].merge_overlaps()
        return records

    def _on_committed(self, done: asyncio.Future[Any]) -> None:
        if not done.cancelled() and done.exception() is not None:
            self.log.error("a commit failed (%r): stopping", done.exception())
            asyncio.ensure_future(self.app.crash(done.exception()))

    def _on_written(self, parts: list[tuple[TP, list[ConsumerRecord]]], done: asyncio.Future[Any]) -> None:
        if done.cancelled() or done.exception() is not None:
            # Never acked, so never committed: the worker stops and whoever takes the partitions
            # re-reads the batch (its effects are idempotent).
            exc = done.exception() if not done.cancelled() else asyncio.CancelledError()
            self.log.error("a write caused by %s failed (%r): stopping", sorted(tp for tp, _ in parts), exc)
            asyncio.ensure_future(self.app.crash(exc))
            return
        self._ack_parts(parts)

    def _ack_parts(self, parts: list[tuple[TP, list[ConsumerRecord]]]) -> None:
        for tp, records in parts:
            self._ack_records(tp, records)

    def _ack_records(self, tp: TP, records: list[ConsumerRecord]) -> None:
        """Mark a handled batch committable: Faust's ``ack`` bookkeeping, once per batch."""
        with ack_lock:
            committed = self._committed_offset[tp]
            index = self._acked_index[tp]
            acked = self._acked[tp]
            n = 0
            for record in records:
                offset = record.offset
                if (committed is None or offset >= committed) and offset not in index:
                    index.add(offset)
                    acked.append(offset)
                    n += 1
            self._n_acked += n


CARRIED_AGE_MS = 3_600_000  # an input timestamp older than this is not carried to a derived record


def carried_timestamp(input_ms: int, now_ms: int) -> int | None:
    """The timestamp a record derived from an input record gets: the input's, as Kafka Streams
    does, so a scored mention's latency is its mention's end to end - unless the input's is more
    than an hour old or over a minute ahead (a producer that stamps a post's own time, a day-old
    backlog, a clock far off): then the time of the append, so that a time-based retention of the derived topic
    does not drop a record before it is read.

    >>> now = 1_772_323_200_000
    >>> carried_timestamp(now - 120, now), carried_timestamp(now - 2 * CARRIED_AGE_MS, now)
    (1772323199880, None)
    >>> carried_timestamp(now + 5_000, now), carried_timestamp(now + 120_000, now)
    (1772323205000, None)
    """
    return input_ms if now_ms - CARRIED_AGE_MS <= input_ms <= now_ms + 60_000 else None


class TimeSlices:
    """``await pause()`` in a long loop gives way to the event loop once every ``slice_s`` of work, for
    ``yield_s``, so that a commit's bulk work does not hold up the fetch loop (and every mention
    waiting in it).

    Not ``sleep(0)``, one turn of the loop: a fetch takes several turns (the consumer thread's
    answer, the handler, the scores from the scoring child, the count), and one turn per 5 ms slice
    stretched each fetch to tens of ms while a commit wrote 500 busy brands. Given 1 ms instead, the
    loop runs what is ready as often as it needs: at 33,622 mentions/s p99 150 and 153 ms against 220
    and 222 (two runs each, ``make bench``'s latency phase alone), the drain rate unchanged.
    """

    def __init__(self, slice_s: float = 0.005, yield_s: float = 0.001) -> None:
        self.slice_s = slice_s
        self.yield_s = yield_s
        self._since = time.perf_counter()

    async def __call__(self) -> None:
        if time.perf_counter() - self._since >= self.slice_s:
            await asyncio.sleep(self.yield_s)
            self._since = time.perf_counter()


def unread(records: list[Any], read_offset: int | None) -> list[Any]:
    """The fetched records not read yet, given Faust's read offset for their partition.

    That offset means two things: after a seek (start-up, rebalance: Faust's ``perform_seek``) it
    is the committed offset - the *next* record to read, not processed yet - and after a fetch it
    is the last record read. As in Faust's own drain loop, only records below it are dropped: the
    record at it is kept. Dropping it too lost the first record of every partition after each
    restart or rebalance (committed over by the next commit: found by the kill -9 test); the
    other case, a fetch that hands the last record read over again, processes it twice, which the
    effects' idempotence absorbs (a brand's windows skip offsets they applied, ids they counted).

    >>> from collections import namedtuple
    >>> R = namedtuple("R", "offset")
    >>> [r.offset for r in unread([R(7), R(8), R(9)], 8)]  # 8: next to read after a seek
    [8, 9]
    >>> [r.offset for r in unread([R(7), R(8)], None)]
    [7, 8]
    """
    if read_offset is not None and records and records[0].offset < read_offset:
        return [r for r in records if r.offset >= read_offset]
    return records


def install(app: faust.App, handlers: dict[faust.TopicT, BatchHandler], fetch_max_wait_ms: int = 500,
            before_commit: Callable[[], Awaitable[None]] | None = None) -> None:
    """Subscribe ``app`` to each topic and route its messages to the handler, a fetch at a time.

    ``fetch_max_wait_ms``: how long the broker may hold a fetch waiting for data. Kafka answers
    as soon as a record arrives; Tansu only when the wait is over (a 1.5 s wait measured ~450 ms
    per hop, 100 ms measured 3-5 ms), so the dev tools set 100. ``before_commit`` runs at each
    commit, before the offsets are committed. Call before the app starts (the consumer is created
    at start from the transport's class).
    """
    consumer_cls = type("AppBatchConsumer", (BatchConsumer,),
                        {"batch_handlers": {t.get_topic_name(): h for t, h in handlers.items()},
                         "fetch_max_wait_ms": fetch_max_wait_ms,
                         "before_commit": staticmethod(before_commit) if before_commit else None})
    app.transport.Consumer = consumer_cls  # type: ignore[misc]  # instance attribute: this app only
    for topic in handlers:
        app.topics.add(topic)  # the conductor subscribes to it; acks on, so offsets commit


def partitions_of(tps: set[TP], topic: str) -> set[int]:
    """The partition numbers of ``topic`` among ``tps``."""
    return {tp.partition for tp in cast(set[TP], tps) if tp.topic == topic}


class Written(NamedTuple):
    """One produce batch on its way: its partition, how many records, and the broker's answer."""

    partition: int
    records: int
    ack: Awaitable[Any]  # aiokafka's RecordMetadata; ``offset`` is the batch's first record's

    @property
    def last_offset(self) -> int:
        return int(cast(Any, self.ack).result().offset) + self.records - 1


async def produce_batches(producer: Any, topic: str,
                          records: Iterable[tuple[int, bytes, bytes, int | None]],
                          headers: list[tuple[str, bytes]] | None = None) -> list[Written]:
    """``(partition, key, value, timestamp_ms)`` records as one produce batch per partition, filled
    in order (aiokafka's ``create_batch``/``send_batch``); a record larger than a batch goes alone.
    ``headers`` go on every record.

    A timestamp of ``None`` is the time of the append; a record derived from an input record
    carries the input's (``carried_timestamp``).
    """
    open_batches: dict[int, Any] = {}  # partition -> the batch being filled
    written = []
    headers = headers or []
    for part, key, value, ts in records:
        batch = open_batches.get(part)
        if batch is None or batch.append(key=key, value=value, timestamp=ts, headers=headers) is None:
            if batch is not None:  # full: on its way, and a new one for this partition
                written.append(Written(part, batch.record_count(), await producer.send_batch(batch, topic, partition=part)))
            batch = open_batches[part] = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=ts, headers=headers) is None:  # larger than a batch
                written.append(Written(part, 1, await producer.send(topic, value, key=key, partition=part,
                                                                    timestamp_ms=ts, headers=headers)))
    for part, batch in open_batches.items():
        if batch.record_count():
            written.append(Written(part, batch.record_count(), await producer.send_batch(batch, topic, partition=part)))
    return written
