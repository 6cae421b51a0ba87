"""One window's numbers at one tick (the "why it fired" trace), and the arithmetic of the
trailing windows a detector reads: which bucket ages each window and the window before it span.

Plain values and pure functions, shared by :mod:`pipeline.core.detector`; compiled with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from pipeline.core.windows import Bucket


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
    tick: int  # the bucket boundary the window ends at
    p_value: float | None = None  # computed only when the cheap tests pass (see BrandDetector._surprise)
    p_share: float | None = None
    p_recent: float | None = None
    others_expected: float | None = None  # the other mentions the baseline expects (BrandDetector._others)

    @property
    def ratio(self) -> float:
        return self.observed / max(self.expected, 1e-9)

    def doubling_minutes(self) -> float | None:
        if self.previous <= 0 or self.observed <= self.previous:
            return None
        return round(self.window_minutes * math.log(2) / math.log(self.observed / self.previous), 1)


@lru_cache(maxsize=64)
def window_layout(windows_min: tuple[int, ...], bucket_s: int) -> tuple[tuple[int, ...], tuple[int, ...],
                                                                         tuple[tuple[int, int], ...]]:
    """Window widths in buckets, the segment boundaries (ages, in buckets) every window and the
    window before it are made of, and each window's (end, end of previous) boundary index.

    >>> window_layout((5, 10), 60)
    ((5, 10), (0, 5, 10, 20), ((1, 2), (2, 3)))
    """
    widths = tuple(max(1, round(m * 60 / bucket_s)) for m in windows_min)
    points = tuple(sorted({0, *widths, *(2 * w for w in widths)}))
    return widths, points, tuple((points.index(w), points.index(2 * w)) for w in widths)


@lru_cache(maxsize=64)
def window_edges(widths: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The distinct window widths ascending, and where each window's width is among them: a
    bucket of age ``a`` is in every window from the ``bisect_right(edges, a)``-th edge on.

    >>> window_edges((5, 10, 1, 5))
    ((1, 5, 10), (1, 2, 0, 1))
    """
    edges = tuple(sorted(set(widths)))
    return edges, tuple(edges.index(w) for w in widths)


def smallest(ticks: set[int]) -> int:
    """``min(ticks)`` of a non-empty set (a few ticks): compiled, a native loop costs less than the builtin call."""
    it = iter(ticks)
    low = next(it)
    for t in it:
        if t < low:
            low = t
    return low


def bucket_counts(b: Bucket | None) -> tuple[int, int, int, int, int]:
    return (b.mentions, b.negatives, b.effective, b.authors, b.reach) if b is not None else (0, 0, 0, 0, 0)
