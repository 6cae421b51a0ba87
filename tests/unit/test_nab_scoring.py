"""NAB's standard-profile scoring on hand-made series (the real data stays in ../shared)."""

from __future__ import annotations

import pytest

from pipeline.sim.nab import normalised, scaled_sigmoid, score_series

TIMES = [float(i) for i in range(100)]  # one row a second; probation = first 15 rows
WINDOW = [(40.0, 49.0)]  # rows 40..49


def test_detection_at_the_left_edge_scores_one_and_no_detection_costs_one():
    raw, tp, fp, missed = score_series(100, TIMES, WINDOW, [40])
    assert (tp, fp, missed) == (1, 0, 0) and raw == pytest.approx(1.0)
    assert score_series(100, TIMES, WINDOW, [])[0] == -1.0


def test_later_detection_scores_less_and_only_the_first_counts():
    early = score_series(100, TIMES, WINDOW, [42])[0]
    late = score_series(100, TIMES, WINDOW, [48, 49])[0]
    assert 1.0 > early > late > 0


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
