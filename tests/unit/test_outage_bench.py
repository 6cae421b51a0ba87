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
