"""Bytes in, scored mentions out: decode, validate, attribute to a brand, score - in batches.

Shared by the worker's ingest agent and ``buzzwatch score``. Each input gets exactly one
outcome, in order: a ScoredMention, an InvalidRecord (dead letter, with its reason), or
None (valid but about no configured brand: counted and dropped).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from pipeline.core.brands import BrandMatcher
from pipeline.core.scoring import BatchScorer
from pipeline.errors import InvalidRecord
from pipeline.records import ScoredMention, load_json, mention_time, new_scored

Outcome = ScoredMention | InvalidRecord | None


class Ingestor:
    def __init__(self, scorer: BatchScorer | None, matcher: BrandMatcher | None = None,
                 max_future_s: float | None = None) -> None:
        """``scorer`` None: ``prepare`` and ``complete`` only, the scores come from elsewhere."""
        self.scorer = scorer
        self.matcher = matcher
        self.max_future_s = max_future_s

    def run(self, raws: Sequence[bytes], now: float | None = None) -> list[Outcome]:
        """One outcome per input, in order. ``now`` (wall clock) enables the future-time check."""
        if self.scorer is None:
            raise RuntimeError("Ingestor.run needs a scorer")
        batch = self.prepare(raws, now)
        return self.complete(batch, self.scorer.score_batch(batch.texts(), batch.langs()))

    def prepare(self, raws: Sequence[bytes], now: float | None = None) -> Prepared:
        """Decode, validate and attribute ``raws``: everything but the scoring, which ``complete`` takes
        (the worker may score in another process meanwhile: stream/offload.py).

        Valid mentions stay the decoded dicts (no Mention built): ``mention_time`` checks them and
        ``complete`` builds the one record that leaves.
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
        return Prepared(outcomes, todo)

    @staticmethod
    def complete(batch: Prepared, scores: Iterable[tuple[float, str, str]]) -> list[Outcome]:
        """The outcomes of a prepared batch, given one (negativity, sentiment, lang) per text to score."""
        outcomes = batch.outcomes
        for entry, score in zip(batch.todo, scores, strict=True):
            outcomes[entry[0]] = scored_mention(entry, score)
        return outcomes


def scored_mention(entry: tuple[int, dict[str, Any], float, str], score: tuple[float, str, str]) -> ScoredMention:
    """The ScoredMention of one ``Prepared.todo`` entry, given its (negativity, sentiment, lang)."""
    _, obj, ts, brand = entry
    get = obj.get
    return new_scored(obj["id"], obj["text"], obj["created_at"], ts, brand, score[0], score[1], score[2],
                      get("author_id"), get("author_followers"), get("url"), get("source"))


class Prepared(NamedTuple):
    """A batch decoded and attributed, waiting for its scores: ``todo`` is (input index, decoded
    mention, event time, brand) per mention to score."""

    outcomes: list[Outcome]
    todo: list[tuple[int, dict[str, Any], float, str]]

    def texts(self) -> list[str]:
        return [obj["text"] for _, obj, _, _ in self.todo]

    def langs(self) -> list[str | None]:
        return [obj.get("lang") for _, obj, _, _ in self.todo]
