"""produce_batches against a real broker: every record lands once, in order, on its partition, and
``Written.last_offset`` is the offset of each batch's last record (the store's persisted changelog
offset is set from it: one too high and a restart skips a state, one too low and it replays one).
Each record keeps the timestamp it was given (a scored mention its mention's), or its append time."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition

from pipeline.stream.batches import produce_batches

pytestmark = pytest.mark.integration
STAMP = 1_772_323_200_000  # 2026-03-01, ms


async def _produce_and_read(bootstrap: str) -> tuple[list, dict[int, list[tuple[int, bytes, int]]]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic("batches", 3, 1)])
    finally:
        await admin.close()
    # 600-byte batches: a few records each, so batches fill up and new ones start mid-partition;
    # one record larger than a batch goes alone.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_batch_size=600, linger_ms=0)
    await producer.start()
    # Every record but the first carries its own timestamp (as a scored mention carries its mention's).
    records = [(i % 3, f"k{i}".encode(), (f"v{i}-" + "x" * (40 if i != 7 else 2000)).encode(),
                None if i == 0 else STAMP + i) for i in range(60)]
    try:
        written = await produce_batches(producer, "batches", records)
        await asyncio.gather(*(w.ack for w in written))
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    got: dict[int, list[tuple[int, bytes, int]]] = {0: [], 1: [], 2: []}
    try:
        consumer.assign([TopicPartition("batches", p) for p in range(3)])
        while sum(len(v) for v in got.values()) < len(records):
            fetched = await consumer.getmany(timeout_ms=1000)
            for tp, msgs in fetched.items():
                got[tp.partition] += [(m.offset, m.key, m.timestamp) for m in msgs]
    finally:
        await consumer.stop()
    return written, got


def test_records_land_once_in_order_and_last_offsets_match_the_broker(broker):
    written, got = asyncio.run(_produce_and_read(broker.bootstrap))
    for part in range(3):
        assert [k for _, k, _ in got[part]] == [f"k{i}".encode() for i in range(part, 60, 3)]
        # each its own timestamp, the big one sent alone too; the first stamped at its append
        assert [t for _, _, t in got[part]][part == 0:] == [STAMP + i for i in range(part, 60, 3) if i]
    assert abs(got[0][0][2] / 1000 - time.time()) < 60
    assert len(written) > 3  # batches filled up and new ones began
    assert any(w.records == 1 for w in written)  # the record larger than a batch went alone
    for part in range(3):  # each batch's last offset is that of the last record it carried
        batches = [w for w in written if w.partition == part]  # in the order they were sent
        ends = [sum(w.records for w in batches[: j + 1]) for j in range(len(batches))]
        assert [w.last_offset for w in batches] == [got[part][end - 1][0] for end in ends]
