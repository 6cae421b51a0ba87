"""When to page: a brand's negative rate is above what its baseline explains *and* still growing.

Every minute of event time (a *tick*) each active brand is checked over trailing windows of
5, 10, 20, 40 and 80 minutes. A window *fires* when all of these hold:

- **surprise**: the collapsed negatives in the window are improbable under the brand's seasonal
  baseline - or under its recent level, as it stood ``recent_lag_hours`` ago, where that is
  clearly higher: a drift's new normal (``SeasonalBaseline.floored_negatives``) - (``p < p_open`` x the window's minutes / ``bar_minutes`` - 2.5e-7 for 5 minutes, 1e-6
  for 20, 4e-6 for 80: a day holds 16 times as many distinct 5-minute windows as 80-minute ones,
  so as many chances of a fluke; an exact negative-binomial tail - a Poisson count whose rate is only
  as certain as the counts it was learned from, and whose mentions come in small chains, replies,
  ``cluster_excess`` - so 6 negatives on a brand that expects 0.2 can fire, 130 on a brand that
  expects 100 cannot, and a brand known from a handful of mentions needs more evidence) - *or*
  the growth-shaped test passes (``_shape_llr``: the likelihood ratio of a rise shaped like an
  accelerating burst over the last 160 minutes, above ln(1 / ``p_open``) less ``shape_slack``);
- **share**: negatives are a larger share of the brand's mentions than usual - than over the
  last days and than over the last few hours, as they stood ``recent_lag_hours`` ago (binomial
  tail ``< p_share``): a viral positive or neutral burst lifts negatives with volume and is
  ignored, and so is a share that crept up - *or* the window's other mentions are as many as
  usual (``_others_calm``: Poisson tail at least ``p_calm``, where the baseline expects at least
  ``calm_min_others``): nothing else rose, so the negatives rose alone, which a small brand's
  share takes long to show;
- **growth**: the window holds at least ``growth`` x the previous window of the same length
  (and of its expectation) - less on large counts, where a smaller ratio is already far beyond
  noise: ``1 + growth_z / sqrt(count)``, not below ``growth_floor`` - *or*, where the window
  expects at least ``accel_min``, its last 160 minutes are spread like an accelerating rise
  (``_accelerating``: above ``accel_bar``) - and is improbable under
  the brand's recent level too (``p_recent``; its level of the last few hours as it stood
  ``recent_lag_hours`` ago, before a slow burst's first hours, and no more certain than a level
  read hours back can be: ``recent_confidence``): a steady, chronically negative brand or a slow
  drift does not page;
- **crowd**: at least ``min_authors`` distinct authors (one account, or one pasted text, counts
  once - see :mod:`pipeline.core.windows`).

With ``relative_days`` (off by default; the NAB configuration), the surprise test's bar is the
brand's own: ``relative_factor`` x its typical day's most surprising window over those days - real
volume's tails differ by brand by orders of magnitude (routine bot blocks on one, none on another).

A minute is only evaluated when new signal reached the brand's windows (otherwise no count rose,
and nothing can start); an open incident is evaluated every minute. An incident opens on the
first firing tick, escalates when its severity rises, and resolves after ``resolve_minutes``
calm minutes (hysteresis); a brand then stays quiet for ``cooldown_minutes``. The first
``protect_minutes`` of an incident (and the window that opened it) do not teach the baseline;
everything else does, so a level that creeps up without paging - or that stays up for hours
after paging - becomes the new normal instead of paging day after day. Incident ids are derived from the brand and the opening minute, so a replay
of the same mentions produces the same ids and alerts (delivery deduplicates on them).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any, Final

from pipeline.core.baseline import BaselineConfig, SeasonalBaseline
from pipeline.core.drift import DailyTotals, DriftConfig
from pipeline.core.evidence import Evidence, bucket_counts, smallest, window_edges, window_layout
from pipeline.core.stats import binomial_sf, floor_div, growth_llr, negbin_logpmf, negbin_sf, poisson_sf
from pipeline.core.terms import top_terms
from pipeline.core.windows import BrandWindows, WindowConfig
from pipeline.records import SEVERITIES, format_time

SIGNALS: Final = ("negative", "volume")
_MAX_SLIDE: Final = 16  # ticks the window sums are slid one by one; further, they are rebuilt


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """The knobs a user may turn (see README, "Detection")."""

    signal: str = "negative"
    windows_min: tuple[int, ...] = (5, 10, 20, 40, 80)
    p_open: float = 1e-6  # sensitivity: smaller is quieter (see README, "Detection", for the trade-off) ...
    bar_minutes: float = 20.0  # ... the bar of a window this wide, scaled with the width (0: p_open for all; see window_bar)
    p_share: float = 1e-3
    p_calm: float = 0.05  # ... unless the other mentions are at least this unsurprising (0: off; see _others_calm) ...
    calm_min_others: float = 1.0  # ... where the baseline expects at least this many of them in the window
    growth: float = 2.0  # the window holds this x the previous one (and its expectation) on small counts ...
    growth_floor: float = 1.5  # ... and 1 + growth_z / sqrt(count), not below this, on large ones
    growth_z: float = 6.0
    p_recent: float = 3e-4  # a rise is improbable under the brand's recent level too (a drift is not a rise; 1e-4 until session 35)
    min_authors: int = 3
    warmup_minutes: float = 1440.0  # no paging before the brand has a day of baseline (its daily cycle)
    max_confidence: float = 200.0  # the baseline is never trusted like more than this many counts ...
    recent_confidence: float = 80.0  # ... nor the recent level, read hours back, like more than these (see _recent_surprise)
    cluster_excess: float = 0.02  # a window's count varies like (1 + this) x its mean beyond the rate's uncertainty (see _confidence)
    disp_window_exp: float = 0.0  # with a learned overdispersion: a window of k buckets averages it out like k^this
    # the growth-shaped surprise test (see _shape_llr): (doubling minutes, span minutes) of each shape; () off
    shapes: tuple[tuple[float, int], ...] = ((45.0, 160),)
    shape_slack: float = 4.0  # its bar on the log likelihood ratio: ln(1 / p_open) less this
    # the acceleration test (see _accelerating), standing in for a window's growth over the previous
    # one: its bar on the log likelihood ratio (0: off), and the negatives a window must expect for it
    accel_bar: float = 5.0
    accel_min: float = 15.0
    relative_days: int = 0  # > 0: a brand pages only above relative_factor x its typical day's worst surprise (volume)
    relative_factor: float = 1.5
    resolve_ratio: float = 2.0
    protect_minutes: int = 180  # an incident this old is the new level: the baseline learns it from then on
    resolve_minutes: int = 30
    cooldown_minutes: int = 60
    tick_lag_s: float = 10.0  # evaluate a minute this long after it ends (late arrivals)
    outage_minutes: float = 30.0  # a clock's gap this long is an outage of its input ...
    outage_expected: float = 14.0  # ... if its brands' baselines expected this many mentions in it (0: off; Monitor)
    window: WindowConfig = field(default_factory=WindowConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    drift: DriftConfig | None = field(default_factory=DriftConfig)  # the daily digest (negative signal only); None: off

    def __post_init__(self) -> None:
        if not (self.outage_expected >= 0 and self.outage_minutes * 60 > self.window.grace_s + self.tick_lag_s):
            raise ValueError(f"outage_expected must be >= 0 and outage_minutes longer than the grace, got "
                             f"{self.outage_expected}, {self.outage_minutes}")
        if self.signal not in SIGNALS:
            raise ValueError(f"signal: expected one of {SIGNALS}, got {self.signal!r}")
        if not self.bar_minutes >= 0:
            raise ValueError(f"bar_minutes must be >= 0, got {self.bar_minutes}")
        if not (self.max_confidence > 0 and self.recent_confidence > 0):
            raise ValueError(f"max_confidence and recent_confidence must be > 0, got {self.max_confidence}, "
                             f"{self.recent_confidence}")
        if not self.cluster_excess >= 0:
            raise ValueError(f"cluster_excess must be >= 0, got {self.cluster_excess}")
        if not (self.growth >= 1.0 and self.growth_floor >= 1.0 and self.growth_z >= 0.0):
            raise ValueError(f"growth and growth_floor must be >= 1 and growth_z >= 0, got {self.growth}, "
                             f"{self.growth_floor}, {self.growth_z}")
        if not (self.accel_bar >= 0 and self.accel_min >= 0):
            raise ValueError(f"accel_bar and accel_min must be >= 0 (accel_bar 0: off), got {self.accel_bar}, {self.accel_min}")
        if any(not d > 0 or w <= 0 for d, w in self.shapes):
            raise ValueError(f"shapes: expected (doubling minutes > 0, span minutes > 0) pairs, got {self.shapes}")
        points = window_layout(tuple(self.windows_min), self.window.bucket_s)[1]
        for _, span in self.shapes:
            if round(span * 60 / self.window.bucket_s) not in points[1:]:
                raise ValueError(f"shapes: a span must be one of the windows or twice one ({points[1:]} buckets "
                                 f"of {self.window.bucket_s} s), got {span} min")
        if not 0.0 <= self.p_calm <= 1.0:
            raise ValueError(f"p_calm must be within [0, 1] (0: off), got {self.p_calm}")
        if not self.calm_min_others >= 0.0:
            raise ValueError(f"calm_min_others must be >= 0, got {self.calm_min_others}")
        if self.relative_days < 0 or not self.relative_factor > 0:
            raise ValueError(f"relative_days must be >= 0 and relative_factor > 0, got {self.relative_days}, "
                             f"{self.relative_factor}")


class BrandDetector:
    """All state of one brand: open buckets, baseline, incident. Serialisable with to_state().

    Each tick needs the counts of ten trailing windows (five widths and the window before each).
    They are kept as running sums over *segments* - the spans between consecutive window edges -
    slid by one bucket per tick (two bucket reads per segment) and corrected when a late mention
    lands in a bucket already inside them, so a tick costs the same for 2 and for 2,000 mentions
    an hour. They are derived state: rebuilt from the buckets after a restore or a jump.
    """

    __slots__ = ("brand", "cfg", "windows", "baseline", "last_tick", "learned_upto",
                 "protect", "incident", "calm", "cooldown_until", "offset", "source_offset",
                 "_layout", "_edges", "_seg", "_seg_tick", "_rates", "_rates_key", "due", "_sig",
                 "day_surprise", "daily", "notices", "_log_bar", "_shape_w", "_shape_at", "_shape_val", "_accel_at", "_accel_val",
                 "_seg_exp_at", "_seg_exp")

    def __init__(self, brand: str, cfg: DetectorConfig, tz: str | None = None) -> None:
        self.brand = brand
        self.cfg = cfg
        self.windows = BrandWindows(cfg.window)
        self.baseline = SeasonalBaseline(cfg.baseline, tz)  # tz: the brand's time zone (its seasons are local)
        self.last_tick: int | None = None  # last bucket boundary evaluated
        self.learned_upto: int | None = None  # buckets below this index are final
        self.protect: list[list[int]] = []  # bucket ranges [a, b) the baseline must not learn
        self.incident: dict[str, Any] | None = None
        self.calm = 0
        self.cooldown_until = 0
        self.offset = -1  # the input position (e.g. Kafka offset) of the last mention applied
        self.source_offset = -1  # the same for mentions counted straight from the raw input (``Monitor.add_scored``)
        self._layout = window_layout(tuple(cfg.windows_min), cfg.window.bucket_s)
        self._edges = window_edges(self._layout[0])
        self._seg: list[list[int]] = []  # per segment: mentions, negatives, effective, authors, reach
        self._seg_tick: int | None = None  # the tick the segment sums end at
        self._rates: dict[int, float] = {}  # hour -> expected signal per minute (cache)
        self._rates_key = -1
        self.due: set[int] = set()  # ticks that see new signal (the first after each counted event)
        self._sig: set[int] = set()  # buckets that received signal (a superset; derived, not stored)
        self.day_surprise: dict[int, float] = {}  # day -> the most surprising window's -log10 p (relative_days)
        self.daily = DailyTotals(cfg.drift, tz) if cfg.drift is not None and cfg.signal == "negative" else None
        self.notices: list[dict[str, Any]] = []  # digest notices of days closed, until the Monitor takes them
        # log of each window's bar over p_open (see window_bar), in windows_min's order: for _quiet
        self._log_bar = [math.log(self.window_bar(1.0, m)) for m in cfg.windows_min]
        self._shape_w = self._shape_weights()  # per shape: each segment's weight (derived from cfg)
        self._shape_at = -1  # the tick _shape_val is of (a cache: derived, not stored)
        self._shape_val = 0.0
        self._accel_at = -1
        self._accel_val = 0.0
        self._seg_exp_at = -1  # the tick _seg_exp is of: both shaped tests read it (a cache)
        self._seg_exp: list[float] = []

    # -- input ----------------------------------------------------------------------------
    def accepts(self, ts: float, watermark: float | None = None) -> bool:
        """False if ``ts`` falls in a bucket that is already final (too late).

        A brand with no state yet has no final bucket of its own; given its clock's ``watermark``,
        the buckets the grace has closed on that clock are final for it too. A first mention
        stamped long ago (a backfill, a broken clock: 1990) is then too late rather than the
        brand's start: starting there, its baseline would learn up to 14 days of silence at once
        and count them as warm-up, and the brand could page within an hour of its real traffic.
        """
        bucket_s = self.cfg.window.bucket_s
        if self.learned_upto is not None:
            return ts >= self.learned_upto * bucket_s
        if watermark is None or watermark == -math.inf:
            return True
        grace = int(math.ceil(self.cfg.window.grace_s / bucket_s))
        return ts >= (int(watermark // bucket_s) - grace) * bucket_s  # as learned_upto after an advance

    def add(self, ts: float, negative: bool, author: str | None, text: str, followers: int,
            sample: dict[str, Any] | None, weight: int = 1, uid: str | None = None) -> str:
        """'counted', 'late' (its bucket is final) or 'duplicate' (its id was counted)."""
        cfg = self.cfg
        bucket_s = cfg.window.bucket_s
        learned = self.learned_upto
        if learned is not None and ts < learned * bucket_s:  # not self.accepts(ts), inlined (hot path)
            return "late"
        if cfg.signal == "volume":
            negative = True  # every mention is the signal
        idx = floor_div(ts, bucket_s)
        if negative:  # new signal: the first tick that sees it must be evaluated
            last = self.last_tick
            self.due.add(idx + 1 if last is None or idx > last else last + 1)
            self._sig.add(idx)
        seg_tick = self._seg_tick
        if seg_tick is None or idx >= seg_tick:  # the usual case: a bucket no window has read yet
            if not self.windows.add(ts, negative, author, text, followers, sample, weight, uid):
                return "duplicate"
            return "counted"
        self._shape_at = -1  # a bucket some window has read changes: so may the shaped test's sums
        self._accel_at = -1
        before = bucket_counts(self.windows.buckets.get(idx))
        if not self.windows.add(ts, negative, author, text, followers, sample, weight, uid):
            return "duplicate"
        age, points = seg_tick - 1 - idx, self._layout[1]
        for j in range(len(points) - 1):
            if points[j] <= age < points[j + 1]:
                after = bucket_counts(self.windows.buckets.get(idx))
                seg = self._seg[j]
                for f in range(5):
                    seg[f] += after[f] - before[f]
                break
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
        span = self._layout[1][-1]  # 2 x the widest window
        if upto - self.last_tick > span + cfg.resolve_minutes and self.incident is None:
            # Long silence: nothing to evaluate in between, jump ahead.
            self._learn_final(upto - span)
            self.last_tick = upto - span
            self.due = {t for t in self.due if t > self.last_tick}
        grace = int(math.ceil(cfg.window.grace_s / bucket_s))
        due = self.due
        while self.last_tick < upto:
            # Only a tick that sees new signal is evaluated: without it no window's count has
            # risen, so a quiet brand stays quiet (and small brands cost nothing between mentions).
            # Every due tick is after last_tick, so the next one to evaluate is the smallest.
            if self.incident is None:
                tick = smallest(due) if due else upto + 1
                if tick > upto:
                    self.last_tick = upto
                    break
                if tick <= self.last_tick:  # cannot happen (see add); never walk back
                    due.discard(tick)
                    continue
            else:
                tick = self.last_tick + 1
            self.last_tick = tick
            due.discard(tick)
            self._learn_final(tick - 1 - grace)  # what the baseline would know had it ticked every minute
            alert = self._tick(tick)
            if alert is not None:
                alerts.append(alert)
        self._learn_final(int(watermark // bucket_s) - grace)
        return alerts

    def unobserved(self, lo: float, hi: float) -> list[dict[str, Any]]:
        """The input was down between event times ``lo`` (the last it saw) and ``hi`` (the first
        after): its alerts up to ``lo`` and the grace after it. Then the buckets between teach the
        baseline nothing (``SeasonalBaseline.unobserved``), their minutes are not evaluated, and no
        incident opens until a pair of the widest windows has refilled after it: those windows would
        read the outage as silence and the traffic's return as a burst growing out of nothing."""
        if self.learned_upto is None:
            return []
        cfg = self.cfg
        bucket_s = cfg.window.bucket_s
        grace = int(math.ceil(cfg.window.grace_s / bucket_s))
        first, last = int(lo // bucket_s) + 1, int(hi // bucket_s)  # buckets [first, last) unseen
        if last <= first + grace:
            return []
        alerts = self.advance((first + grace) * bucket_s + cfg.tick_lag_s)  # every bucket before first is final
        self.baseline.unobserved(first * bucket_s, last * bucket_s)
        self.learned_upto = max(self.learned_upto, last)
        if self.last_tick is not None and self.last_tick < last:
            self.last_tick = last
        self.due = {t for t in self.due if t > last}
        self.cooldown_until = max(self.cooldown_until, last + self._layout[1][-1])
        return alerts

    def _learn_final(self, upto: int) -> None:
        assert self.learned_upto is not None
        if upto <= self.learned_upto:
            return
        bucket_s = self.cfg.window.bucket_s
        protect = self.protect
        baseline = self.baseline  # called as a method: compiled, a direct call (a bound method is not)
        minutes = bucket_s / 60.0
        daily = self.daily
        open_now = self.incident is not None
        for i, bucket in self.windows.final(self.learned_upto, upto):
            bucket.ids = None  # final: no mention can be added, so no duplicate can be either
            skip = bool(protect) and any(a <= i < b for a, b in protect)
            baseline.learn(i * bucket_s, bucket.effective, bucket.mentions, skip, skip, minutes, bucket.voices)
            if daily is not None:  # a day an incident was open is not in the digest (it paged)
                notice = daily.add(i * bucket_s, bucket.effective, bucket.mentions, skip or open_now)
                if notice is not None:
                    self.notices.append({"brand": self.brand, **notice})
        if daily is not None:  # a day also ends with no mention after it
            notice = daily.add(upto * bucket_s, 0.0, 0.0)
            if notice is not None:
                self.notices.append({"brand": self.brand, **notice})
        if protect:
            self.protect = [r for r in protect if r[1] > upto]
        self.baseline.close_before(int(upto * bucket_s // 3600))
        self.learned_upto = upto
        keep = self._layout[1][-1] + 1  # 2 x the widest window, and one
        anchor = self.last_tick if self.last_tick is not None else upto
        if self._seg_tick is not None and anchor - self._seg_tick <= _MAX_SLIDE:
            anchor = self._seg_tick  # the segments will slide from there: keep what leaves them
        self.windows.forget_before(min(upto, anchor - keep))
        if len(self._sig) > 2 * keep:  # a brand that always slides: drop what no window reads
            low = min(upto, anchor - keep)
            self._sig = {i for i in self._sig if i >= low}

    def _slide(self, tick: int) -> list[list[int]]:
        """The segment sums ending at ``tick``: slid one bucket from the last tick, else rebuilt."""
        points = self._layout[1]
        buckets = self.windows.buckets
        if tick == self._seg_tick:
            return self._seg
        if self._seg_tick is not None and 0 < tick - self._seg_tick <= _MAX_SLIDE:
            get = buckets.get
            for t in range(self._seg_tick + 1, tick + 1):
                self._slide_one(t, get, points)
        else:
            self._seg = segs = [[0, 0, 0, 0, 0] for _ in range(len(points) - 1)]
            span = points[-1]
            for i, b in buckets.items():
                age = tick - 1 - i
                if 0 <= age < span:
                    seg = segs[bisect_right(points, age) - 1]
                    seg[0] += b.mentions
                    seg[1] += b.negatives
                    seg[2] += b.effective
                    seg[3] += b.authors
                    seg[4] += b.reach
        self._seg_tick = tick
        return self._seg

    def _slide_one(self, tick: int, get: Any, points: tuple[int, ...]) -> None:
        """Move every segment one bucket later: its newest bucket enters, its oldest leaves."""
        for j, seg in enumerate(self._seg):
            enter, leave = get(tick - 1 - points[j]), get(tick - 1 - points[j + 1])
            if enter is not None:
                seg[0] += enter.mentions
                seg[1] += enter.negatives
                seg[2] += enter.effective
                seg[3] += enter.authors
                seg[4] += enter.reach
            if leave is not None:
                seg[0] -= leave.mentions
                seg[1] -= leave.negatives
                seg[2] -= leave.effective
                seg[3] -= leave.authors
                seg[4] -= leave.reach

    def _quiet(self, tick: int, p_open: float) -> bool:
        """True if no window can fire at ``tick`` - decided from the counts, the growth a window
        needs over its expectation, and a point probability (P(X >= n) >= P(X = n)), without the
        tail sums. Most evaluated ticks end here.

        A brand evaluated recently slides its window sums (a dozen reads a minute); one evaluated
        rarely (a small brand, between its mentions) sums its few buckets directly instead.
        """
        cfg = self.cfg
        volume = cfg.signal == "volume"
        widths = self._layout[0]
        gap = tick - self._seg_tick if self._seg_tick is not None else _MAX_SLIDE + 1
        if 0 < gap <= min(_MAX_SLIDE, max(2, len(self.windows.buckets) // 12)):  # cheaper than a full read
            seg, where = self._slide(tick), self._layout[2]
            f = 0 if volume else 2
            cum = [0]
            for s in seg:
                cum.append(cum[-1] + s[f])
            observed = [cum[w[0]] for w in where]
        else:  # read only the buckets that received signal (few, on a brand evaluated rarely)
            edges, pos = self._edges
            n_edges = len(edges)
            hist: list[int] = [0] * n_edges  # signal by the narrowest window that holds it
            buckets = self.windows.buckets
            span = edges[-1]
            stale = []
            last = tick - 1
            for i in self._sig:
                age = last - i
                if age >= span:
                    stale.append(i)  # no later tick reads it
                elif age >= 0 and (b := buckets.get(i)) is not None:
                    v = b.mentions if volume else b.effective
                    if v:
                        j = 0  # bisect_right(edges, age), inlined: a handful of widths, compiled to a few compares
                        while j < n_edges and edges[j] <= age:
                            j += 1
                        hist[j] = hist[j] + v  # not +=: compiled, that one is a generic (boxed) add
            if stale:
                self._sig.difference_update(stale)
            total, nested = 0, []
            for v in hist:  # windows nest: each holds the narrower ones
                total += v
                nested.append(total)
            observed = [nested[k] for k in pos]
        if all(obs <= 1 for obs in observed):  # not max(): compiled, a loop rather than a builtin call
            return True  # at most one event: never below the expected count's floor (~1e-3)
        limit = math.log(p_open)
        log_bar = self._log_bar
        confidence = None
        bucket_s = cfg.window.bucket_s
        last_hour = ((tick - 1) * bucket_s) // 3600
        rates = None
        grows = False  # some window has grown enough, and holds a crowd: the shaped test may decide
        accel = bool(cfg.accel_bar and self._shape_w)
        held = False  # some window is busy enough for the acceleration test, and holds a crowd
        for k in range(len(widths)):  # not zip(): compiled, an indexed loop is native
            obs, w = observed[k], widths[k]
            if obs >= 2:
                hour = ((tick - w) * bucket_s) // 3600
                if hour == last_hour:  # within one hour: _expected's single step, inlined
                    if rates is None:
                        rates = self._hour_rates()
                    cached = rates.get(hour)
                    if cached is None:
                        cached = rates[hour] = self._rate_of()(hour * 3600)
                    rate: float = cached  # compiled, a float: the optional one is an object (boxed arithmetic)
                    expected = rate * (bucket_s / 60.0) * w
                else:
                    expected = self._expected(tick - w, tick)
                # The growth test needs obs >= _growth_needed(max(previous, expected)), at least
                # _growth_needed(expected) (it grows with its argument): most windows stop here.
                grown = obs >= self._growth_needed(expected)
                may_accel = accel and expected >= cfg.accel_min
                if may_accel and obs >= cfg.min_authors:
                    held = True
                if obs > expected and (grown or may_accel):
                    grows = grows or (grown and obs >= cfg.min_authors)
                    if confidence is None or cfg.disp_window_exp or cfg.cluster_excess:
                        # per width when it scales with it or with the expectation (reply chains), else once
                        confidence = self._confidence(w, last_hour * 3600, expected)
                    # not grown: may_accel, so the acceleration test may stand in
                    if negbin_logpmf(obs, expected, confidence) < limit + log_bar[k] and (grown or self._accelerating(tick)):
                        return False
        if grows and self._shape_fires(tick, p_open):
            return False
        return not (held and self._shape_fires(tick, p_open) and self._accelerating(tick))

    # -- decision -------------------------------------------------------------------------
    def current(self) -> Evidence | None:
        """The 10-minute window (the second configured) at the last tick: the brand's gauges - of a
        brand the pre-filter kept quiet too (none before the brand's first tick)."""
        if self.last_tick is None:
            return None
        evs = self._evidences(self.last_tick)
        return evs[min(1, len(evs) - 1)]

    def evidence(self, tick: int, minutes: int) -> Evidence:
        """The numbers of the window of ``minutes`` (one of ``windows_min``) ending at ``tick``."""
        return self._evidences(tick)[list(self.cfg.windows_min).index(minutes)]

    def _evidences(self, tick: int) -> list[Evidence]:
        """Every window's counts at ``tick``; p-values are left to ``_surprise``."""
        seg = self._slide(tick)
        widths, _, where = self._layout
        cum = [(0, 0, 0, 0, 0)]
        m = n = e = au = r = 0
        for s in seg:
            m += s[0]
            n += s[1]
            e += s[2]
            au += s[3]
            r += s[4]
            cum.append((m, n, e, au, r))
        volume = self.cfg.signal == "volume"
        base_share = self.baseline.negative_share()
        out = []
        for minutes, width, (iw, i2w) in zip(self.cfg.windows_min, widths, where, strict=True):
            mentions, negatives, effective, authors, reach = cum[iw]
            prev = cum[i2w][0] - mentions if volume else cum[i2w][2] - effective
            if not volume:
                authors = effective  # collapsed negatives are one per author
            trials = max(mentions - (negatives - effective), 0)
            out.append(Evidence(
                window_minutes=minutes, observed=float(mentions if volume else effective),
                expected=self._expected(tick - width, tick), previous=float(prev), mentions=mentions,
                raw_negatives=negatives, authors=authors, reach=reach,
                share=effective / trials if trials else 0.0, baseline_share=base_share, tick=tick,
            ))
        return out

    def _surprise(self, ev: Evidence) -> float:
        """The window's tail probability under the baseline (computed once, on demand)."""
        if ev.p_value is None:
            ev.p_value = negbin_sf(ev.observed, ev.expected,
                                   self._confidence(self._width(ev.window_minutes), (ev.tick - 1) * self.cfg.window.bucket_s,
                                                    ev.expected))
        return ev.p_value

    def _share_surprise(self, ev: Evidence) -> float:
        if ev.p_share is None:
            if self.cfg.signal == "volume":
                ev.p_share = 0.0
            else:
                trials = max(ev.mentions - (ev.raw_negatives - int(ev.observed)), 0)
                usual = max(ev.baseline_share, self.baseline.settled_negative_share())
                ev.p_share = binomial_sf(int(ev.observed), trials, usual)
        return ev.p_share

    def _others(self, ev: Evidence) -> tuple[int, float]:
        """The window's other mentions (all but its negatives, copies included) and the number the
        seasonal baseline expects of them (computed once per window: the alert reads it again)."""
        if ev.others_expected is None:
            b = self.baseline
            ev.others_expected = self._expected(ev.tick - self._width(ev.window_minutes), ev.tick,
                                                lambda ts: max(b.expected_mentions(ts) - b.expected_negatives(ts), 0.0))
        return ev.mentions - ev.raw_negatives, ev.others_expected

    def _others_calm(self, ev: Evidence) -> bool:
        """The window's other mentions are as many as usual: the baseline expects at least
        ``calm_min_others`` of them, and their Poisson tail probability is at least ``p_calm`` - so
        the share test need not decide.

        Why: the share test tells a crowd that lifts negatives with every other kind of mention (a
        viral, a news spike) from a rise of negatives alone, but on a small brand it is slow to be
        sure: 6 negatives of 7 mentions where 35% are usual is a binomial tail of ~1e-2. The other
        mentions can tell sooner: a crowd lifts them too, so where they are as usual, negatives
        rose alone. "As usual" needs a usual: where the baseline expects almost none of them, none
        is no evidence - on real airline traffic, American's mornings, silent on the brand's first
        day before its collection began, were expected at about a hundredth of their truth, and no
        other mention "as usual" beside 3-7 negatives paged 5 times in 4.75 airline-weeks. The
        baseline now starts past such a trickle (``BaselineConfig.restart_ratio``), but a night
        expects almost nothing too: without the minimum, US Airways still paged at 4 am on 5
        negatives and no other mention where 0.1 were expected. Over suite
        seeds 2-31 (docs/measurements.md, "Session 34"): mean excess delay 3.11 -> 2.89 min, 71 ->
        62 bursts more than 15 minutes late, 44 -> 48 false incidents (chance clusters the share
        test had held), none on virals; without the minimum, 2.68 min and 59. Poisson, not the
        baseline's wider tail: an uncertain expectation makes the others look *more* surprising,
        never calmer."""
        cfg = self.cfg
        if not cfg.p_calm or cfg.signal == "volume":
            return False
        others, expected = self._others(ev)
        return expected >= cfg.calm_min_others and poisson_sf(others, expected) >= cfg.p_calm

    def _confidence(self, width: int, ts: float, expected: float = 0.0, cap: float = 0.0) -> float:
        """Negative-binomial size of a window of ``width`` buckets ending at ``ts`` that expects
        ``expected``: the evidence behind the baseline's level (parameter uncertainty, capped for
        model error at ``cap``, else ``max_confidence``) and behind its seasonal factor at that hour,
        the brand's own overdispersion, if learned (``BaselineConfig.dispersion``), and the
        clustering of mentions; their inverses (relative variances) add.

        Clustering: replies come in chains, so a window's count varies like ``1 + cluster_excess``
        times its mean, a relative variance of ``cluster_excess / expected`` - nothing on a busy
        window, most of the tail on a nearly empty one. Under a Poisson count, 5 negatives in 5
        minutes where 0.1 are expected are a 1e-7 fluke, and the short windows of small brands made
        most of the false pages on quiet traffic; under chains of 2 and 3 (the suite's 5% and 1%)
        they are nearer 1e-5. At 0.02, with ``p_open`` raised from 7e-7 to 1e-6 to spend part of
        what it saved on speed: 14 fewer false incidents over suite seeds 1-10 and 21-30 (64 -> 50)
        for 0.2-0.3 minute more mean delay, a third of what ``p_open`` alone charges for as many
        (docs/measurements.md, "Session 23")."""
        b = self.baseline
        volume = self.cfg.signal == "volume"
        counts = (b.c_all if volume else b.c_neg) + b.cfg.prior_count
        r = b.size(volume)
        if width > 1:
            r *= width ** self.cfg.disp_window_exp
        # 1/inf = 0: as without
        chains = self.cfg.cluster_excess / expected if expected > 0.0 else 0.0
        return 1.0 / (1.0 / min(counts, cap or self.cfg.max_confidence) + b.season_variance(ts) + 1.0 / r + chains)

    def _width(self, minutes: int) -> int:
        return max(1, round(minutes * 60 / self.cfg.window.bucket_s))

    def _expected(self, first: int, upto: int, rate_of: Any = None) -> float:
        """Expected signal over buckets ``first <= i < upto`` (the rate is constant within an hour);
        ``rate_of`` (per minute, at a time) defaults to the seasonal baseline's, cached per hour."""
        bucket_s = self.cfg.window.bucket_s
        per_bucket_min = bucket_s / 60.0
        if rate_of is None:
            rates = self._hour_rates()
            rate_of = self._rate_of()
        else:
            rates = {}
        total, i = 0.0, first
        while i < upto:
            hour = (i * bucket_s) // 3600
            j = min(upto, max(i + 1, int(math.ceil((hour + 1) * 3600 / bucket_s))))
            cached = rates.get(hour)
            if cached is None:
                cached = rates[hour] = rate_of(hour * 3600)
            rate: float = cached  # compiled, a float: the optional one is an object (boxed arithmetic)
            total += rate * per_bucket_min * (j - i)
            i = j
        return total

    def _hour_rates(self) -> dict[int, float]:
        """The cache of the baseline's rate per hour (emptied when the baseline learns an hour)."""
        hour = self.baseline.hour  # it moves on whenever an hour is learned (hours_seen may restart)
        key = -1 if hour is None else hour
        if key != self._rates_key:
            self._rates, self._rates_key = {}, key
        return self._rates

    def _rate_of(self) -> Any:
        """The baseline's expected signal per minute at a time (never below its settled recent
        level less a standard error: ``SeasonalBaseline.floored_negatives``)."""
        b = self.baseline
        return b.floored_mentions if self.cfg.signal == "volume" else b.floored_negatives

    def _fires(self, ev: Evidence, p_open: float) -> bool:
        """The four tests of the module docstring, cheapest first."""
        cfg = self.cfg
        return (
            ev.authors >= cfg.min_authors
            and (ev.observed >= self._growth_needed(max(ev.previous, ev.expected)) or (ev.expected >= cfg.accel_min and self._accelerating(ev.tick)))
            and (self._surprise(ev) < self.window_bar(p_open, ev.window_minutes) or self._shape_fires(ev.tick, p_open))
            and (self._share_surprise(ev) < cfg.p_share or self._others_calm(ev))
            and self._recent_surprise(ev) < cfg.p_recent
        )

    def _shape_weights(self) -> list[list[float]]:
        """Per shape of ``cfg.shapes``, the weight of each window segment it spans: the mean over the
        segment's buckets of 2^(-age / doubling) - a burst that doubles every ``doubling`` minutes
        adds that much less to older buckets. No shape for volume or a brand's own bar
        (``relative_days``): the shape is a negative burst's, and a relative bar is learned from the
        windows alone."""
        cfg = self.cfg
        if cfg.signal != "negative" or cfg.relative_days:
            return []
        points = self._layout[1]
        minutes = cfg.window.bucket_s / 60.0
        out = []
        for doubling, span in cfg.shapes:
            last = points.index(round(span * 60 / cfg.window.bucket_s))
            out.append([sum(2.0 ** (-a * minutes / doubling) for a in range(points[j], points[j + 1]))
                        / (points[j + 1] - points[j]) for j in range(last)])
        return out

    def _shape_llr(self, tick: int) -> float:
        """The growth-shaped surprise at ``tick``: the largest log likelihood ratio, over ``cfg.shapes``,
        of an accelerating rise against the baseline (:func:`pipeline.core.stats.growth_llr`) in the
        collapsed negatives of each window segment - finer for recent minutes, coarser for older ones.

        Why: a window weighs a burst's first minutes as much as its last, while an accelerating
        burst puts most of its excess in its last ones. On the generator's true rates, a ratio of
        this shape confirms bursts about 2 minutes earlier than the windows at the same number of
        false incidents, 4-5 on slow ones (``make bench-detect-growth``; docs/measurements.md,
        "Session 30"). The baseline's level is as uncertain as in the windows' tails (``_confidence``
        over the shape's span), and never trusted like more than ``recent_confidence`` counts (80:
        ~11%), as the recent level is not: over hours a level is wrong by more than its counts say
        (a brand's moves ~10% from one day to the next), and 160 minutes of a busy brand measure it
        closer than that. Trusted like the windows' 200, a brand whose share stepped from 20% to
        30% overnight paged (a drift: tests/integration/test_slack.py), and over suite seeds 2-31,
        as many false incidents bought less delay (docs/measurements.md, "Session 31")."""
        if tick == self._shape_at:
            return self._shape_val
        seg = self._slide(tick)
        points = self._layout[1]
        ts = (tick - 1) * self.cfg.window.bucket_s
        exp = self._segment_expected(tick)
        best = 0.0
        for weights in self._shape_w:
            k = len(weights)
            counts = [seg[j][2] for j in range(k)]
            total = 0
            expected = weighted = 0.0
            for j in range(k):
                total += counts[j]
                expected += exp[j]
                weighted += exp[j] * weights[j]
            if total >= self.cfg.min_authors:
                size = self._confidence(points[k], ts, expected, self.cfg.recent_confidence)
                best = max(best, growth_llr(counts, weights, expected, weighted, size))
        self._shape_at, self._shape_val = tick, best
        return best

    def _segment_expected(self, tick: int) -> list[float]:
        """The baseline's expected signal in each window segment the shapes span, at ``tick``
        (newest first), computed once a tick for the growth-shaped and the acceleration tests."""
        if tick != self._seg_exp_at:
            points = self._layout[1]
            longest = max(len(w) for w in self._shape_w)
            self._seg_exp = [self._expected(tick - points[j + 1], tick - points[j]) for j in range(longest)]
            self._seg_exp_at = tick
        return self._seg_exp

    def _accelerating(self, tick: int) -> bool:
        """The acceleration test: the negatives of the first shape's span (160 minutes) are spread
        over its segments like a rise of that shape, more than like the baseline's own profile - the
        log likelihood ratio of :func:`pipeline.core.stats.growth_llr` with the level fitted from
        the span alone (``size`` 0), above ``accel_bar``. A level of any height scores the same,
        and one raised evenly (a drift's, a chronic brand's) scores 0.

        Why: the growth test compares a window with the one before it and, on large counts, asks
        for 1 + 6 / sqrt(count) of it - six standard deviations. A rise doubling every 45 minutes
        on a busy brand clears that only once its excess is about the size of the baseline itself,
        while all of its last 160 minutes, weighted as such a rise weighs them, show it growing
        sooner. Used where a window expects at least ``accel_min`` negatives: on fewer, twice the
        previous window is a handful and soon seen, while the spread of a handful of counts is
        seen by chance (docs/measurements.md, "Session 32")."""
        cfg = self.cfg
        if not (cfg.accel_bar and self._shape_w):
            return False
        if tick != self._accel_at:
            seg = self._slide(tick)
            exp = self._segment_expected(tick)
            weights = self._shape_w[0]
            k = len(weights)
            counts = [seg[j][2] for j in range(k)]
            expected = weighted = 0.0
            for j in range(k):
                expected += exp[j]
                weighted += exp[j] * weights[j]
            self._accel_at, self._accel_val = tick, growth_llr(counts, weights, expected, weighted, 0.0)
        return self._accel_val > cfg.accel_bar

    def _shape_fires(self, tick: int, p_open: float) -> bool:
        """The growth-shaped test passes: its ratio above ln(1 / ``p_open``) less ``shape_slack``."""
        return bool(self._shape_w) and self._shape_llr(tick) > -math.log(p_open) - self.cfg.shape_slack

    def window_bar(self, p_open: float, minutes: int) -> float:
        """The surprise test's bar for a window of ``minutes``: ``p_open`` x minutes / ``bar_minutes``.

        Why: a fluke is as likely in any window, and a day holds 16 times as many distinct 5-minute
        windows as 80-minute ones. At one bar for all, the short windows made most false pages (12 of
        the 14 quiet ones on brands above 3 mentions an hour, over ten suites: small clusters with
        nothing before them), while a slow rise, seen best over 40-80 minutes, waited on the same
        bar. Scaled, each width has about the same chance of a fluke a day (docs/measurements.md,
        "Session 17"). A brand that sets its own bar (``relative_days``) has it from each day's most
        surprising window of any width, so that bar already counts every window a day holds."""
        cfg = self.cfg
        if not cfg.bar_minutes or cfg.relative_days:
            return p_open
        return p_open * minutes / cfg.bar_minutes

    def _growth_needed(self, before: float) -> float:
        """The count a window must reach to have grown from ``before`` (the previous window, or
        its expectation if higher): 2x on a handful, 1.5x from ~144 on, 1 + 6 / sqrt(before) between
        (with the defaults) - 1.5x of 40 is 3 standard deviations, of 4 it is one."""
        cfg = self.cfg
        if before <= 0.0:
            return 0.0
        factor = min(cfg.growth, max(cfg.growth_floor, 1.0 + cfg.growth_z / math.sqrt(before)))
        return factor * before

    def _recent_surprise(self, ev: Evidence) -> float:
        """The window's tail probability under the level of the last ``recent_hours``, as it stood
        ``recent_lag_hours`` ago (``SeasonalBaseline.settled_negatives``).

        The seasonal baseline remembers days, so a level that has crept up over a day or two
        (a drift, a new normal) stays above it for a long time; against the recent level such a
        brand is unsurprising, while a rise that is happening now is as surprising as against
        the baseline - if the level is read from before the rise began: a slow burst's first
        hours are in the recent level of now (docs/measurements.md, "Session 18"). The recent
        level is known from fewer counts: its own negative-binomial size, never above
        ``recent_confidence`` (80: ~11%). A level read hours back is wrong by more than its counts
        say - a brand's level moves ~10% from one day to the next, and a drift moves it while it
        waits - and on a busy brand, trusted like 200 counts (7%), a level 15% behind made a +3
        sigma window look like a rise: at 80, 9 fewer false incidents over suite seeds 1-30 (most
        during drifts) for 0.04 minute more mean delay (docs/measurements.md, "Session 22").
        """
        if ev.p_recent is None:
            b = self.baseline
            volume = self.cfg.signal == "volume"
            rate = b.settled_mentions if volume else b.settled_negatives
            expected = self._expected(ev.tick - self._width(ev.window_minutes), ev.tick, rate)
            size = min(b.settled_counts(volume) + b.cfg.prior_count, self.cfg.max_confidence, self.cfg.recent_confidence)
            ev.p_recent = negbin_sf(ev.observed, expected, size)
        return ev.p_recent

    def _tick(self, tick: int) -> dict[str, Any] | None:
        cfg = self.cfg
        p_open = cfg.p_open
        evs: list[Evidence] | None = None
        if cfg.relative_days and self.incident is None:
            evs = self._evidences(tick)
            p_open = self._relative_p_open(tick, evs)
            if p_open <= 0.0:
                return None
        if self.incident is None and self._quiet(tick, p_open):
            return None
        if evs is None:
            evs = self._evidences(tick)
        firing = [ev for ev in evs if self._fires(ev, p_open)]
        warm = self.baseline.history_minutes() >= cfg.warmup_minutes
        if self.incident is not None and (tick * cfg.window.bucket_s - self.incident["opened_at"]
                                          < cfg.protect_minutes * 60):
            self._protect(tick - 1, tick)  # the first hours of an incident do not teach the baseline
        ts = tick * cfg.window.bucket_s
        if self.incident is None:
            if firing and warm and tick >= self.cooldown_until:
                best = min(firing, key=self._surprise)
                self.incident = {"id": f"{self.brand}-{format_time(ts)}", "opened_at": ts, "seq": 0,
                                 "severity": self._severity(best)}
                self._protect(tick - self._width(best.window_minutes), tick)  # nor the onset that opened it
                self.calm = 0
                return self._alert("open", ts, best)
            return None
        # An incident is open: escalate, or count calm minutes towards resolution.
        if firing:
            best = min(firing, key=self._surprise)
            if SEVERITIES.index(self._severity(best)) > SEVERITIES.index(self.incident["severity"]):
                self.incident["severity"] = self._severity(best)
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

    def _relative_p_open(self, tick: int, evs: list[Evidence]) -> float:
        """``p_open`` for a brand whose own surprise sets the bar (``relative_days``), 0 while unknown.

        Real volume is heavier-tailed than any negative binomial, and unequally so: a brand with
        routine bot blocks sees 1e-100 most days, a small one 1e-5. So the bar is the brand's own
        typical worst: ``relative_factor`` x the median, over the last ``relative_days`` days, of
        each day's most surprising window (in -log10 p), and never looser than ``p_open``. A day
        with an incident open teaches it only up to the incident. Records this tick's surprise.
        """
        cfg = self.cfg
        day = tick * cfg.window.bucket_s // 86400
        warm = self.baseline.history_minutes() >= cfg.warmup_minutes
        worst = 1.0
        for ev in evs:
            worst = min(worst, self._surprise(ev))
        surprise = -math.log10(max(worst, 1e-300)) if warm else 0.0
        days = self.day_surprise
        past = sorted(v for d, v in days.items() if day - cfg.relative_days <= d < day)
        days[day] = max(days.get(day, 0.0), surprise)
        for d in [d for d in days if d < day - cfg.relative_days]:
            del days[d]
        if len(past) < 2:
            return 0.0
        bar = cfg.relative_factor * past[len(past) // 2]
        return min(cfg.p_open, 10.0 ** -min(300.0, bar))

    def _protect(self, start: int, tick: int) -> None:
        """Keep buckets ``start <= i < tick`` out of the baseline (merged with the last range if they touch).

        Only incidents are protected: a level that rises without paging (a drift, a new normal)
        must be learned, or the baseline would stay below it for good and page again and again.
        """
        if self.protect and self.protect[-1][1] >= start:
            self.protect[-1] = [min(self.protect[-1][0], start), tick]
        else:
            self.protect.append([start, tick])

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
        llr = self._shape_llr(ev.tick) if self._shape_w else 0.0
        bar = -math.log(self.cfg.p_open) - self.cfg.shape_slack
        accel = ev.expected >= self.cfg.accel_min and self._accelerating(ev.tick)
        what = "mentions" if self.cfg.signal == "volume" else "negative mentions"
        calm_stood_in = self._share_surprise(ev) >= self.cfg.p_share and self._others_calm(ev)
        others, others_expected = self._others(ev) if calm_stood_in else (0, 0.0)
        reason = (
            f"{ev.observed:.0f} {what} in {minutes} min vs {ev.expected:.1f} expected "
            f"({ev.ratio:.1f}x, p={self._surprise(ev):.1e}); previous {minutes} min: {ev.previous:.0f}"
            + (f"; doubling every {doubling:.0f} min" if doubling else "")
            # the negative share means nothing where every mention counts
            + ("" if self.cfg.signal == "volume" else f"; share {ev.share:.0%} vs {ev.baseline_share:.0%} usual")
            + f"; {ev.authors} authors"
            # said only where the other mentions stood in for the share test
            + (f"; other mentions as usual ({others} vs {others_expected:.1f} expected)"
               if calm_stood_in else "")
            # said only where the shape decided: the window's own tail was not below its bar
            + (f"; shaped like an accelerating rise (growth test {llr:.1f} > {bar:.1f})"
               if llr > bar and self._surprise(ev) >= self.window_bar(self.cfg.p_open, minutes) else "")
            # likewise where the acceleration test stood in for the window's growth over the previous one
            + (f"; accelerating over the last {self._layout[1][len(self._shape_w[0])] * self.cfg.window.bucket_s // 60} min"
               f" (acceleration test {self._accel_val:.2f} > {self.cfg.accel_bar:.2f})"
               if accel and ev.observed < self._growth_needed(max(ev.previous, ev.expected)) else "")
        )
        if status == "resolved":
            reason = f"back to normal: {ev.observed:.0f} {what} in {minutes} min vs {ev.expected:.1f} expected"
        samples = self.windows.sum(ev.tick - self._width(minutes), ev.tick).samples
        alert: dict[str, Any] = {
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
                "previous_negatives": ev.previous,
                "negative_rate_per_min": round(ev.observed / minutes, 3),
                "expected_rate_per_min": round(ev.expected / minutes, 4),
                "growth_doubling_minutes": doubling,
                "negative_share": round(min(ev.share, 1.0), 4),
                "baseline_share": round(ev.baseline_share, 4),
                "unique_authors": int(ev.authors),
                "mentions": int(ev.mentions),
                "reach": int(ev.reach),
                "p_value": float(f"{self._surprise(ev):.3g}"),
            },
            "samples": samples[:5],
            "terms": [{"term": t, "count": c} for t, c in top_terms((x["text"] for x in samples), exclude=[self.brand])],
            "history": self._history(ev.tick),
        }
        if self._shape_w:
            alert["evidence"]["growth_llr"] = round(llr, 2)
            if self.cfg.accel_bar:
                self._accelerating(ev.tick)
                alert["evidence"]["acceleration_llr"] = round(self._accel_val, 2)
        if self.cfg.signal != "negative":  # absent: negative, the worker's signal (and every alert before this field)
            alert["signal"] = self.cfg.signal
        return alert

    def _history(self, tick: int) -> dict[str, Any]:
        """The signal and its expectation per bucket over the trailing span (the alert's chart)."""
        bucket_s = self.cfg.window.bucket_s
        first = tick - self._layout[1][-1]
        volume = self.cfg.signal == "volume"
        observed, expected = [], []
        for i in range(first, tick):
            b = self.windows.buckets.get(i)
            observed.append((b.mentions if volume else b.effective) if b is not None else 0)
            expected.append(round(self._expected(i, i + 1), 3))
        return {"start": format_time(first * bucket_s), "bucket_s": bucket_s, "negatives": observed,
                "expected": expected}

    # -- state ----------------------------------------------------------------------------
    def to_state(self, max_memory: int | None = None) -> dict[str, Any]:
        """JSON-able; ``max_memory`` bounds the windows' per-mention memories (``BrandWindows.to_state``)."""
        state: dict[str, Any] = {
            "w": self.windows.to_state(max_memory), "b": self.baseline.to_state(),
            "t": [self.last_tick, self.learned_upto, self.calm, self.cooldown_until],
            "p": self.protect, "i": self.incident, "o": self.offset, "d": sorted(self.due),
        }
        if self.source_offset >= 0:
            state["so"] = self.source_offset
        if self.day_surprise:
            state["ds"] = [[d, round(v, 3)] for d, v in sorted(self.day_surprise.items())]
        if self.daily is not None and self.daily.day >= 0:
            state["dy"] = self.daily.to_state()
        return state

    @classmethod
    def from_state(cls, brand: str, cfg: DetectorConfig, state: dict[str, Any], tz: str | None = None) -> BrandDetector:
        d = cls(brand, cfg, tz)
        d.windows = BrandWindows.from_state(cfg.window, state["w"])
        d.baseline = SeasonalBaseline.from_state(cfg.baseline, state["b"], tz)
        d.last_tick, d.learned_upto, d.calm, d.cooldown_until = state["t"]
        d.protect = [list(r) for r in state["p"]]
        d.incident = state["i"]
        d.offset = state.get("o", -1)
        d.source_offset = state.get("so", -1)
        d.due = set(state.get("d", ()))
        d.day_surprise = {int(day): float(v) for day, v in state.get("ds", ())}
        if d.daily is not None and "dy" in state:
            d.daily = DailyTotals.from_state(d.daily.cfg, state["dy"], tz)
        volume = cfg.signal == "volume"
        d._sig = {i for i, b in d.windows.buckets.items() if (b.mentions if volume else b.negatives)}
        return d

