"""``buzzwatch replay`` and ``feedback``, the worker's start-up check and the worker itself, against a real
TLS listener; ``replay`` and ``feedback`` against a real SASL one.

TLS: a TLS-terminating proxy in front of Tansu, which advertises the proxy's address, with a certificate
from a throwaway CA (conftest.py: ``tls_proxy``). SASL: Tansu's --authentication (SCRAM only).
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.devtools.broker import LocalBroker
from pipeline.sim.generate import demo_spec, generate
from pipeline.stream.replay import REQUEST_TIMEOUT_MS
from tests.integration.conftest import ROOT, replay, write_jsonl
from tests.integration.test_worker import read_topic, root_posts, wait_until

pytestmark = pytest.mark.integration


def run(cmd: str, path: Path, bootstrap: str, topic: str = "secured", **env: str) -> tuple[int, list[str], float]:
    """``buzzwatch CMD PATH`` with the KAFKA_* settings ``env`` (none but those given): its exit status,
    its stderr's lines and how long it took."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    started = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", cmd, str(path), "--bootstrap", bootstrap,
                        "--topic", topic, *(["--quiet"] if cmd == "replay" else [])],
                       capture_output=True, timeout=120, cwd=ROOT, env={**clean, **env})
    return r.returncode, r.stderr.decode().splitlines(), time.monotonic() - started


async def read_all(bootstrap: str, topic: str, n: int, timeout: float = 15.0, **client: object) -> list[bytes]:
    """The values of ``topic`` (every partition, from the start) once ``n`` are there, or all there
    are when ``timeout`` runs out."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **client)  # type: ignore[arg-type]
    await consumer.start()
    try:
        await consumer.topics()
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out: list[bytes] = []
        deadline = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                out.extend(r.value for r in records)
        return out
    finally:
        await consumer.stop()


LABELS = [{"id": f"l{i}", "text": f"never again {i}", "label": "negative"} for i in range(40)]


@pytest.mark.parametrize("cmd", ["replay", "feedback"])
def test_replay_and_feedback_over_tls_deliver_every_record_with_the_workers_settings(cmd, certs, tls_broker, tmp_path):
    """KAFKA_SECURITY_PROTOCOL=SSL and KAFKA_SSL_CAFILE, as the worker reads them. Before: ignored, the
    command spoke plaintext to the TLS port and stopped: 'KafkaConnectionError: Connection at ... closed'.
    The worker's start-up check passes against the same listener."""
    ca = certs[0]
    mentions = [{"id": f"m{i}", "text": f"@acme awful {i}", "created_at": "2026-03-02T10:00:00Z",
                 "brand": ["acme", "globex"][i % 2]} for i in range(200)]
    path = write_jsonl(tmp_path / "in.jsonl", mentions if cmd == "replay" else LABELS)
    status, lines, took = run(cmd, path, tls_broker, KAFKA_SECURITY_PROTOCOL="SSL", KAFKA_SSL_CAFILE=str(ca))
    assert status == 0, lines
    got = asyncio.run(read_all(tls_broker, "secured", len(mentions if cmd == "replay" else LABELS),
                               security_protocol="SSL", ssl_context=ssl.create_default_context(cafile=str(ca))))
    if cmd == "replay":  # byte for byte, each line once
        assert sorted(got) == sorted(line for line in path.read_bytes().splitlines()), (len(got), lines)
    else:
        assert sorted(json.loads(v)["id"] for v in got) == sorted(x["id"] for x in LABELS), (len(got), lines)
        assert lines == [f"buzzwatch feedback: {len(LABELS)} labels sent to secured"]

    from pipeline.settings import Settings
    from pipeline.stream.worker import check_broker

    asyncio.run(check_broker(Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": tls_broker, "KAFKA_SECURITY_PROTOCOL": "SSL",
                                                "KAFKA_SSL_CAFILE": str(ca)}), timeout_s=5))


def test_replay_to_a_tls_listener_it_cannot_trust_or_speak_to_stops_in_one_line(tls_proxy, tls_broker, tmp_path):
    """Without KAFKA_SSL_CAFILE (the system's CAs, which never signed the broker's certificate): one line
    naming the certificate's verification, exit 1, at once. Before: ignored, and the line said the
    connection was closed. PLAINTEXT to a TLS port (as every command spoke before): one line too, within
    the check's time limit, not a hang. The listener counts both as refused."""
    path = write_jsonl(tmp_path / "in.jsonl", LABELS[:1])
    status, lines, took = run("replay", path, tls_broker, KAFKA_SECURITY_PROTOCOL="SSL")
    assert status == 1 and len(lines) == 1, lines
    assert lines[0].startswith(f"buzzwatch replay: cannot reach the Kafka broker at {tls_broker}: "), lines
    assert "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed" in lines[0], lines
    assert lines[0].endswith("(check --bootstrap, and with KAFKA_SECURITY_PROTOCOL=SSL KAFKA_SSL_*)"), lines
    assert took < 10, took
    assert tls_proxy.handshakes == 0 and tls_proxy.refused, tls_proxy.refused  # the listener saw it refuse

    status, lines, took = run("replay", path, tls_broker, KAFKA_SECURITY_PROTOCOL="PLAINTEXT")
    assert status == 1 and len(lines) == 1, lines
    assert lines[0].startswith(f"buzzwatch replay: cannot reach the Kafka broker at {tls_broker}: "), lines
    assert lines[0].endswith(" (check --bootstrap)"), lines
    assert took < REQUEST_TIMEOUT_MS / 1000, took
    # ... and the listener saw it speak plaintext (what the worker's test counts on to tell).
    assert tls_proxy.handshakes == 0 and any("WRONG_VERSION_NUMBER" in r for r in tls_proxy.refused), tls_proxy.refused


def test_the_worker_consumes_and_produces_over_tls_and_only_over_tls(tls_proxy, tls_settings, start_tls_worker, slack,
                                                                    tmp_path):
    """The worker with KAFKA_SECURITY_PROTOCOL=SSL and KAFKA_SSL_CAFILE (Faust's consumer, producer and
    topic creation, through ``kafka_credentials``): the demo stream, replayed over TLS, is read, scored
    into the scored topic (every mention, once) and alerted on (the alerts topic, Slack). Every
    connection that reached the listener completed a TLS handshake - and the broker advertises only
    the listener, so there is no other way in: a client of the worker speaking plaintext would be
    refused there (with ``kafka_credentials`` giving None, the worker stops at start-up, unable to
    bootstrap, and this test fails in ~7 s)."""
    worker = start_tls_worker("tls", BUZZWATCH_PUBLISH_SCORED="true", BUZZWATCH_SCORER_PROCESSES="0")
    assert tls_proxy.refused == [], (tls_proxy.refused, worker.log_tail())
    by_worker = tls_proxy.handshakes  # nothing else has connected yet: its check, consumers and producer
    assert by_worker >= 3, by_worker

    rows = generate(demo_spec(), seed=7)
    replay(write_jsonl(tmp_path / "stream.jsonl", rows), tls_proxy.address, **tls_settings)
    wait_until(lambda: worker.sample("buzzwatch_detect_records_total") >= len(rows), 90, "every mention counted",
               worker)
    client = {"security_protocol": "SSL", "ssl_context": ssl.create_default_context(cafile=tls_settings[
        "KAFKA_SSL_CAFILE"])}
    scored = asyncio.run(read_topic(tls_proxy.address, "mentions.scored", len(rows), timeout=15, **client))
    assert sorted(json.loads(r.value)["id"] for r in scored) == sorted(r["id"] for r in rows), len(scored)
    alerts = [json.loads(r.value) for r in asyncio.run(read_topic(tls_proxy.address, "alerts", 1, **client))]
    assert {a["brand"] for a in alerts} == {"acme"} and "open" in {a["status"] for a in alerts}, alerts
    wait_until(lambda: root_posts(slack, "#acme-oncall"), 30, "the acme alert in Slack", worker)
    for brand in ("acme", "globex", "initech"):
        assert worker.sample("buzzwatch_mentions_total", brand=brand) == sum(
            r["text"].startswith(f"@{brand} ") for r in rows), brand

    assert tls_proxy.refused == [], tls_proxy.refused
    assert worker.proc.poll() is None, worker.log_tail()


@pytest.mark.parametrize("cmd", ["replay", "feedback"])
def test_replay_and_feedback_log_in_with_scram_and_a_refused_login_is_one_line(cmd, tmp_path):
    """Tansu with --authentication (SASL SCRAM; its 0.6.0 has no PLAIN): the login reaches it and is
    refused - no user can be made on a broker whose every request, the one making a user too, needs a
    login, and its store lives in memory. Before: KAFKA_SASL_* ignored, the line said the connection was
    closed; and aiokafka, reading the refusal as a success, raised KeyError: 'v' (a traceback)."""
    path = write_jsonl(tmp_path / "in.jsonl", LABELS[:1])
    with LocalBroker(log_path=str(tmp_path / "broker.log"), authentication=True) as broker:
        status, lines, took = run(cmd, path, broker.bootstrap, KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
                                  KAFKA_SASL_MECHANISM="SCRAM-SHA-256", KAFKA_SASL_USERNAME="buzzwatch",
                                  KAFKA_SASL_PASSWORD="not-this-one")
    assert status == 1 and lines == [
        f"buzzwatch {cmd}: cannot reach the Kafka broker at {broker.bootstrap}: AuthenticationFailedError: the "
        "broker refused the SCRAM-SHA-256 login of 'buzzwatch' (check --bootstrap, and with "
        "KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT KAFKA_SASL_*)"], lines
    assert took < 10, took
