"""``buzzwatch replay`` and ``feedback``, and the worker's start-up check, against a real TLS listener
and a real SASL one.

TLS: Tansu (0.6.0, the dev broker) has no working TLS listener of its own (its --cert and --key
cannot be given together, and the broker never uses the acceptor it builds), so a TLS-terminating
proxy stands in front of it, as a load balancer would, and Tansu advertises the proxy's address:
every connection a client makes, to the bootstrap server and to the broker it names, is TLS,
with a certificate from a throwaway CA made here. SASL: Tansu's --authentication (SCRAM only).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.devtools.broker import LocalBroker
from pipeline.stream.replay import REQUEST_TIMEOUT_MS
from tests.integration.conftest import ROOT, write_jsonl

pytestmark = pytest.mark.integration


def make_ca_and_server_cert(where: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate it signs for 127.0.0.1 (the openssl command; the venv has no
    ``cryptography``): the CA's certificate, the server's, and the server's key."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a CA and a server certificate")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=where, check=True, capture_output=True, timeout=30)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=buzzwatch test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (where / "server.ext").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n"
                                      "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
                                      "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "server.ext")
    return where / "ca.pem", where / "server.pem", where / "server.key"


class TlsProxy:
    """Accepts TLS on a free loopback port (``address``) and pipes each connection's bytes to a plain
    ``host:port``, in a thread of its own: a broker's TLS listener, for a broker that has none."""

    def __init__(self, certfile: Path, keyfile: Path) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(certfile, keyfile)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(lambda loop, context: None)  # failed handshakes are what some tests want
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self, upstream: str) -> TlsProxy:
        host, port = upstream.rsplit(":", 1)

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.close()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_reader, up_writer = await asyncio.open_connection(host, int(port))
            except OSError:
                writer.close()
                return
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(serve, sock=self.sock, ssl=self.context), self.loop).result(timeout=10)
        return self

    def stop(self) -> None:
        async def close() -> None:
            self.server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> tuple[Path, Path, Path]:
    return make_ca_and_server_cert(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def tls_broker(certs, tmp_path) -> Iterator[str]:
    """The ``host:port`` of a TLS listener in front of a Tansu broker that advertises it."""
    _, cert, key = certs
    proxy = TlsProxy(cert, key)
    with LocalBroker(log_path=str(tmp_path / "broker.log"), advertised=proxy.address) as broker:
        proxy.start(broker.bootstrap)
        try:
            yield proxy.address
        finally:
            proxy.stop()


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


def test_replay_to_a_tls_listener_it_cannot_trust_or_speak_to_stops_in_one_line(tls_broker, tmp_path):
    """Without KAFKA_SSL_CAFILE (the system's CAs, which never signed the broker's certificate): one line
    naming the certificate's verification, exit 1, at once. Before: ignored, and the line said the
    connection was closed. PLAINTEXT to a TLS port (as every command spoke before): one line too, within
    the check's time limit, not a hang."""
    path = write_jsonl(tmp_path / "in.jsonl", LABELS[:1])
    status, lines, took = run("replay", path, tls_broker, KAFKA_SECURITY_PROTOCOL="SSL")
    assert status == 1 and len(lines) == 1, lines
    assert lines[0].startswith(f"buzzwatch replay: cannot reach the Kafka broker at {tls_broker}: "), lines
    assert "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed" in lines[0], lines
    assert lines[0].endswith("(check --bootstrap, and with KAFKA_SECURITY_PROTOCOL=SSL KAFKA_SSL_*)"), lines
    assert took < 10, took

    status, lines, took = run("replay", path, tls_broker, KAFKA_SECURITY_PROTOCOL="PLAINTEXT")
    assert status == 1 and len(lines) == 1, lines
    assert lines[0].startswith(f"buzzwatch replay: cannot reach the Kafka broker at {tls_broker}: "), lines
    assert lines[0].endswith(" (check --bootstrap)"), lines
    assert took < REQUEST_TIMEOUT_MS / 1000, took


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
