"""Many brands, one event clock: route scored mentions to brand detectors and tick them.

The watermark is the largest event time seen so far (the stream is roughly ordered; the
buckets' grace absorbs the rest). Only *active* brands - with open buckets or an open
incident - are ticked; an idle brand costs nothing until its next mention, when its baseline
catches up on the silent hours in one step. ``dirty`` names the brands whose state changed
since the last ``take_dirty()``, so the streaming shell writes each brand's state once per
flush rather than once per mention.

>>> m = Monitor(DetectorConfig())
>>> m.add_scored("acme", 0.0, True, "u1", "late again", 10, uid=1)
'counted'
>>> m.add_scored("acme", 1.0, True, "u1", "late again", 10, uid=1)
'duplicate'
>>> m.advance(600.0)
[]
>>> sorted(m.take_dirty())
['acme']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pipeline.core.detector import BrandDetector, DetectorConfig
from pipeline.core.windows import id_hash
from pipeline.records import ScoredMention


class Monitor:
    """Brand detectors keyed by brand id, plus the event-time watermark."""

    def __init__(self, cfg: DetectorConfig, load: Callable[[str], dict[str, Any] | None] | None = None) -> None:
        self.cfg = cfg
        self.brands: dict[str, BrandDetector] = {}
        self.active: set[str] = set()
        self.dirty: set[str] = set()
        self.watermark = float("-inf")
        self.too_late = 0
        self._ticked = float("-inf")  # the watermark's bucket at the last advance()
        self._load = load  # restore a brand's state from the table on first sight

    def detector(self, brand: str) -> BrandDetector:
        det = self.brands.get(brand)
        if det is None:
            state = self._load(brand) if self._load is not None else None
            det = BrandDetector.from_state(brand, self.cfg, state) if state else BrandDetector(brand, self.cfg)
            self.brands[brand] = det
            if not det.is_idle():
                self.active.add(brand)
        return det

    def add_scored(self, brand: str, ts: float, negative: bool, author: str | None, text: str,
                   followers: int, sample: dict[str, Any] | None = None, weight: int = 1,
                   uid: int | None = None) -> str:
        """Count one mention: 'counted', 'late' (its bucket is final) or 'duplicate'."""
        det = self.detector(brand)
        outcome = det.add(ts, negative, author, text, followers, sample, weight, uid)
        if outcome != "counted":
            if outcome == "late":
                self.too_late += 1
            return outcome
        self.active.add(brand)
        self.dirty.add(brand)
        if ts > self.watermark:
            self.watermark = ts
        return outcome

    def advance(self, watermark: float | None = None) -> list[dict[str, Any]]:
        """Move the clock (to ``watermark`` if later) and tick active brands; return their alerts."""
        if watermark is not None and watermark > self.watermark:
            self.watermark = watermark
        step = int((self.watermark - self.cfg.tick_lag_s) // self.cfg.window.bucket_s)
        if step == self._ticked:  # no bucket boundary crossed: nothing to evaluate
            return []
        self._ticked = step
        alerts: list[dict[str, Any]] = []
        for brand in list(self.active):
            det = self.brands[brand]
            before = det.last_tick
            alerts.extend(det.advance(self.watermark))
            if det.last_tick != before:
                self.dirty.add(brand)
            if det.is_idle():
                self.active.discard(brand)
        alerts.sort(key=lambda a: (a["at"], a["brand"]))
        return alerts

    def take_dirty(self) -> dict[str, dict[str, Any]]:
        """States of the brands changed since the last call (for the table), and reset."""
        out = {b: self.brands[b].to_state() for b in self.dirty if b in self.brands}
        self.dirty.clear()
        return out

    def forget(self, brands: Iterable[str]) -> None:
        """Drop brands from memory (their partition moved to another worker)."""
        for b in brands:
            self.brands.pop(b, None)
            self.active.discard(b)
            self.dirty.discard(b)


def sample_of(m: ScoredMention) -> dict[str, Any]:
    """What an alert shows of one mention (text cut to a tweet's length)."""
    return {"id": m.id, "text": m.text[:280], "negativity": m.negativity, "author_id": m.author_id,
            "author_followers": m.author_followers, "url": m.url}


def add_mention(monitor: Monitor, m: ScoredMention) -> str:
    """Count a scored mention (negative: the scorer's 3-way label says so); see add_scored."""
    negative = m.sentiment == "negative"
    return monitor.add_scored(m.brand, m.ts, negative, m.author_id, m.text, m.author_followers or 0,
                              sample_of(m) if negative else None, uid=id_hash(m.id))
