"""What a brand's mention and negative rates normally are at this hour of this weekday.

Learned online, an hour at a time, from final buckets only. Counts are kept as discounted
sums (count, exposure) rather than means and variances, so a brand with 2 mentions an hour
gets an honest, wide estimate and the detector can use exact Poisson tails on it; exposure is
minutes times the hour's seasonal factor, so an hour weighs what its counts say (a night with
three mentions does not speak for the day). Seasonality
is multiplicative (hour-of-day x day-of-week), estimated from total volume (more counts than
negatives) and shrunk towards 1 by as much as its noise calls for (empirical Bayes: a brand
whose nights are clearly quiet keeps quiet nights; one seen too little to tell stays flat); what
noise is left widens the detector's tails. Both profiles are kept in the brand's own local time
(``tz``, an IANA zone from the brands file; UTC if none): its weekend starts at its midnight,
not at UTC's, and its daily curve stays put when its clocks change for summer time.

Minutes of an open incident do not teach the baseline: a crisis must not raise its own brand's
bar, and the recent level learns an hour only up to what it could explain and is read as it
stood a few hours ago (the *settled* level), so a slow rise that has not paged yet does not
raise it either. Where the recent level has been rising (a drift), it is projected along its
trend to now (``trend_negatives``), so a drift's chance ups and downs are not judged against
where it was ten hours ago.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline.core.stats import floor_div, poisson_sf

HOUR_S: Final = 3600


@dataclass(frozen=True, slots=True)
class BaselineConfig:
    """Memory of the level and of the seasonal profile, and the priors used when data is thin."""

    level_hours: float = 72.0  # level memory (e-folding), in hours
    recent_hours: float = 6.0  # memory of the *recent* level a rise must also beat (drifts follow it)
    share_prior: float = 60.0  # pseudo-mentions pulling the recent negative share to the long-run one
    recent_clip: float = 3.0  # an hour teaches the recent level at most expected + clip x sqrt(expected) + 1
    recent_lag_hours: int = 4  # the detector reads the recent level as it stood before the last this many hours
    settled_floor_z: float = 1.0  # the expectation is never below the settled level less this many standard errors (inf: off)
    trend_hours: float = 24.0  # memory of the recent level's trend, projected to now (0: off; see trend_negatives)
    trend_z: float = 1.0  # ... less this many standard errors, where that is above the settled level
    restart_ratio: float = 10.0  # in the first day, an hour with this many times the mentions of all before it starts the baseline again (0: off)
    profile_clip: float = 3.0  # an hour teaches the seasonal profile at most this x its expected mentions (+ 3 roots + 1; 0: off)
    season_days: float = 14.0  # hour-of-day profile memory, in days
    weekday_weeks: float = 4.0  # day-of-week profile memory, in weeks
    prior_count: float = 1.0  # pseudo-negatives ...
    prior_minutes: float = 60.0  # ... over pseudo-minutes: with no data, 1 per hour
    max_catch_up_hours: int = 24 * 14
    dispersion: bool = False  # learn the brand's overdispersion (else counts are Poisson around the rate)
    disp_hours: float = 336.0  # overdispersion memory (e-folding), in hours
    disp_prior: float = 3.0  # prior negative-binomial size (extra-Poisson rate variation) ...
    disp_prior_buckets: float = 24.0  # ... worth this many buckets of evidence (2 hours of 5-minute ones)
    disp_clip: float = 6.0  # a bucket's squared deviation is capped at clip^2 x its variance
    disp_anomalous: bool = True  # incident buckets teach the dispersion too (clipped): spiky brands stay spiky

    def __post_init__(self) -> None:
        if not self.settled_floor_z >= 0:
            raise ValueError(f"settled_floor_z must be >= 0 (inf: off), got {self.settled_floor_z}")
        if not (self.trend_hours >= 0 and math.isfinite(self.trend_hours)):
            raise ValueError(f"trend_hours must be a number >= 0 (0: off), got {self.trend_hours}")
        if not (self.trend_z >= 0 and math.isfinite(self.trend_z)):
            raise ValueError(f"trend_z must be a number >= 0, got {self.trend_z}")
        if not (self.restart_ratio >= 0 and math.isfinite(self.restart_ratio)):
            raise ValueError(f"restart_ratio must be a number >= 0 (0: off), got {self.restart_ratio}")
        if not (self.profile_clip >= 0 and math.isfinite(self.profile_clip)):
            raise ValueError(f"profile_clip must be a number >= 0 (0: off), got {self.profile_clip}")


class SeasonalBaseline:
    """Discounted counts of one brand over their seasonal exposure; ``expected(ts)`` per minute."""

    __slots__ = ("cfg", "c_neg", "t_neg", "c_all", "t_all", "r_neg", "rt_neg", "r_all", "rt_all", "hod_c", "hod_e", "dow_c", "dow_e",
                 "hour", "tr", "past_tr", "acc_neg", "acc_all", "acc_prof", "skip_neg", "skip_all", "_hod", "_dow", "_hod_var", "_dow_var", "hours_seen", "held_neg", "held_all",
                 "disp", "acc_dev", "bucket_min", "_hourly_state", "past", "clock", "unseen")

    def __init__(self, cfg: BaselineConfig, tz: str | None = None) -> None:
        self.cfg = cfg
        self.clock = LocalClock(tz)  # the brand's zone: hour-of-day and day-of-week are local (None: UTC)
        self.c_neg = self.t_neg = self.c_all = self.t_all = 0.0
        self.r_neg = self.rt_neg = self.r_all = self.rt_all = 0.0  # the same with recent_hours memory
        self.hod_c = [0.0] * 24  # discounted mentions seen in each hour of the day ...
        self.hod_e = [0.0] * 24  # ... over discounted hours observed
        self.dow_c = [0.0] * 7  # likewise per day of the week
        self.dow_e = [0.0] * 7
        self.hour: int | None = None  # hour index being accumulated
        self.hours_seen = 0  # hours learned so far (not discounted): the warm-up clock
        self.acc_neg = self.acc_all = 0.0
        self.acc_prof = 0.0  # this hour's mentions, each author once (what the profile learns)
        self.skip_neg = self.skip_all = 0.0  # minutes of the hour not learned (an incident)
        self.unseen = 0.0  # minutes of the hour not observed at all (the input was down: see unobserved)
        self.held_neg = self.held_all = 0.0  # this hour's counts in minutes not learned (the recent level learns them)
        self._hod = [1.0] * 24
        self._dow = [1.0] * 7
        self._hod_var = [0.0] * 24  # relative variance of each factor (what shrinking left of its noise)
        self._dow_var = [0.0] * 7
        # Overdispersion by moments, per signal (negatives, mentions): discounted sums of
        # clipped (x - mu)^2 - x, of mu^2 and of buckets, over final buckets (see disp_anomalous).
        self.disp = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        self.acc_dev = [0.0, 0.0, 0.0, 0.0]  # this hour: sum of clipped (x-mu)^2 - x, buckets (neg, all)
        self.bucket_min = 1.0
        self._hourly_state: tuple[int, dict[str, list[float]]] | None = None  # see to_state
        # The recent sums (r_neg, rt_neg, r_all, rt_all) after each of the last recent_lag_hours + 1
        # hours learned, oldest first: the detector's "settled" level (see settled_negatives)
        self.past: list[list[float]] = []
        # Discounted sums over hours (age a, exposure e, clipped negatives n): e, e a, e a^2, n, n a
        self.tr = [0.0, 0.0, 0.0, 0.0, 0.0]
        self.past_tr: list[list[float]] = []

    # -- reading --------------------------------------------------------------------------
    def season(self, ts: float) -> float:
        """Multiplier of the level for the hour containing ``ts`` (1.0 with no data)."""
        hour = self.local_hour(int(ts // HOUR_S))
        return self._hod[hour % 24] * self._dow[(hour // 24 + 3) % 7]  # epoch day 0 was a Thursday

    def season_variance(self, ts: float) -> float:
        """Relative variance of ``season(ts)``: the seasonal factors are estimates too."""
        hour = self.local_hour(int(ts // HOUR_S))
        return self._hod_var[hour % 24] + self._dow_var[(hour // 24 + 3) % 7]

    @property
    def tz(self) -> str | None:
        return self.clock.tz

    def local_hour(self, hour: int) -> int:
        """The brand's local clock hour of UTC ``hour`` (``LocalClock.hour``)."""
        return self.clock.hour(hour)

    def _refresh_season(self) -> None:
        self._hod, self._hod_var = _shrunk_factors(self.hod_c, self.hod_e, daily=True)
        self._dow, self._dow_var = _shrunk_factors(self.dow_c, self.dow_e)

    def expected_negatives(self, ts: float) -> float:
        """Expected negatives per minute at ``ts`` (prior-smoothed: never zero)."""
        cfg = self.cfg
        return (self.c_neg + cfg.prior_count) / (self.t_neg + cfg.prior_minutes) * self.season(ts)

    def expected_mentions(self, ts: float) -> float:
        cfg = self.cfg
        return (self.c_all + cfg.prior_count) / (self.t_all + cfg.prior_minutes) * self.season(ts)

    def _recent_rate(self, r: float, rt: float, c: float, t: float, ts: float) -> float:
        """A recent level per minute at ``ts`` from its sums ``r`` over ``rt`` minutes, shrunk towards
        the long-run level ``c`` / ``t`` by ``prior_minutes`` (not towards the prior: a quiet hour
        says little)."""
        cfg = self.cfg
        level = (c + cfg.prior_count) / (t + cfg.prior_minutes)
        return (r + level * cfg.prior_minutes) / (rt + cfg.prior_minutes) * self.season(ts)

    def _recent_share(self, r_neg: float, r_all: float) -> float:
        """A recent negative share, shrunk towards the long-run one by ``share_prior`` mentions."""
        k = self.cfg.share_prior
        return (r_neg + k * self.negative_share()) / (r_all + k)

    def recent_negatives(self, ts: float) -> float:
        """Expected negatives per minute at ``ts`` from the last ``recent_hours`` only."""
        return self._recent_rate(self.r_neg, self.rt_neg, self.c_neg, self.t_neg, ts)

    def recent_mentions(self, ts: float) -> float:
        return self._recent_rate(self.r_all, self.rt_all, self.c_all, self.t_all, ts)

    def _settled(self) -> list[float]:
        """The recent sums as they stood before the last ``recent_lag_hours`` (now, until known)."""
        if self.past:
            return self.past[0]
        return [self.r_neg, self.rt_neg, self.r_all, self.rt_all]

    def settled_negatives(self, ts: float) -> float:
        """``recent_negatives`` as it stood ``recent_lag_hours`` ago: the level a rise must beat.

        Why: a slow burst (doubling every 45 minutes) grows for two hours before it can be told
        from noise, and the recent level learns those hours (each up to what it could explain: on a
        small brand, twice its level). Against the level of hours ago the rise is as surprising as
        it is; a drift over days is as unsurprising, its level then barely lower than now."""
        past = self._settled()
        return self._lifted(self._recent_rate(past[0], past[1], self.c_neg, self.t_neg, ts), ts)

    def _lifted(self, level: float, ts: float) -> float:
        """``level``, or the trend's projection (``trend_negatives``) where that is higher."""
        if self.cfg.trend_hours > 0:
            trend = self.trend_negatives(ts)
            if trend > level:
                return trend
        return level

    def trend_negatives(self, ts: float) -> float:
        """The recent level's trend as it stood ``recent_lag_hours`` ago, projected to ``ts``, less
        ``trend_z`` standard errors; per minute, 0 where it is not rising (or not known).

        Why: a share that creeps up by several percent an hour (a drift's first day) is 30-70%
        above the settled level, which is the level of ~10 hours ago (6 hours' memory, read 4
        hours back), and its chance ups and downs then pass every test: over suite seeds 2-31 they
        made 25 of 66 false incidents. A line fitted by weighted least squares to the clipped
        hourly counts the recent level learns (``trend_hours`` of memory, Poisson weights), as it
        stood when the settled level did - a slow burst's first hours are not in it - and
        projected to now, expects them nearer where they are: 9 of those 25 remain, and 48 false
        incidents of 66 in all, for 0.11 min more mean delay (docs/measurements.md, "Session 33").
        A lower bound, and a conservative one: the fit also sees the flat hours before a rise. A
        level that jumped and stayed, or is falling back, still fits a rising line for hours, and
        is expected higher for them (4% above it 30 hours after a step that tripled it)."""
        if not self.past_tr:
            return 0.0
        e0, e1, e2, c0, c1 = self.past_tr[0]
        d = e0 * e2 - e1 * e1
        if d <= 0.0 or c0 <= 0.0:
            return 0.0
        alpha = (c0 * e2 - c1 * e1) / d
        beta = (c0 * e1 - c1 * e0) / d
        if beta <= 0.0:
            return 0.0
        delta = ts / HOUR_S - (self.hour if self.hour is not None else 0) + len(self.past_tr) - 0.5
        rate = c0 / e0
        var = rate * (e2 + 2 * delta * e1 + delta * delta * e0) / d
        low = alpha + beta * delta - self.cfg.trend_z * math.sqrt(var)
        return low * self.season(ts) if low > 0.0 else 0.0

    def floored_negatives(self, ts: float) -> float:
        """``expected_negatives``, or the settled level where that is higher by more than
        ``settled_floor_z`` of its standard errors: what the detector's surprise test expects.

        Why: the seasonal level remembers three days, so a brand whose negatives crept up over the
        last day or two (a drift, a new normal) stays above it for days. Judged against it, such a
        brand's ordinary chance ups and downs are improbable; only the recent test (``p_recent``,
        a bar a hundred times looser than the surprise test's) held them back, and the 120 drifts
        of suite seeds 1-30 paged 42 times at it. Against the settled level, read from before a slow
        burst's first hours, a rise is as surprising as it is. Less one standard error: a settled
        level only noise above the seasonal one would raise the bar on a burst for nothing
        (docs/measurements.md, "Session 25")."""
        past = self._settled()
        settled = self._recent_rate(past[0], past[1], self.c_neg, self.t_neg, ts)
        return self._lifted(_floored(self.expected_negatives(ts), settled, past[0], self.cfg), ts)

    def floored_mentions(self, ts: float) -> float:
        past = self._settled()
        return _floored(self.expected_mentions(ts), self.settled_mentions(ts), past[2], self.cfg)

    def settled_mentions(self, ts: float) -> float:
        past = self._settled()
        return self._recent_rate(past[2], past[3], self.c_all, self.t_all, ts)

    def settled_counts(self, volume: bool) -> float:
        """The counts behind the settled level (its certainty)."""
        past = self._settled()
        return past[2] if volume else past[0]

    def settled_negative_share(self) -> float:
        """``recent_negative_share`` as it stood ``recent_lag_hours`` ago (see settled_negatives)."""
        past = self._settled()
        return self._recent_share(past[0], past[2])

    def negative_share(self) -> float:
        """Long-run share of negatives (Laplace-smoothed)."""
        return (self.c_neg + 1.0) / (self.c_all + 2.0)

    def recent_negative_share(self) -> float:
        """Share of negatives over the last ``recent_hours`` (shrunk: a quiet night says little): a
        share that crept up over days is usual by now."""
        return self._recent_share(self.r_neg, self.r_all)

    def quietest_rate(self) -> float:
        """Mentions per minute in the quietest hour of the day seen for half an hour or more (each
        author once, as the profile counts them; 0.0 before any): what a brand can be sure to
        expect while its daily cycle is still unknown (``Monitor``'s outages)."""
        rates = [c / (e * 60.0) for c, e in zip(self.hod_c, self.hod_e, strict=True) if e >= 0.5]
        return min(rates, default=0.0)

    def history_minutes(self) -> float:
        """How long this brand has been watched (the detector's warm-up clock)."""
        return 60.0 * self.hours_seen

    def size(self, volume: bool) -> float:
        """Negative-binomial size of a bucket's count around its expectation (inf: Poisson).

        Method of moments, 1/r = E[(x - mu)^2 - x] / E[mu^2], shrunk towards ``disp_prior``."""
        cfg = self.cfg
        if not cfg.dispersion:
            return math.inf
        num, den, n = self.disp[3:] if volume else self.disp[:3]
        if n <= 0 or den <= 0:
            return cfg.disp_prior
        w = cfg.disp_prior_buckets * den / n  # that many buckets at the mean mu^2 seen (den / n: per bucket)
        inv = (num + w / cfg.disp_prior) / (den + w)
        return 1.0 / inv if inv > 1e-6 else 1e6

    def _bucket_dev(self, k: int, x: float, mu: float) -> float:
        """A bucket's clipped (x - mu)^2 - x (its expected value is mu^2 / r)."""
        var = mu + mu * mu / self.size(k == 3)
        return min((x - mu) ** 2, self.cfg.disp_clip ** 2 * var) - x

    def _learn_disp(self, k: int, hour: int) -> None:
        """Close the hour's dispersion sums: buckets not seen held zero (their deviation is mu^2)."""
        j = 2 if k == 3 else 0
        dev, seen = self.acc_dev[j], self.acc_dev[j + 1]
        self.acc_dev[j] = self.acc_dev[j + 1] = 0.0
        if self.hours_seen < 24:  # the seasonal profile has not seen a day: residuals mean little
            return
        skipped = self.skip_all if k == 3 else self.skip_neg
        n = (60.0 - self.unseen - (0.0 if self.cfg.disp_anomalous else skipped)) / self.bucket_min
        if n <= 0:
            return
        rate = self.expected_mentions(hour * HOUR_S) if k == 3 else self.expected_negatives(hour * HOUR_S)
        mu = rate * self.bucket_min
        dev += max(0.0, n - seen) * mu * mu
        g = math.exp(-1.0 / self.cfg.disp_hours)
        d = self.disp
        d[k] = g * d[k] + dev
        d[k + 1] = g * d[k + 1] + n * mu * mu
        d[k + 2] = g * d[k + 2] + n

    # -- learning -------------------------------------------------------------------------
    def learn(self, ts: float, negatives: float, mentions: float, skip_neg: bool, skip_all: bool,
              minutes: float = 1.0, authors: float = -1.0) -> None:
        """Add one final bucket of ``minutes`` starting at ``ts``; buckets must come in time order.

        A skipped bucket (an incident's) adds neither its counts nor its minutes: the baseline learns
        from the rest of the hour, unbiased. ``authors``: its mentions with each author counted once
        a clock hour (``Bucket.voices``; -1: as many as ``mentions``), what the seasonal profile learns.
        """
        hour = floor_div(ts, HOUR_S)
        if self.hour is not None and self.hour < hour:  # not the usual case: close_before, guarded
            self.close_before(hour)
        if self.hour is None:
            self.hour = hour
        if self.hour == hour:
            self.bucket_min = minutes
            if self.hours_seen >= 24 and self.cfg.dispersion:
                dev = self.acc_dev
                if negatives > 0 and (not skip_neg or self.cfg.disp_anomalous):
                    dev[0] += self._bucket_dev(0, negatives, self.expected_negatives(ts) * minutes)
                    dev[1] += 1
                if mentions > 0 and (not skip_all or self.cfg.disp_anomalous):
                    dev[2] += self._bucket_dev(3, mentions, self.expected_mentions(ts) * minutes)
                    dev[3] += 1
            if skip_neg:
                self.skip_neg += minutes
                self.held_neg += negatives
            else:
                self.acc_neg += negatives
            if skip_all:
                self.skip_all += minutes
                self.held_all += mentions
            else:
                self.acc_all += mentions
                self.acc_prof += mentions if authors < 0 else authors

    def unobserved(self, lo: float, hi: float) -> None:
        """Event time ``[lo, hi)`` was not observed at all - the input was down (``Monitor`` tells a
        stream's outage from its quiet): it teaches nothing. Learned as silence, a 6-hour outage of
        the whole stream put a zero day in every brand's profile (a brand at 40 an hour then expected
        28, its recent level read 24), and traffic's return opened 3-8 more incidents a suite
        (docs/measurements.md, "Session 35"). Hours
        wholly inside are skipped; the minutes of the others are not seen (levels, profile and
        recent level alike). Buckets before ``lo`` must have been learned, none inside it given."""
        if self.hour is None or hi <= lo:
            return
        first, last = floor_div(lo, HOUR_S), floor_div(hi, HOUR_S)
        self.close_before(first)
        while self.hour < last:
            self.unseen += (HOUR_S * (self.hour + 1) - max(lo, self.hour * HOUR_S)) / 60.0
            if self.unseen >= 60.0:  # not a minute of it seen: not an hour of history either
                self.acc_neg = self.acc_all = self.acc_prof = self.held_neg = self.held_all = 0.0
                self.skip_neg = self.skip_all = self.unseen = 0.0
                self.acc_dev = [0.0, 0.0, 0.0, 0.0]
            else:
                self._learn_hour(self.hour)
            self.hour += 1
        self.unseen += (hi - max(lo, last * HOUR_S)) / 60.0

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

    def _starts_here(self, hour: int) -> bool:
        """True if, within the first day, this hour brings ``restart_ratio`` times the mentions of all
        the hours before it, and more than their level could bring by chance (a Poisson tail below
        1e-6): the brand's traffic starts here, and what came before was a trickle (mentions from
        before its collection began, a backfill's stragglers). Learned whole, a trickle's silent hours
        read as the brand's daily profile: on the airline stream, American's two stray mentions seven
        hours before its traffic set its 7 am-2 pm factors at 0.00-0.10, and the next morning expected
        0.4 negatives an hour where 32-38 came (docs/measurements.md, "Session 35"). A quiet night is
        not a trickle: the airlines first seen at night had 1.2-4.4 times their night's mentions in
        their first busy hour, American 16 times.
        """
        cfg = self.cfg
        if cfg.restart_ratio <= 0 or not 0 < self.hours_seen < 24:
            return False
        count = self.acc_all + self.held_all
        if count < cfg.restart_ratio * self.c_all:
            return False
        return poisson_sf(count, self.expected_mentions(hour * HOUR_S) * 60.0) < 1e-6

    def _restart(self) -> None:
        """Forget every hour learned (``_starts_here``); the hour being learned, and the clock, stay."""
        self.c_neg = self.t_neg = self.c_all = self.t_all = 0.0
        self.r_neg = self.rt_neg = self.r_all = self.rt_all = 0.0
        self.hod_c, self.hod_e = [0.0] * 24, [0.0] * 24
        self.dow_c, self.dow_e = [0.0] * 7, [0.0] * 7
        self.disp = [0.0] * 6
        self.tr = [0.0] * 5
        self.past, self.past_tr = [], []
        self.hours_seen = 0
        self._hourly_state = None
        self._refresh_season()

    def _learn_hour(self, hour: int) -> None:
        cfg = self.cfg
        if self._starts_here(hour):
            self._restart()
        season = self.season(hour * HOUR_S)
        g = math.exp(-1.0 / cfg.level_hours)
        observed = 60.0 - self.unseen  # minutes of this hour the input was up
        seen_all = max(0.0, observed - self.skip_all)  # minutes of this hour that may teach
        seen_neg = max(0.0, observed - self.skip_neg)
        if cfg.dispersion:
            self._learn_disp(3, hour)
            self._learn_disp(0, hour)
        # The recent level learns every minute of the hour, an incident's too (it is what the
        # brand is doing now: once an incident resolves, the same level does not page again), but
        # clipped at what it could explain (its expectation + recent_clip x its root + 1): a slow
        # burst that has not paged yet does not raise its own bar, a drift still creeps in.
        hour_neg, hour_all = self.acc_neg + self.held_neg, self.acc_all + self.held_all
        recent_neg = _clip(hour_neg, self.recent_negatives(hour * HOUR_S) * observed, cfg.recent_clip)
        recent_all = _clip(hour_all, self.recent_mentions(hour * HOUR_S) * observed, cfg.recent_clip)
        self.held_neg = self.held_all = 0.0
        if seen_all > 0:
            local = self.local_hour(hour)
            h, d = local % 24, (local // 24 + 3) % 7
            gh = math.exp(-1.0 / cfg.season_days)
            gd = math.exp(-1.0 / (cfg.weekday_weeks * 24))
            # Each profile learns from the hour's counts over its exposure weighted by the *other*
            # profile: a weekday seen only from midnight to 7 am is not a quiet weekday, it is a
            # day seen at night (see below for why the counts are not divided instead).
            # The profile learns each author once an hour (``learn``'s ``authors``), as the
            # negatives are counted: a few accounts flooding the brand are not its 3 am. Learned
            # whole, 4 bots posting 100 times an hour for 90 minutes, on the first of a weekday,
            # set that day's factor so high that the brand expected 2.3 x its negatives for the
            # rest of the day (docs/measurements.md, "Session 37").
            # An hour teaches the profile at most profile_clip x what it expected (once a day is
            # seen): a bot or one account posting 240 times an hour is not the brand's 3 pm, and
            # learned whole it set that hour's factor at 9.7 for days, every other hour at a tenth
            # to a half of its truth (docs/measurements.md, "Session 33"). The levels learn it all.
            profile_all = self.acc_prof
            if cfg.profile_clip > 0 and self.hours_seen >= 24:
                usual = cfg.profile_clip * self.expected_mentions(hour * HOUR_S) * seen_all
                profile_all = _clip(profile_all, usual, 3.0)
            self.hod_c[h] = gh * self.hod_c[h] + profile_all
            self.hod_e[h] = gh * self.hod_e[h] + seen_all / 60.0 * self._dow[d]
            self.dow_c[d] = gd * self.dow_c[d] + profile_all
            self.dow_e[d] = gd * self.dow_e[d] + seen_all / 60.0 * self._hod[h]
            self._refresh_season()
        # Levels are counts over *seasonal exposure* (minutes x the hour's factor): a Poisson rate's
        # estimate with the season as its offset, in which an hour weighs what its counts say. Counts
        # divided by the factor instead weigh every hour alike, and a quiet hour's few counts were
        # multiplied by 10-20: on real airline mentions (nights at 0.05-0.1 of the mean) a weekday
        # factor reached 4.6 after a week and the expected negatives were 4x the truth by day, so
        # 44% of injected bursts went unseen (`make bench-airline`; docs/measurements.md, "Session 24").
        self.c_all = g * self.c_all + self.acc_all
        self.t_all = g * self.t_all + seen_all * season
        self.c_neg = g * self.c_neg + self.acc_neg
        self.t_neg = g * self.t_neg + seen_neg * season
        gr = math.exp(-1.0 / cfg.recent_hours)
        self.r_all = gr * self.r_all + recent_all
        self.rt_all = gr * self.rt_all + observed * season
        self.r_neg = gr * self.r_neg + recent_neg
        self.rt_neg = gr * self.rt_neg + observed * season
        self.acc_neg = self.acc_all = self.acc_prof = 0.0
        self.skip_neg = self.skip_all = self.unseen = 0.0
        self.hours_seen += 1
        self.past.append([self.r_neg, self.rt_neg, self.r_all, self.rt_all])
        if len(self.past) > cfg.recent_lag_hours + 1:
            del self.past[0]
        if cfg.trend_hours > 0:
            gt = math.exp(-1.0 / cfg.trend_hours)
            e0, e1, e2, c0, c1 = self.tr
            e = observed * season
            self.tr = [gt * e0 + e, gt * (e1 + e0), gt * (e2 + 2 * e1 + e0), gt * c0 + recent_neg, gt * (c1 + c0)]
            self.past_tr.append(self.tr)
            if len(self.past_tr) > cfg.recent_lag_hours + 1:
                del self.past_tr[0]

    # -- state ----------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """The state, numbers rounded to 6 significant digits (small in the table).

        The worker writes every changed brand at each commit, but ~110 of the ~120 numbers change
        only when an hour is learned (``_learn_hour`` counts ``hours_seen`` up): those are
        rounded once per hour and reused; only this hour's accumulators are rounded each time.
        """
        r = _round
        cached = self._hourly_state
        if cached is None or cached[0] != self.hours_seen:
            hourly = {
                "n": [r(self.c_neg), r(self.t_neg), r(self.c_all), r(self.t_all)],
                "r": [r(self.r_neg), r(self.rt_neg), r(self.r_all), r(self.rt_all)],
                "hc": [r(x) for x in self.hod_c], "he": [r(x) for x in self.hod_e],
                "dc": [r(x) for x in self.dow_c], "de": [r(x) for x in self.dow_e],
                "d": [r(x) for x in self.disp],
                "rl": [r(x) for snap in self.past for x in snap],
                "tr": [r(x) for x in self.tr],
                "tl": [r(x) for snap in self.past_tr for x in snap],
            }
            self._hourly_state = cached = (self.hours_seen, hourly)
        hourly = cached[1]
        dev = self.acc_dev
        state = {
            "n": hourly["n"][:], "r": hourly["r"][:], "hc": hourly["hc"][:], "he": hourly["he"][:],
            "dc": hourly["dc"][:], "de": hourly["de"][:],
            "a": [self.hour, r(self.acc_neg), r(self.acc_all), self.skip_neg, self.skip_all, self.hours_seen],
            "d": [*hourly["d"], r(dev[0]), r(dev[1]), r(dev[2]), r(dev[3]), self.bucket_min],
            "h": [r(self.held_neg), r(self.held_all)],
            "ap": r(self.acc_prof),
        }
        if hourly["rl"]:
            state["rl"] = hourly["rl"][:]
        if hourly["tl"]:  # the trend's sums (only with trend_hours)
            state["tr"], state["tl"] = hourly["tr"][:], hourly["tl"][:]
        if self.tz:
            state["tz"] = self.tz
        if self.unseen:
            state["u"] = self.unseen
        return state

    @classmethod
    def from_state(cls, cfg: BaselineConfig, state: dict[str, Any], tz: str | None = None) -> SeasonalBaseline:
        """The state ``to_state`` wrote. If the brand's time zone has changed since (``tz`` against
        the state's), its hour-of-day profile is turned by the difference, as the offsets stand
        now: a daily curve learned in UTC is read at the same instants in local time."""
        b = cls(cfg, tz)
        b.c_neg, b.t_neg, b.c_all, b.t_all = state["n"]
        b.r_neg, b.rt_neg, b.r_all, b.rt_all = state.get("r", state["n"])  # older states: start from the level
        b.hod_c, b.hod_e = list(state["hc"]), list(state["he"])
        b.dow_c, b.dow_e = list(state["dc"]), list(state["de"])
        b.hour, b.acc_neg, b.acc_all, b.skip_neg, b.skip_all, b.hours_seen = state["a"]
        if "d" in state:
            d = state["d"]
            b.disp, b.acc_dev, b.bucket_min = list(d[:6]), list(d[6:10]), d[10]
        b.unseen = state.get("u", 0.0)
        b.acc_prof = state.get("ap", b.acc_all)  # older states: the hour's mentions
        if "h" in state:  # older states: nothing held back
            b.held_neg, b.held_all = state["h"]
        flat = state.get("rl", ())  # older states: the settled level reads the current one until hours are learned
        b.past = [list(flat[i:i + 4]) for i in range(0, len(flat) - 3, 4)][-(cfg.recent_lag_hours + 1):]
        if "tr" in state:  # older states, or the trend off when written: it starts from nothing
            b.tr = list(state["tr"])
            flat = state["tl"]
            b.past_tr = [list(flat[i:i + 5]) for i in range(0, len(flat) - 4, 5)][-(cfg.recent_lag_hours + 1):]
        was: str | None = state.get("tz")
        if was != tz and b.hour is not None:
            try:
                before = LocalClock(was).hour(b.hour)
            except (ZoneInfoNotFoundError, ValueError):  # a zone unknown here (an older tzdata): read as UTC
                before = b.hour
            turn = b.local_hour(b.hour) - before
            b.hod_c = [b.hod_c[(i - turn) % 24] for i in range(24)]
            b.hod_e = [b.hod_e[(i - turn) % 24] for i in range(24)]
        b._refresh_season()
        return b


class LocalClock:
    """UTC hours since the epoch to a zone's local clock hours, counted the same way: ``% 24`` is
    the local hour of the day, ``// 24`` the local day. The offset is read at the middle of each
    hour, rounded to whole hours (a zone a half hour off rounds to the nearest; summer time moves
    it by one); the last hour read is kept, as each is read many times a tick."""

    __slots__ = ("tz", "_zone", "_last")

    def __init__(self, tz: str | None) -> None:
        self.tz = tz  # an IANA name; None (or ""): UTC
        self._zone = ZoneInfo(tz) if tz else None
        self._last = (-1, 0)  # (UTC hour, its local hour)

    def hour(self, hour: int) -> int:
        if self._zone is None:
            return hour
        last, local = self._last
        if last != hour:
            offset = datetime.fromtimestamp(hour * HOUR_S + HOUR_S // 2, self._zone).utcoffset()
            local = hour + (round(offset.total_seconds() / HOUR_S) if offset is not None else 0)
            self._last = (hour, local)
        return local


def _floored(expected: float, settled: float, counts: float, cfg: BaselineConfig) -> float:
    """``expected``, or ``settled`` less ``settled_floor_z`` standard errors (its ``counts``) if higher."""
    floor = settled * (1.0 - cfg.settled_floor_z / math.sqrt(counts + cfg.prior_count))
    return floor if floor > expected else expected


def _shrunk_factors(counts: list[float], hours: list[float], daily: bool = False) -> tuple[list[float], list[float]]:
    """Seasonal factors (mean 1) and their relative variances, from each slot's counts and hours.

    Each slot's raw factor (its mean count per hour over the overall mean) is pulled towards a
    centre by its noise over the spread of the factors around it (James-Stein): with ``v`` a
    slot's sampling variance and ``tau2`` the spread the raw factors show beyond their noise, the
    slot keeps ``tau2 / (tau2 + v)`` of its departure from the centre. The variance left (``v``
    times the same weight, plus the centre's own) is returned relative to each factor, for the
    detector's tails.

    The centre is flat (1) for the days of the week. For the hours of the day (``daily``) it is
    the day's smooth curve, its first harmonic, fitted on all 24 hours and itself shrunk by its
    noise: neighbouring hours share the day's shape, so a brand of 2 mentions an hour, whose hour
    slots hold ~10 mentions each after five days, still knows its nights from its afternoons.
    Pulled towards flat, its night factor stayed near 0.6 where the truth was 0.25 (on the suite
    its expected negatives at night were 1.59 x the truth's, median of 28 bursts on such brands;
    docs/measurements.md, "Session 20"). A flat brand's harmonic is shrunk to nothing and it stays
    flat; a large brand's slots have little noise and keep their own values.
    """
    n = len(counts)
    total_h = sum(hours)
    overall = sum(counts) / total_h if total_h > 0 else 0.0
    if overall <= 0:
        return [1.0] * n, [0.0] * n
    raw = [1.0] * n
    noise = [-1.0] * n  # -1: a slot never observed
    seen = 0
    noise_sum = 0.0
    for i in range(n):
        e = hours[i] * overall  # the slot's expected count were it average
        if e > 0:
            raw[i] = counts[i] / e
            noise[i] = (counts[i] + 1.0) / (e * e)  # Poisson; +1 so an empty slot is not certain
            noise_sum += noise[i]
            seen += 1
    centre, centre_var = [1.0] * n, 0.0
    if daily and n == 24 and seen == n:  # the curve needs every hour seen (a brand's first day)
        centre, centre_var = _first_harmonic(raw, noise_sum / n)
    spread = 0.0
    for i in range(n):
        if noise[i] >= 0:
            d = raw[i] - centre[i]
            spread += d * d
    tau2 = max(0.0, (spread - noise_sum) / n)
    factors = centre  # filled in place: a slot never observed keeps the centre (flat, then: the curve needs all 24)
    variances = [tau2] * n  # ... with the spread's variance
    for i in range(n):
        v = noise[i]
        if v >= 0:
            w = tau2 / (tau2 + v) if tau2 + v > 0 else 0.0
            factors[i] = centre[i] + w * (raw[i] - centre[i])
            variances[i] = w * v + (1.0 - w) * (1.0 - w) * centre_var
    mean = sum(factors) / n
    out = [1.0] * n
    rel = [0.0] * n
    for i in range(n):
        f = factors[i] / mean
        out[i] = f
        rel[i] = variances[i] / (mean * mean) / (f * f if f * f > 1e-6 else 1e-6)
    return out, rel


_COS: Final = [math.cos(2.0 * math.pi * i / 24.0) for i in range(24)]
_SIN: Final = [math.sin(2.0 * math.pi * i / 24.0) for i in range(24)]


def _first_harmonic(raw: list[float], noise: float) -> tuple[list[float], float]:
    """The 24 hourly factors' first harmonic ``1 + s (a cos + b sin)`` and its variance, from raw
    factors of mean sampling variance ``noise``: ``a`` and ``b`` each have variance ``2 noise / 24``,
    and ``s`` keeps of the fitted amplitude what stands out of that noise (positive-part James-Stein),
    so a flat day's harmonic is ~0. The variance returned, ``s`` times a coefficient's, errs high."""
    a = b = 0.0
    for i in range(24):
        a += (raw[i] - 1.0) * _COS[i]
        b += (raw[i] - 1.0) * _SIN[i]
    a /= 12.0
    b /= 12.0
    var = noise / 12.0
    amp2 = a * a + b * b
    s = max(0.0, 1.0 - 2.0 * var / amp2) if amp2 > 0 else 0.0
    a *= s
    b *= s
    curve = [1.0] * 24
    for i in range(24):
        curve[i] = max(0.02, 1.0 + a * _COS[i] + b * _SIN[i])
    return curve, s * var


def _clip(count: float, expected: float, k: float) -> float:
    """``count``, at most ``expected + k * sqrt(expected) + 1``."""
    return min(count, expected + k * math.sqrt(expected) + 1.0)


def _round(x: float) -> float:
    """``x`` to 6 significant digits; a whole number below a million already is (counts: most of
    the accumulators), and the test is ~10x cheaper than the formatting."""
    if -1e6 < x < 1e6 and x == int(x):
        return float(x)
    return float(f"{x:.6g}")
