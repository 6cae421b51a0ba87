"""Matching incidents to episodes, the oracle and the Prometheus rule, on hand-built inputs."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from pipeline.records import format_time, parse_time
from pipeline.sim import evaluate as ev

T0 = parse_time("2026-03-02T00:00:00Z")


def at(minute: float) -> str:
    return format_time(T0 + minute * 60)


def inc(brand: str, minute: float, n: int = 0) -> dict:
    return {"brand": brand, "at": T0 + minute * 60, "id": f"{brand}-{minute}-{n}"}


def burst(ident: str, brand: str, onset: int, peak: int, end: int) -> dict:
    return {"id": ident, "brand": brand, "kind": "negative_burst", "onset": at(onset), "peak": at(peak),
            "end": at(end)}


# Two weeks, four brands; warm-up the first day.
#   a: burst b1 [3000, 3100) peak 3060         b: burst b2 [5000, 5060) peak 5030
#   c: positive viral [4000, 4100)             d: chronic all along
TRUTH = {
    "start": at(0), "end": at(14 * 1440), "days": 14, "warmup_minutes": 1440, "match_slack_minutes": 30,
    "brands": [{"id": x} for x in "abcd"],
    "episodes": [
        burst("b1", "a", 3000, 3060, 3100), burst("b2", "b", 5000, 5030, 5060),
        {"id": "v", "brand": "c", "kind": "positive_viral", "onset": at(4000), "peak": at(4030), "end": at(4100)},
        {"id": "ch", "brand": "d", "kind": "chronic", "onset": at(1440), "peak": at(1440), "end": at(14 * 1440)},
    ],
}


def test_matching_counts_each_incident_once_by_what_it_overlaps():
    incidents = [
        inc("a", 3010), inc("a", 3125),  # b1 after 10 min, then a duplicate in its 30-minute trailing edge
        inc("a", 3140),  # after the trailing edge: false, on quiet traffic
        inc("b", 4990),  # before b2's onset: false
        inc("c", 4050),  # on the viral
        inc("d", 9000),  # on the chronic brand
    ]
    m = ev.score(incidents, TRUTH, {"b1": 4.0, "b2": None})
    assert (m["bursts"], m["detected"], m["recall"]) == (2, 1, 0.5)
    assert m["precision"] == round(2 / 6, 3)
    assert (m["delay_median_min"], m["excess_median_min"]) == (10.0, 6.0)
    assert m["duplicates_per_burst"] == 1.0
    assert m["before_peak"] == 0.5  # b1 caught before its peak, b2 missed
    assert (m["quiet_false"], m["incidents_positive_viral"], m["incidents_chronic"]) == (2, 1, 1)
    assert [(i["brand"], i["at"]) for i in m["quiet_incidents"]] == [("a", T0 + 3140 * 60), ("b", T0 + 4990 * 60)]
    assert (m["paged_positive_viral"], m["episodes_positive_viral"], m["paged_bot_flood"]) == (1, 1, 0)
    assert m["per_burst_delay"] == {"b1": 10.0, "b2": None}


def test_a_burst_without_an_oracle_time_has_no_excess():
    m = ev.score([inc("b", 5020)], TRUTH, {"b1": 4.0, "b2": None})
    assert m["delay_median_min"] == 20.0 and m["excess_median_min"] is None
    assert m["before_peak"] == 0.5


def test_quiet_brand_weeks_leave_out_warm_up_episodes_and_chronic_brands():
    week = 7 * 1440
    covered = (100 + 30) + (60 + 30) + (100 + 30)  # the three episode windows, each with its trailing edge
    expected = (3 * 13 * 1440 - covered) / week
    assert ev.quiet_brand_weeks(TRUTH) == pytest.approx(expected)
    m = ev.score([inc("a", 9000)], TRUTH, {})
    assert m["false_per_brand_week"] == round(1 / expected, 3)


def test_delays_use_nearest_rank_quantiles():
    many = [inc("a", 3000 + d) for d in (1,)] + [inc("b", 5000 + 9)]
    m = ev.score(many, TRUTH, {"b1": 0.0, "b2": 0.0})
    assert (m["delay_median_min"], m["delay_p90_min"]) == (1.0, 9.0)
    assert (m["excess_median_min"], m["excess_p90_min"]) == (1.0, 9.0)


def test_incidents_are_one_per_id_at_the_open_alert():
    alerts = [
        {"incident_id": "a-1", "brand": "a", "status": "open", "at": at(10)},
        {"incident_id": "a-1", "brand": "a", "status": "escalated", "at": at(12)},
        {"incident_id": "a-1", "brand": "a", "status": "resolved", "at": at(50)},
        {"incident_id": "b-1", "brand": "b", "status": "open", "at": at(5)},
    ]
    assert ev.incidents_from_alerts(alerts) == [{"brand": "b", "at": T0 + 300, "id": "b-1"},
                                                {"brand": "a", "at": T0 + 600, "id": "a-1"}]


# -- the oracle -------------------------------------------------------------------------------
def test_the_oracle_fires_on_a_burst_and_not_on_quiet_traffic():
    lam = [0.1] * 400
    quiet = [0, 1, 0, 0, 0, 0, 0, 0, 0, 1] * 40  # 0.2/min: twice the rate, but never improbable enough
    assert ev.oracle_minute(quiet, lam, 200, 399) is None
    burst = quiet[:200] + [min(30, 2 ** (k // 5)) for k in range(200)]
    t = ev.oracle_minute(burst, lam, 200, 399)
    assert t is not None and 200 < t < 240
    # a bigger baseline needs more evidence: later
    t_big = ev.oracle_minute([3 + b for b in burst], [3.0] * 400, 200, 399)
    assert t_big is not None and t_big > t


def test_the_oracle_knows_the_onset_and_the_end():
    lam = [0.05] * 100
    busy = [5] * 100
    assert ev.oracle_minute(busy, lam, 50, 60) == 51  # first boundary after the onset
    assert ev.oracle_minute([0] * 100, lam, 50, 60) is None


def test_oracle_delays_read_the_baseline_from_the_truth():
    truth = {"start": at(0), "episodes": [
        {"id": "e", "brand": "a", "kind": "negative_burst", "onset": at(100), "baseline_from": at(20),
         "baseline_negatives": [0.05] * 121},
    ]}
    counts = {"a": [0] * 110 + [4] * 30 + [0] * 60}
    # 4 negatives by boundary 111 (p ~ 1e-4 on 0.25 expected), 8 by 112 (p ~ 1e-10): 12 min after onset
    assert ev.oracle_delays(truth, counts) == {"e": 12.0}


def test_the_oracle_as_a_detector_makes_runs():
    series = [0] * 1500 + [6] * 3 + [0] * 200
    runs = ev.oracle_firing(series, [0.05] * len(series))
    assert runs and runs[0][0] == 1501 and len(runs) == 1


# -- the Prometheus rule ----------------------------------------------------------------------
@pytest.mark.parametrize("tail, fired", [
    # after a day of 1/min (15 per 15 min): the rule wants > 45 and >= 10 in the last 15 minutes
    ([1] * 60, []),
    ([4] * 60, [1440 + 11]),  # 4/min: 11 fours + 4 ones = 48 > 3 x 15.3
    ([4] * 30 + [1] * 60 + [4] * 30, [1440 + 11, 1530 + 12]),  # two firing periods, two incidents
])
def test_the_prometheus_rule_on_hand_built_counts(tail, fired):
    assert [a for a, _ in ev.rule_firing([1] * 1440 + tail)] == fired


def test_the_prometheus_rule_needs_ten_and_a_day_of_history():
    assert ev.rule_firing([0] * 1440 + [0] * 10 + [9] + [0] * 30) == []  # 9 < 10
    assert ev.rule_firing([0] * 1440 + [0] * 10 + [10] + [0] * 30)[0][0] == 1451
    assert ev.rule_firing([0] * 100 + [50] * 30) == []  # no 24 h of history yet


def test_rule_incidents_are_one_per_run():
    counts = {"a": [0] * 1440 + [10] + [0] * 20 + [10] + [0] * 20}
    assert [i["at"] for i in ev.rule_incidents(counts, T0)] == [T0 + 1441 * 60, T0 + 1462 * 60]


# -- end to end, small --------------------------------------------------------------------------
def test_a_small_suite_goes_through_buzzwatch_detect_and_is_scored(tmp_path):
    from pipeline.sim import bench_detect

    mentions, truth_path, suite = bench_detect.write_suite(tmp_path, seed=3, days=3, scale=0.1)
    runs = bench_detect.timed_detect(mentions, tmp_path / "alerts.jsonl", runs=2)
    assert len(runs) == 2 and all(t > 0 for t in runs)
    truth = suite.truth
    counts = ev.minute_counts(suite.rows, parse_time(truth["start"]), truth["days"] * 1440)
    oracle = ev.oracle_delays(truth, counts)
    assert set(oracle) == {e["id"] for e in truth["episodes"] if e["kind"] == "negative_burst"}
    incidents = ev.incidents_from_alerts(ev.read_alerts(tmp_path / "alerts.jsonl"))
    assert {i["brand"] for i in incidents} <= {b["id"] for b in truth["brands"]}
    m = ev.score(incidents, truth, oracle)
    assert m["bursts"] == len(oracle) and m["incidents"] == len(incidents)
    assert incidents and m["recall"] > 0.5  # detect really alerted, on the bursts (5 here; 0.05 had one, beyond even the oracle)
    assert 0 < m["quiet_brand_weeks"] < len(truth["brands"]) * 2 / 7


def test_bench_detect_refuses_a_missing_dataset_folder(tmp_path, capsys):
    from pipeline.sim import bench_detect

    assert bench_detect.main(["--datasets", str(tmp_path)]) == 2
    assert "no NAB data under" in capsys.readouterr().err


def test_the_seed_sweep_scores_each_seed_as_one_suite_would_and_pools_every_burst(tmp_path, capsys):
    from pipeline.sim import bench_detect

    assert bench_detect.main(["--seeds", "3,4", "--days", "3", "--scale", "0.05"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    caught = incidents = false = 0
    kinds: Counter[str] = Counter()
    for seed, row in zip((3, 4), out["seeds"], strict=True):  # each seed on its own, as the single-suite bench scores it
        folder = tmp_path / str(seed)
        folder.mkdir()
        mentions, _, suite = bench_detect.write_suite(folder, seed=seed, days=3, scale=0.05)
        bench_detect.timed_detect(mentions, folder / "alerts.jsonl", runs=1)
        truth = suite.truth
        counts = ev.minute_counts(suite.rows, parse_time(truth["start"]), truth["days"] * 1440)
        oracle = ev.oracle_delays(truth, counts)
        m = ev.score(ev.incidents_from_alerts(ev.read_alerts(folder / "alerts.jsonl")), truth, oracle)
        orc = ev.score(ev.oracle_incidents(truth, counts), truth, oracle)
        digest = ev.score_digest(ev.read_alerts(bench_detect.digest_path(folder / "alerts.jsonl")), truth)
        assert row == {"seed": seed, **{k: m[k] for k, _, _ in bench_detect.SWEEP},
                       "oracle_precision": orc["precision"], "oracle_false_incidents": orc["false_incidents"],
                       "oracle_quiet_false": orc["quiet_false"],
                       **{f"digest_{k}": digest[k] for k in ("drifts", "drifts_reported", "off_drift_notices")}}
        caught += sum(1 for b, d in m["per_burst_delay"].items() if d is not None and oracle.get(b) is not None)
        incidents += m["incidents"]
        false += m["false_incidents"]
        kinds.update({"quiet": m["quiet_false"], **{k: m[f"incidents_{k}"] for k in ev.OTHER_KINDS}})
    assert out["pooled_bursts"] == caught
    assert (out["pooled_incidents"], out["pooled_false_incidents"]) == (incidents, false)
    assert out["pooled_incidents"] > 0
    # every false incident is named by the episode it fell in, or quiet traffic
    assert out["pooled_false_by_kind"] == dict(kinds)
    assert sum(out["pooled_false_by_kind"].values()) == false


def test_the_seed_sweep_measures_a_knob_given_to_buzzwatch_detect(tmp_path, capsys):
    from pipeline.sim import bench_detect

    args = ["--seeds", "3", "--days", "3", "--scale", "0.1"]
    assert bench_detect.main(args) == 0
    default = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert bench_detect.main([*args, "--detect-args", "--sensitivity 1e-30 --cooldown 90"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0] == "buzzwatch detect --sensitivity 1e-30 --cooldown 90"
    strict = json.loads(out[-1])
    # a bar no burst of a 0.1 suite reaches: the flags reached the run
    assert default["pooled_incidents"] > 0 and strict["pooled_incidents"] < default["pooled_incidents"]
    assert strict["pooled_bursts"] < default["pooled_bursts"]
    with pytest.raises(SystemExit, match="sensitivity"):  # detect's own refusal, not a silent default
        bench_detect.main([*args, "--detect-args", "--sensitivity nope"])
    assert bench_detect.main(["--detect-args", "--sensitivity 1e-3"]) == 2
    assert "--detect-args needs --seeds" in capsys.readouterr().err
