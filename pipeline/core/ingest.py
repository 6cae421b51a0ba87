"""Bytes in, scored mentions out: decode, validate, attribute to a brand, score - in batches.

Shared by the worker's ingest agent and ``buzzwatch score``. Each input gets exactly one
outcome, in order: a ScoredMention, an InvalidRecord (dead letter, with its reason), or
None (valid but about no configured brand: counted and dropped).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline.core.brands import BrandMatcher
from pipeline.core.scoring import BatchScorer
from pipeline.errors import InvalidRecord
from pipeline.records import ScoredMention, load_json, mention_time, new_scored

Outcome = ScoredMention | InvalidRecord | None


class Ingestor:
    def __init__(self, scorer: BatchScorer, matcher: BrandMatcher | None = None,
                 max_future_s: float | None = None) -> None:
        self.scorer = scorer
        self.matcher = matcher
        self.max_future_s = max_future_s

    def run(self, raws: Sequence[bytes], now: float | None = None) -> list[Outcome]:
        """One outcome per input, in order. ``now`` (wall clock) enables the future-time check.

        Valid mentions stay the decoded dicts (no Mention built): ``mention_time`` checks them and
        ``new_scored`` builds the one record that leaves.
        """
        outcomes: list[Outcome] = [None] * len(raws)
        todo: list[tuple[int, dict[str, Any], float, str]] = []
        latest = now + self.max_future_s if now is not None and self.max_future_s is not None else None
        match = self.matcher.match if self.matcher is not None else None
        for i, raw in enumerate(raws):
            try:
                ts = mention_time(obj := load_json(raw))
            except InvalidRecord as exc:
                outcomes[i] = exc
                continue
            if latest is not None and ts > latest:
                outcomes[i] = InvalidRecord(
                    f"created_at: {obj['created_at']} is more than {self.max_future_s:.0f} s in the future")
                continue
            brand = obj.get("brand")  # the mention's own brand, else the first brands-file match
            if not brand and match is not None:
                hits = match(obj["text"])
                brand = hits[0] if hits else None
            if brand:
                todo.append((i, obj, ts, brand))
        scores = self.scorer.score_batch([obj["text"] for _, obj, _, _ in todo],
                                         [obj.get("lang") for _, obj, _, _ in todo])
        for (i, obj, ts, brand), s in zip(todo, scores, strict=True):
            get = obj.get
            outcomes[i] = new_scored(obj["id"], obj["text"], obj["created_at"], ts, brand, s.negativity, s.sentiment,
                                     s.lang, get("author_id"), get("author_followers"), get("url"), get("source"))
        return outcomes
