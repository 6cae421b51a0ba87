"""When to page: a brand's negative rate is above what its baseline explains *and* still growing.

Every minute of event time (a *tick*) each active brand is checked over trailing windows of
5, 10, 20, 40 and 80 minutes. A window *fires* when all of these hold:

- **surprise**: the collapsed negatives in the window are improbable under the brand's seasonal
  baseline (``p < p_open``; an exact negative-binomial tail - a Poisson count whose rate is only
  as certain as the counts it was learned from - so 6 negatives on a brand that expects 0.2 can
  fire, 130 on a brand that expects 100 cannot, and a brand known from a handful of mentions
  needs more evidence);
- **share**: negatives are a larger share of the brand's mentions than usual (binomial tail
  ``< p_share``): a viral positive or neutral burst lifts negatives with volume and is ignored;
- **growth**: the window holds at least ``growth`` x the previous window of the same length
  (and of its expectation): a steady, chronically negative brand or a slow drift does not page;
- **crowd**: at least ``min_authors`` distinct authors (one account, or one pasted text, counts
  once - see :mod:`pipeline.core.windows`).

An incident opens on the first firing tick, escalates when its severity rises, and resolves
after ``resolve_minutes`` calm minutes (hysteresis); a brand then stays quiet for
``cooldown_minutes``. Incident ids are derived from the brand and the opening minute, so a replay
of the same mentions produces the same ids and alerts (delivery deduplicates on them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pipeline.core.baseline import BaselineConfig, SeasonalBaseline
from pipeline.core.stats import binomial_sf, negbin_sf
from pipeline.core.windows import BrandWindows, Totals, WindowConfig
from pipeline.records import SEVERITIES, format_time

SIGNALS = ("negative", "volume")


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """The knobs a user may turn (see README, "Detection")."""

    signal: str = "negative"
    windows_min: tuple[int, ...] = (5, 10, 20, 40, 80)
    p_open: float = 1e-6  # sensitivity: smaller is quieter
    p_anomalous: float = 1e-4  # a window this surprising is not learned by the baseline
    p_share: float = 1e-3
    growth: float = 1.5
    min_authors: int = 3
    warmup_minutes: float = 1440.0  # no paging before the brand has a day of baseline (its daily cycle)
    max_confidence: float = 200.0  # the baseline is never trusted like more than this many counts
    resolve_ratio: float = 2.0
    resolve_minutes: int = 30
    cooldown_minutes: int = 60
    tick_lag_s: float = 10.0  # evaluate a minute this long after it ends (late arrivals)
    window: WindowConfig = field(default_factory=WindowConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)

    def __post_init__(self) -> None:
        if self.signal not in SIGNALS:
            raise ValueError(f"signal: expected one of {SIGNALS}, got {self.signal!r}")


@dataclass(slots=True)
class Evidence:
    """One window's numbers at one tick: the 'why it fired' trace."""

    window_minutes: int
    observed: float
    expected: float
    previous: float
    mentions: int
    raw_negatives: int
    authors: int
    reach: int
    share: float
    baseline_share: float
    p_value: float
    p_share: float
    tick: int  # the bucket boundary the window ends at

    @property
    def ratio(self) -> float:
        return self.observed / max(self.expected, 1e-9)

    def doubling_minutes(self) -> float | None:
        if self.previous <= 0 or self.observed <= self.previous:
            return None
        return round(self.window_minutes * math.log(2) / math.log(self.observed / self.previous), 1)


class BrandDetector:
    """All state of one brand: open buckets, baseline, incident. Serialisable with to_state()."""

    __slots__ = ("brand", "cfg", "windows", "baseline", "last_tick", "learned_upto",
                 "protect", "incident", "calm", "cooldown_until", "last", "offset")

    def __init__(self, brand: str, cfg: DetectorConfig) -> None:
        self.brand = brand
        self.cfg = cfg
        self.windows = BrandWindows(cfg.window)
        self.baseline = SeasonalBaseline(cfg.baseline)
        self.last_tick: int | None = None  # last bucket boundary evaluated
        self.learned_upto: int | None = None  # buckets below this index are final
        self.protect: list[int] = [0, 0]  # bucket range [a, b) the baseline must not learn
        self.incident: dict[str, Any] | None = None
        self.calm = 0
        self.cooldown_until = 0
        self.last: Evidence | None = None  # the 10-minute window at the last tick (for gauges)
        self.offset = -1  # the input position (e.g. Kafka offset) of the last mention applied

    # -- input ----------------------------------------------------------------------------
    def accepts(self, ts: float) -> bool:
        """False if ``ts`` falls in a bucket that is already final (too late)."""
        return self.learned_upto is None or ts >= self.learned_upto * self.cfg.window.bucket_s

    def add(self, ts: float, negative: bool, author: str | None, text: str, followers: int,
            sample: dict[str, Any] | None, weight: int = 1, uid: int | None = None) -> str:
        """'counted', 'late' (its bucket is final) or 'duplicate' (its id was counted)."""
        if not self.accepts(ts):
            return "late"
        if self.cfg.signal == "volume":
            negative = True  # every mention is the signal
        if not self.windows.add(ts, negative, author, text, followers, sample, weight, uid):
            return "duplicate"
        return "counted"

    def is_idle(self) -> bool:
        return self.incident is None and self.windows.is_empty()

    # -- time -----------------------------------------------------------------------------
    def advance(self, watermark: float) -> list[dict[str, Any]]:
        """Evaluate every bucket boundary the watermark has passed; return the alerts."""
        cfg = self.cfg
        bucket_s = cfg.window.bucket_s
        upto = int((watermark - cfg.tick_lag_s) // bucket_s)
        if self.last_tick is None:
            first = min(self.windows.buckets, default=upto)
            self.last_tick = first
            self.learned_upto = first
        alerts: list[dict[str, Any]] = []
        if upto - self.last_tick > 2 * max(cfg.windows_min) + cfg.resolve_minutes and self.incident is None:
            # Long silence: nothing to evaluate in between, jump ahead.
            self._learn_final(upto - 2 * max(cfg.windows_min))
            self.last_tick = upto - 2 * max(cfg.windows_min)
        while self.last_tick < upto:
            self.last_tick += 1
            alert = self._tick(self.last_tick)
            if alert is not None:
                alerts.append(alert)
        grace = int(math.ceil(cfg.window.grace_s / bucket_s))
        self._learn_final(int(watermark // bucket_s) - grace)
        return alerts

    def _learn_final(self, upto: int) -> None:
        assert self.learned_upto is not None
        if upto <= self.learned_upto:
            return
        bucket_s = self.cfg.window.bucket_s
        a, b = self.protect
        for i, bucket in self.windows.final(self.learned_upto, upto):
            bucket.ids = None  # final: no mention can be added, so no duplicate can be either
            self.baseline.learn(i * bucket_s, bucket.effective, bucket.mentions, a <= i < b, a <= i < b,
                                bucket_s / 60.0)
        self.baseline.close_before(int(upto * bucket_s // 3600))
        self.learned_upto = upto
        keep = 2 * max(self.cfg.windows_min) + 1
        self.windows.forget_before(min(upto, (self.last_tick or upto) - keep))

    # -- decision -------------------------------------------------------------------------
    def evidence(self, tick: int, minutes: int, totals: Totals | None = None) -> Evidence:
        """The numbers of the window of ``minutes`` ending at bucket boundary ``tick``."""
        width = self._width(minutes)
        if totals is None:
            totals = self.windows.totals(tick - 2 * width, tick)
        mentions, negatives, effective, authors, reach = totals.between(tick - width, tick)
        p_mentions, _, p_effective, _, _ = totals.between(tick - 2 * width, tick - width)
        expected = self._expected(tick - width, tick)
        volume = self.cfg.signal == "volume"
        observed = float(mentions if volume else effective)
        if not volume:
            authors = effective  # collapsed negatives are one per author
        trials = max(mentions - (negatives - effective), 0)
        base_share = self.baseline.negative_share()
        share = effective / trials if trials else 0.0
        p_share = 0.0 if volume else binomial_sf(effective, trials, base_share)
        return Evidence(
            window_minutes=minutes, observed=observed, expected=expected,
            previous=float(p_mentions if volume else p_effective), mentions=mentions, raw_negatives=negatives,
            authors=authors, reach=reach, share=share, baseline_share=base_share,
            p_value=negbin_sf(observed, expected, self._confidence()), p_share=p_share, tick=tick,
        )

    def _confidence(self) -> float:
        """Negative-binomial size: the evidence behind the baseline, capped for model error."""
        b = self.baseline
        counts = (b.c_all if self.cfg.signal == "volume" else b.c_neg) + b.cfg.prior_count
        return min(counts, self.cfg.max_confidence)

    def _width(self, minutes: int) -> int:
        return max(1, round(minutes * 60 / self.cfg.window.bucket_s))

    def _expected(self, first: int, upto: int) -> float:
        bucket_s = self.cfg.window.bucket_s
        per_bucket_min = bucket_s / 60.0
        rate = self.baseline.expected_mentions if self.cfg.signal == "volume" else self.baseline.expected_negatives
        total, i = 0.0, first
        while i < upto:  # the rate is constant within an hour
            hour_end = ((i * bucket_s) // 3600 + 1) * 3600
            j = min(upto, max(i + 1, int(math.ceil(hour_end / bucket_s))))
            total += rate(i * bucket_s) * per_bucket_min * (j - i)
            i = j
        return total

    def _fires(self, ev: Evidence) -> bool:
        cfg = self.cfg
        return (
            ev.p_value < cfg.p_open
            and ev.p_share < cfg.p_share
            and ev.observed >= cfg.growth * max(ev.previous, ev.expected)
            and ev.authors >= cfg.min_authors
        )

    def _tick(self, tick: int) -> dict[str, Any] | None:
        cfg = self.cfg
        totals = self.windows.totals(tick - 2 * self._width(max(cfg.windows_min)), tick)
        evs = [self.evidence(tick, w, totals) for w in cfg.windows_min]
        self.last = evs[min(1, len(evs) - 1)]
        firing = [ev for ev in evs if self._fires(ev)]
        worst = min(evs, key=lambda ev: ev.p_value)
        warm = self.baseline.history_minutes() >= cfg.warmup_minutes
        # Surprising minutes do not teach the baseline - once it knows enough to be surprised.
        if warm and worst.p_value < cfg.p_anomalous or self.incident is not None:
            start = tick - max(1, round(worst.window_minutes * 60 / cfg.window.bucket_s))
            a, b = self.protect
            self.protect = [min(a, start) if b >= start else start, tick]
        ts = tick * cfg.window.bucket_s
        if self.incident is None:
            if firing and warm and tick >= self.cooldown_until:
                best = min(firing, key=lambda ev: ev.p_value)
                self.incident = {"id": f"{self.brand}-{format_time(ts)}", "opened_at": ts, "seq": 0,
                                 "severity": self._severity(best)}
                self.calm = 0
                return self._alert("open", ts, best)
            return None
        # An incident is open: escalate, or count calm minutes towards resolution.
        best = min(firing, key=lambda ev: ev.p_value) if firing else worst
        severity = self._severity(best)
        if firing and SEVERITIES.index(severity) > SEVERITIES.index(self.incident["severity"]):
            self.incident["severity"] = severity
            self.calm = 0
            return self._alert("escalated", ts, best)
        probe = evs[min(2, len(evs) - 1)]
        if probe.observed <= cfg.resolve_ratio * probe.expected + 1:
            self.calm += 1
        else:
            self.calm = 0
        if self.calm >= cfg.resolve_minutes * 60 / cfg.window.bucket_s:
            alert = self._alert("resolved", ts, probe)
            self.incident = None
            self.cooldown_until = tick + int(cfg.cooldown_minutes * 60 / cfg.window.bucket_s)
            return alert
        return None

    @staticmethod
    def _severity(ev: Evidence) -> str:
        if ev.ratio >= 20 and ev.observed >= 40:
            return "critical"
        if ev.ratio >= 5 and ev.observed >= 12:
            return "high"
        return "warning"

    def _alert(self, status: str, ts: float, ev: Evidence) -> dict[str, Any]:
        inc = self.incident
        assert inc is not None
        inc["seq"] += 1
        minutes = ev.window_minutes
        doubling = ev.doubling_minutes()
        what = "mentions" if self.cfg.signal == "volume" else "negative mentions"
        reason = (
            f"{ev.observed:.0f} {what} in {minutes} min vs {ev.expected:.1f} expected "
            f"({ev.ratio:.1f}x, p={ev.p_value:.1e}); previous {minutes} min: {ev.previous:.0f}"
            + (f"; doubling every {doubling:.0f} min" if doubling else "")
            + f"; share {ev.share:.0%} vs {ev.baseline_share:.0%} usual; {ev.authors} authors"
        )
        if status == "resolved":
            reason = f"back to normal: {ev.observed:.0f} {what} in {minutes} min vs {ev.expected:.1f} expected"
        return {
            "incident_id": inc["id"],
            "brand": self.brand,
            "status": status,
            "seq": inc["seq"],
            "at": format_time(ts),
            "opened_at": format_time(inc["opened_at"]),
            "severity": inc["severity"],
            "reason": reason,
            "evidence": {
                "window_minutes": minutes,
                "observed_negatives": ev.observed,
                "expected_negatives": round(ev.expected, 3),
                "negative_rate_per_min": round(ev.observed / minutes, 3),
                "expected_rate_per_min": round(ev.expected / minutes, 4),
                "growth_doubling_minutes": doubling,
                "negative_share": round(min(ev.share, 1.0), 4),
                "baseline_share": round(ev.baseline_share, 4),
                "unique_authors": int(ev.authors),
                "mentions": int(ev.mentions),
                "reach": int(ev.reach),
                "p_value": float(f"{ev.p_value:.3g}"),
            },
            "samples": self.windows.sum(ev.tick - self._width(minutes), ev.tick).samples[:5],
        }

    # -- state ----------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "w": self.windows.to_state(), "b": self.baseline.to_state(),
            "t": [self.last_tick, self.learned_upto, self.calm, self.cooldown_until],
            "p": self.protect, "i": self.incident, "o": self.offset,
        }

    @classmethod
    def from_state(cls, brand: str, cfg: DetectorConfig, state: dict[str, Any]) -> BrandDetector:
        d = cls(brand, cfg)
        d.windows = BrandWindows.from_state(cfg.window, state["w"])
        d.baseline = SeasonalBaseline.from_state(cfg.baseline, state["b"])
        d.last_tick, d.learned_upto, d.calm, d.cooldown_until = state["t"]
        d.protect = list(state["p"])
        d.incident = state["i"]
        d.offset = state.get("o", -1)
        return d

