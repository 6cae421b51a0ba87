"""Slack's button presses -> feedback records, for requests Slack really signed. Pure.

Slack signs every interactivity request: ``X-Slack-Signature: v0=hex(HMAC-SHA256(secret,
"v0:{X-Slack-Request-Timestamp}:{raw body}"))``. A request is accepted only if the timestamp is
within 5 minutes of our clock, the signature matches (constant-time compare) and the same
signature was not seen before (a captured request replayed within the 5 minutes); anything else
is ``Rejected`` with a short reason (a metric label, never the secret or the body).

>>> body = b"payload=%7B%7D"
>>> headers = {"X-Slack-Request-Timestamp": "1772440000", "X-Slack-Signature": sign("s3cret", "1772440000", body)}
>>> Verifier("s3cret").check(headers, body, now=1772440010.0)
>>> Verifier("wrong").check(headers, body, now=1772440010.0)
Traceback (most recent call last):
...
pipeline.notify.interact.Rejected: bad_signature
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from pipeline.errors import BuzzwatchError
from pipeline.notify.render import ACTIONS, USER_ID
from pipeline.records import format_time

TOLERANCE_S = 300
#: Every ``Rejected`` reason, and ``not_configured`` (no signing secret: stream/web.py refuses all).
REJECTIONS = ("not_configured", "missing_headers", "bad_timestamp", "stale_timestamp", "bad_signature",
              "replayed", "bad_payload")


class Rejected(BuzzwatchError):
    """An interactivity request that is not provably Slack's; ``reason`` is a bounded label."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 signature of ``body`` sent at ``timestamp`` (what Slack puts in X-Slack-Signature)."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class Verifier:
    """Checks signatures; remembers the signatures it accepted for as long as they could be replayed."""

    def __init__(self, secret: str, tolerance_s: float = TOLERANCE_S) -> None:
        self._secret = secret
        self.tolerance_s = tolerance_s
        self._seen: dict[str, float] = {}  # signature -> its timestamp

    def __repr__(self) -> str:
        return f"Verifier(secret='***', tolerance_s={self.tolerance_s})"

    def check(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        """Return quietly if Slack signed this request now; raise Rejected otherwise."""
        lower = {k.lower(): v for k, v in headers.items()}
        stamp, signature = lower.get("x-slack-request-timestamp"), lower.get("x-slack-signature")
        if not stamp or not signature:
            raise Rejected("missing_headers")
        try:
            sent = int(stamp)
        except ValueError:
            raise Rejected("bad_timestamp") from None
        if abs(now - sent) > self.tolerance_s:
            raise Rejected("stale_timestamp")
        if not hmac.compare_digest(sign(self._secret, stamp, body).encode(), signature.encode()):
            raise Rejected("bad_signature")
        self._seen = {s: t for s, t in self._seen.items() if now - t <= self.tolerance_s}
        if signature in self._seen:
            raise Rejected("replayed")
        self._seen[signature] = sent


def parse_payload(body: bytes) -> dict[str, Any]:
    """The JSON ``payload`` field of Slack's form-encoded request body."""
    try:
        fields = parse_qs(body.decode("utf-8"), strict_parsing=True)
        payload = json.loads(fields["payload"][0])
    except (UnicodeDecodeError, ValueError, KeyError, IndexError):
        raise Rejected("bad_payload") from None
    if not isinstance(payload, dict):
        raise Rejected("bad_payload")
    return payload


def feedback_for(payload: dict[str, Any], now: float) -> list[dict[str, Any]]:
    """Feedback records for the payload's buzzwatch buttons (link buttons, e.g. Grafana, give none).

    Raises Rejected('bad_payload') when a buzzwatch button arrives malformed.
    """
    if payload.get("type") != "block_actions":
        return []
    user = payload.get("user") if isinstance(payload.get("user"), dict) else {}
    container = payload.get("container") if isinstance(payload.get("container"), dict) else {}
    out = []
    for action in payload.get("actions") or []:
        if not isinstance(action, dict) or action.get("action_id") not in ACTIONS:
            continue
        try:
            target = json.loads(action["value"])
            brand, incident = target["b"], target["i"]
        except (KeyError, TypeError, ValueError):
            raise Rejected("bad_payload") from None
        if not (isinstance(brand, str) and brand and isinstance(incident, str) and incident
                and USER_ID.match(str(user.get("id", "")))):
            raise Rejected("bad_payload")
        out.append({"source": "slack", "action": action["action_id"], "incident_id": incident, "brand": brand,
                    "user_id": user["id"], "user_name": _text(user.get("username") or user.get("name")),
                    "at": format_time(now), "channel": _text(container.get("channel_id")),
                    "message_ts": _text(container.get("message_ts"))})
    return out


def _text(value: Any) -> str | None:
    return value[:200] if isinstance(value, str) else None
