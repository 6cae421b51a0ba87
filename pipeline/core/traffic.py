"""A clock's own traffic: the mentions it carried, hour by hour, over the last week.

It answers one question, whatever brands are in memory: did a gap in the input expect mentions?
The brands' baselines say what each expects, but only the brands in memory can be asked, and in
the worker a brand idle when a gap begins is out of memory (``Monitor.evict_idle``); a partition
of small brands may hold few. The clock's own counts do not depend on that. Its estimate is
cautious: for each hour of the gap, the fewest mentions the same hour of day had on the last days
it was seen whole (``DAYS``; at least ``MIN_DAYS`` of them, outside any outage), prorated.

>>> t = ClockTraffic()
>>> for day in range(3):
...     for minute in range(24 * 60):
...         t.add(day * 86400.0 + minute * 60, 1)
>>> round(t.expected(3 * 86400.0 + 600, 3 * 86400.0 + 4200, ()), 1)  # an hour, from 00:10
60.0
>>> ClockTraffic.from_state(t.to_state()).counts == t.counts
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final

HOUR: Final = 3600
DAYS: Final = 7  # days of the same hour a gap's hour is judged from
MIN_DAYS: Final = 2  # ... at least
KEEP: Final = (DAYS + 1) * 24  # hours kept


class ClockTraffic:
    """Mentions counted on one clock per hour (hours since the epoch, event time), the last ``KEEP``."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.since = -1  # the first hour seen whole (the one after the first mention's); -1: none yet
        self.top = -1  # the latest hour counted

    def add(self, ts: float, weight: int) -> None:
        h = int(ts // HOUR)
        if h > self.top:
            if self.top < 0:
                self.since = h + 1
            self.top = h
            if len(self.counts) >= KEEP:
                for old in [k for k in self.counts if k <= h - KEEP]:
                    del self.counts[old]
        elif h <= self.top - KEEP:
            return
        self.counts[h] = self.counts.get(h, 0) + weight

    def expected(self, lo: float, hi: float, outages: Iterable[tuple[float, float]],
                 enough: float = math.inf) -> float:
        """Mentions the gap from ``lo`` to ``hi`` expected, counted only until ``enough``: for each
        of its hours, the fewest the same hour had on the last ``DAYS`` days seen whole before the
        gap and outside ``outages`` (``(lo, hi)`` pairs), if ``MIN_DAYS`` are; else none."""
        if self.since < 0:
            return 0.0
        down = list(outages)
        before = int(lo // HOUR)  # the hour the gap began in is not seen whole
        total, t = 0.0, lo
        while t < hi and total < enough:
            h = int(t // HOUR)
            step = min(hi, (h + 1) * HOUR) - t
            fewest, days = 0, 0
            for k in range(1, DAYS + 1):
                r = h - 24 * k
                if r < self.since:
                    break
                if r >= before or any(r * HOUR < o_hi and (r + 1) * HOUR > o_lo for o_lo, o_hi in down):
                    continue
                c = self.counts.get(r, 0)
                fewest = c if days == 0 else min(fewest, c)
                days += 1
            if days >= MIN_DAYS:
                total += fewest * step / HOUR
            t += step
        return total

    def to_state(self) -> list[int]:
        """``[since, first hour, its count, the next hour's, ...]``: small, JSON, a table's value."""
        if self.top < 0:
            return []
        first = max(min(self.counts), self.top - KEEP + 1)
        return [self.since, first] + [self.counts.get(h, 0) for h in range(first, self.top + 1)]

    @classmethod
    def from_state(cls, state: list[int]) -> ClockTraffic:
        t = cls()
        if len(state) >= 3:
            t.since, first = int(state[0]), int(state[1])
            t.counts = {first + i: int(c) for i, c in enumerate(state[2:]) if c}
            t.top = first + len(state) - 3
        return t
