"""``buzzwatch worker``: settings -> brands -> Slack sink -> metrics endpoint -> Faust worker.

Everything that can be wrong in the configuration fails here, before any message is read,
with a message that names the setting or the file.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable

import faust
from prometheus_client import CollectorRegistry, start_http_server

from pipeline.core import compiled
from pipeline.core.brands import Brand, load_brands
from pipeline.notify.slack import BotSink, Sink, TerminalSink, WebhookSink
from pipeline.settings import Settings
from pipeline.stream.app import build_app
from pipeline.stream.heap import allocator, tune_gc, use_system_malloc
from pipeline.stream.web import start_web

log = logging.getLogger(__name__)

STOP_DEADLINE_S = 30.0  # a worker that began to stop has exited this long after, whatever still hangs


def arm_stop_deadline(seconds: float = STOP_DEADLINE_S, exit_now: Callable[[int], object] = os._exit
                      ) -> threading.Timer:
    """Exit the process (status 1) ``seconds`` from now unless it has exited by then.

    Why: a worker stops on a crash (its scoring child killed, a commit refused) or on SIGTERM, and
    Faust's orderly stop then waits on the broker - once, on Tansu, 60 s and more in the group
    consumer's stop after its child was killed, so the worker outlived its crash. Exiting hard is
    safe: offsets are committed only after their work and every effect is idempotent, so the next
    worker reads again what was in flight. A daemon thread, so it fires even if the event loop is
    stuck, and never holds up an exit."""
    def expire() -> None:
        log.error("still stopping %.0f s after the stop began (a call to the broker hangs): exiting now; "
                  "nothing is lost - the next worker reads again from the last committed offsets", seconds)
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
            self._deadline = arm_stop_deadline()
        await super().stop()


def choose_sink(settings: Settings) -> Sink:
    """Bot token (threads, updates) > incoming webhook > terminal."""
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
    scoring = app.buzzwatch_scorer_process  # type: ignore[attr-defined]
    if scoring is not None:  # the scoring child loads its scorer while the worker joins its group
        loop.run_until_complete(scoring.spawn())
    start_http_server(settings.metrics_port, registry=registry)
    loop.run_until_complete(start_web(app.buzzwatch_web, settings.web_port))  # type: ignore[attr-defined]
    log.warning("buzzwatch worker: %d brands, metrics on :%d, web on :%d%s, broker %s, detection core %s, "
                "allocator %s, scorer %s", len(brands), settings.metrics_port, settings.web_port,
                "" if settings.slack_signing_secret else " (no SLACK_SIGNING_SECRET: buttons refused)",
                settings.kafka_bootstrap_servers, "compiled" if compiled() else "from Python source", allocator(),
                "in a child process" if settings.scorer_processes else "in this process")
    tune_gc()  # after start-up's allocations, before the stream's (stream/heap.py)
    worker = Worker(app, loglevel=loglevel, quiet=True, loop=loop)
    worker.execute_from_commandline()  # returns only through sys.exit
    return 0
