"""``python -m pipeline.devtools.broker_growth``: does the local broker slow down with what it holds?

A producer at ``--rate`` records/s (400-byte values, 20 ms slices, as ``make bench``'s load) and a
consumer in a group (20 ms fetch wait) on a fresh Tansu, for ``--windows`` windows of 10 s; per
window, the broker's CPU and the consumer's lag from append to fetch. On Tansu's memory storage
both grow with the log at a constant rate (its storage is an in-memory object store: finding a
fetch's batches among all those stored would cost this; we have not read its source to confirm);
a Kafka fetch does not depend on the log's length. Why ``make bench`` runs each latency rate on a
fresh broker. The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from typing import Any

from aiokafka import AIOKafkaConsumer

from pipeline.devtools.broker import LocalBroker
from pipeline.devtools.latency import percentile
from pipeline.sim.bench import cpu_s, create_topics, paced


async def measure(broker: LocalBroker, rate: float, windows: int) -> list[dict[str, Any]]:
    await create_topics(broker.bootstrap)
    consumer = AIOKafkaConsumer("mentions", bootstrap_servers=broker.bootstrap, group_id="growth",
                                fetch_max_wait_ms=20, auto_offset_reset="earliest",
                                session_timeout_ms=6000, heartbeat_interval_ms=2000)
    await consumer.start()
    lag_ms: list[float] = []

    async def consume() -> None:
        while True:
            fetched = await consumer.getmany(timeout_ms=100)
            now = time.time() * 1000
            for records in fetched.values():
                lag_ms.extend(now - r.timestamp for r in records[::20])

    reader = asyncio.create_task(consume())
    out = []
    try:
        for w in range(windows):
            records = [(f"brand-{i % 500}".encode(), b"x" * 400) for i in range(int(rate * 10))]
            lag_ms.clear()
            cpu0, t0 = cpu_s(broker.pid), time.monotonic()
            await paced(broker.bootstrap, records, rate, [])
            await asyncio.sleep(0.2)  # the last slice fetched
            wall = time.monotonic() - t0
            row = {"window": w, "stored": int(rate * 10) * (w + 1),
                   "broker_cpu_pct": round(100 * (cpu_s(broker.pid) - cpu0) / wall),
                   "lag_p50_ms": round(percentile(lag_ms, 0.5)), "lag_p99_ms": round(percentile(lag_ms, 0.99))}
            print(f"window {w}: {row['stored']:,} records stored, broker CPU {row['broker_cpu_pct']}% of a core, "
                  f"consumer lag p50 / p99 {row['lag_p50_ms']} / {row['lag_p99_ms']} ms", flush=True)
            out.append(row)
    finally:
        reader.cancel()
        await consumer.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=2000.0, help="records per second")
    ap.add_argument("--windows", type=int, default=6, help="windows of 10 s")
    args = ap.parse_args(argv)
    with LocalBroker(log_path=tempfile.mktemp(prefix="buzzwatch-growth-", suffix=".log")) as broker:
        rows = asyncio.run(measure(broker, args.rate, args.windows))
    print(json.dumps({"rate": args.rate, "windows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
