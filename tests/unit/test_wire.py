"""The typed decoder of the detect hot path (``core.wire``) against the field-by-field checks of
``records``: it may only take what they take, with the same values, and must take the usual record."""

from __future__ import annotations

import json

import msgspec
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.detector import DetectorConfig
from pipeline.core.monitor import Monitor, count_json_lines
from pipeline.core.shape import aware_time
from pipeline.core.wire import SCORED
from pipeline.errors import InvalidRecord
from pipeline.records import _scored_checked, load_json
from tests.unit.test_records import SCORED_FIELDS, SCORED_VALID, VALID

FIELDS = ("id", "text", "created_at", "brand", "negativity", "sentiment", "lang", "author_id", "author_followers",
          "url", "source")
# follower counts either side of int64's and uint64's ends (orjson reads beyond 2**64 - 1 as a float)
BIG = st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**70])
WIRE_FIELDS = {**SCORED_FIELDS, "author_followers": st.one_of(SCORED_FIELDS["author_followers"], BIG)}


def wire_reading(raw: bytes) -> tuple[object, ...] | None:
    """The fields and event time the hot path counts, None where it hands the record to ``records``."""
    try:
        s = SCORED.decode(raw)
    except msgspec.DecodeError:
        return None
    ts = aware_time(s.created_at)
    return None if ts is None else (ts, *(getattr(s, f) for f in FIELDS))


@settings(max_examples=1500, deadline=None)
@given(st.tuples(VALID, SCORED_VALID, st.fixed_dictionaries({}, optional=WIRE_FIELDS)))
def test_what_the_typed_decoder_takes_the_field_by_field_checks_take_with_the_same_values(parts):
    raw = json.dumps({**parts[0], **parts[1], **parts[2]}).encode()  # orjson cannot write 2**64
    try:
        m = _scored_checked(load_json(raw))
    except InvalidRecord:
        m = None
    got = wire_reading(raw)
    if m is None:
        assert got is None
    elif got is None:  # only a count msgspec cannot bound is left to the dict path, which takes it
        assert m.author_followers is not None and m.author_followers > 2**63 - 1
    else:
        assert got == (m.ts, *(getattr(m, f) for f in FIELDS))
        assert all(type(a) is type(b) for a, b in zip(got, (m.ts, *(getattr(m, f) for f in FIELDS)), strict=True))


def test_the_usual_record_and_its_variants_are_taken_by_the_typed_decoder():
    base = {"id": "m1", "text": "@acme late again", "created_at": "2026-03-02T10:00:00.123Z", "brand": "acme",
            "negativity": 0.9, "sentiment": "negative", "lang": "en"}
    for extra in ({}, {"author_id": "u1", "author_followers": 12, "url": "https://x.test/1", "source": "sim"},
                  {"author_followers": None, "unknown_field": [1, 2]}, {"negativity": 1}):
        assert wire_reading(orjson.dumps({**base, **extra}) + b"\n") is not None, extra


def test_detect_counts_a_record_the_typed_decoder_leaves_to_the_dict_path():
    """A follower count beyond int64 is valid: the loop must count it through the dict path, not lose it."""
    lines = [orjson.dumps({"id": str(k), "text": f"@acme late again {k}", "created_at": f"2026-03-02T10:00:{k:02d}Z",
                           "brand": "acme", "negativity": 0.9, "sentiment": "negative", "lang": "en",
                           "author_id": f"u{k}", "author_followers": 2**63 + k}) for k in range(3)]
    assert all(wire_reading(line) is None for line in lines)
    monitor = Monitor(DetectorConfig())
    count_json_lines(monitor, lines, lambda alert: None)
    assert monitor.add_scored("acme", 1772445602.0, True, "u2", "@acme late again 2", 0, uid="2") == "duplicate"
