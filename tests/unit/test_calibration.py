"""``make bench-detect-calibration``: the windows it judges and what it makes of them."""

import math

from pipeline.core.detector import DetectorConfig
from pipeline.records import parse_time
from pipeline.sim import calibration
from pipeline.sim.bench_detect import write_suite
from pipeline.sim.scenarios import brand_model, make_suite


def test_windows_near_an_episode_are_left_out_and_drifts_marked():
    truth = make_suite(seed=1, days=4, scale=0.1).truth
    start = int(parse_time(truth["start"]) // 60)
    burst = next(ep for ep in truth["episodes"] if ep["kind"] == "negative_burst")
    drift = next(ep for ep in truth["episodes"] if ep["kind"] == "drift")
    onset, end = int(parse_time(burst["onset"]) // 60), int(parse_time(burst["end"]) // 60)
    brand = burst["brand"]
    inside = [onset - 30, onset + 5, end + 5 * 60]  # an hour before to six after: left out
    outside = [onset - 90, end + 7 * 60]
    recorded = [(brand, t, 1.0, 0.01, 0.0) for t in inside + outside]
    recorded.append((drift["brand"], int(parse_time(drift["onset"]) // 60) + 120, 1.0, 0.01, 0.0))
    kept = calibration.quiet_windows(truth, recorded)
    assert len(kept) == len(outside) + 1
    assert [w["drift"] for w in kept] == [False, False, True]
    model = brand_model(next(b for b in truth["brands"] if b["id"] == brand))
    t = outside[0]
    assert math.isclose(kept[0]["T"], sum(model.expected_negatives(m - start) for m in range(t - 20, t)))


def test_the_detectors_expectations_are_recorded_after_two_days(tmp_path):
    mentions, _, suite = write_suite(tmp_path, 1, 4, 0.1)
    recorded = calibration.record_expectations(DetectorConfig(), mentions)
    start = int(parse_time(suite.truth["start"]) // 60)
    assert recorded, "no window recorded"
    assert all(t % calibration.WINDOW == 0 and t - start >= 2 * 1440 for _, t, _, _, _ in recorded)
    assert all(e > 0 and 0 < level <= 1 and season >= 0 for _, _, e, level, season in recorded)
    assert len({(b, t) for b, t, *_ in recorded}) == len(recorded)  # each window once
    summary = calibration.summarise(calibration.quiet_windows(suite.truth, recorded))
    assert summary is not None and summary["windows"] > 0 and 0 < summary["claimed_sd"] < 1
