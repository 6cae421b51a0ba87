"""``rocksdb://`` for buzzwatch's tables: each key stored in its own partition's database.

Faust's RocksDB store files a write under the partition of "the current event" - a hidden input
that a batch agent does not have (``take_events`` leaves none: the write fails its assertion) or
that belongs to another brand of the batch (the state would land in the wrong partition's
database and vanish from this worker when that partition moves). Our tables already know each
key's partition (``BrandTable.partition_for_key``, the topics' partitioner), so the store asks the
table. Reads go through the key index (``use_partitioner``), never through the current event.

Importing this module registers the store as ``rocksdb://`` (it needs ``rocksdict``).
"""

from __future__ import annotations

from typing import Any

import orjson
from faust.stores import STORES
from faust.stores.rocksdb import Store as RocksStore


class KeyPartitionedStore(RocksStore):
    """Faust's RocksDB store, partitioned by the key's partition rather than the current event's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.table.use_partitioner = True  # reads search the key index, not the current event's partition

    def _partition_of(self, key: bytes) -> int:
        table: Any = self.table
        return int(table.partition_for_key(orjson.loads(key)))

    def _set(self, key: bytes, value: bytes | None) -> None:
        partition = self._partition_of(key)
        self._key_index[key] = partition
        self._db_for_partition(partition).put(key, value)


STORES.aliases["rocksdb"] = f"{__name__}:KeyPartitionedStore"
