"""``buzzwatch replay``: produce a Mention JSONL file into Kafka, optionally paced by event time.

Lines go out byte for byte (a malformed line is the worker's to dead-letter, not ours to fix;
one too large to be a Kafka record refuses the file before anything is sent),
keyed by their ``brand`` when they carry one so that Kafka keeps each brand in one partition,
in file order. Lines without a brand all go to partition 0: spread over partitions they would
lose the file's event-time order (Kafka orders nothing across partitions), and a fast replay
would then make mentions arrive later than the windows' grace.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from pipeline.errors import BrokerUnavailable
from pipeline.records import parse_time
from pipeline.settings import Settings
from pipeline.stream.broker_check import check_brokers, kafka_client
from pipeline.stream.kafka_reasons import aiokafka_reasons

MAX_REQUEST_BYTES = 1048576  # the producer's max_request_size (aiokafka's default): no record may be larger
REQUEST_TIMEOUT_MS = 30000


class Progress:
    """A one-line progress bar on stderr (only when it is a terminal, or when forced)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled = total, enabled
        self.started = self.last = time.monotonic()

    def update(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not final and now - self.last < 0.2):
            return
        self.last = now
        width = 30
        filled = int(width * done / max(self.total, 1))
        rate = done / max(now - self.started, 1e-9)
        end = "\n" if final else ""
        sys.stderr.write(f"\rreplay [{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} lines {rate:,.0f}/s{end}")
        sys.stderr.flush()


def _key_and_time(line: bytes) -> tuple[bytes | None, float | None]:
    try:
        obj = orjson.loads(line)
        brand = obj.get("brand") if isinstance(obj, dict) else None
        ts = parse_time(obj.get("created_at")) if isinstance(obj, dict) else None
    except Exception:  # a bad line is sent as it is; the worker dead-letters it
        return None, None
    return (brand.encode() if isinstance(brand, str) and brand else None), ts


def _bootstrap(given: str | None) -> tuple[str, str]:
    """The servers to use (``--bootstrap``, else KAFKA_BOOTSTRAP_SERVERS, else the default) and where
    they came from, for a message to name."""
    if given:
        return given, "--bootstrap"
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return os.environ["KAFKA_BOOTSTRAP_SERVERS"], "KAFKA_BOOTSTRAP_SERVERS"
    return "127.0.0.1:9092", "--bootstrap or KAFKA_BOOTSTRAP_SERVERS: neither is set"


async def _start(bootstrap: str, source: str, settings: Settings | None, **options: Any) -> AIOKafkaProducer:
    """A started producer (``options``: AIOKafkaProducer's), with the KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*
    and KAFKA_SSL_* of ``settings`` (PLAINTEXT when None), as the worker's; a broker that cannot be
    reached is a BrokerUnavailable naming it, why, ``source`` and the security settings used, not a
    traceback, and nothing else on stderr.

    First the worker's start-up check (stream/broker_check.py): a bootstrap server must answer, and
    so must a broker it advertises - a broker advertising an address that cannot be reached from here
    let the producer start, and the command then ran 30 s and ended in 600 lines of aiokafka's log
    and an UnknownTopicOrPartitionError. Then the producer; should it still fail to start, what aiokafka
    said of each server makes the reason, and stays out of the log."""
    timeout_s = REQUEST_TIMEOUT_MS / 1000
    client, also = kafka_client(settings or Settings())  # a KAFKA_SSL_* file that cannot be used: ConfigError
    check = f"{source}{also}"
    await check_brokers(bootstrap, timeout_s, check=check, reachable_from="here", client_id="buzzwatch-check", **client)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=REQUEST_TIMEOUT_MS, **client, **options)
    servers = [s.strip() for s in bootstrap.split(",") if s.strip()]
    with aiokafka_reasons(timeout_s) as reasons:
        try:
            await producer.start()
            return producer
        except (KafkaError, OSError, OverflowError, ValueError) as exc:
            await producer.stop()  # releases what start() had opened
            why = reasons.why(exc, servers)
    raise BrokerUnavailable(f"cannot reach the Kafka broker at {bootstrap}: {why} (check {check})")


def _too_big(numbered: list[tuple[int, bytes]]) -> str | None:
    """The first line (its number in the file, and its size) that cannot be one Kafka record - key and
    value over ``MAX_REQUEST_BYTES`` - or None."""
    for n, line in numbered:
        if 2 * len(line) + 100 < MAX_REQUEST_BYTES:  # its key is a part of it: fits whatever the key
            continue
        size = DefaultRecordBatchBuilder.estimate_size_in_bytes(_key_and_time(line)[0], line, [])
        if size > MAX_REQUEST_BYTES:
            return f"line {n}: {size:,} bytes as a Kafka record, more than the " \
                   f"{MAX_REQUEST_BYTES:,} a request may hold: nothing sent"
    return None


async def replay(path: str, bootstrap: str | None, topic: str, speed: float | None, progress: bool = True,
                 settings: Settings | None = None) -> int:
    """Produce the lines of ``path``; ``settings``: KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_* (see _start)."""
    bootstrap, source = _bootstrap(bootstrap)
    try:
        with open(path, "rb") as fh:
            numbered = [(n, line.rstrip(b"\n")) for n, line in enumerate(fh, start=1) if line.strip()]
    except OSError as exc:
        print(f"buzzwatch replay: {path}: {exc.strerror}", file=sys.stderr)
        return 2
    lines = [line for _, line in numbered]
    too_big = _too_big(numbered)
    if too_big:  # a record the producer refuses would stop the replay half-way: check the file first
        print(f"buzzwatch replay: {path} {too_big}", file=sys.stderr)
        return 2
    bar = Progress(len(lines), progress and sys.stderr.isatty() or progress == "force")
    producer = await _start(bootstrap, source, settings, linger_ms=5, max_batch_size=256 * 1024,
                            max_request_size=MAX_REQUEST_BYTES)
    try:
        first_ts: float | None = None
        wall0 = time.monotonic()
        pending = []
        for i, line in enumerate(lines, start=1):
            key, ts = _key_and_time(line)
            if speed and ts is not None:
                first_ts = ts if first_ts is None else first_ts
                delay = wall0 + (ts - first_ts) / speed - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            pending.append(await producer.send(topic, line, key=key, partition=None if key else 0))
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                pending.clear()
            bar.update(i)
        await asyncio.gather(*pending)
        bar.update(len(lines), final=True)
    finally:
        await producer.stop()
    return 0


async def send_labels(records: list[dict], bootstrap: str | None, topic: str, settings: Settings | None = None) -> int:
    """Produce checked Label records to the feedback topic, all under the key ``scorer`` (one
    partition: one worker learns each label once and shares the model through its table);
    ``settings``: as replay's."""
    bootstrap, source = _bootstrap(bootstrap)
    producer = await _start(bootstrap, source, settings, linger_ms=5)
    try:
        await asyncio.gather(*[await producer.send(topic, orjson.dumps(r), key=b"scorer") for r in records])
    finally:
        await producer.stop()
    return len(records)
