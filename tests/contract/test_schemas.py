"""schemas/ is the contract: the codecs accept exactly what the schemas accept, and what the
code writes (scored mentions, dead letters, alerts) validates against them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from pipeline.core.detector import DetectorConfig
from pipeline.core.monitor import Monitor, add_mention
from pipeline.errors import InvalidRecord
from pipeline.records import dead_letter, mention_from_dict
from tests.conftest import BrandSpec, Episode, stream

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def _load(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text())


REGISTRY = Registry().with_resources(
    (s["$id"], Resource.from_contents(s)) for s in (_load(p.name) for p in SCHEMAS.glob("*.json"))
).with_resources(
    (p.name, Resource.from_contents(_load(p.name))) for p in SCHEMAS.glob("*.json")
)


def accepts(codec: Any, record: Any) -> bool:
    """Whether a hand-written codec takes the record (InvalidRecord: it refuses it)."""
    try:
        codec(record)
    except InvalidRecord:
        return False
    return True


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(_load(name), registry=REGISTRY)


@pytest.mark.parametrize("name", sorted(p.name for p in SCHEMAS.glob("*.json")))
def test_every_schema_is_a_valid_json_schema(name):
    Draft202012Validator.check_schema(_load(name))


TIMES = st.sampled_from(["2026-03-02T10:00:00Z", "2026-03-02T10:00:00.5+02:00", "2026-03-02T10:00:00-08:00",
                         "2026-03-02T10:00:00", "yesterday", "", 1700000000, None])
ANY = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False), st.text(max_size=5),
                st.lists(st.integers(), max_size=2))
FIELDS = {
    "id": st.one_of(st.text(max_size=4), ANY),
    "text": st.one_of(st.text(max_size=20), ANY),
    "created_at": TIMES,
    "brand": st.one_of(st.text(max_size=4), ANY),
    "lang": st.one_of(st.sampled_from(["en", "fr"]), ANY),
    "author_id": st.one_of(st.text(max_size=4), ANY),
    "author_followers": st.one_of(st.integers(-3, 10**9), ANY),
    "url": st.one_of(st.text(max_size=4), ANY),
    "source": ANY,
}
RECORDS = st.fixed_dictionaries({}, optional=FIELDS)


@settings(max_examples=600, deadline=None)
@given(RECORDS)
def test_mention_codec_accepts_exactly_what_the_schema_accepts(record):
    assert accepts(mention_from_dict, record) == validator("mention.schema.json").is_valid(record), record


@pytest.fixture(scope="module")
def burst():
    return stream(BrandSpec("acme", 90, episodes=(Episode("negative", 26 * 60, doubling_min=8, start_per_hour=10,
                                                          peak_min=50),)), seed=1)


def test_scored_mentions_validate(burst):
    v = validator("scored_mention.schema.json")
    for m in burst[:500]:
        v.validate(orjson.loads(orjson.dumps(m.to_dict())))


@pytest.fixture(scope="module")
def burst_alerts(burst):
    """Every alert of the burst's incident: open, escalations, and (3 quiet hours later) resolved."""
    monitor = Monitor(DetectorConfig())
    alerts = []
    for m in burst:
        add_mention(monitor, m)
        alerts += monitor.advance()
    return alerts + monitor.advance(monitor.watermark + 3 * 3600)


def test_alerts_validate(burst_alerts):
    assert {a["status"] for a in burst_alerts} == {"open", "escalated", "resolved"}
    v = validator("alert.schema.json")
    for a in burst_alerts:
        v.validate(orjson.loads(orjson.dumps(a)))
    # What the message's growth reads when no doubling time exists (a burst from nothing).
    assert all(a["evidence"]["previous_negatives"] >= 0 for a in burst_alerts)


def test_digest_notices_validate_and_their_codec_takes_them_and_rejects_junk():
    from pipeline.records import decode_digest
    from tests.unit.test_drift import _drifting, _run

    _, notices = _run(_drifting(6, [0.12, 0.12, 0.12, 0.18, 0.24, 0.30]), DetectorConfig())
    assert len(notices) >= 2
    v = validator("digest.schema.json")
    for n in notices:
        v.validate(orjson.loads(orjson.dumps(n)))
        assert decode_digest(orjson.dumps(n)) == n
    for junk in (b"[]", b"{}", orjson.dumps({**notices[0], "day": ""}), orjson.dumps({**notices[0], "ratio": "2x"}),
                 orjson.dumps({**notices[0], "at": "yesterday"})):
        assert b"yesterday" in junk or not v.is_valid(orjson.loads(junk))  # the schema states formats, not checks them
        with pytest.raises(InvalidRecord):
            decode_digest(junk)


def test_dead_letters_validate():
    validator("dlq.schema.json").validate(dead_letter(b"\xffnot json", "not valid JSON", "mentions", 0, 7))


def test_alert_codec_accepts_what_the_detector_writes_and_rejects_junk(burst_alerts):
    from pipeline.records import decode_alert

    alerts = burst_alerts
    assert alerts and all(decode_alert(orjson.dumps(a)) == a for a in alerts)
    for junk in (b"[]", b"{}", orjson.dumps({**alerts[0], "status": "maybe"}), orjson.dumps({**alerts[0], "seq": -1})):
        with pytest.raises(InvalidRecord):
            decode_alert(junk)


FEEDBACK_FIELDS = {
    "source": st.one_of(st.just("slack"), ANY),
    "action": st.one_of(st.sampled_from(["acknowledge", "not_a_crisis", "confirmed", "maybe"]), ANY),
    "incident_id": st.one_of(st.text(max_size=4), ANY),
    "brand": st.one_of(st.text(max_size=4), ANY),
    "user_id": st.one_of(st.sampled_from(["U0123ABC"]), st.text(max_size=4), ANY),
    "user_name": st.one_of(st.text(max_size=4), ANY),
    "at": TIMES,
    "channel": st.one_of(st.text(max_size=4), ANY),
    "message_ts": st.one_of(st.text(max_size=4), ANY),
    "extra": ANY,
}


@settings(max_examples=600, deadline=None)
@given(st.fixed_dictionaries({}, optional=FEEDBACK_FIELDS))
def test_feedback_codec_accepts_exactly_what_the_schema_accepts(record):
    from pipeline.records import feedback_from_dict

    assert accepts(feedback_from_dict, record) == validator("feedback.schema.json").is_valid(record), record


def test_feedback_written_by_the_interactivity_endpoint_validates():
    from pipeline.notify.interact import feedback_for
    from pipeline.notify.render import button_value

    payload = {"type": "block_actions", "user": {"id": "U0123ABC", "username": "sam"},
               "container": {"channel_id": "C0ACME", "message_ts": "1772440000.000100"},
               "actions": [{"action_id": "not_a_crisis", "value": button_value({"brand": "acme",
                                                                               "incident_id": "acme-2026-03-02T09:20:00Z"})}]}
    (record,) = feedback_for(payload, now=1772440000.0)
    validator("feedback.schema.json").validate(orjson.loads(orjson.dumps(record)))
    assert record["action"] == "not_a_crisis" and record["brand"] == "acme"


LABEL_VALUES = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.sampled_from(["negative", "neutral", "positive"]))


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({}, optional={"id": LABEL_VALUES, "text": LABEL_VALUES, "label": LABEL_VALUES,
                                           "lang": LABEL_VALUES, "source": LABEL_VALUES, "extra": LABEL_VALUES}))
def test_label_codec_accepts_exactly_what_the_schema_accepts(record):
    from pipeline.records import label_from_dict

    assert accepts(label_from_dict, record) == validator("label.schema.json").is_valid(record), record
