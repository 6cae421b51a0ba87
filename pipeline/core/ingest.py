"""Bytes in, scored mentions out: decode, validate, attribute to a brand, score - in batches.

Shared by the worker's ingest agent and ``buzzwatch score``. Each input gets exactly one
outcome, in order: a ScoredMention, an InvalidRecord (dead letter, with its reason), or
None (valid but about no configured brand: counted and dropped).
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.core.brands import BrandMatcher
from pipeline.core.scoring import BatchScorer
from pipeline.errors import InvalidRecord
from pipeline.records import Mention, ScoredMention, decode_mention

Outcome = ScoredMention | InvalidRecord | None


class Ingestor:
    def __init__(self, scorer: BatchScorer, matcher: BrandMatcher | None = None,
                 max_future_s: float | None = None) -> None:
        self.scorer = scorer
        self.matcher = matcher
        self.max_future_s = max_future_s

    def brand_of(self, mention: Mention) -> str | None:
        """The mention's own brand, else the first brands-file match, else None."""
        if mention.brand:
            return mention.brand
        if self.matcher is None:
            return None
        hits = self.matcher.match(mention.text)
        return hits[0] if hits else None

    def run(self, raws: Sequence[bytes], now: float | None = None) -> list[Outcome]:
        """One outcome per input, in order. ``now`` (wall clock) enables the future-time check."""
        outcomes: list[Outcome] = [None] * len(raws)
        todo: list[tuple[int, Mention, str]] = []
        for i, raw in enumerate(raws):
            try:
                mention = decode_mention(raw)
            except InvalidRecord as exc:
                outcomes[i] = exc
                continue
            if now is not None and self.max_future_s is not None and mention.ts > now + self.max_future_s:
                outcomes[i] = InvalidRecord(
                    f"created_at: {mention.created_at} is more than {self.max_future_s:.0f} s in the future")
                continue
            brand = self.brand_of(mention)
            if brand is not None:
                todo.append((i, mention, brand))
        scores = self.scorer.score_batch([m.text for _, m, _ in todo], [m.lang for _, m, _ in todo])
        for (i, m, brand), s in zip(todo, scores, strict=True):
            outcomes[i] = ScoredMention(
                id=m.id, text=m.text, created_at=m.created_at, ts=m.ts, brand=brand,
                negativity=s.negativity, sentiment=s.sentiment, lang=s.lang, author_id=m.author_id,
                author_followers=m.author_followers, url=m.url, source=m.source,
            )
        return outcomes
