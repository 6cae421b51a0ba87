"""Alert -> what on-call staff read: Block Kit for Slack and one line for a terminal. Pure.

Mention text is untrusted: ``&``, ``<`` and ``>`` are escaped so that a post containing
``<!channel>`` or ``<http://evil|bank>`` can neither ping anyone nor forge a link, and every
field is cut to Slack's limits. The only unescaped control sequences are the ``ping`` (from the
brands file, checked at start-up), the acknowledging user (an id Slack signed, checked here) and
links whose URL passed ``safe_url``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from pipeline.errors import InvalidRecord
from pipeline.records import parse_time

_ICON = {"warning": ":warning:", "high": ":rotating_light:", "critical": ":fire:"}
_STATUS = {"open": "NEW", "escalated": "ESCALATED", "resolved": "RESOLVED"}
_VERDICT = {"not_a_crisis": "not a crisis", "confirmed": "confirmed crisis"}
SECTION_LIMIT = 3000
HEADER_LIMIT = 150
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
_URL = re.compile(r"^https?://[^\s<>|\"`]{1,500}$")
ACTIONS = ("acknowledge", "not_a_crisis", "confirmed")


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


def safe_url(url: Any) -> str | None:
    """A mention's URL if it can be a link without breaking out of ``<url|label>``, else None.

    >>> safe_url("https://x.example/p?a=1&b=2")
    'https://x.example/p?a=1&amp;b=2'
    >>> safe_url("https://x.example|bank"), safe_url("javascript:alert(1)"), safe_url(None)
    (None, None, None)
    """
    if not isinstance(url, str) or not _URL.match(url):
        return None
    return url.replace("&", "&amp;")


def brand_link(template: str | None, brand: str) -> str | None:
    """A brand's link from a template whose ``{brand}`` is its id (``BUZZWATCH_GRAFANA_URL_TEMPLATE``,
    ``BUZZWATCH_RUNBOOK_URL`` or a brand's ``runbook_url``), URL-quoted.

    >>> brand_link("https://g.example/d/bw?var-brand={brand}", "acme")
    'https://g.example/d/bw?var-brand=acme'
    >>> brand_link("https://wiki.example/runbooks/negative-buzz", "acme")
    'https://wiki.example/runbooks/negative-buzz'
    """
    return template.replace("{brand}", quote(brand, safe="")) if template else None


def headline(alert: dict[str, Any], brand_name: str | None = None) -> str:
    """One line: status, severity, brand and the reason in numbers."""
    name = brand_name or alert["brand"]
    return f"[{_STATUS[alert['status']]}] {alert['severity'].upper()} {_kind(alert)} on {name}: {_reason(alert)}"


def _kind(alert: dict[str, Any]) -> str:
    """What the alert is about: a volume alert (``detect --signal volume``) counts every mention."""
    return "volume spike" if alert.get("signal") == "volume" else "negative buzz"


def _reason(alert: dict[str, Any]) -> str:
    """The detector's reason; a resolution adds how long the incident lasted and its peak severity
    (an incident's severity only rises, so the resolution carries the peak).

    >>> _reason({"status": "resolved", "severity": "critical", "reason": "back to normal: 3 negative mentions",
    ...          "opened_at": "2026-03-02T09:20:00Z", "at": "2026-03-02T10:45:00Z"})
    'back to normal: 3 negative mentions; lasted 1 h 25 min, peaked at critical'
    """
    if alert["status"] != "resolved":
        return str(alert["reason"])
    try:
        minutes = round((parse_time(alert["at"], "at") - parse_time(alert["opened_at"], "opened_at")) / 60)
    except (KeyError, InvalidRecord):
        return str(alert["reason"])
    lasted = f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"
    return f"{alert['reason']}; lasted {lasted}, peaked at {alert['severity']}"


def notification_text(alert: dict[str, Any], brand_name: str | None = None, ping: str | None = None) -> str:
    """The message's ``text``: what a phone's notification shows. Mention-free unless ``ping``."""
    line = escape(headline(alert, brand_name), 1000)
    return f"{ping} {line}" if ping else line


def button_value(alert: dict[str, Any]) -> str:
    """What a button carries back to the interactivity endpoint: which incident of which brand."""
    return json.dumps({"b": alert["brand"], "i": alert["incident_id"]}, separators=(",", ":"))


def blocks(alert: dict[str, Any], brand_name: str | None = None, *, ping: str | None = None,
           ack: dict[str, Any] | None = None, grafana_url: str | None = None, buttons: bool = False,
           compact: bool = False, runbook_url: str | None = None) -> list[dict[str, Any]]:
    """The Block Kit message of one alert.

    ``ping`` (brands file) opens the message; ``ack`` ({"by": user id, "at": epoch s, "action"})
    shows who took it; ``buttons`` adds Acknowledge / Not a crisis / Confirmed while the incident
    is live; ``grafana_url`` and ``runbook_url`` are link buttons beside them (the numbers, then
    what to do about them); ``compact`` is the thread-reply form (numbers and terms, no samples,
    buttons or links).
    """
    name = brand_name or alert["brand"]
    ev = alert["evidence"]
    resolved = alert["status"] == "resolved"
    icon = ":white_check_mark:" if resolved else _ICON[alert["severity"]]
    header = f"{_STATUS[alert['status']]} · {alert['severity'].upper()} · {_kind(alert)} on {name}"
    out: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": escape(f"{icon} {header}", HEADER_LIMIT)}}]
    if ping:
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": f"{ping} please take a look"}})
    out.append({"type": "section", "text": {"type": "mrkdwn", "text": escape(_reason(alert))},
                "fields": [{"type": "mrkdwn", "text": escape(f, 2000)} for f in _fields(ev, alert.get("signal"))]})
    if ack:
        out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _ack_line(ack, alert["at"])}]})
    terms = _terms(alert.get("terms"))
    if terms and not resolved:
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": terms}})
    samples = alert.get("samples") or []
    if samples and not resolved and not compact:
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": _samples(samples)}})
    elements = []
    if buttons and not resolved and not compact:
        value = button_value(alert)
        if not ack:
            elements.append(_button("Acknowledge", "acknowledge", value, style="primary"))
        if not (ack and ack.get("action") in _VERDICT):
            elements.append(_button("Not a crisis", "not_a_crisis", value))
            elements.append(_button("Confirmed", "confirmed", value, style="danger"))
    if grafana_url and not compact:
        elements.append({"type": "button", "action_id": "grafana", "url": grafana_url[:3000],
                         "text": {"type": "plain_text", "text": "Grafana dashboard"}})
    if runbook_url and not compact:
        elements.append({"type": "button", "action_id": "runbook", "url": runbook_url[:3000],
                         "text": {"type": "plain_text", "text": "Runbook"}})
    if elements:
        out.append({"type": "actions", "block_id": "incident", "elements": elements})
    opened, at = alert.get("opened_at", alert["at"]), alert["at"]
    out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(f"incident {alert['incident_id']}", 200)
                                                 + f" · opened {slack_date(opened)} · at {slack_date(at)}"}]})
    return out


def slack_date(when: Any, layout: str = "{date_short_pretty} {time}") -> str:
    """A time each reader sees in their own time zone (Slack's date token), in UTC where it cannot
    be (notifications, old clients); an unreadable time is shown as it came, escaped."""
    try:
        ts = float(when) if isinstance(when, int | float) else parse_time(str(when))
        utc = datetime.fromtimestamp(ts, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError, InvalidRecord):
        return escape(str(when), 60)
    fallback = utc.strftime("%H:%M UTC") if layout == "{time}" else utc.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(ts)}^{layout}|{fallback}>"


def _fields(ev: dict[str, Any], signal: str | None = None) -> list[str]:
    """Counts over the alert's window, as the reason gives them: per minute, a small brand's
    6 in 20 min against 0.1 expected read "0.30 now vs 0.00 expected". For the volume signal the
    evidence's "negatives" count every mention, and the fields say so (no negative share)."""
    minutes = ev["window_minutes"]
    expected = ev["expected_negatives"] or ev["expected_rate_per_min"] * minutes  # the rate keeps more digits
    counted = f"{count(ev['observed_negatives'])} in {minutes} min vs {count(expected)} expected"
    volume = signal == "volume"
    return [
        f"*Mentions*\n{counted} (all mentions, not only negatives)" if volume else f"*Negatives*\n{counted}",
        f"*Growth*\n{_growth(ev)}",
        *([] if volume else [f"*Negative share*\n{ev['negative_share']:.0%} (usual {ev['baseline_share']:.0%})"]),
        f"*Authors · reach*\n{ev['unique_authors']} · {ev['reach']:,} followers",
    ]


def count(x: float) -> str:
    """A count or an expectation as the reason gives it (one decimal below 10), but never 0 when it is not.

    >>> count(1234.4), count(6.0), count(2.56), count(0.088), count(0.0043), count(0)
    ('1,234', '6', '2.6', '0.1', '0.004', '0')
    """
    if x >= 10 or x == int(x):
        return f"{x:,.0f}"
    return f"{x:.1f}" if x >= 0.05 else f"{x:.1g}"


def _growth(ev: dict[str, Any]) -> str:
    """From nothing to a burst is growth no doubling time can say (it is infinite)."""
    doubling = ev.get("growth_doubling_minutes")
    if doubling:
        return f"doubling every {doubling:.0f} min"
    previous = ev.get("previous_negatives")  # absent from alerts written before it was recorded
    if previous is None:
        return "no doubling time"
    observed, minutes = ev["observed_negatives"], ev["window_minutes"]
    if previous == 0 and observed > 0:
        return f"new: 0 → {count(observed)} in {minutes} min"
    return f"not growing ({count(previous)} the {minutes} min before)"


def _terms(terms: Any) -> str | None:
    """``*Driving it:* `#fail` ×12 · `refund` ×9`` from the alert's optional ``terms``."""
    if not isinstance(terms, list):
        return None
    parts = []
    for t in terms[:8]:
        if isinstance(t, dict) and isinstance(t.get("term"), str) and isinstance(t.get("count"), int):
            parts.append(f"`{escape(t['term'].replace('`', ''), 40)}` ×{t['count']}")
    return cut("*Driving it:* " + " · ".join(parts), SECTION_LIMIT) if parts else None


def _samples(samples: list[dict[str, Any]]) -> str:
    """The top negative mentions. A follower count the source did not give (null) is left out: "0
    followers" would tell on-call the author reaches nobody, which nobody knows."""
    lines = ["*Top negative mentions*"]
    for s in samples[:5]:
        who = escape(str(s.get("author_id") or "someone"), 80)
        followers = s.get("author_followers")
        known = isinstance(followers, int) and not isinstance(followers, bool)
        reach = f" ({followers:,} follower{'' if followers == 1 else 's'})" if known else ""
        url = safe_url(s.get("url"))
        link = f" <{url}|open>" if url else ""
        lines.append(f"• *{who}*{reach}: “{escape(s['text'], 400)}”{link}")
    return cut("\n".join(lines), SECTION_LIMIT)


def _ack_line(ack: dict[str, Any], message_at: Any) -> str:
    """Who took it and when: the time alone on the message's day (UTC), with the date otherwise, so
    an incident acknowledged last night does not read as acknowledged today."""
    who = f"<@{ack['by']}>" if USER_ID.match(str(ack.get("by", ""))) else "someone"
    when = float(ack.get("at", 0))
    try:
        same_day = parse_time(str(message_at), "at") // 86400 == when // 86400
    except InvalidRecord:
        same_day = False
    at = slack_date(when, "{time}") if same_day else slack_date(when)
    verdict = _VERDICT.get(str(ack.get("action")))
    text = f":white_check_mark: Acknowledged by {who} at {at}"
    if verdict:
        by = f"<@{ack['verdict_by']}>" if USER_ID.match(str(ack.get("verdict_by", ""))) else who
        text += f" · marked *{verdict}* by {by}"
    return text


def _button(label: str, action: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {"type": "button", "action_id": action, "value": value,
                              "text": {"type": "plain_text", "text": label}}
    if style:
        button["style"] = style
    return button


def digest_text(notice: dict[str, Any], brand_name: str | None = None) -> str:
    """One line for a digest notice (the notification text, the terminal).

    >>> digest_text({"brand": "acme", "day": "2026-03-06", "negative_share": 0.24, "usual_share": 0.12, "ratio": 2.0})
    'Daily digest: acme negativity rising - 24% negative on 2026-03-06 vs 12% usual (2.0x)'
    """
    return (f"Daily digest: {escape(brand_name or notice['brand'], HEADER_LIMIT)} negativity rising - "
            f"{notice['negative_share']:.0%} negative on {escape(str(notice['day']), 20)} vs "
            f"{notice['usual_share']:.0%} usual ({notice['ratio']:.1f}x)")


def digest_blocks(notice: dict[str, Any], brand_name: str | None = None, grafana_url: str | None = None) -> list[dict[str, Any]]:
    """A digest notice as Block Kit: the headline, the trend day by day, the numbers. No buttons and no
    ping: a slow drift is for the morning review, not for on-call."""
    trend = "  ·  ".join(f"{escape(str(day), 20)[5:]} *{share:.0%}*" for day, share in notice.get("daily_shares") or [])
    body = [f":chart_with_upwards_trend: *{escape(brand_name or notice['brand'], HEADER_LIMIT)}*: "
            f"negative share {notice['negative_share']:.0%} on {escape(str(notice['day']), 20)}, "
            f"{notice['ratio']:.1f}x its usual {notice['usual_share']:.0%}",
            f"Day by day: {trend}" if trend else "",
            f"{notice.get('negatives', 0):,} negative of {notice.get('mentions', 0):,} mentions "
            f"(p={float(notice.get('p_value', 0)):.1e}); no incident paged that day."]
    out: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": cut("\n".join(x for x in body if x), SECTION_LIMIT)}}]
    if grafana_url:
        out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{grafana_url}|Open in Grafana>"}]})
    return out


_DAY_BRANDS = 45  # brands listed in a day's digest message (Slack: 50 blocks a message)


def digest_day_text(notices: list[dict[str, Any]], names: dict[str, str | None]) -> str:
    """The notification text of a day's digest message (the steepest rise first).

    >>> digest_day_text([{"brand": "acme", "day": "2026-03-06"}, {"brand": "zeta", "day": "2026-03-06"}], {})
    'Daily digest 2026-03-06: negativity rising for 2 brands - acme, zeta'
    """
    brands = ", ".join(escape(names.get(n["brand"]) or n["brand"], HEADER_LIMIT) for n in _steepest_first(notices))
    return cut(f"{_day_headline(notices)} - {brands}", 600)


def digest_day_blocks(notices: list[dict[str, Any]], names: dict[str, str | None]) -> list[dict[str, Any]]:
    """A day's digest as Block Kit: a header, then one section per brand, the steepest rise first
    (at most ``_DAY_BRANDS``, the rest counted). No buttons, no ping: for the morning review."""
    ranked = _steepest_first(notices)
    out: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": cut(_day_headline(notices), HEADER_LIMIT)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "Slow drifts over days: never paged. Each brand's "
                                          "negative share that day against its usual one, and the days before."}]}]
    for n in ranked[:_DAY_BRANDS]:
        out += digest_blocks(n, names.get(n["brand"]))
    if len(ranked) > _DAY_BRANDS:
        rest = ", ".join(escape(names.get(n["brand"]) or n["brand"], 60) for n in ranked[_DAY_BRANDS:])
        out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": cut(
            f"...and {len(ranked) - _DAY_BRANDS} more: {rest}", SECTION_LIMIT)}]})
    return out


def _day_headline(notices: list[dict[str, Any]]) -> str:
    n = len(notices)
    return f"Daily digest {escape(str(notices[0]['day']), 20)}: negativity rising for {n} brand{'s' if n > 1 else ''}"


def _steepest_first(notices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(notices, key=lambda n: (-float(n.get("ratio", 0)), n["brand"]))
