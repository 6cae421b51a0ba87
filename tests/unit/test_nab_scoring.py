"""NAB's standard-profile scoring on hand-made series (the real data stays in ../shared)."""

from __future__ import annotations

import json

import pytest

from pipeline.sim.nab import (
    DEVELOPMENT,
    group_score,
    layout,
    nab_config,
    normalised,
    published,
    run,
    scaled_sigmoid,
    score_series,
)

TIMES = [float(i) for i in range(100)]  # one row a second; probation = first 15 rows
WINDOW = [(40.0, 49.0)]  # rows 40..49


def test_detection_at_the_left_edge_scores_one_and_no_detection_costs_one():
    raw, tp, fp, missed = score_series(100, TIMES, WINDOW, [40])
    assert (tp, fp, missed) == (1, 0, 0) and raw == pytest.approx(1.0)
    assert score_series(100, TIMES, WINDOW, [])[0] == -1.0


def test_later_detection_scores_less_and_only_the_first_counts():
    early = score_series(100, TIMES, WINDOW, [42])[0]
    late = score_series(100, TIMES, WINDOW, [48])[0]
    assert 1.0 > early > late > 0
    assert score_series(100, TIMES, WINDOW, [48, 49]) == (late, 1, 0, 0)  # the second is neither scored nor false
    assert score_series(100, TIMES, WINDOW, [42, 48])[0] == early


def test_false_positives_cost_up_to_0_11_and_probation_is_free():
    raw, tp, fp, missed = score_series(100, TIMES, WINDOW, [5, 95])  # 5: probation; 95: far after
    assert (tp, fp, missed) == (0, 1, 1)
    assert raw == pytest.approx(-1.0 + 0.11 * scaled_sigmoid(46 / 9))  # NAB: distance / (width - 1)
    assert scaled_sigmoid(4.0) == -1.0


def test_probation_is_15_percent_but_at_most_750_rows_like_nab():
    times = [float(i) for i in range(10_000)]
    window = [(5000.0, 5099.0)]
    assert score_series(10_000, times, window, [800, 5000])[2] == 1  # row 800 is past NAB's 750: a false alarm
    assert score_series(100, TIMES, WINDOW, [14, 40])[2] == 0  # 15% of 100 rows: row 14 is in probation


def test_a_window_inside_probation_is_not_missed_like_nab():
    # NAB's Sweeper gives a window a score part only if one of its rows is past probation.
    raw, tp, fp, missed = score_series(100, TIMES, [(2.0, 9.0), (40.0, 49.0)], [40])
    assert (tp, fp, missed) == (1, 0, 0) and raw == pytest.approx(1.0)


def test_normalised_like_nab_runner():
    assert normalised(-3.0, 3, 3) == 0.0 and normalised(3.0, 3, 3) == 100.0
    assert normalised(3.0, 3, 4) == pytest.approx(600 / 7)  # NAB: perfect = labelled anomalies


def _checkout(root, names):
    """A numenta/NAB-shaped folder: flat series of 5-minute counts with one 10x spike each."""
    (root / "data" / "realTweets").mkdir(parents=True)
    (root / "labels").mkdir()
    windows, labels = {}, {}
    for name in names:
        rows = ["timestamp,value"]
        for i in range(12 * 24 * 5):  # five days
            minute = i * 5
            stamp = f"2015-03-{1 + minute // 1440:02d} {minute % 1440 // 60:02d}:{minute % 60:02d}:00"
            rows.append(f"{stamp},{200 if 12 * 24 * 4 <= i < 12 * 24 * 4 + 6 else 20 + i % 3}")
        (root / "data" / "realTweets" / f"Twitter_volume_{name}.csv").write_text("\n".join(rows) + "\n")
        key = f"realTweets/Twitter_volume_{name}.csv"
        windows[key] = [["2015-03-04 20:00:00.000000", "2015-03-05 04:00:00.000000"]]
        labels[key] = ["2015-03-05 00:00:00"]
    (root / "labels" / "combined_windows.json").write_text(json.dumps(windows))
    (root / "labels" / "combined_labels.json").write_text(json.dumps(labels))
    return windows


def test_a_nab_checkout_scores_the_held_back_series_apart(tmp_path):
    _checkout(tmp_path, ["AAPL", "CRM"])
    result = run(tmp_path, nab_config())
    rows = {r["series"]: r for r in result["series"]}
    assert rows["Twitter_volume_AAPL"]["development"] and not rows["Twitter_volume_CRM"]["development"]
    assert rows["Twitter_volume_CRM"]["detected"] == 1  # the spike at day 4, 00:00
    assert result["held_back_score"] == group_score([rows["Twitter_volume_CRM"]]) > 0
    assert result["nab_standard_score"] == group_score([rows["Twitter_volume_AAPL"]])


def test_published_scores_are_read_from_the_checkouts_results(tmp_path):
    names = ["AAPL", "AMZN", "FB", "GOOG", "IBM", "CRM", "CVS", "KO", "PFE", "UPS"]
    _checkout(tmp_path, names)
    (tmp_path / "results" / "someDetector").mkdir(parents=True)
    lines = ["Detector,Profile,File,Threshold,Score,TP,TN,FP,FN,Total_Count"]
    lines += [f"someDetector,standard,realTweets/Twitter_volume_{n}.csv,0.5,{0.5 if n in DEVELOPMENT else -1.0},1,1,1,1,4"
              for n in names]
    lines.append("someDetector,standard,realKnownCause/other.csv,0.5,9.0,1,1,1,1,4")  # another corpus: not counted
    (tmp_path / "results" / "someDetector" / "someDetector_standard_scores.csv").write_text("\n".join(lines) + "\n")
    scores = published(tmp_path)["someDetector"]
    assert scores == {"development": 75.0, "held_back": 0.0}  # raw 2.5 over 5 windows; -5 over 5 (the null)


def test_a_folder_without_nab_data_is_refused_by_name(tmp_path):
    with pytest.raises(FileNotFoundError, match="no NAB data under"):
        layout(tmp_path)


def test_the_nab_configuration_is_what_the_cli_runs_with_its_flags():
    """`buzzwatch detect --format counts --signal volume --sensitivity 1e-6 --cooldown 1380
    --relative-days 14` on 5-minute counts is the detector NAB is scored with."""
    from pipeline.cli import build_parser, detector_config

    args = build_parser().parse_args(["detect", "--format", "counts", "--signal", "volume", "--sensitivity", "1e-6",
                                "--cooldown", "1380", "--relative-days", "14"])
    assert detector_config(args, bucket_s=300) == nab_config()
