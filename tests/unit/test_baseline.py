"""SeasonalBaseline state: what the worker writes at every commit, and reads back after a restart."""

from __future__ import annotations

import random

import orjson

from pipeline.core.baseline import BaselineConfig, SeasonalBaseline


def six_digits(x: float) -> float:
    return float(f"{x:.6g}")


def fully_rounded(b: SeasonalBaseline) -> dict:
    """The state as if every number were rounded afresh (what to_state wrote before it cached)."""
    r = six_digits
    return {
        "n": [r(b.c_neg), r(b.t_neg), r(b.c_all), r(b.t_all)],
        "r": [r(b.r_neg), r(b.rt_neg), r(b.r_all), r(b.rt_all)],
        "hc": [r(x) for x in b.hod_c], "he": [r(x) for x in b.hod_e],
        "dc": [r(x) for x in b.dow_c], "de": [r(x) for x in b.dow_e],
        "a": [b.hour, r(b.acc_neg), r(b.acc_all), b.skip_neg, b.skip_all, b.hours_seen],
        "d": [r(x) for x in b.disp] + [r(x) for x in b.acc_dev] + [b.bucket_min],
    }


def test_state_written_at_every_commit_is_the_fully_rounded_state_across_hours():
    """to_state reuses the numbers an hour fixes; a state taken mid-hour, after an hour closes, or
    after a skipped (incident) bucket must still be exactly the fully rounded one."""
    rng = random.Random(7)
    b = SeasonalBaseline(BaselineConfig(dispersion=True))
    for minute in range(3 * 1440):
        skip = 1800 <= minute < 1900
        b.learn(minute * 60.0, rng.randint(0, 3), rng.randint(0, 40) + 0.5 * (minute % 7), skip, skip)
        if minute % 17 == 0:
            assert b.to_state() == fully_rounded(b)
    b.close_before(3 * 24 + 5)  # a silence: hours learned in one step
    assert b.to_state() == fully_rounded(b)


def test_state_lists_are_not_shared_between_commits():
    """A caller may keep or change a written state: the next one must not see it."""
    b = SeasonalBaseline(BaselineConfig())
    for minute in range(180):
        b.learn(minute * 60.0, 1, 5, False, False)
    first = b.to_state()
    first["hc"][0] = -1.0
    first["d"].append(0.0)
    assert b.to_state() == fully_rounded(b)


def test_restored_baseline_writes_the_same_state_and_expects_the_same():
    rng = random.Random(3)
    b = SeasonalBaseline(BaselineConfig(dispersion=True))
    for minute in range(2 * 1440 + 37):
        b.learn(minute * 60.0, rng.randint(0, 2), rng.randint(0, 30), False, False)
    state = orjson.loads(orjson.dumps(b.to_state()))
    restored = SeasonalBaseline.from_state(b.cfg, state)
    assert restored.to_state() == state
    ts = (2 * 1440 + 90) * 60.0
    assert abs(restored.expected_negatives(ts) / b.expected_negatives(ts) - 1) < 1e-5


def test_states_written_before_the_recent_level_and_dispersion_still_load():
    old = {"n": [12.0, 600.0, 80.0, 600.0], "hc": [1.0] * 24, "he": [1.0] * 24, "dc": [1.0] * 7,
           "de": [1.0] * 7, "a": [400000, 1.0, 4.0, 0.0, 0.0, 30]}
    b = SeasonalBaseline.from_state(BaselineConfig(), old)
    assert b.r_neg == 12.0 and b.hours_seen == 30
    assert b.to_state()["n"] == old["n"]
