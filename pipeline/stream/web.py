"""The worker's HTTP port (``BUZZWATCH_WEB_PORT``): probes and Slack's interactivity endpoint.

    GET  /healthz        liveness: the event loop answers
    GET  /readyz         readiness: partitions assigned and the mention topics progressing (or caught up)
    POST /slack/actions  signed button presses -> the ``feedback`` topic (401 unless Slack signed it)

A plain aiohttp application rather than Faust's web views: Faust's default views expose table
contents and internals, and this port is the one reachable from Slack through an ingress. It is
started before Faust (``start_web``) so liveness answers during a long table recovery.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from pipeline.metrics import Metrics
from pipeline.notify.interact import Rejected, Verifier, feedback_for, parse_payload

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024  # Slack's interactivity payloads are a few kB


@dataclass
class Health:
    """Readiness from the lag the worker measures every few seconds (``observe``).

    Ready when the consumer has an assignment and every watched topic has either no lag or
    moved forward within ``stall_s``. The alerts topic is not watched: a Slack outage holds it
    on purpose and must not take the worker out of its Service (nor its /metrics).

    >>> h = Health(watch={"mentions"}, stall_s=60)
    >>> h.ready(now=0.0)
    (False, 'no partitions assigned yet')
    >>> h.observe({("mentions", 0): (10, 50)}, now=0.0); h.ready(now=30.0)
    (True, 'progressing')
    >>> h.observe({("mentions", 0): (10, 60)}, now=90.0); h.ready(now=90.0)
    (False, 'mentions lag 50 records and no progress for 90 s')
    >>> h.observe({("mentions", 0): (60, 60)}, now=95.0); h.ready(now=95.0)
    (True, 'caught up')
    """

    watch: set[str]
    stall_s: float = 60.0
    _done: dict[tuple[str, int], int] = field(default_factory=dict)
    _moved_at: float | None = None
    _lag: int = 0
    _assigned: bool = False

    def observe(self, positions: dict[tuple[str, int], tuple[int, int]], now: float) -> None:
        """``positions``: (topic, partition) -> (records done, end offset) of the assigned partitions."""
        mine = {tp: pos for tp, pos in positions.items() if tp[0] in self.watch}
        self._assigned = bool(positions)
        done = {tp: d for tp, (d, _) in mine.items()}
        if self._moved_at is None or done != self._done:
            self._moved_at = now
        self._done = done
        self._lag = sum(max(0, end - d) for d, end in mine.values())

    def ready(self, now: float) -> tuple[bool, str]:
        if not self._assigned or self._moved_at is None:
            return False, "no partitions assigned yet"
        if self._lag == 0:
            return True, "caught up"
        idle = now - self._moved_at
        if idle <= self.stall_s:
            return True, "progressing"
        return False, f"{'/'.join(sorted(self.watch))} lag {self._lag} records and no progress for {idle:.0f} s"


def make_web(health: Health, metrics: Metrics, verifier: Verifier | None,
             publish: Callable[[dict[str, Any]], Awaitable[None]],
             clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic
             ) -> web.Application:
    """The aiohttp application; ``publish`` writes one feedback record and returns once it is acknowledged."""

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        ok, why = health.ready(monotonic())
        return web.Response(text=why + "\n", status=200 if ok else 503)

    async def actions(request: web.Request) -> web.Response:
        def refuse(reason: str, status: int = 401) -> web.Response:
            metrics.slack_rejected.labels(reason).inc()
            return web.Response(text=f"{reason}\n", status=status)

        if verifier is None:
            return refuse("not_configured")
        body = await request.read()
        try:
            verifier.check(request.headers, body, now=clock())
        except Rejected as exc:
            log.warning("refused a Slack interactivity request: %s", exc.reason)
            return refuse(exc.reason)
        try:
            records = feedback_for(parse_payload(body), now=clock())
        except Rejected as exc:
            return refuse(exc.reason, status=400)
        try:
            for record in records:
                await publish(record)
        except Exception as exc:  # Kafka unavailable: Slack shows the person an error; they can press again
            log.error("feedback not written (%s): the button press is lost", exc.__class__.__name__)
            return web.Response(text="unavailable\n", status=503)
        for record in records:
            metrics.slack_actions.labels(record["action"]).inc()
            log.info("incident %s: %s by %s", record["incident_id"], record["action"], record["user_id"])
        return web.Response(status=200)

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_post("/slack/actions", actions)
    return app


async def start_web(app: web.Application, port: int, host: str = "0.0.0.0") -> web.AppRunner:
    """Serve ``app``; the caller keeps the runner and calls ``cleanup()`` on the way out."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def lag_positions(consumer: Any, topics: Iterable[str]) -> dict[tuple[str, int], tuple[int, int]]:
    """(records done, end offset) per assigned partition of ``topics``, from Faust's consumer.

    "Done" is the committed offset (what a restart would resume from) or, before the first
    commit, the next offset to read; the end is the fetcher's high watermark. Partitions whose
    end is not known yet are left out.
    """
    wanted = set(topics)
    out = {}
    for tp in consumer.assignment():
        if tp.topic not in wanted:
            continue
        end = consumer.highwater(tp)
        if end is None:
            continue
        committed = consumer._committed_offset.get(tp)
        read = consumer._read_offset.get(tp)
        done = committed if committed is not None else (read + 1 if read is not None else None)
        if done is None:
            done = end if end == 0 else 0
        out[(tp.topic, tp.partition)] = (int(done), int(end))
    return out
