"""The late-burst replay (``make bench-detect-why``) reproduces the detector it explains."""

from __future__ import annotations

from pipeline.sim import why_late
from pipeline.sim.why_late import VARIANTS, replay_seed, summary


def test_the_replay_as_is_fires_when_the_detector_opened_and_the_variants_are_measured_from_it():
    """On a small suite, each burst's "as is" minute is the one its incident opened at (the replay
    records what the detector decides, it does not change it), and dropping every gate but the
    surprise test and the crowd never fires later than all of them together."""
    tick_as_is, quiet_as_is = why_late.BrandDetector._tick, why_late.BrandDetector._quiet
    bursts = replay_seed((3, 3, 0.3))
    assert (why_late.BrandDetector._tick, why_late.BrandDetector._quiet) == (tick_as_is, quiet_as_is)  # unwrapped
    assert len(bursts) >= 5
    compared = 0
    for b in bursts:
        assert set(b["excess"]) == set(VARIANTS)
        if b["measured"] is not None and b["excess"]["as is"] < why_late.HORIZON:
            assert b["excess"]["as is"] == b["measured"] - b["oracle"], b
            compared += 1
        assert b["excess"]["surprise and crowd only"] <= b["excess"]["as is"]
    assert compared >= 5
    table = summary(bursts)
    assert table["as is"]["mean"] >= table["surprise and crowd only"]["mean"]
