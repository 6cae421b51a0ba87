from __future__ import annotations

import base64

import orjson
import pytest

from pipeline.errors import InvalidRecord
from pipeline.records import dead_letter, decode_mention, decode_scored

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
    with pytest.raises(InvalidRecord, match="negativity"):
        decode_scored(orjson.dumps({**OK, "brand": "a", "negativity": 1.5, "sentiment": "negative", "lang": "en"}))
    with pytest.raises(InvalidRecord, match="sentiment"):
        decode_scored(orjson.dumps({**OK, "brand": "a", "negativity": 0.5, "sentiment": "meh", "lang": "en"}))


def test_dead_letter_keeps_the_original_bytes():
    rec = dead_letter(b"\x00bad", "why", "mentions", 3, 42)
    assert base64.b64decode(rec["original"]) == b"\x00bad"
    assert rec["partition"] == 3 and rec["offset"] == 42
