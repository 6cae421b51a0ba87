"""What a brand's mention and negative rates normally are at this hour of this weekday.

Learned online, an hour at a time, from final buckets only. Counts are kept as discounted
sums (count, exposure) rather than means and variances, so a brand with 2 mentions an hour
gets an honest, wide estimate and the detector can use exact Poisson tails on it. Seasonality
is multiplicative (hour-of-day x day-of-week), estimated from total volume (more counts than
negatives) and shrunk towards 1 when there is little data. An hour flagged anomalous does not
teach the baseline: a crisis must not raise its own brand's bar.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

HOUR_S = 3600


@dataclass(frozen=True, slots=True)
class BaselineConfig:
    """Memory of the level and of the seasonal profile, and the priors used when data is thin."""

    level_hours: float = 72.0  # level memory (e-folding), in hours
    season_days: float = 14.0  # hour-of-day profile memory, in days
    weekday_weeks: float = 4.0  # day-of-week profile memory, in weeks
    season_prior: float = 30.0  # pseudo-mentions pulling each seasonal factor to 1
    prior_count: float = 1.0  # pseudo-negatives ...
    prior_minutes: float = 60.0  # ... over pseudo-minutes: with no data, 1 per hour
    max_catch_up_hours: int = 24 * 14


class SeasonalBaseline:
    """Discounted, deseasonalised counts of one brand; ``expected(ts)`` per minute."""

    __slots__ = ("cfg", "c_neg", "t_neg", "c_all", "t_all", "hod_c", "hod_e", "dow_c", "dow_e",
                 "hour", "acc_neg", "acc_all", "skip_neg", "skip_all")

    def __init__(self, cfg: BaselineConfig) -> None:
        self.cfg = cfg
        self.c_neg = self.t_neg = self.c_all = self.t_all = 0.0
        self.hod_c = [0.0] * 24
        self.hod_e = [0.0] * 24
        self.dow_c = [0.0] * 7
        self.dow_e = [0.0] * 7
        self.hour: int | None = None  # hour index being accumulated
        self.acc_neg = self.acc_all = 0.0
        self.skip_neg = self.skip_all = False

    # -- reading --------------------------------------------------------------------------
    def season(self, ts: float) -> float:
        """Multiplier of the level for the hour containing ``ts`` (1.0 with no data)."""
        hour = int(ts // HOUR_S)
        h, d = hour % 24, (hour // 24 + 3) % 7  # epoch day 0 was a Thursday; 0 = Monday
        k = self.cfg.season_prior
        return ((self.hod_c[h] + k) / (self.hod_e[h] + k)) * ((self.dow_c[d] + k) / (self.dow_e[d] + k))

    def expected_negatives(self, ts: float) -> float:
        """Expected negatives per minute at ``ts`` (prior-smoothed: never zero)."""
        cfg = self.cfg
        return (self.c_neg + cfg.prior_count) / (self.t_neg + cfg.prior_minutes) * self.season(ts)

    def expected_mentions(self, ts: float) -> float:
        cfg = self.cfg
        return (self.c_all + cfg.prior_count) / (self.t_all + cfg.prior_minutes) * self.season(ts)

    def negative_share(self) -> float:
        """Long-run share of negatives (Laplace-smoothed)."""
        return (self.c_neg + 1.0) / (self.c_all + 2.0)

    def history_minutes(self) -> float:
        return self.t_neg

    # -- learning -------------------------------------------------------------------------
    def learn(self, ts: float, negatives: float, mentions: float, skip_neg: bool, skip_all: bool) -> None:
        """Add one final bucket starting at ``ts``; buckets must come in time order."""
        hour = int(ts // HOUR_S)
        self.close_before(hour)
        if self.hour is None:
            self.hour = hour
        if self.hour == hour:
            self.acc_neg += negatives
            self.acc_all += mentions
            self.skip_neg |= skip_neg
            self.skip_all |= skip_all

    def close_before(self, hour: int) -> None:
        """Learn every hour before ``hour``; hours with no final buckets were silent (zeros)."""
        if self.hour is None or self.hour >= hour:
            return
        gap = hour - self.hour
        if gap > self.cfg.max_catch_up_hours:  # long silence: learn the last stretch only
            self._learn_hour(self.hour)
            self.hour = hour - self.cfg.max_catch_up_hours
        while self.hour < hour:
            self._learn_hour(self.hour)
            self.hour += 1
        self.hour = hour

    def _learn_hour(self, hour: int) -> None:
        cfg = self.cfg
        ts = hour * HOUR_S
        season = self.season(ts)
        g = math.exp(-1.0 / cfg.level_hours)
        if not self.skip_all:
            level_all = (self.c_all + cfg.prior_count) / (self.t_all + cfg.prior_minutes)
            h, d = hour % 24, (hour // 24 + 3) % 7
            gh = math.exp(-1.0 / cfg.season_days)
            gd = math.exp(-1.0 / (cfg.weekday_weeks * 24))
            hod = (self.hod_c[h] + cfg.season_prior) / (self.hod_e[h] + cfg.season_prior)
            dow = (self.dow_c[d] + cfg.season_prior) / (self.dow_e[d] + cfg.season_prior)
            if self.t_all > 0:
                self.hod_c[h] = gh * self.hod_c[h] + self.acc_all
                self.hod_e[h] = gh * self.hod_e[h] + 60.0 * level_all * dow
                self.dow_c[d] = gd * self.dow_c[d] + self.acc_all
                self.dow_e[d] = gd * self.dow_e[d] + 60.0 * level_all * hod
            self.c_all = g * self.c_all + self.acc_all / season
            self.t_all = g * self.t_all + 60.0
        if not self.skip_neg:
            self.c_neg = g * self.c_neg + self.acc_neg / season
            self.t_neg = g * self.t_neg + 60.0
        self.acc_neg = self.acc_all = 0.0
        self.skip_neg = self.skip_all = False

    # -- state ----------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        r = _round
        return {
            "n": [r(self.c_neg), r(self.t_neg), r(self.c_all), r(self.t_all)],
            "hc": [r(x) for x in self.hod_c], "he": [r(x) for x in self.hod_e],
            "dc": [r(x) for x in self.dow_c], "de": [r(x) for x in self.dow_e],
            "a": [self.hour, r(self.acc_neg), r(self.acc_all), self.skip_neg, self.skip_all],
        }

    @classmethod
    def from_state(cls, cfg: BaselineConfig, state: dict[str, Any]) -> SeasonalBaseline:
        b = cls(cfg)
        b.c_neg, b.t_neg, b.c_all, b.t_all = state["n"]
        b.hod_c, b.hod_e = list(state["hc"]), list(state["he"])
        b.dow_c, b.dow_e = list(state["dc"]), list(state["de"])
        b.hour, b.acc_neg, b.acc_all, b.skip_neg, b.skip_all = state["a"]
        return b


def _round(x: float) -> float:
    return float(f"{x:.6g}")
