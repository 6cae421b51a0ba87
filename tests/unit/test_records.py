from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.brands import BrandMatcher
from pipeline.core.ingest import Ingestor
from pipeline.core.scoring import Score
from pipeline.errors import InvalidRecord
from pipeline.records import (
    MAX_TEXT_CHARS,
    ScoredMention,
    _fields_of,
    _scored_checked,
    dead_letter,
    decode_mention,
    decode_scored,
    encode,
    mention_from_dict,
    mention_time,
    scored_time,
)
from tests.conftest import DEMO_BRANDS

OK = {"id": "1", "text": "hello", "created_at": "2026-03-02T10:00:00Z"}


@pytest.mark.parametrize("raw, reason", [
    (b"\xff\xfe", "not valid JSON"),
    (b"[1, 2]", "expected a JSON object, got list"),
    (b'{"text": "x", "created_at": "2026-03-02T10:00:00Z"}', "id: required string, got nothing"),
    (b'{"id": 5, "text": "x", "created_at": "2026-03-02T10:00:00Z"}', "id: required string, got int"),
    (b'{"id": "1", "text": "x"}', "created_at: required RFC 3339 string, got nothing"),
    (b'{"id": "1", "text": "x", "created_at": "yesterday"}', "created_at: not an RFC 3339 time"),
    (b'{"id": "1", "text": "x", "created_at": "2026-03-02T10:00:00"}', "created_at: time has no UTC offset"),
    (b'{"id": "1", "text": "x", "created_at": "2026-03-02T10:00:00Z", "author_followers": -1}', "author_followers"),
    (b'{"id": "1", "text": "x", "created_at": "2026-03-02T10:00:00Z", "author_followers": true}', "author_followers"),
    (b'{"id": "1", "text": "x", "created_at": "2026-03-02T10:00:00Z", "brand": 3}', "brand: expected a string"),
])
def test_bad_mentions_say_what_is_wrong(raw, reason):
    with pytest.raises(InvalidRecord) as err:
        decode_mention(raw)
    assert reason in err.value.reason


def test_good_mention_round_trip():
    m = decode_mention(orjson.dumps({**OK, "author_followers": 12, "brand": "acme"}))
    assert m.ts == 1772445600.0
    assert m.to_dict() == {**OK, "author_followers": 12, "brand": "acme"}


def test_scored_needs_brand_score_and_label():
    with pytest.raises(InvalidRecord, match="brand"):
        decode_scored(orjson.dumps(OK))
    scored = {**OK, "negativity": 0.5, "sentiment": "negative", "lang": "en"}
    with pytest.raises(InvalidRecord, match="^brand: must not be empty$"):  # not "required string, got str"
        decode_scored(orjson.dumps({**scored, "brand": ""}))
    with pytest.raises(InvalidRecord, match="^brand: required string, got nothing$"):
        decode_scored(orjson.dumps(scored))
    with pytest.raises(InvalidRecord, match="negativity"):
        decode_scored(orjson.dumps({**OK, "brand": "a", "negativity": 1.5, "sentiment": "negative", "lang": "en"}))
    with pytest.raises(InvalidRecord, match="sentiment"):
        decode_scored(orjson.dumps({**OK, "brand": "a", "negativity": 0.5, "sentiment": "meh", "lang": "en"}))


def test_dead_letter_keeps_the_original_bytes():
    rec = dead_letter(b"\x00bad", "why", "mentions", 3, 42)
    assert base64.b64decode(rec["original"]) == b"\x00bad"
    assert rec["partition"] == 3 and rec["offset"] == 42


# -- the ingest hot path (mention_time + new_scored) against the field-by-field codec ----------
TIMES = st.sampled_from(["2026-03-02T10:00:00Z", "2026-03-02T10:00:00.5+02:00", "2026-03-02T10:00:00", "yesterday",
                         "", "2026-13-02T10:00:00Z", 1700000000, None])
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=3)  # orjson cannot write a lone surrogate
ANY = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False), TEXT,
                st.lists(st.integers(-9, 9), max_size=2), st.dictionaries(TEXT, st.integers(-9, 9), max_size=1))
MENTION_FIELDS = {
    "id": st.one_of(TEXT, ANY),
    "text": st.one_of(st.sampled_from(["acme air is late", "@globex meh", "x" * (MAX_TEXT_CHARS + 1)]), ANY),
    "created_at": TIMES,
    "brand": st.one_of(st.sampled_from(["", "acme", "initech"]), ANY),
    "lang": st.one_of(st.sampled_from(["en", "fr-FR", ""]), ANY),
    "author_id": st.one_of(TEXT, ANY),
    "author_followers": st.one_of(st.integers(-3, 2**40), ANY),
    "url": st.one_of(TEXT, ANY),
    "source": ANY,
    "extra": ANY,
}
VALID = st.fixed_dictionaries({"id": st.just("m1"), "text": st.sampled_from(["acme air is late", "@acme meh", ""]),
                               "created_at": st.sampled_from(["2026-03-02T09:00:00Z", "2026-03-02T09:00:00+02:00"])})
# valid mentions with some fields replaced by anything (or added), mixed in with junk JSON and junk bytes
EDITED = st.tuples(VALID, st.fixed_dictionaries({}, optional=MENTION_FIELDS)).map(lambda r: orjson.dumps({**r[0], **r[1]}))
BATCHES = st.tuples(st.lists(EDITED, max_size=5), st.lists(st.one_of(ANY.map(orjson.dumps), st.binary(max_size=20)),
                                                        max_size=2)).flatmap(lambda r: st.permutations(r[0] + r[1]))


def reference_outcome(raw: bytes, now: float, max_future_s: float) -> object:
    """What ``Ingestor.run`` gave when it built a Mention per record (decode_mention, then the brand)."""
    try:
        m = decode_mention(raw)
    except InvalidRecord as exc:
        return exc.reason
    if m.ts > now + max_future_s:
        return f"created_at: {m.created_at} is more than {max_future_s:.0f} s in the future"
    brand = m.brand or next(iter(BrandMatcher(DEMO_BRANDS).match(m.text)), None)
    if brand is None:
        return None
    return ScoredMention(id=m.id, text=m.text, created_at=m.created_at, ts=m.ts, brand=brand, negativity=0.25,
                         sentiment="neutral", lang=f"scored-{m.lang}", author_id=m.author_id,
                         author_followers=m.author_followers, url=m.url, source=m.source)


class FixedScorer:
    def score_batch(self, texts: list[str], langs: list[str | None] | None = None) -> list[Score]:
        return [Score(0.25, "neutral", f"scored-{lang}") for lang in (langs or [None] * len(texts))]


@settings(max_examples=800, deadline=None)
@given(BATCHES)
def test_ingest_gives_what_decode_mention_gives(raws):
    now = 1772440200.0  # 2026-03-02T08:30:00Z: 09:00Z is in the future, 09:00+02:00 is not
    ingestor = Ingestor(FixedScorer(), BrandMatcher(DEMO_BRANDS), max_future_s=0.0)
    got = [o.reason if isinstance(o, InvalidRecord) else o for o in ingestor.run(raws, now=now)]
    want = [reference_outcome(raw, now, 0.0) for raw in raws]
    assert got == want
    for g, w in zip(got, want, strict=True):
        if isinstance(w, ScoredMention):
            assert (g.ts, encode(g)) == (w.ts, orjson.dumps(_fields_of(w)))


def outcome_of(check: Any, record: Any) -> object:
    try:
        return check(record)
    except InvalidRecord as exc:
        return exc.reason


SCORED_VALID = st.fixed_dictionaries({"brand": st.just("acme"), "negativity": st.just(0.5),
                                      "sentiment": st.just("negative"), "lang": st.just("fr")})
SCORED_FIELDS = {**MENTION_FIELDS, "negativity": st.one_of(st.floats(-0.5, 1.5), st.just(1), ANY),
                 "sentiment": st.one_of(st.sampled_from(["negative", "neutral", "meh"]), ANY)}


@settings(max_examples=800, deadline=None)
@given(st.tuples(VALID, SCORED_VALID, st.fixed_dictionaries({}, optional=SCORED_FIELDS)))
def test_scored_time_says_what_the_field_by_field_checks_say(parts):
    record = {**parts[0], **parts[1], **parts[2]}
    assert outcome_of(scored_time, record) == outcome_of(lambda r: _scored_checked(r).ts, record)
    assert outcome_of(mention_time, record) == outcome_of(lambda r: mention_from_dict(r).ts, record)


@pytest.mark.parametrize("text", ["2026-03-01T06:00:00z", "2026-03-01t06:00:00Z", "2026-03-01 06:00:00Z",
                                  "2026-03-01T06:00:00.5+05:30", "2026-03-01T06:00:00.123456Z"])
def test_rfc3339_times_are_read_in_every_form_the_schema_allows(text):
    from datetime import datetime

    from pipeline.core.shape import aware_time
    from pipeline.records import parse_time

    expected = datetime.fromisoformat(text.upper()).timestamp()
    assert parse_time(text) == aware_time(text) == expected


@pytest.mark.parametrize("text", ["2026-03-01T06:00:00+05:30:15", "2026-03-01T06:00:00+00", "2026W091T060000Z",
                                  "20260301T060000Z", "2026-03-01T06Z", "2026-03-01T06:00:00,5Z"])
def test_other_iso_8601_forms_are_refused_as_the_schema_refuses_them(text):
    from pipeline.core.shape import aware_time
    from pipeline.errors import InvalidRecord
    from pipeline.records import parse_time

    with pytest.raises(InvalidRecord, match="not an RFC 3339 time"):
        parse_time(text)
    assert aware_time(text) is None
