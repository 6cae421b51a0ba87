"""The labelled suite: valid records, deterministic, and the truth says where things happen."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from pipeline import cli
from pipeline.records import parse_time, scored_from_dict
from pipeline.sim import scenarios
from pipeline.sim.scenarios import make_suite

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


@pytest.fixture(scope="module")
def suite() -> scenarios.Suite:
    return make_suite(seed=5, days=4, scale=0.1)


def _minutes(suite: scenarios.Suite, brand: str, a: str, b: str, rows=None) -> list[dict]:
    lo, hi = parse_time(a), parse_time(b)
    return [r for r in (rows or suite.rows) if r["brand"] == brand and lo <= parse_time(r["created_at"]) < hi]


def test_rows_validate_against_the_scored_mention_schema(suite):
    docs = {p.name: json.loads(p.read_text()) for p in SCHEMAS.glob("*.json")}
    registry = Registry().with_resources((name, Resource.from_contents(d)) for name, d in docs.items())
    validator = Draft202012Validator(docs["scored_mention.schema.json"], registry=registry)
    for row in suite.rows[::50]:
        validator.validate(row)
        scored_from_dict(row)
    assert len({r["id"] for r in suite.rows}) == len(suite.rows)


def test_the_label_and_the_negativity_agree(suite):
    # The detector counts sentiment == "negative", the oracle negativity >= 0.5: the same mentions.
    assert all((r["negativity"] >= 0.5) == (r["sentiment"] == "negative") for r in suite.rows)


def test_same_seed_same_suite_other_seed_other_suite():
    a, b = make_suite(seed=9, days=3, scale=0.05), make_suite(seed=9, days=3, scale=0.05)
    assert a.rows == b.rows and a.truth == b.truth
    assert make_suite(seed=10, days=3, scale=0.05).rows != a.rows


def test_every_kind_of_episode_is_in_the_suite_after_the_warm_up(suite):
    kinds = Counter(e["kind"] for e in suite.truth["episodes"])
    assert set(kinds) == {"negative_burst", "positive_viral", "news_spike", "bot_flood", "drift", "chronic"}
    doublings = {e["doubling_minutes"] for e in suite.truth["episodes"] if e["kind"] == "negative_burst"}
    assert doublings == {5, 15, 45}
    assert any(e["tier"] == "tiny" for e in suite.truth["episodes"] if e["kind"] == "negative_burst")
    start, end = parse_time(suite.truth["start"]), parse_time(suite.truth["end"])
    for e in suite.truth["episodes"]:
        if e["kind"] not in ("chronic", "drift"):
            assert start + 2 * 86400 <= parse_time(e["onset"]) < parse_time(e["peak"]) <= parse_time(e["end"]) < end


def test_a_negative_burst_raises_the_negatives_above_the_true_baseline_and_grows(suite):
    total_observed = total_expected = early = late = 0.0
    for e in (e for e in suite.truth["episodes"] if e["kind"] == "negative_burst"):
        rows = _minutes(suite, e["brand"], e["onset"], e["end"])
        times = [parse_time(r["created_at"]) for r in rows if r["sentiment"] == "negative"]
        onset = (parse_time(e["onset"]) - parse_time(e["baseline_from"])) // 60
        expected = sum(e["baseline_negatives"][int(onset):])
        assert len(times) > expected, e["id"]
        total_observed += len(times)
        total_expected += expected
        mid, peak = (parse_time(e["onset"]) + parse_time(e["peak"])) / 2, parse_time(e["peak"])
        early += sum(t < mid for t in times)
        late += sum(mid <= t < peak for t in times)
    assert total_observed > 5 * total_expected + 20
    assert late > 2 * early  # accelerating: the second half of the rise holds far more


def test_a_bot_flood_comes_from_few_authors(suite):
    floods = [e for e in suite.truth["episodes"] if e["kind"] == "bot_flood"]
    assert floods
    for e in floods:
        rows = _minutes(suite, e["brand"], e["onset"], e["end"])
        flood = [r for r in rows if r["author_id"].startswith(("bot", "angry-"))]
        assert len(flood) >= 10
        assert len({r["author_id"] for r in flood}) <= e["authors"] <= 4


def test_arrival_is_out_of_order_but_at_most_ten_minutes_late(suite):
    ahead, late = float("-inf"), []
    for r in suite.rows:
        ts = parse_time(r["created_at"])
        late.append(ahead - ts)
        ahead = max(ahead, ts)
    assert sum(x > 0 for x in late) > len(late) // 50  # a few seconds of disorder, everywhere
    assert 60 < max(late) <= 600 + 240  # up to 10 minutes (+ a reply cluster's spread)


def test_a_chronic_brand_is_steadily_negative_and_a_drift_grows(suite):
    truth = suite.truth
    chronic = next(e for e in truth["episodes"] if e["kind"] == "chronic")
    rows = [r for r in suite.rows if r["brand"] == chronic["brand"]]
    assert sum(r["sentiment"] == "negative" for r in rows) / len(rows) > 0.35
    drift = next(b for b in truth["brands"] if b["drift"])
    model = scenarios.brand_model(drift)
    a, b, _ = drift["drift"]
    assert model.shares(b)[0] > model.shares(a)[0] + 0.1


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="days"):
        make_suite(days=2)
    with pytest.raises(ValueError, match="scale"):
        make_suite(scale=0)


def test_simulate_writes_the_suite_and_its_truth(tmp_path, capsys):
    out, truth = tmp_path / "s.jsonl", tmp_path / "t.json"
    args = ["simulate", "--scenario", "suite", "--days", "3", "--scale", "0.05", "--seed", "4"]
    assert cli.main([*args, "-o", str(out), "--truth", str(truth)]) == 0
    expected = make_suite(seed=4, days=3, scale=0.05)
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == [r["id"] for r in expected.rows]
    assert json.loads(truth.read_text())["episodes"] == expected.truth["episodes"]


@pytest.mark.parametrize("args, message", [
    (["--truth", "x.json"], "suite only"),
    (["--scenario", "suite", "--days", "1"], "--days"),
    (["--scenario", "suite", "--scale", "-1"], "--scale"),
])
def test_simulate_refuses_bad_arguments_with_exit_2(args, message, capsys):
    assert cli.main(["simulate", *args]) == 2
    assert message in capsys.readouterr().err
