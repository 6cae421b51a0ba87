"""Negativity of a mention: a probability in [0, 1] and a 3-way label.

The skeleton scorer is VADER (a social-media lexicon with negation, intensifiers, caps and
emoticons) mapped through a logistic curve to a probability. It reads English; other languages
are scored with the same lexicon and reported as such (``lang`` says which model was used).
The scoring issue replaces this with per-language online models that ``learn_one`` from feedback;
the interface - ``score_batch`` in, ``Score`` out - stays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer


@dataclass(frozen=True, slots=True)
class Score:
    negativity: float
    sentiment: str
    lang: str


class LexiconScorer:
    """VADER compound score -> negativity probability; thresholds are VADER's own (+-0.05).

    >>> s = LexiconScorer()
    >>> s.score("My flight was cancelled, terrible service!").sentiment
    'negative'
    >>> s.score("Love the new crew, great flight :)").sentiment
    'positive'
    >>> s.score("Flight 214 leaves at noon").sentiment
    'neutral'
    """

    def __init__(self, slope: float = 4.0, offset: float = 1.0) -> None:
        self.slope = slope
        self.offset = offset
        self._vader = SentimentIntensityAnalyzer()

    def score(self, text: str, lang: str | None = None) -> Score:
        compound = self._vader.polarity_scores(text)["compound"]
        negativity = 1.0 / (1.0 + math.exp(self.slope * compound + self.offset))
        if compound <= -0.05:
            sentiment = "negative"
        elif compound >= 0.05:
            sentiment = "positive"
        else:
            sentiment = "neutral"
        return Score(round(negativity, 4), sentiment, lang or "en")

    def score_batch(self, texts: list[str], langs: list[str | None] | None = None) -> list[Score]:
        langs = langs or [None] * len(texts)
        return [self.score(t, lang) for t, lang in zip(texts, langs, strict=True)]
