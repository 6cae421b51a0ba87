"""An outage of the input (no mention at all from a whole stream for hours) is not silence."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace

import orjson
import pytest

from pipeline.core.baseline import BaselineConfig, SeasonalBaseline
from pipeline.core.detector import DetectorConfig
from pipeline.core.monitor import Monitor
from pipeline.core.traffic import ClockTraffic
from pipeline.records import parse_time

BRANDS = ("acme", "globex", "initech")
WORDS = ("late", "lost", "refund", "rude", "broken", "never", "again", "awful", "bag", "flight", "delay", "staff")
DOWN, UP = 3 * 86400 + 10 * 3600, 3 * 86400 + 16 * 3600  # day 3, 10:00-16:00 UTC: nothing arrives


def run(cfg: DetectorConfig, outage: bool, hours: int = 3 * 24 + 22, burst: bool = False) -> tuple[Monitor, list[dict]]:
    """Three brands at ~40 mentions an hour, a fifth negative, each by its own author; with
    ``outage``, every mention stamped between DOWN and UP is lost; with ``burst``, acme's negatives
    from UP on grow by 6 an hour, doubling every 45 minutes."""
    rng = random.Random(7)
    monitor, alerts = Monitor(cfg), []
    n = 0
    for minute in range(hours * 60):
        ts = minute * 60.0
        for brand in BRANDS:
            if rng.random() < 40 / 60 and not (outage and DOWN <= ts < UP):
                n += 1
                monitor.add_scored(brand, ts + rng.random() * 59, rng.random() < 0.2, f"u{n}", f"text {n}", 10, uid=str(n))
        if burst and ts >= UP and rng.random() < 0.1 * 2 ** ((ts - UP) / 2700):
            for _ in range(1 + int(0.1 * 2 ** ((ts - UP) / 2700))):
                n += 1
                text = " ".join(rng.choice(WORDS) for _ in range(6))  # not one pasted text
                monitor.add_scored("acme", ts + rng.random() * 59, True, f"angry{n}", text, 10, uid=str(n))
        if monitor.crossed:
            alerts.extend(monitor.advance())
    alerts.extend(monitor.advance(hours * 3600.0))
    return monitor, alerts


def test_a_whole_stream_gone_quiet_for_six_hours_is_an_outage_and_teaches_nothing():
    """Three brands expected ~720 mentions in the six hours and none came: the input was down. The
    baselines learn nothing from those hours - their recent levels stand where they stood, their
    history counts only the hours seen - and nothing pages when the traffic returns. Learned as
    silence (``outage_expected`` 0, as before session 35), a minute after the traffic's return acme
    expected 28 mentions an hour and its recent level read 24, not 40; six hours on, 33 and 28."""
    full, _ = run(DetectorConfig(), outage=False)
    down, alerts = run(DetectorConfig(), outage=True)
    silent, _ = run(DetectorConfig(outage_expected=0.0), outage=True)
    after = UP + 6 * 3600.0
    assert not [a for a in alerts if a["status"] == "open"]
    for brand in BRANDS:
        want = full.brands[brand].baseline.recent_mentions(after)
        assert down.brands[brand].baseline.recent_mentions(after) == pytest.approx(want, rel=0.15)
        assert silent.brands[brand].baseline.recent_mentions(after) < 0.8 * want
        usual = full.brands[brand].baseline.expected_mentions(after)
        assert down.brands[brand].baseline.expected_mentions(after) == pytest.approx(usual, rel=0.05)
        assert silent.brands[brand].baseline.expected_mentions(after) < 0.9 * usual
        assert down.brands[brand].baseline.hours_seen == full.brands[brand].baseline.hours_seen - 6
        assert silent.brands[brand].baseline.hours_seen == full.brands[brand].baseline.hours_seen


def test_after_an_outage_no_incident_opens_until_the_widest_windows_have_refilled():
    """The windows of the first 160 minutes after an outage read it as silence, and the traffic's
    return as a rise out of nothing: the brand waits. A burst that starts with the traffic's return
    (acme's 8 negatives an hour, plus 6 an hour doubling every 45 minutes) pages after 85 minutes
    without the outage, and when the windows have refilled after it, still growing."""
    _, alerts = run(DetectorConfig(), outage=False, hours=3 * 24 + 20, burst=True)
    opened = [a for a in alerts if a["status"] == "open" and a["brand"] == "acme"]
    assert opened and UP < parse_time(opened[0]["at"]) <= UP + 90 * 60  # 17:25
    monitor, alerts = run(DetectorConfig(), outage=True, hours=3 * 24 + 20, burst=True)
    opened = [a for a in alerts if a["status"] == "open"]
    span = monitor.brands["acme"]._layout[1][-1]  # buckets: two of the widest windows
    assert [a["brand"] for a in opened] == ["acme"]
    assert UP + span * 60 <= parse_time(opened[0]["at"]) <= UP + (span + 10) * 60


def write(monitor: Monitor, table: dict[str, dict]) -> None:
    """A commit's writes, as the worker makes them: the changed brands' states and clocks' states."""
    table.update(orjson.loads(orjson.dumps(monitor.take_dirty(), option=orjson.OPT_NON_STR_KEYS)))
    table.update({f"clock/{c}": orjson.loads(orjson.dumps(v)) for c, v in monitor.take_clock_states().items()})


def busy_and_rare(rng: random.Random, minute: int) -> list[tuple[str, float, bool]]:
    """A minute of three busy brands as in ``run`` and a rare one (a mention at 05:00 and 17:00)."""
    mentions = [(brand, rng.random() * 59, rng.random() < 0.2) for brand in BRANDS if rng.random() < 40 / 60]
    if minute % 720 == 300:  # 05:00 and 17:00: idle, so out of memory, when the outage begins
        mentions.append(("rare", 0.0, minute % 1440 == 300))
    return mentions


def small_brands(rng: random.Random, minute: int) -> list[tuple[str, float, bool]]:
    """A minute of 60 small brands, each mentioned every 8 hours on average (7.5 an hour in all), and
    each once in the last minute (so that each learns up to the end)."""
    if minute == 4 * 24 * 60 - 1:
        return [(f"small{i}", 0.0, False) for i in range(60)]
    return [(f"small{rng.randrange(60)}", rng.random() * 59, rng.random() < 0.2)
            for _ in range(2) if rng.random() < 7.5 / 120]


def evicting(outage: bool, evict: bool, restarts: tuple[int, ...] = (), clocks: bool = True,
             traffic: Callable[[random.Random, int], list[tuple[str, float, bool]]] = busy_and_rare,
             ) -> tuple[Monitor, dict[str, dict], list[dict]]:
    """The mentions of ``traffic`` (each minute's ``(brand, seconds into it, negative)``), in a monitor backed by a
    table the way the worker runs it: every 10 minutes a commit writes the changed states (the
    clock's too, with ``clocks``) and drops the idle brands from memory (with ``evict``); at each
    minute of ``restarts``, right after a commit, a new monitor takes over from the table. Returns
    the last monitor, the table (every state after the last commit) and the alerts."""
    rng = random.Random(11)
    table: dict[str, dict] = {}

    def fresh() -> Monitor:
        return Monitor(DetectorConfig(), load=table.get, load_clock=(lambda c: table.get(f"clock/{c}")) if clocks else None)

    def commit() -> None:
        dirty = list(monitor.dirty)
        write(monitor, table)
        if evict:
            monitor.evict_idle(dirty)

    monitor, alerts, n = fresh(), [], 0
    for minute in range(4 * 24 * 60):
        ts = minute * 60.0
        for brand, second, negative in traffic(rng, minute):
            n += 1
            if not (outage and DOWN <= ts < UP):
                monitor.add_scored(brand, ts + second, negative, f"u{n}", f"text {n}", 10, uid=str(n))
        if monitor.crossed:
            alerts.extend(monitor.advance())
        if minute % 10 == 9:
            commit()
            if minute in restarts:
                monitor = fresh()
    alerts.extend(monitor.advance(4 * 24 * 3600.0))
    commit()
    return monitor, table, alerts


def hours_seen(table: dict[str, dict]) -> dict[str, int]:
    return {b: s["b"]["a"][5] for b, s in table.items() if not b.startswith("clock/")}


def test_a_brand_out_of_memory_during_an_outage_has_it_unobserved_when_it_is_reloaded():
    """In the worker a brand with no open bucket is written to the table and dropped from memory at
    the next commit, then reloaded at its next mention. The outage is noticed when the busy brands'
    traffic returns, while the rare brand is out of memory; reloaded at 17:00, it does not learn
    the outage as silence either: its state ends as if it had been kept in memory - 6 hours fewer
    seen than without the outage, the same levels. Before session 36 it learned them as 6 silent
    hours (86 hours seen, not 80)."""
    _, whole, _ = evicting(outage=False, evict=False)
    _, kept, kept_alerts = evicting(outage=True, evict=False)
    monitor, evicted, alerts = evicting(outage=True, evict=True)
    assert monitor._outage_log[0] and len(monitor._outage_log[0]) == 1
    assert alerts == kept_alerts
    assert hours_seen(kept) == hours_seen(evicted) == {b: h - 6 for b, h in hours_seen(whole).items()}
    # the same levels, to the 6 digits a state keeps (the evicted one went through the table each time)
    for key in ("n", "r", "hc", "he"):
        assert evicted["rare"]["b"][key] == pytest.approx(kept["rare"]["b"][key], rel=1e-4)


def test_an_outage_spanning_a_restart_is_unobserved_by_every_brand():
    """The worker restarts during the outage (14:59, a deploy, say). The new process has no clock to
    measure the gap from, unless the clock's state was in the table with the brands': its watermark
    (10:00), the mentions its brands expected in the 3 hours after it, and its last outages. With it
    every brand - the busy ones and the rare one, reloaded at 17:00 - ends as if the worker had
    run throughout; without it every brand learns the outage as silence (86 hours seen, not 80)."""
    _, whole, _ = evicting(outage=False, evict=True)
    _, kept, kept_alerts = evicting(outage=True, evict=True)
    restart = (DOWN + UP) // 120 - 1  # minutes: 12:59, a commit's minute
    monitor, restarted, alerts = evicting(outage=True, evict=True, restarts=(restart,))
    assert monitor._outage_log[0] and monitor._restored[0][1] > 100  # expected ~360 in 3 hours
    assert alerts == kept_alerts
    assert hours_seen(restarted) == hours_seen(kept) == {b: h - 6 for b, h in hours_seen(whole).items()}
    _, blind, _ = evicting(outage=True, evict=True, restarts=(restart,), clocks=False)
    assert hours_seen(blind) == hours_seen(whole)


def test_an_outage_spanning_a_restart_is_seen_from_the_clocks_own_traffic_where_few_brands_are_active(monkeypatch):
    """Sixty small brands, each mentioned every 8 hours: few are in memory at any time, and the
    mentions the clock's active brands expected in the 3 hours after its last watermark come to ~8,
    short of the 14 that make 6 hours without a mention an outage. The clock's own traffic, kept in
    its state too - the fewest mentions each hour of day had on the last days - expects ~28 in the
    gap: the outage is seen across the restart, and every brand ends as if the worker had run
    throughout. Without it (session 36), all sixty learned the 6 hours as silence."""
    _, whole, _ = evicting(outage=False, evict=True, traffic=small_brands)
    _, kept, kept_alerts = evicting(outage=True, evict=True, traffic=small_brands)
    restart = (DOWN + UP) // 120 - 1
    monitor, restarted, alerts = evicting(outage=True, evict=True, restarts=(restart,), traffic=small_brands)
    assert monitor._restored[0][1] < 14
    (lo, hi), = monitor._outage_log[0]
    assert monitor.traffic[0].expected(lo, hi, ()) >= 14
    assert alerts == kept_alerts
    assert hours_seen(restarted) == hours_seen(kept) == {b: h - 6 for b, h in hours_seen(whole).items()}
    assert len(hours_seen(whole)) == 60
    monkeypatch.setattr(ClockTraffic, "expected", lambda *_, **__: 0.0)
    _, blind, _ = evicting(outage=True, evict=True, restarts=(restart,), traffic=small_brands)
    assert hours_seen(blind) == hours_seen(whole)


def test_a_clocks_quiet_hours_are_judged_by_their_own_traffic_not_the_days():
    """A clock busy by day (200 mentions an hour from 08:00 to 20:00) and quiet at night (1 an
    hour): six hours without a mention at night expect 6 - quiet, not an outage; six by day 1,200.
    Hours in an earlier outage, and days before the clock's first whole hour, are not judged from."""
    traffic = ClockTraffic()
    rng = random.Random(3)
    for hour in range(3 * 24):
        rate = 200 if 8 <= hour % 24 < 20 else 1
        for _ in range(rate):
            traffic.add(hour * 3600.0 + rng.random() * 3600, 1)
    night, day = 3 * 86400.0, 3 * 86400.0 + 10 * 3600
    assert traffic.expected(night, night + 6 * 3600, ()) == 6
    assert traffic.expected(day, day + 6 * 3600, ()) == 1_200
    assert traffic.expected(day, day + 6 * 3600, [(86400.0 + 12 * 3600, 86400.0 + 13 * 3600)]) == 1_200  # one day fewer
    assert traffic.expected(day, day + 6 * 3600, [(0.0, 2 * 86400.0)]) == 0  # one day left: no estimate
    fresh = ClockTraffic()
    fresh.add(0.0, 1000)
    assert fresh.expected(86400.0, 2 * 86400.0, ()) == 0.0  # fewer than two days seen: no estimate


def test_a_partition_that_comes_back_after_another_worker_read_it_is_no_outage():
    """A partition moves to another worker and back (two rebalances): this worker's clock for it
    stood still meanwhile. Forgotten with the brands and restored from the table - where the other
    worker kept writing it - the time the other worker read is no gap: no outage, every hour seen."""
    _, whole, _ = evicting(outage=False, evict=True)
    rng = random.Random(11)
    table: dict[str, dict] = {}
    here = Monitor(DetectorConfig(), load=table.get, load_clock=lambda c: table.get(f"clock/{c}"))
    there = Monitor(DetectorConfig(), load=table.get, load_clock=lambda c: table.get(f"clock/{c}"))
    n = 0
    for minute in range(4 * 24 * 60):
        monitor = there if DOWN <= minute * 60.0 < UP else here  # the other worker owns it from 10:00 to 16:00
        for brand in BRANDS:
            if rng.random() < 40 / 60:
                n += 1
                monitor.add_scored(brand, minute * 60.0 + rng.random() * 59, rng.random() < 0.2, f"u{n}", f"text {n}",
                                   10, uid=str(n))
        if minute % 720 == 300:
            n += 1
            monitor.add_scored("rare", minute * 60.0, minute % 1440 == 300, f"u{n}", f"text {n}", 10, uid=str(n))
        if monitor.crossed:
            monitor.advance()
        if minute % 10 == 9:
            write(monitor, table)
        if (minute + 1) * 60.0 in (DOWN, UP):  # the rebalance: the old owner lets the partition go
            monitor.advance()
            write(monitor, table)
            monitor.forget(list(monitor.brands))
            monitor.forget_clocks([0])
    here.advance(4 * 24 * 3600.0)
    write(here, table)
    assert not any(here._outage_log.values()) and not any(there._outage_log.values())
    assert hours_seen(table) == hours_seen(whole)


def test_a_small_brands_quiet_night_is_not_an_outage():
    """One brand at 1 mention an hour: three hours without one expect ~3 - a quiet spell, learned
    as such."""
    monitor = Monitor(DetectorConfig())
    for hour in range(48):
        monitor.add_scored("tiny", hour * 3600.0 + 30, False, f"u{hour}", "hello", 1, uid=str(hour))
        monitor.advance()
    monitor.add_scored("tiny", 51 * 3600.0 + 30, False, "u51", "hello", 1, uid="51")
    assert monitor._outages == []
    monitor.advance()
    assert monitor.brands["tiny"].baseline.unseen == 0.0


def test_a_brand_in_its_first_day_expects_only_its_quietest_hour_so_far():
    """A brand's first day does not show its daily cycle: its mean rate so far is no guide to a quiet
    evening. First seen at noon with 60 mentions an hour, 6 an hour from 15:00: 40 minutes without
    one at 18:40 expect ~4 by its quietest hour - quiet, learned as such (by its mean, ~30 an hour,
    they expected 20: an outage, before session 37). A steady 40 an hour that stops for 2 hours in
    the first day is still an outage."""
    def first_day(rate: Callable[[float], float], gap: tuple[float, float]) -> Monitor:
        rng = random.Random(5)
        monitor, n = Monitor(DetectorConfig()), 0
        for minute in range(12 * 60, 23 * 60):
            ts = minute * 60.0
            if gap[0] <= ts < gap[1] or rng.random() >= rate(ts / 3600) / 60:
                continue
            n += 1
            monitor.add_scored("new", ts + rng.random() * 59, False, f"u{n}", f"text {n}", 10, uid=str(n))
            monitor.advance()
        return monitor

    evening = first_day(lambda h: 60.0 if h < 15 else 6.0, (18 * 3600 + 40 * 60, 19 * 3600 + 20 * 60))
    assert evening._outage_log == {}
    assert evening.brands["new"].baseline.quietest_rate() * 60 < 10
    steady = first_day(lambda h: 40.0, (16 * 3600, 18 * 3600))
    assert len(steady._outage_log[0]) == 1


def test_an_hour_the_input_was_down_for_in_part_is_learned_over_the_minutes_it_was_up():
    """Half an hour down: the hour teaches its 30 observed minutes, not 60 with half of them empty;
    the minutes still to come are carried through a restore."""
    b = SeasonalBaseline(BaselineConfig())
    for minute in range(48 * 60 + 30):
        b.learn(minute * 60.0, 1, 2, False, False)
    b.unobserved((48 * 60 + 30) * 60.0, (49 * 60 + 40) * 60.0)
    assert b.unseen == 40.0  # 49:00-49:40 of the hour now open
    again = SeasonalBaseline.from_state(BaselineConfig(), orjson.loads(orjson.dumps(b.to_state())))
    assert again.unseen == 40.0
    for minute in range(49 * 60 + 40, 50 * 60):
        b.learn(minute * 60.0, 1, 2, False, False)
    b.close_before(50)
    assert b.hours_seen == 50  # hours 48 and 49 each seen in part
    assert b.expected_mentions(50 * 3600.0) == pytest.approx(2.0, rel=0.05)  # not diluted by the outage
    assert b.recent_mentions(50 * 3600.0) == pytest.approx(2.0, rel=0.05)


def test_outage_settings_are_checked():
    DetectorConfig(outage_expected=0.0)
    with pytest.raises(ValueError, match="outage"):
        DetectorConfig(outage_expected=-1.0)
    with pytest.raises(ValueError, match="outage"):
        DetectorConfig(outage_minutes=5.0)  # within the grace: late mentions, not an outage
    assert replace(DetectorConfig(), outage_minutes=60.0).outage_minutes == 60.0
