"""Record shapes of every topic, as frozen dataclasses, and their bytes <-> record codecs.

The JSON Schemas in ``schemas/`` are the contract; ``tests/contract`` checks that these codecs
accept exactly what the schemas accept. Validation is hand-written (not jsonschema) because it
sits on the hot path: one ``orjson.loads`` and a few type checks per mention.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from pipeline.core.shape import MAX_TEXT_CHARS, SENTIMENTS, mention_time_or_none, rfc3339, scored_time_or_none
from pipeline.errors import InvalidRecord

ALERT_STATUSES = ("open", "escalated", "resolved")
SEVERITIES = ("warning", "high", "critical")
FEEDBACK_ACTIONS = ("acknowledge", "not_a_crisis", "confirmed")
_OPTIONAL_STR = ("brand", "lang", "author_id", "url", "source")


def parse_time(value: Any, field_name: str = "created_at") -> float:
    """RFC 3339 text -> seconds since the epoch; a time without an offset is refused.

    >>> parse_time("2026-01-01T00:00:10Z")
    1767225610.0
    >>> parse_time("2026-01-01T01:00:10+01:00")
    1767225610.0
    """
    if not isinstance(value, str):
        raise InvalidRecord(f"{field_name}: required RFC 3339 string, got {_kind(value)}")
    parsed = rfc3339(value)
    if parsed is None:
        raise InvalidRecord(f"{field_name}: not an RFC 3339 time: {value[:40]!r}")
    if parsed.tzinfo is None:
        raise InvalidRecord(f"{field_name}: time has no UTC offset: {value[:40]!r}")
    return parsed.timestamp()


def format_time(ts: float) -> str:
    """Seconds since the epoch -> RFC 3339 in UTC with a ``Z``.

    >>> format_time(1767225610.0)
    '2026-01-01T00:00:10Z'
    """
    text = datetime.fromtimestamp(ts, tz=UTC).isoformat()
    if text.endswith("+00:00"):
        text = text[:-6] + "Z"
    return text


@dataclass(frozen=True, slots=True)
class Mention:
    """One social-media post that may be about a brand (topic ``mentions``)."""

    id: str
    text: str
    created_at: str
    ts: float = field(compare=False)
    brand: str | None = None
    lang: str | None = None
    author_id: str | None = None
    author_followers: int | None = None
    url: str | None = None
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _fields_of(self)


@dataclass(frozen=True, slots=True)
class ScoredMention:
    """A mention attributed to a brand and scored (topic ``mentions.scored``, keyed by brand)."""

    id: str
    text: str
    created_at: str
    ts: float = field(compare=False)
    brand: str
    negativity: float
    sentiment: str
    lang: str
    author_id: str | None = None
    author_followers: int | None = None
    url: str | None = None
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON fields in slot order, written out: 3x faster than ``_fields_of``'s loop, and
        ``encode`` runs it once per scored mention. The required fields are never None."""
        out = {"id": self.id, "text": self.text, "created_at": self.created_at, "brand": self.brand,
               "negativity": self.negativity, "sentiment": self.sentiment, "lang": self.lang}
        if self.author_id is not None:
            out["author_id"] = self.author_id
        if self.author_followers is not None:
            out["author_followers"] = self.author_followers
        if self.url is not None:
            out["url"] = self.url
        if self.source is not None:
            out["source"] = self.source
        return out


def _fields_of(record: Mention | ScoredMention) -> dict[str, Any]:
    """The record's JSON fields (``ts`` is derived, ``None`` means absent)."""
    return {name: value for name in record.__slots__ if name != "ts"
            and (value := getattr(record, name)) is not None}


def _slot_setters(cls: Any) -> tuple[Any, ...]:
    return tuple(getattr(cls, name).__set__ for name in cls.__slots__)


_new = object.__new__
(_m_id, _m_text, _m_created, _m_ts, _m_brand, _m_lang, _m_author, _m_followers, _m_url,
 _m_source) = _slot_setters(Mention)
(_s_id, _s_text, _s_created, _s_ts, _s_brand, _s_negativity, _s_sentiment, _s_lang, _s_author, _s_followers,
 _s_url, _s_source) = _slot_setters(ScoredMention)


def new_mention(id: str, text: str, created_at: str, ts: float, brand: str | None, lang: str | None,
                author_id: str | None, author_followers: int | None, url: str | None,
                source: str | None) -> Mention:
    """``Mention(...)`` for checked values, by its slots: a frozen dataclass's ``__init__`` costs
    ~3x more (a ``object.__setattr__`` call per field), and the hot path builds one per mention."""
    m = _new(Mention)
    _m_id(m, id), _m_text(m, text), _m_created(m, created_at), _m_ts(m, ts), _m_brand(m, brand)
    _m_lang(m, lang), _m_author(m, author_id), _m_followers(m, author_followers), _m_url(m, url)
    _m_source(m, source)
    return m


def new_scored(id: str, text: str, created_at: str, ts: float, brand: str, negativity: float, sentiment: str,
               lang: str, author_id: str | None, author_followers: int | None, url: str | None,
               source: str | None) -> ScoredMention:
    """``ScoredMention(...)`` for checked values, by its slots (see ``new_mention``)."""
    m = _new(ScoredMention)
    _s_id(m, id), _s_text(m, text), _s_created(m, created_at), _s_ts(m, ts), _s_brand(m, brand)
    _s_negativity(m, negativity), _s_sentiment(m, sentiment), _s_lang(m, lang), _s_author(m, author_id)
    _s_followers(m, author_followers), _s_url(m, url), _s_source(m, source)
    return m


def mention_from_dict(obj: Any) -> Mention:
    """Check a decoded JSON value against the Mention schema; InvalidRecord says what is wrong."""
    if not isinstance(obj, dict):
        raise InvalidRecord(f"mention: expected a JSON object, got {type(obj).__name__}")
    for name in ("id", "text"):
        value = obj.get(name)
        if not isinstance(value, str):
            raise InvalidRecord(f"{name}: required string, got {_kind(value)}")
    if not obj["id"]:
        raise InvalidRecord("id: must not be empty")
    if len(obj["text"]) > MAX_TEXT_CHARS:
        raise InvalidRecord(f"text: longer than {MAX_TEXT_CHARS} characters ({len(obj['text'])})")
    ts = parse_time(obj.get("created_at"))
    for name in _OPTIONAL_STR:
        value = obj.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidRecord(f"{name}: expected a string, got {_kind(value)}")
    followers = obj.get("author_followers")
    if followers is not None and (isinstance(followers, bool) or not isinstance(followers, int) or followers < 0):
        raise InvalidRecord(f"author_followers: expected a non-negative integer, got {followers!r:.40}")
    return new_mention(obj["id"], obj["text"], obj["created_at"], ts, obj.get("brand") or None, obj.get("lang"),
                       obj.get("author_id"), followers, obj.get("url"), obj.get("source"))


def mention_time(obj: Any) -> float:
    """Check a decoded JSON value against the Mention schema; return its event time.

    The ingest hot path, which reads the checked dict directly: the common, valid record passes
    the cheap test of ``core.shape``; anything else goes through ``mention_from_dict``, which says
    what is wrong.
    """
    ts = mention_time_or_none(obj)
    return ts if ts is not None else mention_from_dict(obj).ts


def scored_time(obj: Any) -> float:
    """Check a decoded JSON value against the ScoredMention schema; return its event time.

    The hot path of ``buzzwatch detect`` and the detect agent, which read the checked dict
    directly: the common, valid record passes the cheap test of ``core.shape``; anything else goes
    through the field-by-field checks, which say what is wrong.
    """
    ts = scored_time_or_none(obj)
    return ts if ts is not None else _scored_checked(obj).ts


def scored_from_dict(obj: Any) -> ScoredMention:
    """Check a decoded JSON value against the ScoredMention schema."""
    ts = scored_time(obj)
    get = obj.get
    return new_scored(obj["id"], obj["text"], obj["created_at"], ts, obj["brand"], float(obj["negativity"]),
                      obj["sentiment"], obj["lang"], get("author_id"), get("author_followers"), get("url"),
                      get("source"))


def _scored_checked(obj: Any) -> ScoredMention:
    base = mention_from_dict(obj)
    if not base.brand:  # mention_from_dict made "" None: say which
        raise InvalidRecord("brand: must not be empty" if obj.get("brand") == ""
                            else f"brand: required string, got {_kind(obj.get('brand'))}")
    negativity = obj.get("negativity")
    if isinstance(negativity, bool) or not isinstance(negativity, int | float) or not 0.0 <= negativity <= 1.0:
        raise InvalidRecord(f"negativity: expected a number in [0, 1], got {negativity!r:.40}")
    sentiment = obj.get("sentiment")
    if sentiment not in SENTIMENTS:
        raise InvalidRecord(f"sentiment: expected one of {', '.join(SENTIMENTS)}, got {sentiment!r:.40}")
    if not isinstance(obj.get("lang"), str):
        raise InvalidRecord(f"lang: required string, got {_kind(obj.get('lang'))}")
    return new_scored(base.id, base.text, base.created_at, base.ts, base.brand, float(negativity), sentiment,
                      obj["lang"], base.author_id, base.author_followers, base.url, base.source)


def decode_mention(raw: bytes) -> Mention:
    """Bytes from the ``mentions`` topic -> Mention, or InvalidRecord with the reason."""
    return mention_from_dict(load_json(raw))


def decode_scored(raw: bytes) -> ScoredMention:
    """Bytes from the ``mentions.scored`` topic -> ScoredMention, or InvalidRecord."""
    return scored_from_dict(load_json(raw))


def decode_alert(raw: bytes) -> dict[str, Any]:
    """Bytes from the ``alerts`` topic -> the alert dict, checked for what delivery relies on."""
    obj = load_json(raw)
    if not isinstance(obj, dict):
        raise InvalidRecord(f"alert: expected a JSON object, got {type(obj).__name__}")
    for name in ("incident_id", "brand", "reason", "at", "severity"):
        if not isinstance(obj.get(name), str):
            raise InvalidRecord(f"{name}: required string, got {_kind(obj.get(name))}")
    if obj.get("status") not in ALERT_STATUSES:
        raise InvalidRecord(f"status: expected one of {', '.join(ALERT_STATUSES)}, got {obj.get('status')!r:.40}")
    if obj.get("severity") not in SEVERITIES:
        raise InvalidRecord(f"severity: expected one of {', '.join(SEVERITIES)}, got {obj.get('severity')!r:.40}")
    seq = obj.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise InvalidRecord(f"seq: expected a non-negative integer, got {seq!r:.40}")
    if not isinstance(obj.get("evidence"), dict) or not isinstance(obj.get("samples"), list):
        raise InvalidRecord("evidence and samples: required (an object and a list)")
    return obj


def decode_digest(raw: bytes) -> dict[str, Any]:
    """Bytes from the ``digest`` topic -> the notice, checked for what delivery relies on."""
    obj = load_json(raw)
    if not isinstance(obj, dict):
        raise InvalidRecord(f"digest: expected a JSON object, got {type(obj).__name__}")
    for name in ("brand", "day", "reason"):
        if not isinstance(obj.get(name), str) or not obj[name]:
            raise InvalidRecord(f"{name}: required non-empty string, got {_kind(obj.get(name))}")
    parse_time(obj.get("at"), "at")
    for name in ("negative_share", "usual_share", "ratio"):
        value = obj.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise InvalidRecord(f"{name}: expected a non-negative number, got {value!r:.40}")
    if not isinstance(obj.get("daily_shares"), list):
        raise InvalidRecord("daily_shares: required list")
    return obj


def feedback_from_dict(obj: Any) -> dict[str, Any]:
    """Check a decoded JSON value against the Feedback schema (a Slack button press)."""
    if not isinstance(obj, dict):
        raise InvalidRecord(f"feedback: expected a JSON object, got {type(obj).__name__}")
    unknown = set(obj) - {"source", "action", "incident_id", "brand", "user_id", "user_name", "at", "channel",
                          "message_ts"}
    if unknown:
        raise InvalidRecord(f"feedback: unknown fields {sorted(unknown)}")
    if obj.get("source") != "slack":
        raise InvalidRecord(f"source: expected 'slack', got {obj.get('source')!r:.40}")
    if obj.get("action") not in FEEDBACK_ACTIONS:
        raise InvalidRecord(f"action: expected one of {', '.join(FEEDBACK_ACTIONS)}, got {obj.get('action')!r:.40}")
    for name in ("incident_id", "brand", "user_id"):
        if not isinstance(obj.get(name), str) or not obj[name]:
            raise InvalidRecord(f"{name}: required non-empty string, got {_kind(obj.get(name))}")
    for name in ("user_name", "channel", "message_ts"):
        if obj.get(name) is not None and not isinstance(obj[name], str):
            raise InvalidRecord(f"{name}: expected a string, got {_kind(obj[name])}")
    parse_time(obj.get("at"), "at")
    return obj


def decode_feedback(raw: bytes) -> dict[str, Any]:
    """Bytes from the ``feedback`` topic -> the feedback dict, or InvalidRecord."""
    return feedback_from_dict(load_json(raw))


def encode(record: Mention | ScoredMention | dict[str, Any]) -> bytes:
    """Any record -> compact JSON bytes."""
    return orjson.dumps(record if isinstance(record, dict) else record.to_dict())


DLQ_MAX_ORIGINAL = 512 * 1024  # bytes kept of a dead letter's original: base64 of it still fits a 1 MB request


def dead_letter(raw: bytes, reason: str, topic: str, partition: int, offset: int,
                max_original: int = DLQ_MAX_ORIGINAL) -> dict[str, Any]:
    """The ``mentions.dlq`` record: the original bytes (base64), why, and where they came from.

    An original longer than ``max_original`` is cut (and the reason says so): whole, a 1 MB record
    would not fit the producer's request size, and a dead letter that cannot be written stops the stream.

    >>> rec = dead_letter(b"x" * 10, "text: too long", "mentions", 0, 5, max_original=4)
    >>> rec["reason"], rec["original"]
    ('text: too long (original cut to its first 4 of 10 bytes)', 'eHh4eA==')
    """
    if len(raw) > max_original:
        reason = f"{reason} (original cut to its first {max_original} of {len(raw)} bytes)"
        raw = raw[:max_original]
    return {
        "reason": reason,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "original": base64.b64encode(raw).decode("ascii"),
    }


def load_json(raw: bytes) -> Any:
    """Bytes -> the JSON value; InvalidRecord (the dead letter's reason) when not JSON or not UTF-8."""
    try:
        return orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise InvalidRecord(f"not valid JSON (or not UTF-8): {exc}") from None


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def label_from_dict(obj: Any) -> dict[str, Any]:
    """Check a decoded JSON value against the Label schema (a labelled text the scorer learns from)."""
    if not isinstance(obj, dict):
        raise InvalidRecord(f"label: expected a JSON object, got {type(obj).__name__}")
    unknown = set(obj) - {"id", "text", "label", "lang", "source"}
    if unknown:
        raise InvalidRecord(f"label: unknown field(s) {', '.join(sorted(unknown))}")
    for name, limit in (("id", 200), ("text", MAX_TEXT_CHARS)):
        value = obj.get(name)
        if not isinstance(value, str) or not value:
            raise InvalidRecord(f"{name}: required non-empty string, got {_kind(value)}")
        if len(value) > limit:
            raise InvalidRecord(f"{name}: longer than {limit} characters ({len(value)})")
    if obj.get("label") not in SENTIMENTS:
        raise InvalidRecord(f"label: expected one of {', '.join(SENTIMENTS)}, got {obj.get('label')!r:.40}")
    for name in ("lang", "source"):
        value = obj.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidRecord(f"{name}: expected a string, got {_kind(value)}")
    return obj


def is_label(obj: Any) -> bool:
    """A ``feedback`` topic record is a Label (for the scorer) when it carries a ``label`` field."""
    return isinstance(obj, dict) and "label" in obj


def is_label_bytes(raw: bytes) -> bool:
    """Cheap test on a ``feedback`` record's bytes: is it a Label (for the scorer)? Labels carry a
    top-level ``label`` field, Slack button presses never do."""
    if b'"label"' not in raw:
        return False
    try:
        return is_label(orjson.loads(raw))
    except orjson.JSONDecodeError:
        return False
