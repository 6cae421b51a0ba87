"""Alert -> what on-call staff read: Block Kit for Slack and one line for a terminal. Pure.

Mention text is untrusted: ``&``, ``<`` and ``>`` are escaped so that a post containing
``<!channel>`` or ``<http://evil|bank>`` can neither ping anyone nor forge a link, and every
field is cut to Slack's limits.
"""

from __future__ import annotations

from typing import Any

_ICON = {"warning": ":warning:", "high": ":rotating_light:", "critical": ":fire:"}
_STATUS = {"open": "NEW", "escalated": "ESCALATED", "resolved": "RESOLVED"}
SECTION_LIMIT = 3000
HEADER_LIMIT = 150


def escape(text: str, limit: int = SECTION_LIMIT) -> str:
    """Slack mrkdwn-safe text (control sequences cannot fire), cut to ``limit`` characters.

    >>> escape("<!channel> & <http://evil|bank>")
    '&lt;!channel&gt; &amp; &lt;http://evil|bank&gt;'
    >>> escape("x" * 10, limit=5)
    'xxxx…'
    """
    return cut(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"), limit)


def cut(safe: str, limit: int) -> str:
    """Shorten already-escaped text to ``limit`` characters without splitting an entity."""
    if len(safe) > limit:
        safe = safe[: limit - 1]
        cut = safe.rfind("&", max(0, len(safe) - 5))  # never leave half an entity
        if cut != -1 and ";" not in safe[cut:]:
            safe = safe[:cut]
        safe += "…"
    return safe


def headline(alert: dict[str, Any], brand_name: str | None = None) -> str:
    """One line: status, severity, brand and the reason in numbers."""
    name = brand_name or alert["brand"]
    return f"[{_STATUS[alert['status']]}] {alert['severity'].upper()} negative buzz on {name}: {alert['reason']}"


def blocks(alert: dict[str, Any], brand_name: str | None = None) -> list[dict[str, Any]]:
    """The Block Kit message of one alert."""
    name = brand_name or alert["brand"]
    ev = alert["evidence"]
    icon = ":white_check_mark:" if alert["status"] == "resolved" else _ICON[alert["severity"]]
    header = f"{_STATUS[alert['status']]} · {alert['severity'].upper()} · negative buzz on {name}"
    doubling = ev.get("growth_doubling_minutes")
    growth = f"doubling every {doubling:.0f} min" if doubling else "not growing"
    fields = [
        f"*Negatives/min*\n{ev['negative_rate_per_min']:.2f} now vs {ev['expected_rate_per_min']:.2f} expected",
        f"*Growth*\n{growth}",
        f"*Negative share*\n{ev['negative_share']:.0%} (usual {ev['baseline_share']:.0%})",
        f"*Authors · reach*\n{ev['unique_authors']} · {ev['reach']:,} followers",
    ]
    out: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": escape(f"{icon} {header}", HEADER_LIMIT)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(alert["reason"])},
         "fields": [{"type": "mrkdwn", "text": escape(f, 2000)} for f in fields]},
    ]
    samples = alert.get("samples") or []
    if samples and alert["status"] != "resolved":
        lines = []
        for s in samples[:5]:
            who = escape(str(s.get("author_id") or "someone"), 80)
            reach = s.get("author_followers") or 0
            lines.append(f"• {who} ({reach:,} followers): “{escape(s['text'], 400)}”")
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": cut("\n".join(lines), SECTION_LIMIT)}})
    out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(
        f"incident {alert['incident_id']} · opened {alert.get('opened_at', alert['at'])} · at {alert['at']}", 300)}]})
    return out
