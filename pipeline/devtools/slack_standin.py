"""Local stand-in for the Slack Web API and incoming webhooks.

Tests and ``make run`` talk to this instead of real Slack: it is a real threaded HTTP
server (as in slack-sdk's own tests), so the real ``WebClient``/``WebhookClient`` code
paths, retry handlers included, are exercised. Every request is recorded and faults
(5xx, 429 + Retry-After, outage, slowness) can be scripted at runtime. It also plays Slack's
side of interactivity: ``press`` sends the signed request Slack sends when someone presses a
button of a recorded message.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import hmac
import itertools
import json
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

T = TypeVar("T")
_JSON_FIELDS = {"blocks", "attachments", "files", "metadata"}  # JSON strings inside form bodies
_FAULT_ERRORS = {429: "ratelimited", 503: "service_unavailable"}
_CONTENT = ("blocks", "attachments", "text")
_AUTH_TEST = {"ok": True, "url": "https://standin.slack.com/", "team": "Stand-in", "user": "buzzwatch",
              "team_id": "T0STANDIN", "user_id": "U0STANDIN", "bot_id": "B0STANDIN"}


@dataclass(frozen=True)
class Request:
    """One received HTTP request, kept so tests can assert on what the client really sent."""

    method: str  # Web API method ("chat.postMessage"), "upload", "webhook", or the raw path
    path: str
    body: dict[str, Any]
    headers: dict[str, str]  # keys lower-cased
    received_at: float
    status: int = 200
    faulted: bool = False  # answered by a scripted fault, not by the fake API


@dataclass(frozen=True)
class _Fault:
    status: int
    retry_after: int | None = None
    method: str | None = None


def _all_metadata(body: dict[str, Any]) -> bool:
    """``include_all_metadata`` (slack-sdk sends a bool as 1 or 0). Without it Slack returns a message's
    metadata only for the event types the app subscribes to in its manifest, and buzzwatch's app
    subscribes to none: a client that forgot it would find no incident's messages again."""
    return str(body.get("include_all_metadata", "")).lower() in ("1", "true")


def _parse_body(raw: bytes, content_type: str, query: str) -> dict[str, Any]:
    """Accept JSON and form bodies alike, because slack_sdk sends both depending on the method."""
    body: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    text = raw.decode("utf-8", "replace")
    if "json" in content_type:
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            data = {"_invalid_json": text}
        body.update(data if isinstance(data, dict) else {"_json": data})
        return body
    for key, value in parse_qsl(text, keep_blank_values=True):
        body[key] = value
        if key in _JSON_FIELDS:
            with contextlib.suppress(ValueError):
                body[key] = json.loads(value)
    return body


def _block_lines(blocks: Any, limit: int = 16) -> list[str]:
    """Pull the human-visible text out of Block Kit so the terminal echo reads like the alert."""
    lines: list[str] = []
    for block in blocks if isinstance(blocks, list) else []:
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), dict):
            lines.append(str(block["text"].get("text", "")))
        fields = [str(f.get("text", "")).replace("\n", ": ") for f in block.get("fields") or [] if isinstance(f, dict)]
        if fields:
            lines.append(" | ".join(fields))
        if block.get("type") == "context":
            parts = [str(e["text"]) for e in block.get("elements", []) if isinstance(e, dict) and "text" in e]
            lines.append(" | ".join(parts))
        if block.get("type") == "actions":
            lines.append(" ".join(f"[{e.get('text', {}).get('text', '?')}]" for e in block.get("elements", [])
                                  if isinstance(e, dict)))
    return [line for line in lines if line][:limit]


_DATE = re.compile(r"<!date\^\d+\^[^|>]*\|([^>]*)>")


def describe(msg: dict[str, Any]) -> str:
    """Render a recorded message for a person watching ``make run`` (a date token as its fallback,
    which is what Slack shows where it cannot use the reader's clock)."""
    head = f"[slack] {msg['kind']} {msg.get('channel') or '(webhook)'}"
    if msg.get("ts"):
        head += f" ts={msg['ts']}"
    if msg.get("thread_ts"):
        head += f" in thread {msg['thread_ts']}"
    body = [_DATE.sub(r"\1", text) for text in _block_lines(msg.get("blocks")) or [str(msg.get("text") or "")]]
    return "\n".join([head, *("    " + ln for text in body for ln in text.splitlines())])


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        self.server.standin._handle(self)  # type: ignore[attr-defined]

    do_GET = do_POST  # handy for curl; slack_sdk always POSTs

    def log_message(self, *args: Any) -> None:
        """Silence the default per-request stderr log; requests are recorded instead."""


class SlackStandIn:
    """Fake Slack on 127.0.0.1; use ``WebClient(token="xoxb-...", base_url=standin.api_url)``."""

    def __init__(self, port: int = 0, *, echo: bool = False, save_files: str | Path | None = None) -> None:
        self.port, self.echo = port, echo
        self.save_files = Path(save_files) if save_files else None  # uploaded files are also written here
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self._messages: list[dict[str, Any]] = []
        self._files: list[dict[str, Any]] = []
        self._ts_channel: dict[str, str] = {}  # known message ts -> channel, for chat.update
        self._pending: dict[str, dict[str, Any]] = {}  # file_id -> upload not yet completed
        self._faults: collections.deque[_Fault] = collections.deque()
        self._stalls: collections.deque[tuple[str | None, float]] = collections.deque()  # (method, seconds)
        self._down, self._delay = False, 0.0
        self._clock = 0  # last issued ts, in microseconds
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SlackStandIn:
        if self._server is not None:
            return self
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        self._server.daemon_threads = True
        self._server.standin = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("SlackStandIn is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """What ``WebClient(base_url=...)`` wants: it mirrors ``https://slack.com/api/``."""
        return self.url + "/api/"

    @property
    def webhook_url(self) -> str:
        """Any ``/services/...`` path is accepted, like ``https://hooks.slack.com/services/...``."""
        return self.url + "/services/T0STANDIN/B0STANDIN/standin"

    # -- scripted faults (queued in call order) --------------------------------------------
    def fail_next(self, n: int = 1, status: int = 500, *, method: str | None = None) -> None:
        """Answer the next ``n`` requests (optionally only of ``method``) with ``status``."""
        with self._lock:
            self._faults.extend(_Fault(status, None, method) for _ in range(n))

    def rate_limit_next(self, n: int = 1, retry_after: int = 1, *, method: str | None = None) -> None:
        """Answer the next ``n`` requests with 429 and ``Retry-After: retry_after`` seconds."""
        with self._lock:
            self._faults.extend(_Fault(429, retry_after, method) for _ in range(n))

    def set_down(self, down: bool = True) -> None:
        """Simulate an outage: every request gets 503 until switched back."""
        with self._lock:
            self._down = down

    def delay(self, seconds: float) -> None:
        """Hold every response for ``seconds`` (0 to stop) to exercise client timeouts."""
        with self._lock:
            self._delay = max(0.0, seconds)

    def stall_next(self, n: int = 1, seconds: float = 15.0, *, method: str | None = None) -> None:
        """Carry out the next ``n`` requests (optionally only of ``method``) as usual, then hold each
        answer for ``seconds``: a client that times out meanwhile cannot tell that Slack took it."""
        with self._lock:
            self._stalls.extend((method, seconds) for _ in range(n))

    def reset_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._stalls.clear()
            self._down, self._delay = False, 0.0

    # -- inspection ------------------------------------------------------------------------
    def requests(self, method: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self._requests if method is None or r.method == method]

    def messages(self) -> list[dict[str, Any]]:
        """Posts, updates and webhook messages in arrival order (kind = post|update|webhook)."""
        with self._lock:
            return [dict(m) for m in self._messages]

    def files(self) -> list[dict[str, Any]]:
        """Files completed via files.completeUploadExternal, with their uploaded ``data``."""
        with self._lock:
            return [dict(f) for f in self._files]

    def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.01) -> T:
        """Poll ``predicate`` until truthy and return its value; needed for asynchronous senders."""
        deadline = time.monotonic() + timeout
        while not (value := predicate()):
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            time.sleep(interval)
        return value

    def message(self, ts: str) -> dict[str, Any]:
        """The message ``ts`` as it looks now (its last post or update)."""
        with self._lock:
            versions = [m for m in self._messages if m["ts"] == ts and m["kind"] in ("post", "update")]
        if not versions:
            raise KeyError(ts)
        return dict(versions[-1])

    def press(self, endpoint: str, signing_secret: str, ts: str, action_id: str, user_id: str = "U0ONCALL",
              *, timestamp: int | None = None, signature: str | None = None) -> tuple[int, str]:
        """What Slack does when ``user_id`` presses button ``action_id`` of message ``ts``: POST a
        ``block_actions`` payload to the app's interactivity ``endpoint``, signed (v0) with
        ``signing_secret`` at ``timestamp`` (now by default). Returns (HTTP status, body)."""
        msg = self.message(ts)
        button = next((e for b in msg.get("blocks") or [] if b.get("type") == "actions"
                       for e in b.get("elements", []) if e.get("action_id") == action_id), None)
        if button is None:
            raise KeyError(f"message {ts} has no {action_id!r} button")
        payload = {"type": "block_actions", "user": {"id": user_id, "username": user_id.lower(), "team_id": "T0STANDIN"},
                   "api_app_id": "A0STANDIN", "container": {"type": "message", "channel_id": msg["channel"],
                                                            "message_ts": ts},
                   "channel": {"id": msg["channel"]}, "message": {"ts": ts, "blocks": msg.get("blocks")},
                   "response_url": f"{self.url}/actions/response", "trigger_id": "1.2.3",
                   "actions": [{"type": "button", "action_id": action_id, "block_id": "incident",
                                "value": button.get("value"), "action_ts": f"{time.time():.6f}"}]}
        body = urlencode({"payload": json.dumps(payload)}).encode()
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        mac = hmac.new(signing_secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        request = urllib.request.Request(endpoint, data=body, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature or f"v0={mac}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def clear(self) -> None:
        """Forget recorded requests, messages and files; known ts and scripted faults stay."""
        with self._lock:
            self._requests.clear()
            self._messages.clear()
            self._files.clear()

    # -- request handling ------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        path, query = (parts := urlsplit(h.path)).path, parts.query
        raw = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in h.headers.items()}
        kind = next((k for k in ("api", "upload", "services") if path.startswith(f"/{k}/")), "other")
        method = {"api": path[5:], "upload": "upload", "services": "webhook"}.get(kind, path)
        if kind == "upload":
            body: dict[str, Any] = {"file_id": path.rsplit("/", 1)[-1], "length": len(raw)}
        else:
            body = _parse_body(raw, headers.get("content-type", ""), query)
        with self._lock:
            fault = self._take_fault(method)
            delay = self._delay
        extra: dict[str, str] = {}
        payload: dict[str, Any] | str
        if fault is not None:
            status, error = fault.status, _FAULT_ERRORS.get(fault.status, "fatal_error")
            payload = error if kind in ("upload", "services") else {"ok": False, "error": error}
            if fault.retry_after is not None:
                extra["Retry-After"] = str(fault.retry_after)
        elif kind == "api":
            status, payload = 200, self._api(method, body, headers.get("authorization", ""))
        elif kind == "upload":
            status, payload = self._upload(body["file_id"], raw)
        elif kind == "services":
            status, payload = self._webhook(body)
        else:
            status, payload = 404, {"ok": False, "error": "not_found"}
        with self._lock:
            self._requests.append(Request(method, path, body, headers, time.time(), status, bool(fault)))
            stall = None if fault is not None else next((x for x in self._stalls if x[0] in (None, method)), None)
            if stall is not None:
                self._stalls.remove(stall)
                delay = max(delay, stall[1])
        if delay:
            time.sleep(delay)
        is_json = isinstance(payload, dict)
        data = (json.dumps(payload) if is_json else str(payload)).encode()
        with contextlib.suppress(ConnectionError):  # the client may have given up (timeouts)
            h.send_response(status)
            h.send_header("Content-Type", f"{'application/json' if is_json else 'text/plain'}; charset=utf-8")
            h.send_header("Content-Length", str(len(data)))
            for key, value in extra.items():
                h.send_header(key, value)
            h.end_headers()
            h.wfile.write(data)

    def _take_fault(self, method: str) -> _Fault | None:
        """Called under the lock; an outage wins over queued faults and consumes none."""
        if self._down:
            return _Fault(503)
        fault = next((f for f in self._faults if f.method in (None, method)), None)
        if fault is not None:
            self._faults.remove(fault)
        return fault

    def _record(self, kind: str, body: dict[str, Any], ts: str | None) -> dict[str, Any]:
        msg = {"kind": kind, "channel": body.get("channel"), "ts": ts, "thread_ts": body.get("thread_ts"),
               "text": body.get("text"), "blocks": body.get("blocks"), "attachments": body.get("attachments"),
               "metadata": body.get("metadata")}
        self._messages.append(msg)
        if self.echo:
            print(describe(msg), flush=True)
        return msg

    def _api(self, method: str, body: dict[str, Any], auth: str) -> dict[str, Any]:
        if not auth:
            return {"ok": False, "error": "not_authed"}
        if not auth.startswith("Bearer xoxb-"):
            return {"ok": False, "error": "invalid_auth"}
        handler = {"auth.test": lambda *_: dict(_AUTH_TEST), "chat.postMessage": self._chat,
                   "chat.update": self._chat, "files.getUploadURLExternal": self._get_upload_url,
                   "files.completeUploadExternal": self._complete_upload,
                   "conversations.history": self._history, "conversations.replies": self._replies}.get(method)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        with self._lock:  # keeps ts, ids and message order consistent across handler threads
            return handler(method, body)

    def _chat(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        channel = str(body.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not any(body.get(k) for k in _CONTENT):
            return {"ok": False, "error": "no_text"}
        if method == "chat.update":
            ts = str(body.get("ts") or "")
            if self._ts_channel.get(ts) != channel:
                return {"ok": False, "error": "message_not_found"}
        else:
            self._clock = max(time.time_ns() // 1000, self._clock + 1)  # unique, increasing
            ts = f"{self._clock // 1_000_000}.{self._clock % 1_000_000:06d}"
            self._ts_channel[ts] = channel
        msg = self._record("post" if method == "chat.postMessage" else "update", body, ts)
        message = {k: v for k, v in msg.items() if k not in ("kind", "channel") and v is not None}
        return {"ok": True, "channel": channel, "ts": ts,
                "message": {"type": "message", "user": "U0STANDIN", "bot_id": "B0STANDIN", **message}}

    def _history(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        """Root messages of a channel, newest first, with their metadata if asked (as Slack's, minus paging)."""
        channel = str(body.get("channel") or "")
        metadata = _all_metadata(body)
        limit = int(body.get("limit") or 100)
        roots = [m for m in self._messages if m["kind"] == "post" and m["channel"] == channel
                 and not m.get("thread_ts")]
        out = [{"type": "message", "ts": m["ts"], "text": m["text"],
                **({"metadata": m["metadata"]} if metadata and m.get("metadata") else {})} for m in reversed(roots)]
        return {"ok": True, "messages": out[:limit], "has_more": len(out) > limit}

    def _replies(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        """A thread: its root message, then its replies, oldest first, with their metadata if asked (minus paging)."""
        channel, ts = str(body.get("channel") or ""), str(body.get("ts") or "")
        metadata = _all_metadata(body)
        if self._ts_channel.get(ts) != channel:
            return {"ok": False, "error": "thread_not_found"}
        limit = int(body.get("limit") or 1000)
        thread = [m for m in self._messages if m["kind"] == "post" and m["channel"] == channel
                  and (m["ts"] == ts or m.get("thread_ts") == ts)]
        out = [{"type": "message", "ts": m["ts"], "text": m["text"],
                **({"thread_ts": m["thread_ts"]} if m.get("thread_ts") else {}),
                **({"metadata": m["metadata"]} if metadata and m.get("metadata") else {})} for m in thread]
        return {"ok": True, "messages": out[:limit], "has_more": len(out) > limit}

    def _get_upload_url(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("filename") or not str(body.get("length", "")).isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F0STANDIN{next(self._ids):04d}"
        self._pending[file_id] = {"id": file_id, "name": body["filename"], "length": int(body["length"])}
        return {"ok": True, "file_id": file_id, "upload_url": f"{self.url}/upload/{file_id}"}

    def _complete_upload(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        wanted = body.get("files") if isinstance(body.get("files"), list) else []
        if not wanted:
            return {"ok": False, "error": "invalid_arguments"}
        if any("data" not in self._pending.get(str(f.get("id")), {}) for f in wanted):
            return {"ok": False, "error": "file_not_found"}
        done = []
        for f in wanted:
            pending = self._pending.pop(f["id"])
            done.append({**pending, "title": f.get("title") or pending["name"], "size": len(pending["data"]),
                         "channel": body.get("channel_id") or body.get("channels"),
                         "thread_ts": body.get("thread_ts"), "initial_comment": body.get("initial_comment")})
        self._files.extend(done)
        for f in done:
            where = ""
            if self.save_files is not None:
                self.save_files.mkdir(parents=True, exist_ok=True)
                path = self.save_files / Path(str(f["name"])).name
                path.write_bytes(f["data"])
                where = f" saved as {path}"
            if self.echo:
                thread = f" in thread {f['thread_ts']}" if f.get("thread_ts") else ""
                print(f"[slack] file {f['channel']}{thread} {f['name']!r} ({f['size']} bytes){where}", flush=True)
        return {"ok": True, "files": [{k: v for k, v in f.items() if k != "data"} for f in done]}

    def _upload(self, file_id: str, raw: bytes) -> tuple[int, str]:
        """Upload URLs and webhooks answer plain text, as Slack's do."""
        with self._lock:
            if file_id not in self._pending:
                return 404, "file_not_found"
            self._pending[file_id]["data"] = raw
        return 200, f"OK - {len(raw)}"

    def _webhook(self, body: dict[str, Any]) -> tuple[int, str]:
        if not any(body.get(k) for k in _CONTENT):
            return 400, "no_text"
        with self._lock:
            self._record("webhook", body, None)
        return 200, "ok"


def main(argv: list[str] | None = None) -> int:
    """Serve standalone for ``make run``; the first stdout line is the base URL."""
    parser = argparse.ArgumentParser(description="Local stand-in for the Slack Web API and webhooks.")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--quiet", action="store_true", help="do not echo received messages")
    args = parser.parse_args(argv)
    stopping: list[int] = []  # a plain flag: taking a lock (Event.set) in a signal handler can deadlock
    for sig in (signal.SIGINT, signal.SIGTERM):  # explicit: background jobs may start with SIGINT ignored
        signal.signal(sig, lambda signum, _frame: stopping.append(signum))
    with SlackStandIn(args.port, echo=not args.quiet) as standin:
        print(standin.url, flush=True)
        print(f"api: {standin.api_url}  webhook: {standin.webhook_url}", file=sys.stderr, flush=True)
        while not stopping:
            time.sleep(0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
