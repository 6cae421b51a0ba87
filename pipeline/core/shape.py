"""The cheap shape test of a valid mention or scored mention: the per-record check of the hot paths.

``records.mention_time`` and ``records.scored_time`` ask here first. A record that passes has the
types the schema asks for and its event time comes back; anything else returns None and goes
through the field-by-field checks in ``records``, which say what is wrong (tests/unit/test_records.py
checks that both agree on any record). Plain Python kept apart from ``records`` so that mypyc can
compile it with the detection core: ``records`` itself cannot be (its constructors set slots directly).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final

SENTIMENTS: Final = ("negative", "neutral", "positive")
MAX_TEXT_CHARS: Final = 20_000


#: RFC 3339's date-time (section 5.6), the offset optional here so that a missing one gets its own
#: message: ``datetime.fromisoformat`` alone also takes ISO 8601's other forms (week dates, basic
#: format, hours only), which the schema refuses.
_RFC3339: Final = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?")


def rfc3339(text: str) -> datetime | None:
    """``text`` as a datetime if it is an RFC 3339 date-time (lower-case ``t``/``z`` too), else None."""
    if _RFC3339.fullmatch(text) is None:
        return None
    try:
        return datetime.fromisoformat(text.upper())
    except ValueError:
        return None


def aware_time(created: Any) -> float | None:
    """Seconds since the epoch of an RFC 3339 string with an offset, else None (``parse_time`` says why).

    The usual form, ``YYYY-MM-DDTHH:MM:SS[.fff|.ffffff]Z``, is read from its hour's start (looked up
    by the first 13 characters, learned from ``datetime`` the first time) plus its minutes, seconds
    and fraction, in exact integer microseconds over 10**6 as ``datetime.timestamp`` computes them:
    the same float, without building a datetime. Anything else goes through ``datetime``.

    >>> aware_time("2026-03-02T10:15:07.016Z") == datetime.fromisoformat("2026-03-02T10:15:07.016Z").timestamp()
    True
    >>> aware_time("2026-03-02T10:15:60Z") is None, aware_time("2026-03-02T10:15:07") is None
    (True, True)
    """
    if type(created) is not str:
        return None
    n = len(created)
    if (n == 24 or n == 20 or n == 27) and created[n - 1] == "Z" and created[13] == ":" and created[16] == ":":
        start = _HOUR_STARTS.get(created[:13])
        if start is not None:
            minute, second = _digits(created, 14, 2), _digits(created, 17, 2)
            micros = 0 if n == 20 else _digits(created, 20, n - 21) if created[19] == "." else -1
            if 0 <= minute < 60 and 0 <= second < 60 and micros >= 0:
                if n == 24:
                    micros *= 1000
                return (start + (minute * 60 + second) * 1_000_000 + micros) / 1_000_000
    parsed = rfc3339(created)
    if parsed is None or parsed.tzinfo is None:
        return None
    if (n in (20, 24, 27) and created[n - 1] == "Z" and created[4] == "-" and created[7] == "-"
            and created[10] == "T" and created[13] == ":" and created[16] == ":"):  # the usual form: learn its hour
        if len(_HOUR_STARTS) >= _MAX_HOURS:
            _HOUR_STARTS.clear()
        _HOUR_STARTS[created[:13]] = int(parsed.replace(minute=0, second=0, microsecond=0).timestamp()) * 1_000_000
    return parsed.timestamp()


def _digits(text: str, first: int, count: int) -> int:
    """The number ``text[first:first + count]`` writes in ASCII digits, -1 if a character is not one."""
    value = 0
    for k in range(first, first + count):
        d = ord(text[k]) - 48
        if d < 0 or d > 9:
            return -1
        value = value * 10 + d
    return value


_MAX_HOURS: Final = 4096  # hours whose start is kept: a stream's mentions fall in a few recent ones
_HOUR_STARTS: Final[dict[str, int]] = {}  # "YYYY-MM-DDTHH" (as a parsed UTC time began) -> its epoch microseconds


def shared_fields_ok(obj: dict[str, Any]) -> bool:
    """The fields Mention and ScoredMention share, ``created_at`` apart."""
    i, text = obj.get("id"), obj.get("text")
    if type(i) is not str or not i or type(text) is not str or len(text) > MAX_TEXT_CHARS:
        return False
    author, followers = obj.get("author_id"), obj.get("author_followers")
    url, source = obj.get("url"), obj.get("source")
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
    fields = scored_fields(obj)
    return fields[1] if fields[0] else None


def scored_fields(obj: Any) -> tuple[bool, float, str, str, str, bool, str | None, int | None]:
    """``(ok, ts, brand, id, text, negative, author_id, author_followers)`` of a valid
    ScoredMention, ``ok`` False if anything looks off (the other fields are then placeholders).

    The check reads each field once and hands it on, so the counting that follows does not look
    the fields up again; compiled, a fixed-size tuple is a C struct (nothing allocated).
    """
    if type(obj) is dict:
        d: dict[str, Any] = obj
        brand, neg, sentiment = d.get("brand"), d.get("negativity"), d.get("sentiment")
        if (type(brand) is str and brand and type(neg) is float and 0.0 <= neg <= 1.0
                and sentiment in SENTIMENTS and type(d.get("lang")) is str):
            i, text = d.get("id"), d.get("text")
            author, followers = d.get("author_id"), d.get("author_followers")
            url, source = d.get("url"), d.get("source")
            if (type(i) is str and i and type(text) is str and len(text) <= MAX_TEXT_CHARS  # shared_fields_ok, inlined
                    and (author is None or type(author) is str)
                    and (followers is None or (type(followers) is int and followers >= 0))
                    and (url is None or type(url) is str) and (source is None or type(source) is str)):
                ts = aware_time(d.get("created_at"))
                if ts is not None:
                    return True, ts, brand, i, text, sentiment == "negative", author, followers
    return False, 0.0, "", "", "", False, None, None
