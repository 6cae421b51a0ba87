"""What on-call reads: hostile mention text can neither ping nor forge links."""

from __future__ import annotations

import json

import pytest

from pipeline.notify.render import blocks, escape, headline

HOSTILE = ["<!channel> refund now", "<!everyone>", "<!here|here>", "<@U123ABC> look", "<http://evil.example|bank>",
           "a & b <b>", "x" * 5000, "zero\u200bwidth <!channel>", "\u202eright-to-left <!here>"]


def alert(text: str) -> dict:
    return {"incident_id": "acme-2026-03-02T09:20:00Z", "brand": "acme", "status": "open", "seq": 1,
            "at": "2026-03-02T09:20:00Z", "opened_at": "2026-03-02T09:20:00Z", "severity": "high",
            "reason": "16 negative mentions in 20 min vs 2.6 expected",
            "evidence": {"window_minutes": 20, "observed_negatives": 16, "expected_negatives": 2.6,
                         "negative_rate_per_min": 0.8, "expected_rate_per_min": 0.13, "growth_doubling_minutes": 5.0,
                         "negative_share": 0.41, "baseline_share": 0.13, "unique_authors": 16, "mentions": 39,
                         "reach": 1234, "p_value": 1.5e-8},
            "samples": [{"id": "1", "text": text, "negativity": 0.9, "author_id": "<!channel>",
                         "author_followers": 10, "url": None}]}


@pytest.mark.parametrize("text", HOSTILE)
def test_no_control_sequence_survives(text):
    rendered = json.dumps(blocks(alert(text)), ensure_ascii=False)
    for seq in ("<!", "<@", "<http"):
        assert seq not in rendered
    for block in blocks(alert(text)):
        body = block.get("text", {}).get("text", "")
        assert len(body) <= 3000


def test_escape_never_cuts_an_entity():
    out = escape("<" * 10, limit=12)
    assert out.endswith("…") and "&l…" not in out and "&lt…" not in out


def test_headline_and_blocks_carry_the_numbers():
    a = alert("awful")
    assert "HIGH" in headline(a, "Acme Air") and "Acme Air" in headline(a, "Acme Air")
    text = json.dumps(blocks(a, "Acme Air"))
    assert "0.80 now vs 0.13 expected" in text and "doubling every 5 min" in text and "41%" in text
