"""Whole fetches to a handler: Faust's consumer, minus its per-message machinery on the hot topics.

Faust hands every fetched message to its agents one at a time: two asyncio tasks per message
(``wait_first(callback, suspend_flow.wait())``), an ``Event``, a queue hop and the stream's
sensors. Measured on this project's worker that is about twice the cost of the detector itself,
which caps a worker near 2,000 mentions/s whatever the core does (issue #7).

``BatchConsumer`` keeps everything else Faust does - the consumer group and partition
assignment, table changelogs and their recovery, offset commits (which flush the producer first)
and rebalances - but for the topics given a *batch handler* it passes each fetch's messages of
that topic to the handler in one call per partition, and acks them (making their offsets committable) only
after the handler returned: a crash mid-batch re-reads it, nothing is lost. Other topics (alerts,
feedback, changelogs) take Faust's normal path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, cast

import faust
from aiokafka.structs import ConsumerRecord
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.types import TP
from faust.types.tuples import ack_lock

#: Called with one partition's new records of a fetch (aiokafka's ``ConsumerRecord``: ``key``,
#: ``value`` bytes, ``partition``, ``offset``, ``timestamp`` in ms); the records become committable
#: when it returns.
BatchHandler = Callable[[list[ConsumerRecord]], Awaitable[None]]


class BatchConsumer(AIOKafkaConsumer):
    """Faust's aiokafka consumer whose drain loop gives hot topics their records a fetch at a time."""

    batch_handlers: dict[str, BatchHandler] = {}  # set per app by ``install``

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - exercised by the worker tests
        callback = self.callback
        handlers = self.batch_handlers
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                fetched = await self._fetch()
                await asyncio.sleep(0)
                for tp, records in fetched.items():
                    if self.should_stop or not self.flow_active:
                        break  # a rebalance began: what is left is fetched again after it
                    records = self._unread(tp, records)
                    if not records:
                        continue
                    handler = handlers.get(tp.topic)
                    if handler is not None:
                        await handler(records)
                        self._ack_records(tp, records)
                    else:  # Faust's own path, a message at a time
                        for record in records:
                            await self.wait_first(callback(self._to_message(tp, record)), self.suspend_flow.wait())
                    self._read_offset[tp] = records[-1].offset
                if self._commit_every is not None and self._n_acked >= self._commit_every:
                    self._n_acked = 0
                    await self.commit()
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise

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
        """The records past the partition's read offset; a jump over offsets (compaction, aborted
        transactions) becomes a gap Faust's commit steps over."""
        r_offset = self._read_offset[tp]
        if r_offset is not None and records[0].offset <= r_offset:
            records = [r for r in records if r.offset > r_offset]
        if records and r_offset and self.app.topics.acks_enabled_for(tp.topic):
            start = max(r_offset + 1, (self._committed_offset[tp] or 0) + 1)
            if start < records[0].offset:
                self._gap[tp].addi(start, records[0].offset)
                self._gap[tp].merge_overlaps()
        return records

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


def install(app: faust.App, handlers: dict[faust.TopicT, BatchHandler]) -> None:
    """Subscribe ``app`` to each topic and route its messages to the handler, a fetch at a time.

    Call before the app starts (the consumer is created at start from the transport's class).
    """
    consumer_cls = type("AppBatchConsumer", (BatchConsumer,),
                        {"batch_handlers": {t.get_topic_name(): h for t, h in handlers.items()}})
    app.transport.Consumer = consumer_cls  # type: ignore[misc]  # instance attribute: this app only
    for topic in handlers:
        app.topics.add(topic)  # the conductor subscribes to it; acks on, so offsets commit


def partitions_of(tps: set[TP], topic: str) -> set[int]:
    """The partition numbers of ``topic`` among ``tps``."""
    return {tp.partition for tp in cast(set[TP], tps) if tp.topic == topic}
