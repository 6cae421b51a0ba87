"""Deliver alerts to Slack, exactly once per (incident, step), in order.

One Slack thread per incident: ``open`` posts the root message (with buttons and the brand's
Grafana and runbook links) and uploads the chart into its thread; ``escalated`` and ``resolved`` update the
root in place and reply in its thread. Once someone pressed a button the incident is
*acknowledged*: an escalation still replies in the thread, but pings only the groups it makes
eligible that this incident never pinged (exec at critical, not comms again), with a chart only
when it pings someone. Pings come from the brands file only (``mention_on``, silenced in the
brand's quiet hours below their ``min_severity``). A *ledger* (a Faust table in the worker, a
dict offline) remembers, per incident, the root message, the last alert step delivered and who
was pinged, so a redelivered or replayed alert is recognised and skipped. Transient failures (429, 5xx,
timeouts) are retried by slack-sdk's retry handlers and then raised as DeliveryError, so the
caller keeps the alert (its offset uncommitted) and tries again; nothing is dropped.

Sinks: a bot token (Web API; updates and threads), an incoming webhook (posts only), or the
terminal when neither is configured.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, Protocol

from slack_sdk import WebClient, WebhookClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from pipeline.errors import DeliveryError, Undeliverable
from pipeline.notify.chart import render_chart, usable
from pipeline.notify.render import (
    blocks,
    brand_link,
    digest_blocks,
    digest_day_blocks,
    digest_day_text,
    digest_text,
    notification_text,
)

log = logging.getLogger(__name__)

#: What ``Notifier.deliver`` and ``deliver_digest`` return (and report to ``on_result``).
DELIVERY_RESULTS = ("posted", "updated", "duplicate", "recovered", "refused")


class ServerErrorRetry(RetryHandler):
    """Retry 5xx answers with exponential backoff (slack-sdk's own handler only covers 500/503)."""

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        return response is not None and response.status_code >= 500


def retry_handlers(max_retries: int = 4) -> list[RetryHandler]:
    return [ConnectionErrorRetryHandler(max_retry_count=max_retries),
            RateLimitErrorRetryHandler(max_retry_count=max_retries),
            ServerErrorRetry(max_retry_count=max_retries)]


class Sink(Protocol):
    threads: bool  # can update messages and reply in threads (a bot); then buttons can work too

    def post(self, channel: str | None, text: str, blocks: list[dict[str, Any]],
             thread_ts: str | None = None, metadata: dict[str, Any] | None = None) -> str | None: ...

    def find(self, channel: str | None, incident_id: str) -> str | None:
        """The ts of the incident's root message if the channel already has it (crash recovery)."""
        ...

    def find_reply(self, channel: str, thread_ts: str, incident_id: str, seq: int) -> bool:
        """True if the thread already has the reply of the incident's step ``seq`` (crash recovery)."""
        ...

    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None: ...

    def upload(self, channel: str, thread_ts: str, filename: str, data: bytes, title: str) -> None: ...


class BotSink:
    """Slack Web API with a bot token: chat.postMessage / chat.update."""

    threads = True

    def __init__(self, token: str, base_url: str | None = None, timeout: float = 10.0) -> None:
        url = (base_url or "https://slack.com/api/").rstrip("/") + "/"
        self.client = WebClient(token=token, base_url=url, timeout=int(timeout), retry_handlers=retry_handlers())

    def post(self, channel: str | None, text: str, blocks: list[dict[str, Any]],
             thread_ts: str | None = None, metadata: dict[str, Any] | None = None) -> str | None:
        if not channel:
            raise Undeliverable("no Slack channel for this brand in the brands file and no SLACK_DEFAULT_CHANNEL")
        resp = _call(lambda: self.client.chat_postMessage(channel=channel, text=text, blocks=blocks,
                                                          thread_ts=thread_ts, unfurl_links=False,
                                                          metadata=metadata))
        return str(resp["ts"])

    def find(self, channel: str | None, incident_id: str) -> str | None:
        """Look through the channel's recent root messages for the incident's metadata."""
        if not channel:
            return None
        try:
            resp = _call(lambda: self.client.conversations_history(channel=channel, limit=200,
                                                                   include_all_metadata=True))
        except SlackApiError as exc:  # e.g. a channel name where Slack wants an id: cannot check
            log.warning("cannot check %s for incident %s: %s", channel, incident_id, exc.response.get("error"))
            return None
        for message in resp.get("messages", []):
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("incident_id") == incident_id:
                return str(message["ts"])
        return None

    def find_reply(self, channel: str, thread_ts: str, incident_id: str, seq: int) -> bool:
        """Look through the thread's replies for the step's metadata."""
        try:
            resp = _call(lambda: self.client.conversations_replies(channel=channel, ts=thread_ts, limit=200,
                                                                   include_all_metadata=True))
        except SlackApiError as exc:
            log.warning("cannot check the thread of incident %s for step %s: %s", incident_id, seq,
                        exc.response.get("error"))
            return False
        return any(((m.get("metadata") or {}).get("event_payload") or {}) == {"incident_id": incident_id, "seq": seq}
                   for m in resp.get("messages", []) if m.get("ts") != thread_ts)

    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        _call(lambda: self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks))

    def upload(self, channel: str, thread_ts: str, filename: str, data: bytes, title: str) -> None:
        """Files upload v2 (getUploadURLExternal, PUT, completeUploadExternal) into the thread."""
        _call(lambda: self.client.files_upload_v2(channel=channel, thread_ts=thread_ts, file=data,
                                                  filename=filename, title=title, request_file_info=False))


class WebhookSink:
    """Incoming webhook: every step is a new message (no threads, no updates, no buttons)."""

    threads = False

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.client = WebhookClient(url, timeout=int(timeout), retry_handlers=retry_handlers())

    def find(self, channel: str | None, incident_id: str) -> str | None:
        return None  # a webhook cannot read the channel: after a crash mid-post, at-least-once

    def find_reply(self, channel: str, thread_ts: str, incident_id: str, seq: int) -> bool:
        return False  # no threads

    def post(self, channel: str | None, text: str, blocks: list[dict[str, Any]],
             thread_ts: str | None = None, metadata: dict[str, Any] | None = None) -> str | None:
        try:
            resp = self.client.send(text=text, blocks=blocks, unfurl_links=False)
        except OSError as exc:
            raise DeliveryError(f"Slack webhook unreachable: {exc.__class__.__name__}") from None
        if resp.status_code >= 500 or resp.status_code == 429:
            raise DeliveryError(f"Slack webhook answered {resp.status_code}")
        if resp.status_code != 200:  # revoked (404), channel archived (410), bad payload (400): not by retrying
            raise Undeliverable(f"Slack webhook refused it ({resp.status_code}): {str(resp.body)[:200]}")
        return None

    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def upload(self, channel: str, thread_ts: str, filename: str, data: bytes, title: str) -> None:
        raise NotImplementedError


class TerminalSink:
    """No Slack configured: print each alert as one line."""

    threads = False

    def __init__(self, write: Callable[[str], Any] = print) -> None:
        self.write = write

    def find(self, channel: str | None, incident_id: str) -> str | None:
        return None

    def find_reply(self, channel: str, thread_ts: str, incident_id: str, seq: int) -> bool:
        return False  # no threads

    def post(self, channel: str | None, text: str, blocks: list[dict[str, Any]],
             thread_ts: str | None = None, metadata: dict[str, Any] | None = None) -> str | None:
        kind = "DIGEST" if (metadata or {}).get("event_type") == "buzzwatch_digest" else "ALERT"
        self.write(f"{kind} {text}")
        return None

    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def upload(self, channel: str, thread_ts: str, filename: str, data: bytes, title: str) -> None:
        raise NotImplementedError


def _call(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except SlackApiError as exc:
        status = exc.response.status_code
        if status == 429 or status >= 500:
            raise DeliveryError(f"Slack answered {status}", exc.response.headers.get("retry-after")) from None
        raise  # a permanent refusal (bad channel, bad token): the caller logs and counts it
    except OSError as exc:  # connection refused, timeout
        raise DeliveryError(f"Slack unreachable: {exc.__class__.__name__}") from None


class Notifier:
    """Alert -> Slack steps, deduplicated through the ledger.

    ``ping_for(brand, severity, wall_ts)`` says who to mention (``Brand.ping``: Slack mentions
    separated by spaces, each recorded in the ledger once it was sent); ``clock`` is the wall
    clock quiet hours are judged by. ``buttons`` (a bot only) only when their presses can be
    verified (a signing secret): a button that answers every press with an error is worse than
    none. ``runbook_for(brand)`` is the runbook link's template (the brand's ``runbook_url``, else
    ``BUZZWATCH_RUNBOOK_URL``; None: no link). With ``background_charts`` the chart is drawn and uploaded by one background thread
    (in order), so drawing it (0.1-0.5 s) never delays the next alert; without, it is done
    before ``deliver`` returns (tests, scripts).
    """

    def __init__(self, sink: Sink,
                 channel_for: Callable[[str], str | None] = lambda brand: None,
                 name_for: Callable[[str], str | None] = lambda brand: None,
                 on_result: Callable[[str, float], None] | None = None,
                 ping_for: Callable[[str, str, float], str | None] = lambda brand, severity, ts: None,
                 grafana_template: str | None = None, charts: bool = True,
                 clock: Callable[[], float] = time.time, background_charts: bool = False,
                 digest_channel: str | None = None, buttons: bool = False,
                 runbook_for: Callable[[str], str | None] = lambda brand: None) -> None:
        self.sink = sink
        self.buttons = buttons and sink.threads
        self.digest_channel = digest_channel
        self.channel_for = channel_for
        self.name_for = name_for
        self.on_result = on_result
        self.ping_for = ping_for
        self.grafana_template = grafana_template
        self.runbook_for = runbook_for
        self.charts = charts
        self.clock = clock
        self._charts = ThreadPoolExecutor(1, thread_name_prefix="chart") if background_charts else None
        self._fresh: set[tuple[str, int]] = set()  # marked pending by this process, not attempted yet

    def deliver(self, alert: dict[str, Any], ledger: MutableMapping[str, Any]) -> str:
        """'posted', 'updated', 'duplicate', 'recovered' or 'refused'; DeliveryError if Slack should be retried.

        ``ledger`` maps incident ids to what was delivered (root message, last step, the ack);
        it is updated here and must be persisted by the caller.
        """
        started = time.monotonic()
        key = alert["incident_id"]
        entry = ledger.get(key) or {}
        if alert["seq"] <= entry.get("seq", 0):
            return self._done("duplicate", started)
        if not entry and _pruned(key, ledger):
            log.info("incident %s step %s is older than the ledger keeps (%s and older were delivered and "
                     "let go): a replay, not posted again", key, alert["seq"], ledger[PRUNED])
            return self._done("duplicate", started)
        name = self.name_for(alert["brand"])
        ack = entry.get("ack")
        live = alert["status"] != "resolved"
        ping = self.ping_for(alert["brand"], alert["severity"], self.clock()) if live else None
        if ping and ack:  # someone is on it: tell only the groups this severity reaches for the first time
            ping = " ".join(m for m in ping.split() if m not in self._pinged(entry)) or None
        root_blocks = self._root_blocks(alert, name, ack)
        channel = entry.get("channel") or self.channel_for(alert["brand"])
        chart_in: str | None = None
        # A step marked pending but not done: the last attempt (or process) may have posted it and
        # failed (or died) before recording it - a timeout does not say whether Slack took the post.
        # Ask Slack before posting again.
        recheck = entry.get("pending") == alert["seq"] and (key, alert["seq"]) not in self._fresh
        self._fresh.discard((key, alert["seq"]))
        meta = {"event_type": "buzzwatch_incident", "event_payload": {"incident_id": key, "seq": alert["seq"]}}
        try:
            root = entry.get("ts")
            if alert["status"] == "open" or not (self.sink.threads and root):
                found = self.sink.find(channel, key) if recheck else None
                if found:
                    root, result = found, "recovered"
                else:
                    body = root_blocks if not ping else self._root_blocks(alert, name, ack, ping)
                    root = self.sink.post(channel, notification_text(alert, name, ping), body,
                                          metadata=meta) or root
                    result = "posted"
                    chart_in = root
            else:
                self.sink.update(channel, root, notification_text(alert, name), root_blocks)
                if recheck and self.sink.find_reply(channel, root, key, alert["seq"]):
                    result = "recovered"  # the reply is in the thread: not again (nor its pings)
                else:
                    self.sink.post(channel, notification_text(alert, name, ping),
                                   blocks(alert, name, ping=ping, ack=ack, compact=True), thread_ts=root,
                                   metadata=meta)
                    result = "updated"
                chart_in = root if live and (ping or not ack) else None  # acknowledged: a chart for newcomers only
        except SlackApiError as exc:
            log.error("Slack refused incident %s step %s: %s", key, alert["seq"], exc.response.get("error"))
            result = "refused"
        except Undeliverable as exc:  # retrying would block every later alert behind this one
            log.error("incident %s step %s of brand %r not delivered: %s", key, alert["seq"], alert["brand"], exc)
            result = "refused"
        if chart_in and self.sink.threads and self.charts and usable(alert.get("history")):
            if self._charts is not None:
                self._charts.submit(self._upload_chart, channel, chart_in, alert, name)
            else:
                self._upload_chart(channel, chart_in, alert, name)
        pinged = self._pinged(entry) | set(ping.split() if ping and result != "refused" else ())
        ledger[key] = {**{k: v for k, v in entry.items() if k != "pending"}, "channel": channel,
                       "ts": root if result != "refused" else entry.get("ts"), "seq": alert["seq"],
                       "status": alert["status"], "alert": _keepable(alert), "pinged": sorted(pinged)}
        return self._done(result, started)

    def _pinged(self, entry: dict[str, Any]) -> set[str]:
        """The mentions an incident's messages carried so far. A ledger entry written before they were
        recorded is taken to have pinged what its last step's severity pings now."""
        if "pinged" in entry:
            return set(entry["pinged"])
        last = entry.get("alert")
        return set((self.ping_for(last["brand"], last["severity"], self.clock()) or "").split()) if last else set()

    def deliver_digest(self, notice: dict[str, Any], day: MutableMapping[str, Any]) -> str:
        """A digest notice -> Slack, once: 'posted', 'updated', 'duplicate', 'recovered' or 'refused';
        DeliveryError to retry.

        ``day`` is the ledger entry of the notice's day (``digest_key``: the digest topic is keyed by
        day, so one worker sees a day's notices in order), brand -> what was delivered. With a
        ``digest_channel`` and a bot, a day is **one message** there, updated as brands close the
        day (a big brand's day ends at midnight, a quiet one's with its next mention); otherwise
        each brand's notice is a message in its own channel. Marked pending before it is tried
        (``mark_digest_pending``), so a replay is skipped and a crash mid-post asks Slack first.
        """
        started = time.monotonic()
        brand = notice["brand"]
        if (day.get(brand) or {}).get("seq"):
            return self._done("duplicate", started)
        recheck = (day.get(brand) or {}).get("pending") == 1 and (digest_key(notice), brand) not in self._fresh
        self._fresh.discard((digest_key(notice), brand))
        summary = bool(self.digest_channel) and self.sink.threads
        root = day.get(ROOT) or {}
        channel = self.digest_channel if summary else self.channel_for(brand)
        try:
            if summary and root.get("ts"):  # the day's message exists: redraw it with this brand too
                listed = [e["notice"] for b, e in sorted(day.items()) if b != ROOT and e.get("seq")] + [notice]
                self.sink.update(channel, root["ts"], *self._digest_message(listed))
                result = "updated"
            else:
                marker = digest_key(notice) if summary else f"{brand}/{digest_key(notice)}"
                found = self.sink.find(channel, marker) if recheck else None
                if found:
                    # Its last attempt posted it (a day's message is posted with its first brand).
                    root, result = {"channel": channel, "ts": found}, "recovered"
                else:
                    text, body = self._digest_message([notice]) if summary else (
                        digest_text(notice, self.name_for(brand)),
                        digest_blocks(notice, self.name_for(brand), brand_link(self.grafana_template, brand)))
                    ts = self.sink.post(channel, text, body,
                                        metadata={"event_type": "buzzwatch_digest", "event_payload": {"incident_id": marker}})
                    root, result = {"channel": channel, "ts": ts}, "posted"
                if summary:
                    day[ROOT] = root
        except SlackApiError as exc:
            log.error("Slack refused the digest of %s for %s: %s", brand, notice["day"], exc.response.get("error"))
            result = "refused"
        except Undeliverable as exc:
            log.error("digest of brand %r for %s not delivered: %s", brand, notice["day"], exc)
            result = "refused"
        day[brand] = {"seq": 1, "notice": notice}
        return self._done(result, started)

    def _digest_message(self, notices: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
        names = {n["brand"]: self.name_for(n["brand"]) for n in notices}
        return digest_day_text(notices, names), digest_day_blocks(notices, names)

    def acknowledge(self, feedback: dict[str, Any], ledger: MutableMapping[str, Any]) -> str:
        """A button press (a feedback record) -> the ack in the ledger and on the root message.

        'acknowledged' or 'unknown' (no such incident delivered here); DeliveryError to retry.
        The first press of any button acknowledges; a verdict (not a crisis / confirmed) is kept
        with who gave it. Replaying the same record changes nothing but re-draws the message.
        Not a delivery outcome (``on_result``): presses are counted where they arrive.
        """
        key = feedback["incident_id"]
        entry = dict(ledger.get(key) or {}) if key != PRUNED else {}
        if not entry:
            log.warning("button %s for incident %s, which this worker never delivered", feedback["action"], key)
            return "unknown"
        ack = dict(entry.get("ack") or {"by": feedback["user_id"], "at": _epoch(feedback["at"])})
        if feedback["action"] != "acknowledge":
            ack.update(action=feedback["action"], verdict_by=feedback["user_id"])
        entry["ack"] = ack
        alert, root = entry.get("alert"), entry.get("ts")
        if alert and root and self.sink.threads:
            name = self.name_for(alert["brand"])
            try:
                self.sink.update(entry["channel"], root, notification_text(alert, name),
                                 self._root_blocks(alert, name, ack))
            except SlackApiError as exc:
                log.error("Slack refused the ack of incident %s: %s", key, exc.response.get("error"))
        ledger[key] = entry
        return "acknowledged"

    def _root_blocks(self, alert: dict[str, Any], name: str | None, ack: dict[str, Any] | None,
                     ping: str | None = None) -> list[dict[str, Any]]:
        brand = alert["brand"]
        return blocks(alert, name, ping=ping, ack=ack, buttons=self.buttons,
                      grafana_url=brand_link(self.grafana_template, brand),
                      runbook_url=brand_link(self.runbook_for(brand), brand))

    def _upload_chart(self, channel: str, thread_ts: str, alert: dict[str, Any], name: str | None) -> None:
        """Best effort: the numbers are in the message; a chart that fails is logged, never retried."""
        try:
            png = render_chart(alert["history"], name or alert["brand"], alert.get("opened_at"))
            self.sink.upload(channel, thread_ts, f"{alert['incident_id']}-{alert['seq']}.png".replace(":", ""),
                             png, f"{name or alert['brand']}: negatives/min vs baseline")
        except (DeliveryError, SlackApiError, ValueError, KeyError) as exc:
            # Logged, not a delivery outcome: the alert itself is delivered, nobody need be paged.
            log.warning("chart of incident %s step %s not uploaded: %s", alert["incident_id"], alert["seq"], exc)

    def mark_pending(self, alert: dict[str, Any], ledger: MutableMapping[str, Any]) -> None:
        """Record the intent to deliver this step, to be persisted *before* delivering it.

        A pending mark this process made and has not yet tried needs no look at Slack; one left
        by a previous process, or by an attempt that failed (Slack may have taken it), does.
        """
        entry = dict(ledger.get(alert["incident_id"]) or {})
        if not entry and _pruned(alert["incident_id"], ledger):
            return  # delivered long ago (``deliver`` skips it)
        if alert["seq"] > entry.get("seq", 0):
            if entry.get("pending") != alert["seq"]:
                self._fresh.add((alert["incident_id"], alert["seq"]))
            entry["pending"] = alert["seq"]
            ledger[alert["incident_id"]] = entry

    def mark_digest_pending(self, notice: dict[str, Any], day: MutableMapping[str, Any]) -> None:
        """``mark_pending`` for a digest notice, in its day's ledger entry."""
        brand = notice["brand"]
        entry = dict(day.get(brand) or {})
        if not entry.get("seq"):
            if entry.get("pending") != 1:
                self._fresh.add((digest_key(notice), brand))
            entry["pending"] = 1
            day[brand] = entry

    def _done(self, result: str, started: float) -> str:
        if self.on_result is not None:
            self.on_result(result, time.monotonic() - started)
        return result


ROOT = "_message"  # in a day's ledger entry: the day's one message in the digest channel
PRUNED = "_pruned"  # in a brand's ledger entry: the most recent incident id let go by ``prune_ledger``


def prune_ledger(entries: dict[str, Any], keep: int = 20) -> dict[str, Any]:
    """A brand's ledger entry (incident id -> what was delivered) with its ``keep`` most recent incidents
    only, and under ``PRUNED`` the most recent id it let go. A brand has one incident open at a time
    and ids sort by opening time, so an alert of that incident or an older one is a replay (the
    alerts topic re-read from an old offset): ``deliver`` takes it as delivered instead of posting
    it as a new incident."""
    incidents = sorted((k, v) for k, v in entries.items() if k != PRUNED)
    kept = dict(incidents[-keep:])
    floor = max([entries.get(PRUNED, ""), *(k for k, _ in incidents[:-keep])])
    if floor:
        kept[PRUNED] = floor
    return kept


def _pruned(incident_id: str, ledger: MutableMapping[str, Any]) -> bool:
    return incident_id <= ledger.get(PRUNED, "")


def digest_key(notice: dict[str, Any]) -> str:
    """The key of a notice's day: on the digest topic and in the ledger (one entry per day)."""
    return f"digest/{notice['day']}"


def _keepable(alert: dict[str, Any]) -> dict[str, Any]:
    """The alert as the ledger keeps it to re-draw the root on an ack: no history, short samples."""
    out = {k: v for k, v in alert.items() if k != "history"}
    out["samples"] = [{**s, "text": str(s.get("text", ""))[:400]} for s in alert.get("samples") or []][:5]
    return out


def _epoch(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339).timestamp()
