"""Slow rises over days: reported once a day in a digest, never paged.

The detector stays silent on a negative share that creeps up over days (issue #3: a drift is
not a burst, and paging on it teaches on-call to ignore pages). But a brand whose customers are
steadily getting angrier is news for its communications team - in the morning, not at 3 am.

Each brand keeps its daily totals (mentions, collapsed negatives) as its baseline learns them.
When its event time passes midnight - its own, in the brand's time zone (``tz``; UTC if none) -
the day just ended is compared with the brand's usual share, pooled over the ``days`` before it
but the last ``gap_days`` (a drift's first day would otherwise lift the share its second day is
compared with). The day goes in the digest when all of these hold:

- its negative share is at least ``min_ratio`` x the usual one - or, if that is higher, than the
  same weekday's a week before (shrunk towards the pooled share by ``weekday_prior`` mentions): a
  brand whose Saturdays are always angrier is not drifting on a Saturday;
- that is improbable for the usual share (binomial tail < ``p``, the day's mentions counted as at
  most ``max_mentions``: a busy brand's share moves from day to day more than a binomial says);
- at least ``min_negatives`` negatives, and ``min_days`` of history;
- no incident that day: what paged is not repeated (the minutes before it opened are in the day).

A chronically negative brand is usual at its level.
The notice carries the last days' shares, the reader sees the trend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.core.baseline import LocalClock
from pipeline.core.stats import binomial_sf, floor_div
from pipeline.records import format_time

DAY_S = 86400


@dataclass(frozen=True, slots=True)
class DriftConfig:
    """When a day's negative share goes in the digest (see the module doc)."""

    days: int = 7  # the usual share: pooled over the days before ...
    gap_days: int = 1  # ... but these last ones: a rise two days old is not yet the usual
    min_ratio: float = 1.5
    p: float = 1e-4
    min_negatives: int = 10
    min_days: int = 2
    max_mentions: int = 2000
    weekday_prior: float = 100.0  # pseudo-mentions pulling last week's same day towards the pooled share

    def __post_init__(self) -> None:
        if not 1 <= self.min_days <= self.days - self.gap_days or self.gap_days < 0:
            raise ValueError(f"drift: need 1 <= min_days <= days - gap_days and gap_days >= 0, got "
                             f"days {self.days}, gap_days {self.gap_days}, min_days {self.min_days}")
        if not (self.min_ratio > 0 and 0 < self.p <= 1 and self.max_mentions > 0):
            raise ValueError("drift min_ratio and max_mentions must be > 0, and p in (0, 1]")


class DailyTotals:
    """One brand's learned mentions and negatives per day (its local day, in ``tz``): this day and
    the ``days`` before it."""

    __slots__ = ("cfg", "day", "neg", "all", "paged", "past", "_clock", "_offset")

    def __init__(self, cfg: DriftConfig, tz: str | None = None) -> None:
        self.cfg = cfg
        self._clock = LocalClock(tz)
        self._offset = 0  # the zone's offset (s) at the last bucket counted
        self.day = -1  # the day being summed (days since the epoch), -1 before any
        self.neg = 0.0
        self.all = 0.0
        self.paged = False  # an incident was open during this day
        self.past: list[list[float]] = []  # [day, negatives, mentions] of closed days, oldest first

    def add(self, ts: float, negatives: float, mentions: float, paged: bool = False) -> dict[str, Any] | None:
        """Count one learned bucket starting at ``ts`` (time order; ``paged``: an incident was open,
        the bucket is not counted and its day not reported); returns the closed day's notice (without the brand) if a new day began and the
        one it closed drifted."""
        day = self._local_day(ts)
        notice = None
        if day > self.day:
            if self.day >= 0:
                notice = self._close(day)
            self.day = day
        if paged:
            self.paged = True
        else:
            self.neg += negatives
            self.all += mentions
        return notice

    def _local_day(self, ts: float) -> int:
        """Days since the epoch, local: a day ends at the brand's midnight."""
        hour = floor_div(ts, 3600)
        self._offset = (self._clock.hour(hour) - hour) * 3600
        return int((ts + self._offset) // DAY_S)

    def _close(self, new_day: int) -> dict[str, Any] | None:
        cfg = self.cfg
        day, neg, mentions, paged = self.day, self.neg, self.all, self.paged
        self.neg = self.all = 0.0
        self.paged = False
        history = [d for d in self.past if d[0] >= day - cfg.days]
        usual_days = [d for d in history if d[0] < day - cfg.gap_days]
        ended = (day + 1) * DAY_S - self._offset  # the brand's midnight, UTC (its offset as last read)
        notice = None if paged else _drift(cfg, day, neg, mentions, usual_days, history, ended)
        history.append([float(day), neg, mentions])
        self.past = [d for d in history if d[0] > new_day - 1 - cfg.days]
        return notice

    def to_state(self) -> list[Any]:
        return [self.day, round(self.neg, 3), round(self.all, 3), int(self.paged),
                [[int(d), round(n, 3), round(a, 3)] for d, n, a in self.past]]

    @classmethod
    def from_state(cls, cfg: DriftConfig, state: list[Any], tz: str | None = None) -> DailyTotals:
        t = cls(cfg, tz)
        t.day, t.neg, t.all, t.paged = int(state[0]), float(state[1]), float(state[2]), bool(state[3])
        t.past = [[float(d), float(n), float(a)] for d, n, a in state[4]]
        return t


def _drift(cfg: DriftConfig, day: int, neg: float, mentions: float, usual_days: list[list[float]],
           trend_days: list[list[float]], ended: float) -> dict[str, Any] | None:
    """The notice for ``day`` if its share drifted above the pooled share of ``usual_days``
    (``trend_days``: the days shown before it)."""
    seen = [d for d in usual_days if d[2] > 0]
    if len(seen) < cfg.min_days or neg < cfg.min_negatives or mentions <= 0:
        return None
    usual_neg = sum(d[1] for d in seen)
    usual_all = sum(d[2] for d in seen)
    usual = (usual_neg + 1.0) / (usual_all + 2.0)
    week = [d for d in seen if d[0] == day - 7]
    if week:  # the same weekday last week too: a brand whose Saturdays are always angrier is not drifting
        k = cfg.weekday_prior
        usual = max(usual, (week[0][1] + k * usual) / (week[0][2] + k))
    share = neg / mentions
    if share < cfg.min_ratio * usual:
        return None
    scale = min(1.0, cfg.max_mentions / mentions)
    n = max(1, round(mentions * scale))
    p = binomial_sf(min(n, round(neg * scale)), n, usual)
    if p >= cfg.p:
        return None
    days = [*[d for d in trend_days if d[2] > 0], [float(day), neg, mentions]]
    return {
        "day": format_time(day * DAY_S)[:10],
        "at": format_time(ended),
        "negatives": round(neg),
        "mentions": round(mentions),
        "negative_share": round(share, 4),
        "usual_share": round(usual, 4),
        "ratio": round(share / usual, 2),
        "p_value": float(f"{p:.3g}"),
        "usual_days": len(seen),
        "daily_shares": [[format_time(int(d[0]) * DAY_S)[:10], round(d[1] / d[2], 4)] for d in days],
        "reason": (f"negative share {share:.0%} on {format_time(day * DAY_S)[:10]} vs {usual:.0%} over the "
                   f"{len(seen)} days before ({share / usual:.1f}x, p={p:.1e}); {round(neg)} of {round(mentions)} mentions"),
    }
