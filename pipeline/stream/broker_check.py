"""Whether Kafka can be reached, said in one line: the check the worker runs at start-up, and
``buzzwatch replay`` and ``feedback`` before they produce.

Two steps within one time limit. First a server of the bootstrap list must answer a metadata
request. Then one of the brokers that answer names (its ``advertised.listeners``: the addresses
every client goes on to use) must answer too: a broker that answers at its bootstrap address but
advertises one that cannot be reached (``localhost:9092`` to a pod) passed the first step alone,
and the worker ended in a 100-line Faust traceback (NodeNotReadyError), ``replay`` after 30 s and
600 lines of aiokafka's log (UnknownTopicOrPartitionError).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiokafka.cluster import ClusterMetadata
from aiokafka.conn import create_conn, get_ip_port_afi
from aiokafka.errors import AuthenticationFailedError, KafkaError
from aiokafka.protocol.metadata import MetadataRequest

from pipeline.errors import BrokerUnavailable
from pipeline.settings import Settings
from pipeline.stream.kafka_reasons import aiokafka_reasons


def kafka_client(settings: Settings) -> tuple[dict[str, Any], str]:
    """aiokafka's keyword arguments for the KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_* and KAFKA_SSL_* settings
    (``security_protocol``, ``ssl_context``, ``sasl_*``: the same for ``create_conn``, AIOKafkaProducer and
    AIOKafkaConsumer), and what a message about a broker that cannot be reached adds after the setting
    that gave the servers (``, and with KAFKA_SECURITY_PROTOCOL=SSL KAFKA_SSL_*``; nothing on PLAINTEXT).
    The one place the worker's check, ``replay`` and ``feedback`` take them from. A KAFKA_SSL_* file that
    cannot be used: ConfigError naming it."""
    protocol = settings.kafka_security_protocol
    sasl: dict[str, Any] = {}
    if protocol.startswith("SASL_"):
        sasl = {"sasl_mechanism": settings.kafka_sasl_mechanism, "sasl_plain_username": settings.kafka_sasl_username,
                "sasl_plain_password": settings.kafka_sasl_password}
    context = settings.kafka_tls()  # a bad file: ConfigError
    security = [name for name, used in (("KAFKA_SASL_*", bool(sasl)), ("KAFKA_SSL_*", context is not None)) if used]
    also = f", and with KAFKA_SECURITY_PROTOCOL={protocol} {' and '.join(security)}" if security else ""
    return {"security_protocol": protocol, "ssl_context": context, **sasl}, also


class _NoAnswer(Exception):
    """No server of a list answered a metadata request; the message says why, server by server."""


async def _ask(server: str, timeout_s: float, **client: Any) -> list[str]:
    """The broker addresses (``host:port``) in ``server``'s answer to a metadata request; its
    connection closed whatever happens (a server still silent when the check ends leaks none)."""
    host, port, _ = get_ip_port_afi(server)
    conn = None
    try:  # aiokafka's own time limit a second after ours: ours ends first, and says how long it waited
        conn = await create_conn(host, port, request_timeout_ms=int(max(timeout_s, 0) * 1000) + 1000, **client)
        answer = await conn.send(MetadataRequest([]))
    except KeyError:  # aiokafka's SCRAM reads the broker's last message as a success: a refusal in it
        # (RFC 5802's "e=...", as Tansu sends, not an error code as Kafka does) is a KeyError 'v', a traceback
        if not str(client.get("sasl_mechanism")).startswith("SCRAM-"):
            raise
        raise AuthenticationFailedError(f"the broker refused the {client['sasl_mechanism']} login of "
                                        f"{client.get('sasl_plain_username')!r}") from None
    finally:
        if conn is not None:
            conn.close()
    cluster = ClusterMetadata()
    cluster.update_metadata(answer)
    return [f"[{b.host}]:{b.port}" if ":" in b.host else f"{b.host}:{b.port}"
            for b in sorted(cluster.brokers(), key=lambda b: b.nodeId)]


async def _first_answer(servers: list[str], timeout_s: float, said_s: float, **client: Any) -> list[str]:
    """The broker addresses in the answer of the first of ``servers`` to answer a metadata request,
    all asked at once, within ``timeout_s``; else _NoAnswer saying why of each, in the list's order
    (``said_s``: the time limit to name). At once: aiokafka asks them one after the other, and a
    server that never answers, asked first, took all the time from one that would have."""

    async def ask(server: str) -> list[str]:
        try:
            return await asyncio.wait_for(_ask(server, timeout_s, **client), timeout_s)
        except TimeoutError:  # before OSError, its base class
            raise _NoAnswer(f"{server}: no answer within {said_s:g} s") from None
        except (KafkaError, OSError, ValueError) as exc:
            raise _NoAnswer(f"{server}: {str(exc) or type(exc).__name__}") from None

    with aiokafka_reasons():  # what aiokafka would log is in the exceptions: kept out of the log
        tasks = [asyncio.ensure_future(ask(server)) for server in servers]
        try:
            for answered in asyncio.as_completed(tasks):
                with contextlib.suppress(_NoAnswer):
                    return await answered
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    why = "; ".join(str(task.exception()) for task in tasks)
    raise _NoAnswer(why.removeprefix(f"{servers[0]}: ") if len(servers) == 1 else why)


async def check_brokers(bootstrap: str, timeout_s: float, *, check: str, reachable_from: str, **client: Any) -> None:
    """Return once a server of ``bootstrap`` (comma-separated ``host:port``) answers a metadata
    request and one of the brokers that answer advertises answers too, each asked with ``client``
    (aiokafka's create_conn arguments: client_id, security_protocol, ssl_context, sasl_*); else
    BrokerUnavailable, one line, at most ``timeout_s`` from now. ``check``: what to check when no
    bootstrap server answers (the setting or option that gave the list); ``reachable_from``: who
    must reach the advertised addresses (``the worker``)."""
    servers = [s.strip() for s in bootstrap.split(",") if s.strip()]
    deadline = time.monotonic() + timeout_s
    try:
        advertised = await _first_answer(servers, timeout_s, timeout_s, **client)
    except _NoAnswer as exc:
        raise BrokerUnavailable(f"cannot reach the Kafka broker at {bootstrap}: {exc} (check {check})") from None
    if not advertised:  # a cluster without topics may name no broker yet: nothing more to try
        return
    try:  # clients talk to the brokers the metadata names, not to the bootstrap servers
        await _first_answer(advertised, deadline - time.monotonic(), timeout_s, **client)
    except _NoAnswer as exc:
        which = (f"{advertised[0]}, which cannot" if len(advertised) == 1
                 else f"{', '.join(advertised)}, none of which can")
        raise BrokerUnavailable(f"the Kafka broker at {bootstrap} answers, but advertises {which} be reached: {exc} "
                                f"(the broker's advertised.listeners must be reachable from {reachable_from})") from None
