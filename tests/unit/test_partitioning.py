"""A brand's partition: Kafka's default partitioner, the same in every topic and table."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from pipeline.stream.app import PartitionMemo, brand_partition


def test_brand_partition_is_the_producers_choice_for_the_key_at_each_partition_count():
    producer_choice = DefaultPartitioner()
    for partitions in (1, 4, 8, 12):
        every = list(range(partitions))
        memo = PartitionMemo(partitions, size=100)
        for i in range(2000):
            key = f"brand-{i % 300}".encode()  # seen again after the memo was emptied
            assert brand_partition(key, partitions) == memo(key) == producer_choice(key, every, every)
        assert len(memo._known) <= 100  # bounded: a long-lived entry per brand would pin the heap
    assert len({brand_partition(f"brand-{i}".encode(), 8) for i in range(2000)}) == 8
