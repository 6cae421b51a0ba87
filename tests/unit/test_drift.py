"""The daily digest: a negative share that rose over days is reported once a day, never paged."""

from __future__ import annotations

import json
import random

import pytest

from pipeline.core.detector import DetectorConfig
from pipeline.core.drift import DAY_S, DailyTotals, DriftConfig
from pipeline.core.monitor import Monitor

START = 1772409600  # 2026-03-02T00:00:00Z, a Monday
DAY0 = START // DAY_S


def _feed(totals: DailyTotals, days: list[tuple[float, float]], paged: set[int] = frozenset()) -> list[dict]:
    """Hourly buckets of ``days`` [(mentions, negatives) per day]; one more bucket closes the last day."""
    notices = []
    for d, (mentions, negatives) in enumerate(days):
        for h in range(24):
            n = totals.add(START + d * DAY_S + h * 3600, negatives / 24, mentions / 24, paged=d in paged and h == 12)
            notices += [n] if n else []
    n = totals.add(START + len(days) * DAY_S, 0.0, 0.0)
    return notices + ([n] if n else [])


def test_a_day_whose_share_doubled_goes_in_the_digest_with_its_numbers():
    notices = _feed(DailyTotals(DriftConfig()), [(1000, 100)] * 4 + [(1000, 250)])
    assert len(notices) == 1
    n = notices[0]
    assert n["day"] == "2026-03-06" and n["at"] == "2026-03-07T00:00:00Z"
    assert (n["negatives"], n["mentions"], n["negative_share"]) == (250, 1000, 0.25)
    assert n["usual_share"] == pytest.approx(0.1, abs=0.001) and n["ratio"] == pytest.approx(2.5, abs=0.02)
    assert n["p_value"] < 1e-10 and n["usual_days"] == 3  # the day just before is not the usual (gap_days)
    assert [s for _, s in n["daily_shares"]] == [0.1, 0.1, 0.1, 0.1, 0.25]  # the trend shown: every day kept
    assert n["reason"].startswith("negative share 25% on 2026-03-06 vs 10% over the 3 days before (2.5x")


@pytest.mark.parametrize("days, why", [
    ([(1000, 100)] * 5, "a steady brand"),
    ([(1000, 500)] * 5, "a chronically negative brand: usual at its level"),
    ([(1000, 100)] * 4 + [(1000, 140)], "1.4x: under min_ratio"),
    ([(1000, 100)] * 2 + [(1000, 250)], "two days of history, one of them the gap: under min_days"),
    ([(50_000, 5000)] * 4 + [(50_000, 6500)], "1.3x on a busy brand, 'significant' for a binomial of 50,000"),
    ([(200, 20)] * 4 + [(200, 34)], "1.7x of 200 (p 2e-3): a small day counts as what it is, never as more"),
])
def test_no_notice(days, why):
    assert _feed(DailyTotals(DriftConfig()), days) == [], why


def test_a_day_needs_min_negatives_however_improbable_its_share():
    """9 negatives in 12 mentions against a usual 10% is far beyond the p-value's bar, and still too
    few to report (one reply thread on a small brand); 10 in 13 are reported."""
    assert _feed(DailyTotals(DriftConfig()), [(40, 4)] * 4 + [(12, 9)]) == []
    notices = _feed(DailyTotals(DriftConfig()), [(40, 4)] * 4 + [(13, 10)])
    assert len(notices) == 1 and notices[0]["p_value"] < 1e-6 and notices[0]["negatives"] == 10
    assert _feed(DailyTotals(DriftConfig(min_negatives=9)), [(40, 4)] * 4 + [(12, 9)]) != []


def test_a_brand_whose_usual_days_had_no_negative_gets_a_usual_share_above_zero():
    """No negative in 120 usual mentions is not a usual share of 0 (every negative then infinitely
    surprising, the ratio a division by zero): it is (0 + 1) / (120 + 2), a prior of one in two."""
    notices = _feed(DailyTotals(DriftConfig()), [(40, 0)] * 4 + [(40, 10)])
    assert len(notices) == 1
    assert notices[0]["usual_share"] == round(1 / 122, 4) and notices[0]["ratio"] == round(0.25 * 122, 2)


def test_a_busy_brand_needs_the_ratio_not_just_the_volume():
    """The share of 50,000 mentions counts as 2,000: 1.6x is reported, with a p-value a day of
    2,000 mentions would give, not one of 50,000."""
    notices = _feed(DailyTotals(DriftConfig()), [(50_000, 5000)] * 4 + [(50_000, 8000)])
    assert len(notices) == 1 and 1e-30 < notices[0]["p_value"] < 1e-4


def test_a_weekday_that_is_always_angrier_is_news_once_not_every_week():
    """Weekdays 10% negative, Saturdays 25%: the first Saturday is in the digest (nothing said it was
    usual), the next two are not - last Saturday is their usual."""
    week = [(1000, 100)] * 5 + [(1000, 250), (1000, 100)]  # 2026-03-02 is a Monday
    notices = _feed(DailyTotals(DriftConfig()), week * 3)
    assert [n["day"] for n in notices] == ["2026-03-07"]
    drifting = week * 2 + [(1000, 100)] * 5 + [(1000, 450)]  # ... unless a Saturday beats last Saturday too
    assert [n["day"] for n in _feed(DailyTotals(DriftConfig()), drifting)] == ["2026-03-07", "2026-03-21"]


def test_a_day_with_an_incident_is_not_repeated_in_the_digest():
    assert _feed(DailyTotals(DriftConfig()), [(1000, 100)] * 4 + [(1000, 250)], paged={4}) == []


def test_a_drift_goes_on_being_reported_while_it_rises():
    """10% -> 15% -> 22% -> 33%: each day above 1.5x the days before the last one."""
    days = [(1000, 100)] * 4 + [(1000, 150), (1000, 225), (1000, 330)]
    assert [n["day"] for n in _feed(DailyTotals(DriftConfig()), days)] == ["2026-03-07", "2026-03-08"]


def test_daily_totals_survive_a_restart_mid_day():
    days = [(1000, 100)] * 4 + [(1000, 250)]
    whole = _feed(DailyTotals(DriftConfig()), days)
    cut = DailyTotals(DriftConfig())
    for d, (m, k) in enumerate(days):
        for h in range(24):
            if (d, h) == (4, 7):
                cut = DailyTotals.from_state(DriftConfig(), json.loads(json.dumps(cut.to_state())))
            cut.add(START + d * DAY_S + h * 3600, k / 24, m / 24)
    assert [cut.add(START + 5 * DAY_S, 0, 0)] == whole


@pytest.mark.parametrize("bad", [dict(days=3, gap_days=1, min_days=3), dict(min_days=0), dict(gap_days=-1),
                                 dict(min_ratio=0.0), dict(p=0.0), dict(max_mentions=0)])
def test_a_setting_that_could_never_report_is_refused(bad):
    with pytest.raises(ValueError, match="drift"):
        DriftConfig(**bad)


def _drifting(days: int, shares: list[float], per_hour: float = 60.0, seed: int = 1) -> list[tuple]:
    """(brand, ts, negative, author, text) of a brand whose negative share is ``shares[day]``."""
    rnd = random.Random(seed)
    rows = []
    for minute in range(days * 1440):
        for _ in range(sum(rnd.random() < per_hour / 60 / 4 for _ in range(4))):
            author = f"u{rnd.randrange(100_000)}"
            text = " ".join("".join(rnd.choices("abcdefghijklmnop", k=6)) for _ in range(4))  # no two alike
            rows.append(("acme", START + minute * 60 + rnd.random() * 60, rnd.random() < shares[minute // 1440],
                         author, text))
    return rows


def _run(rows: list[tuple], cfg: DetectorConfig) -> tuple[list[dict], list[dict]]:
    monitor = Monitor(cfg)
    alerts = []
    for brand, ts, negative, author, text in rows:
        monitor.add_scored(brand, ts, negative, author, text, 10)
        alerts += monitor.advance()
    alerts += monitor.advance(monitor.watermark + 3600)
    return alerts, monitor.take_digest()


def test_a_brand_drifting_over_days_is_in_the_digest_and_never_paged():
    """
    share:  12%  12%  12%  18%  24%  30%      (60 mentions an hour)
    digest:                 ✓    ✓    ✓      each morning, for the day before
    pages:                                   none: no minute rises faster than the brand's recent level
    """
    shares = [0.12, 0.12, 0.12, 0.18, 0.24, 0.30]
    alerts, digest = _run(_drifting(6, shares), DetectorConfig())
    assert alerts == []
    assert [(n["brand"], n["day"]) for n in digest] == [("acme", "2026-03-05"), ("acme", "2026-03-06"),
                                                          ("acme", "2026-03-07")]
    assert digest[0]["negative_share"] == pytest.approx(0.18, abs=0.03)
    steady, none = _run(_drifting(6, [0.12] * 6), DetectorConfig())
    assert steady == [] and none == []
    _, off = _run(_drifting(6, shares), DetectorConfig(drift=None))
    assert off == []


def test_the_digest_is_the_same_after_a_restart_of_the_detector():
    rows = _drifting(6, [0.12, 0.12, 0.12, 0.18, 0.24, 0.30], seed=2)
    _, whole = _run(rows, DetectorConfig())
    cut = len(rows) * 3 // 5
    monitor = Monitor(DetectorConfig())
    for brand, ts, negative, author, text in rows[:cut]:
        monitor.add_scored(brand, ts, negative, author, text, 10)
        monitor.advance()
    first = monitor.take_digest()
    state = json.loads(json.dumps(monitor.brands["acme"].to_state()))
    restored = Monitor(DetectorConfig(), load=lambda brand: state)
    for brand, ts, negative, author, text in rows[cut:]:
        restored.add_scored(brand, ts, negative, author, text, 10)
        restored.advance()
    restored.advance(restored.watermark + 3600)
    assert first + restored.take_digest() == whole and len(whole) >= 2


def test_a_brand_in_its_own_time_zone_closes_its_days_at_its_midnight():
    """A Los Angeles brand (UTC-8): the day its share doubled is its own 6 March, from its midnight
    (08:00 UTC) to the next, and the digest has it once that midnight has passed, not at UTC's."""
    local_start = START + 8 * 3600  # Monday 2026-03-02 00:00 in Los Angeles
    totals, notices = DailyTotals(DriftConfig(), "America/Los_Angeles"), []
    days = [(1000, 100)] * 4 + [(1000, 250)]
    for d, (mentions, negatives) in enumerate(days):
        for h in range(24):
            n = totals.add(local_start + d * DAY_S + h * 3600, negatives / 24, mentions / 24)
            notices += [n] if n else []
    assert notices == []  # 03-06 23:00 local is 03-07 07:00 UTC: the day is not over
    n = totals.add(local_start + len(days) * DAY_S, 0.0, 0.0)
    assert n is not None and n["day"] == "2026-03-06" and n["at"] == "2026-03-07T08:00:00Z"
    assert n["negative_share"] == 0.25 and [s for _, s in n["daily_shares"]] == [0.1, 0.1, 0.1, 0.1, 0.25]
    # In UTC days, the same hours mix two local days each: the rise is split over 03-06 and 03-07.
    utc, split = DailyTotals(DriftConfig()), []
    for d, (mentions, negatives) in enumerate(days):
        for h in range(24):
            m = utc.add(local_start + d * DAY_S + h * 3600, negatives / 24, mentions / 24)
            split += [m] if m else []
    assert all(m["negative_share"] < 0.25 for m in split)


def test_a_day_an_incident_was_still_open_is_not_in_the_digest():
    """An incident opened late on Thursday is still open after midnight, past its protected minutes
    (``protect_minutes``: those the baseline does not learn), until 02:00. Friday's share is up with
    it, but Friday paged: it is not in the digest, though none of its minutes were protected."""
    rows = _drifting(5, [0.12] * 5)
    rnd = random.Random(5)
    crisis = START + 3 * DAY_S + 23 * 3600  # Thursday 23:00 to Friday 02:00
    rows += [("acme", crisis + minute * 60 + rnd.random() * 60, True, f"c{minute}-{k}",
              "down " + "".join(rnd.choices("abcdefghijklmnop", k=8))) for minute in range(3 * 60) for k in range(5)]
    rows.sort(key=lambda r: r[1])
    alerts, digest = _run(rows, DetectorConfig(protect_minutes=30))
    opened = [a for a in alerts if a["status"] == "open"]
    assert len(opened) == 1 and opened[0]["at"].startswith("2026-03-05T23:")
    assert [a["at"][:10] for a in alerts if a["status"] == "resolved"] == ["2026-03-06"]
    assert digest == []
