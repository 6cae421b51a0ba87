"""The cheap shape test of a valid mention or scored mention: the per-record check of the hot paths.

``records.mention_time`` and ``records.scored_time`` ask here first. A record that passes has the
types the schema asks for and its event time comes back; anything else returns None and goes
through the field-by-field checks in ``records``, which say what is wrong (tests/unit/test_records.py
checks that both agree on any record). Plain Python kept apart from ``records`` so that mypyc can
compile it with the detection core: ``records`` itself cannot be (its constructors set slots directly).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

SENTIMENTS = ("negative", "neutral", "positive")
MAX_TEXT_CHARS = 20_000


def aware_time(created: Any) -> float | None:
    """Seconds since the epoch of an RFC 3339 string with an offset, else None (``parse_time`` says why)."""
    if type(created) is not str:
        return None
    try:
        parsed = datetime.fromisoformat(created)
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


def shared_fields_ok(obj: dict[str, Any]) -> bool:
    """The fields Mention and ScoredMention share, ``created_at`` apart."""
    i, text = obj.get("id"), obj.get("text")
    if type(i) is not str or not i or type(text) is not str or len(text) > MAX_TEXT_CHARS:
        return False
    author, followers, url, source = obj.get("author_id"), obj.get("author_followers"), obj.get("url"), obj.get("source")
    return ((author is None or type(author) is str)
            and (followers is None or (type(followers) is int and followers >= 0))
            and (url is None or type(url) is str) and (source is None or type(source) is str))


def mention_time_or_none(obj: Any) -> float | None:
    """The event time of a valid Mention, None if anything looks off."""
    if type(obj) is not dict:
        return None
    d: dict[str, Any] = obj  # typed: compiled, its lookups are direct dict reads
    brand, lang = d.get("brand"), d.get("lang")
    if (brand is None or type(brand) is str) and (lang is None or type(lang) is str) and shared_fields_ok(d):
        return aware_time(d.get("created_at"))
    return None


def scored_time_or_none(obj: Any) -> float | None:
    """The event time of a valid ScoredMention, None if anything looks off."""
    if type(obj) is not dict:
        return None
    d: dict[str, Any] = obj
    brand, neg = d.get("brand"), d.get("negativity")
    if (type(brand) is str and brand and type(neg) is float and 0.0 <= neg <= 1.0
            and d.get("sentiment") in SENTIMENTS and type(d.get("lang")) is str and shared_fields_ok(d)):
        return aware_time(d.get("created_at"))
    return None
