"""``make bench-outage`` measures what an outage of the input makes page."""

from __future__ import annotations

import pytest

from pipeline.sim import outage


def test_the_outage_bench_drops_the_hours_and_compares_the_day_after():
    """A small suite (4 days, a third of the traffic) with its last day's 10:00-16:00 dropped:
    learned as silence, the traffic's return pages 3 brands the whole stream left quiet;
    unobserved, none."""
    silent = outage.run_seed((3, 4, 0.3, 3, 10, 16, 0.0))
    unobserved = outage.run_seed((3, 4, 0.3, 3, 10, 16, 14.0))
    assert silent["whole"] == unobserved["whole"]  # the whole stream has no outage to tell
    assert silent["new_brands"], silent
    assert unobserved["new_brands"] == []


@pytest.mark.parametrize("args", [["--from", "16", "--to", "10"], ["--to", "25"], ["--day", "9"]])
def test_an_outage_outside_the_suite_is_refused(args, capsys):
    with pytest.raises(SystemExit) as err:
        outage.main(["--seeds", "2", *args])
    assert err.value.code == 2
    assert "the outage must lie within one day of the suite" in capsys.readouterr().err


def test_the_partitioned_run_logs_the_gaps_its_clocks_take_for_outages():
    """Over 73 partitions most clocks carry one brand, whose quiet hours are gaps of their own: with
    a bar of 2 expected mentions instead of 14, hundreds of them pass for outages - the check sees
    what the worker would log; with 14, at most one (a small brand's level after a bot flood, see
    docs/measurements.md "Session 37")."""
    loose = outage.false_outages((3, 4, 0.3, 2.0, 73))
    assert len(loose["outages"]) > 100
    assert all(0 <= clock < 73 and minutes >= 30 for clock, _, minutes in loose["outages"])
    assert len(outage.false_outages((3, 4, 0.3, 14.0, 73))["outages"]) <= 1


@pytest.mark.parametrize("value", ["0", "24,x", ""])
def test_partition_counts_must_be_whole_numbers_from_one(value, capsys):
    with pytest.raises(SystemExit) as err:
        outage.main(["--seeds", "2", "--partitions", value])
    assert err.value.code == 2
    assert "partition counts" in capsys.readouterr().err
