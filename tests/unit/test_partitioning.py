"""A brand's partition: Kafka's default partitioner, the same in every topic and table."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from pipeline.stream.app import brand_partition


def test_brand_partition_is_the_producers_choice_for_the_key_at_each_partition_count():
    producer_choice = DefaultPartitioner()
    for partitions in (1, 4, 8, 4, 12):  # the cache keeps the counts apart
        every = list(range(partitions))
        for i in range(2000):
            key = f"brand-{i}".encode()
            assert brand_partition(key, partitions) == producer_choice(key, every, every)
    assert len({brand_partition(f"brand-{i}".encode(), 8) for i in range(2000)}) == 8
