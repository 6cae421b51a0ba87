"""``make latency``: how long from an alert written to Kafka to Slack (the stand-in) receiving it.

Starts a Tansu broker, the Slack stand-in and a worker, then writes ``--alerts`` new incidents
(each with its chart data, so the chart is drawn and uploaded as in production) to the
``alerts`` topic, ``--rate`` per second, and matches each to the ``chat.postMessage`` the
stand-in received for it. Latency = the stand-in's receive time - the alert's produce time
(same machine, same clock). Prints p50/p90/p99/max; the last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaProducer

from pipeline.devtools.broker import LocalBroker
from pipeline.devtools.slack_standin import SlackStandIn
from pipeline.devtools.worker_process import WorkerProcess
from pipeline.records import encode, format_time


def synthetic_alert(i: int, now: float) -> dict:
    """An ``open`` alert shaped like the detector's, with 160 minutes of chart data."""
    at = format_time(now // 60 * 60)
    negatives = [i % 3 for i in range(150)] + [2, 3, 5, 6, 9, 12, 15, 19, 24, 30]
    return {"incident_id": f"lat{i % 8}-{i:05d}", "brand": f"lat{i % 8}", "status": "open", "seq": 1, "at": at,
            "opened_at": at, "severity": "high", "reason": f"latency probe {i}",
            "evidence": {"window_minutes": 20, "observed_negatives": 40, "expected_negatives": 4.0,
                         "negative_rate_per_min": 2.0, "expected_rate_per_min": 0.2, "growth_doubling_minutes": 6.0,
                         "negative_share": 0.5, "baseline_share": 0.1, "unique_authors": 30, "mentions": 80,
                         "reach": 12000, "p_value": 1e-9},
            "samples": [{"id": f"m{i}", "text": "worst service ever", "negativity": 0.9, "author_id": "u1",
                         "author_followers": 100, "url": "https://social.example/u1/1"}],
            "terms": [{"term": "worst", "count": 12}],
            "history": {"start": format_time(now // 60 * 60 - 160 * 60), "bucket_s": 60, "negatives": negatives,
                        "expected": [0.8] * 160}}


async def produce(bootstrap: str, n: int, rate: float) -> dict[str, float]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    sent: dict[str, float] = {}
    try:
        for i in range(n):
            alert = synthetic_alert(i, time.time())
            started = time.time()
            await producer.send_and_wait("alerts", key=alert["brand"].encode(), value=encode(alert))
            sent[alert["incident_id"]] = started
            await asyncio.sleep(max(0.0, 1.0 / rate - (time.time() - started)))
    finally:
        await producer.stop()
    return sent


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 0.5), percentile([1.0, 2.0, 3.0, 4.0], 0.99)
    (2.0, 4.0)
    """
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--alerts", type=int, default=100)
    ap.add_argument("--rate", type=float, default=2.0, help="alerts per second (default 2)")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="buzzwatch-latency-"))
    with LocalBroker(log_path=str(work / "broker.log")) as broker, SlackStandIn() as slack:
        worker = WorkerProcess(broker.bootstrap, work, env={
            "SLACK_BOT_TOKEN": "xoxb-latency", "SLACK_API_URL": slack.api_url,
            "SLACK_DEFAULT_CHANNEL": "#latency"}).start()
        try:
            worker.wait_ready()
            sent = asyncio.run(produce(broker.bootstrap, args.alerts, args.rate))

            def received() -> dict[str, float]:
                return {r.body["metadata"]["event_payload"]["incident_id"]: r.received_at
                        for r in slack.requests("chat.postMessage") if r.status == 200 and r.body.get("metadata")}

            slack.wait_for(lambda: len(received()) >= len(sent), timeout=120, interval=0.2)
        finally:
            worker.stop()
    got = received()
    latencies = [got[k] - t for k, t in sent.items()]
    summary = {"alerts": len(latencies), "rate_per_s": args.rate,
               **{f"p{int(q * 100)}_ms": round(percentile(latencies, q) * 1000, 1) for q in (0.5, 0.9, 0.99)},
               "max_ms": round(max(latencies) * 1000, 1)}
    print(f"alert -> Slack stand-in over {len(latencies)} alerts at {args.rate}/s: p50 {summary['p50_ms']} ms, "
          f"p90 {summary['p90_ms']} ms, p99 {summary['p99_ms']} ms, max {summary['max_ms']} ms")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
