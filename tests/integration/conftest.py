"""Real components: a Tansu broker on a free loopback port (plain, or behind a TLS listener), the Slack
stand-in, worker processes."""

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
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.devtools.broker import LocalBroker
from pipeline.devtools.slack_standin import SlackStandIn
from pipeline.devtools.worker_process import WorkerProcess

ROOT = Path(__file__).resolve().parents[2]
BRANDS = ROOT / "docs" / "examples" / "brands.yaml"


@pytest.fixture
def broker(tmp_path) -> Iterator[LocalBroker]:
    """A fresh memory-only broker per test (it never frees memory)."""
    with LocalBroker(log_path=str(tmp_path / "broker.log")) as b:
        yield b


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as s:
        yield s


def _workers(bootstrap: str, slack: SlackStandIn, tmp_path: Path, **common: str) -> Iterator:
    """``start(name, **env)``: a worker on ``bootstrap`` (with the ``common`` settings too), ready; all
    stopped at the end."""
    workers: list[WorkerProcess] = []

    def start(name: str = "worker", **env: str) -> WorkerProcess:
        w = WorkerProcess(bootstrap, tmp_path / "w", log_name=f"{name}.log", env={
            "BUZZWATCH_BRANDS_FILE": str(BRANDS), "SLACK_BOT_TOKEN": "xoxb-test-token",
            "SLACK_API_URL": slack.api_url, **common, **env}).start()
        workers.append(w)
        w.wait_ready()
        return w

    yield start
    for w in workers:
        w.stop()


@pytest.fixture
def start_worker(broker, slack, tmp_path):
    yield from _workers(broker.bootstrap, slack, tmp_path)


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_bytes(b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows))
    return path


def replay(path: Path, bootstrap: str, *extra: str, **env: str) -> None:
    """``buzzwatch replay`` of ``path`` to ``bootstrap``, with the settings ``env`` besides this process's."""
    subprocess.run([sys.executable, "-m", "pipeline.cli", "replay", str(path), "--bootstrap", bootstrap,
                    "--quiet", *extra], check=True, timeout=120, cwd=ROOT, env={**os.environ, **env})


# TLS. Tansu (0.6.0, the dev broker) has no working TLS listener of its own (its --cert and --key cannot
# be given together, and the broker never uses the acceptor it builds), so a TLS-terminating proxy
# stands in front of it, as a load balancer would, and Tansu advertises the proxy's address: every
# connection a client makes, to the bootstrap server and to the broker it names, is TLS, with a
# certificate from a throwaway CA made here.

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
    ``host:port``, in a thread of its own: a broker's TLS listener, for a broker that has none.
    ``handshakes``: the connections that completed a TLS handshake (each piped upstream);
    ``refused``: why each other one failed (a plaintext client, one that did not trust the certificate)."""

    def __init__(self, certfile: Path, keyfile: Path) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(certfile, keyfile)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.handshakes = 0
        self.refused: list[str] = []
        self.tasks: set[asyncio.Task] = set()
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

        async def serve(conn: socket.socket) -> None:
            reader = asyncio.StreamReader()
            try:  # the handshake awaited here: a failed one is counted (a server's is only logged at debug level)
                transport, protocol = await self.loop.connect_accepted_socket(
                    lambda: asyncio.StreamReaderProtocol(reader), conn, ssl=self.context, ssl_handshake_timeout=10)
            except OSError as exc:  # TimeoutError too
                self.refused.append(repr(exc))
                conn.close()
                return
            self.handshakes += 1
            writer = asyncio.StreamWriter(transport, protocol, reader, self.loop)
            try:
                up_reader, up_writer = await asyncio.open_connection(host, int(port))
            except OSError:
                writer.close()
                return
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

        async def accept() -> None:
            while True:
                conn, _ = await self.loop.sock_accept(self.sock)
                task = self.loop.create_task(serve(conn))
                self.tasks.add(task)  # held until done (the loop holds its tasks weakly)
                task.add_done_callback(self.tasks.discard)

        self.sock.listen(100)
        self.sock.setblocking(False)
        self.thread.start()
        self.accepting = asyncio.run_coroutine_threadsafe(accept(), self.loop)
        return self

    def stop(self) -> None:
        async def close() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.sock.close()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="session")
def certs(tmp_path_factory) -> tuple[Path, Path, Path]:
    """The test CA's certificate, and the TLS listener's certificate and key."""
    return make_ca_and_server_cert(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def tls_proxy(certs, tmp_path) -> Iterator[TlsProxy]:
    """A TLS listener in front of a Tansu broker that advertises it (and nothing else)."""
    _, cert, key = certs
    proxy = TlsProxy(cert, key)
    with LocalBroker(log_path=str(tmp_path / "broker.log"), advertised=proxy.address) as broker:
        proxy.start(broker.bootstrap)
        try:
            yield proxy
        finally:
            proxy.stop()


@pytest.fixture
def tls_broker(tls_proxy) -> str:
    """The ``host:port`` of a TLS listener in front of a Tansu broker that advertises it."""
    return tls_proxy.address


@pytest.fixture
def tls_settings(certs) -> dict[str, str]:
    """The KAFKA_* settings of a client of ``tls_broker``: SSL, trusting the test CA."""
    return {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": str(certs[0])}


@pytest.fixture
def start_tls_worker(tls_broker, tls_settings, slack, tmp_path):
    """``start_worker``, on ``tls_broker`` with ``tls_settings``."""
    yield from _workers(tls_broker, slack, tmp_path, **tls_settings)
