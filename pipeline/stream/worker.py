"""``buzzwatch worker``: settings -> brands -> Slack sink -> metrics endpoint -> Faust worker.

Everything that can be wrong in the configuration fails here, before any message is read,
with a message that names the setting or the file.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

import faust
from prometheus_client import CollectorRegistry, start_http_server

from pipeline.core import compiled
from pipeline.core.brands import Brand, load_brands
from pipeline.errors import ConfigError
from pipeline.notify.slack import BotSink, Sink, TerminalSink, WebhookSink
from pipeline.settings import Settings
from pipeline.stream.app import build_app
from pipeline.stream.broker_check import check_brokers, kafka_client
from pipeline.stream.heap import allocator, tune_gc, use_system_malloc
from pipeline.stream.web import start_web

log = logging.getLogger(__name__)

STOP_DEADLINE_S = 30.0  # a worker that began to stop has exited this long after, whatever still hangs
BROKER_CHECK_S = 20.0  # at start-up, a broker must answer within this long, or the worker stops naming it


def arm_stop_deadline(seconds: float = STOP_DEADLINE_S, exit_now: Callable[[int], object] = os._exit,
                      describe: Callable[[], list[str]] = list) -> threading.Timer:
    """Exit the process (status 1) ``seconds`` from now unless it has exited by then.

    Why: a worker stops on a crash (its scoring child killed, a commit refused) or on SIGTERM, and
    Faust's orderly stop then waits on the broker - once, on Tansu, 60 s and more in the group
    consumer's stop after its child was killed, so the worker outlived its crash. Exiting hard is
    safe: offsets are committed only after their work and every effect is idempotent, so the next
    worker reads again what was in flight. A daemon thread, so it fires even if the event loop is
    stuck, and never holds up an exit. Before it exits it logs ``describe()`` (what is still
    waiting), so that a hang can be told from the log."""
    def expire() -> None:
        log.error("still stopping %.0f s after the stop began (a call to the broker hangs): exiting now; "
                  "nothing is lost - the next worker reads again from the last committed offsets", seconds)
        try:
            for line in describe():
                log.error("still waiting: %s", line)
        except Exception:  # a report must never keep the process alive
            log.exception("could not tell what is still waiting")
        for handler in logging.getLogger().handlers:  # os._exit flushes nothing
            handler.flush()
        exit_now(1)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    return timer


class Worker(faust.Worker):
    """Faust's worker, whose stop has a deadline (``arm_stop_deadline``)."""

    _deadline: threading.Timer | None = None

    async def stop(self) -> None:
        if self._deadline is None:
            self._deadline = arm_stop_deadline(describe=lambda: waiting_threads() + waiting_tasks(self.loop))
        await super().stop()


def waiting_tasks(loop: asyncio.AbstractEventLoop) -> list[str]:
    """Each unfinished task of ``loop`` and of every service thread's loop (Faust's consumer runs
    in one), and where it waits: its chain of awaits, innermost first.

    Read from the deadline's thread while the loops are stuck: a snapshot, good enough for a log
    line from a process about to exit."""
    loops = [("main", loop)]
    for thread in threading.enumerate():  # mode's WorkerThread: .service is a ServiceThread with its own loop
        other = getattr(getattr(thread, "service", None), "thread_loop", None)
        if isinstance(other, asyncio.AbstractEventLoop) and other is not loop:
            loops.append((thread.name, other))
    lines = []
    for name, each in loops:
        for task in list(asyncio.all_tasks(each)):
            chain: list[str] = []
            coro: Any = task.get_coro()
            while coro is not None and len(chain) < 40:
                frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
                if frame is not None:
                    chain.append(_where(frame))
                coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
            where = " <- ".join(reversed(chain[-4:])) or repr(task.get_coro())
            lines.append(f"task {task.get_name()} ({name} loop): {where}")
    return sorted(lines)


def waiting_threads() -> list[str]:
    """Each other thread and where it is (innermost frames first): a loop blocked in a plain call
    (a join, a lock) shows here, not among its tasks."""
    names = {t.ident: t.name for t in threading.enumerate()}
    me = threading.get_ident()
    lines = []
    for ident, frame in sys._current_frames().items():
        if ident == me:
            continue
        chain: list[str] = []
        at: types.FrameType | None = frame
        while at is not None and len(chain) < 4:
            chain.append(_where(at))
            at = at.f_back
        lines.append(f"thread {names.get(ident, ident)}: {' <- '.join(chain)}")
    return sorted(lines)


def _where(frame: types.FrameType) -> str:
    return f"{frame.f_code.co_name} ({os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno})"


def _reason(exc: OSError) -> str:
    """The system's words for an OSError ("Address already in use"), not asyncio's sentence around them."""
    return os.strerror(exc.errno) if exc.errno else str(exc)


async def check_broker(settings: Settings, timeout_s: float = BROKER_CHECK_S) -> None:
    """Return once a server of KAFKA_BOOTSTRAP_SERVERS answers a metadata request, with the worker's
    TLS and SASL settings, and one of the brokers that answer advertises (its advertised.listeners)
    answers too; else BrokerUnavailable, one line naming the servers (or the advertised addresses),
    the setting and why, at most ``timeout_s`` from now.

    Why: left to Faust, a refused connection stopped the worker in a traceback, and a broker that
    accepts connections but never answers (or speaks TLS to a PLAINTEXT client) kept it starting
    for minutes (150 s measured, and on), with nothing said. ``buzzwatch replay`` and ``feedback``
    say it in one line; so does the worker now. A broker that answers at its bootstrap address but
    advertises one the worker cannot reach (``localhost:9092`` to a pod) passed the first check and
    ended in a 100-line Faust traceback (NodeNotReadyError); it is the second."""
    client, also = kafka_client(settings)
    await check_brokers(settings.kafka_bootstrap_servers, timeout_s, check=f"KAFKA_BOOTSTRAP_SERVERS{also}",
                        reachable_from="the worker", client_id=f"{settings.app_id}-check", **client)


def choose_sink(settings: Settings) -> Sink:
    """Bot token (threads, updates), else incoming webhook, else terminal (Settings refuses both)."""
    if settings.slack_bot_token:
        if not settings.slack_default_channel:
            log.warning("SLACK_DEFAULT_CHANNEL is not set: alerts for brands without a channel in the brands file "
                        "are refused (logged, counted in buzzwatch_slack_deliveries_total{result=\"refused\"})")
        return BotSink(settings.slack_bot_token, settings.slack_api_url)
    if settings.slack_webhook_url:
        return WebhookSink(settings.slack_webhook_url)
    return TerminalSink()


def run_worker(settings: Settings, loglevel: str = "info") -> int:
    # Runs again from the start with PYTHONMALLOC=malloc, and mimalloc preloaded where installed (same
    # pid): memory of evicted brands can then go back to the OS (stream/heap.py). Settings were
    # checked already; they are read again.
    use_system_malloc()
    brands: list[Brand] = load_brands(settings.brands_file) if settings.brands_file else []
    registry = CollectorRegistry()
    # One event loop for Faust and the web port, created first so both use it; the web port
    # answers /healthz from here on, through Faust's start-up and table recovery.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    app = build_app(settings, brands, choose_sink(settings), registry=registry)
    # BUZZWATCH_METRICS_PORT=0: no metrics server. (Given to the server, 0 meant a random port, which the
    # start-up line called ":0" and no scraper could find.)
    if settings.metrics_port:
        try:  # a port in use stops the worker with its variable named (before the scoring child starts)
            start_http_server(settings.metrics_port, registry=registry)
        except OSError as exc:
            raise ConfigError(f"BUZZWATCH_METRICS_PORT={settings.metrics_port}: cannot listen: {_reason(exc)}") from None
    try:
        loop.run_until_complete(start_web(app.buzzwatch_web, settings.web_port))  # type: ignore[attr-defined]
    except OSError as exc:
        raise ConfigError(f"BUZZWATCH_WEB_PORT={settings.web_port}: cannot listen: {_reason(exc)}") from None
    # A broker that cannot be reached is one line and exit code 1, within BROKER_CHECK_S (before the
    # scoring child starts): Faust alone said it in a traceback, or not at all for minutes.
    loop.run_until_complete(check_broker(settings))
    scoring = app.buzzwatch_scorer_process  # type: ignore[attr-defined]
    if scoring is not None:  # the scoring child loads its scorer while the worker joins its group
        loop.run_until_complete(scoring.spawn())
    log.warning("buzzwatch worker: %d brands, %s, web on :%d%s, broker %s, detection core %s, "
                "allocator %s, scorer %s", len(brands),
                f"metrics on :{settings.metrics_port}" if settings.metrics_port else
                "no metrics (BUZZWATCH_METRICS_PORT=0)", settings.web_port,
                "" if settings.slack_signing_secret else " (no SLACK_SIGNING_SECRET: alerts without buttons)",
                settings.kafka_bootstrap_servers, "compiled" if compiled() else "from Python source", allocator(),
                "in a child process" if settings.scorer_processes else "in this process")
    tune_gc()  # after start-up's allocations, before the stream's (stream/heap.py)
    worker = Worker(app, loglevel=loglevel, quiet=True, loop=loop)
    worker.execute_from_commandline()  # returns only through sys.exit
    return 0
