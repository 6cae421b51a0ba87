"""Negativity of a mention: a calibrated probability in [0, 1], a 3-way label, and the language used.

``Scorer`` routes each text to a per-language linear model (en, fr, es, de; anything else is
``und`` and scored by the English model, whose emoji/emoticon/punctuation cues carry over):
word uni/bigrams with negation scope, character 2-5-grams, and lexicon cues (``core.text``), into
a softmax regression trained offline with balanced class weights (``make train``) and shipped as
``pipeline/data/scorer.npz`` (numpy arrays, loaded with ``allow_pickle=False``). ``negativity`` is
P(negative) after a Platt calibration fitted on out-of-fold predictions; ``sentiment`` is the
balanced arg-max (what macro-recall rewards), so a mention can be ``negative`` at negativity 0.4.

Scoring runs a batch through numpy (one gather and sum per batch); ``learn_one`` is river's
``SoftmaxRegression`` (plain SGD) over the same weights: river holds only the weights feedback has
touched, which is exactly the state to keep (``to_state``); ``from_state`` re-applies it to the
shipped artefact. Feedback ids are remembered (bounded), so a replayed feedback does not train
twice. An ADWIN per language watches the 0/1 error of the prediction made before each lesson.

>>> s = Scorer()
>>> [x.sentiment for x in s.score_batch(["I hate this airline, worst service ever :(",
...                                      "Thank you so much, the crew was wonderful!"])]
['negative', 'positive']
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np
from river import drift, linear_model, optim
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from pipeline.core.artefact import ARTEFACT, load_artefact, pack, unpack
from pipeline.core.featurise import TokenTable
from pipeline.core.langid import UND, LanguageIdentifier
from pipeline.core.text import char_ngrams, text_features

LABELS = ("negative", "neutral", "positive")
LANGS = ("en", "fr", "es", "de")
FALLBACK = "en"
MAX_NEW_FEATURES = 50_000   # per language: bounds what feedback can add to the state
MAX_FEEDBACK_IDS = 20_000   # remembered feedback ids (oldest forgotten first)
ERROR_HISTORY = 2_000       # 0/1 errors kept per language to rebuild the drift detector


class Score(NamedTuple):
    """A tuple: ``Ingestor.complete`` takes these and the plain (negativity, sentiment, lang) tuples
    of the scoring child (stream/offload.py) alike."""

    negativity: float
    sentiment: str
    lang: str


class BatchScorer(Protocol):
    def score_batch(self, texts: list[str], langs: list[str | None] | None = None) -> list[Score]: ...


# -- features ---------------------------------------------------------------------------------
def feature_strings(text: str, lang: str, lexicon: Mapping[str, float] | None = None) -> dict[str, float]:
    """Named features of one text (training uses these; scoring maps them to rows directly).

    >>> f = feature_strings("not good!", "en")
    >>> f["w:not_good"] > 0 and "c:goo" in f and f["bias"] == 1.0
    True
    """
    words, toks, dense = text_features(text, lang, lexicon)
    out: dict[str, float] = {"bias": 1.0}
    if words:
        wv = 1.0 / math.sqrt(len(words))
        for w in words:
            out[w] = out.get(w, 0.0) + wv
    grams = [g for t in toks for g in char_ngrams(_stem(t))]
    if grams:
        cv = 1.0 / math.sqrt(len(grams))
        for g in grams:
            out["c:" + g] = out.get("c:" + g, 0.0) + cv
    for k, v in dense.items():
        out["d:" + k] = v
    return out


def _stem(token: str) -> str:
    return token[4:] if token.startswith("not_") else token


@lru_cache(maxsize=16)
def _shared_table(path: Path, lang: str) -> TokenTable:
    """One token table per artefact and language, shared by every scorer that still has the shipped
    weights (so each ``buzzwatch score`` run in a process starts warm)."""
    models, lexicons = load_artefact(path)[1:]
    return TokenTable(lang, lexicons.get(lang), _index_of(models[lang][0])[1])


def forget_tokens() -> None:
    """Start the shared token tables empty again (a benchmark of text never scored before)."""
    _shared_table.cache_clear()


_INDEXES: dict[int, tuple[list[str], dict[str, int], dict[str, int]]] = {}


def _index_of(vocab: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    """(feature -> row, character n-gram -> row) of a (shipped, cached) vocabulary, built once per
    process: a model copies them before it adds a feature, so a new scorer builds no 100,000-entry
    dicts. The n-gram one is keyed without the ``c:`` prefix: looking up a new token's ~25 n-grams
    then makes no string per n-gram."""
    hit = _INDEXES.get(id(vocab))
    if hit is None or hit[0] is not vocab:
        index = {f: i for i, f in enumerate(vocab)}
        hit = _INDEXES[id(vocab)] = (vocab, index, {f[2:]: i for f, i in index.items() if f.startswith("c:")})
    return hit[1], hit[2]


class LanguageModel:
    """One language's vocabulary, weight matrix (rows x 3 labels), calibration and online learner."""

    def __init__(self, lang: str, vocab: list[str], weights: np.ndarray, calibration: tuple[float, float],
                 learning_rate: float = 0.1, lexicon: Mapping[str, float] | None = None,
                 shared: TokenTable | None = None) -> None:
        self.lang = lang
        self.lexicon = lexicon
        self.base_size = len(vocab)
        self.index, self.char_index = _index_of(vocab)  # shared until feedback adds a feature (``_add``)
        self.new_features: list[str] = []
        self.weights = np.array(weights, dtype=np.float64)
        self.calibration = calibration
        self.learner = linear_model.SoftmaxRegression(optimizer=optim.SGD(learning_rate), l2=0.0)
        self._table = shared if shared is not None else TokenTable(lang, lexicon)
        self._shared = shared is not None  # copied before the first change: other scorers read it
        self._moved: list[np.ndarray] = []  # rows learning moved since the table last followed
        self._followed = 0                  # new features the table knows about

    def rows(self, text: str, grow: bool = False) -> dict[int, float]:
        """Feature row -> value (learning); ``grow`` adds unseen features, up to MAX_NEW_FEATURES."""
        words, toks, dense = text_features(text, self.lang, self.lexicon)
        lookup = self._add if grow else self.index.get
        out: dict[int, float] = {0: 1.0}
        grams = ["c:" + g for t in toks for g in char_ngrams(_stem(t))]
        for block in (words, grams):  # each block scaled to unit norm, as in training
            scale = 1.0 / math.sqrt(len(block)) if block else 0.0
            for f in block:
                i = lookup(f)
                if i is not None:
                    out[i] = out.get(i, 0.0) + scale
        for k, v in dense.items():
            i = self.index.get("d:" + k)
            if i is not None:
                out[i] = v
        return out

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Scores (texts x 3) of a batch: the sum over ``rows``, computed for the whole batch at once."""
        if self._moved or self._followed < len(self.new_features):
            self._follow_learning()
        return self._table.logits(texts, self.index, self.char_index, self.weights)

    def _follow_learning(self) -> None:
        """Bring the token table up to date with the lessons since the last batch (all of them at once)."""
        if self._shared:
            self._table, self._shared = self._table.copy(), False
        moved = np.unique(np.concatenate(self._moved)) if self._moved else np.zeros(0, dtype=np.int64)
        added = self.new_features[self._followed:]
        self._table.refresh(moved, added, self.index, self.char_index, self.weights)
        self._moved.clear()
        self._followed = len(self.new_features)

    def _add(self, feature: str) -> int | None:
        i = self.index.get(feature)
        if i is None and len(self.new_features) < MAX_NEW_FEATURES:
            if not self.new_features:  # the shared ones stay the shipped vocabulary's
                self.index, self.char_index = dict(self.index), dict(self.char_index)
            i = self.base_size + len(self.new_features)
            self.index[feature] = i
            if feature.startswith("c:"):
                self.char_index[feature[2:]] = i
            self.new_features.append(feature)
            if i >= len(self.weights):
                self.weights = np.vstack([self.weights, np.zeros((max(1024, len(self.weights) // 4), 3))])
        return i

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Softmax over the labels, per text."""
        logits = self.logits(texts)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def negativity(self, p_negative: np.ndarray) -> np.ndarray:
        a, b = self.calibration
        p = np.clip(p_negative, 1e-6, 1 - 1e-6)
        return 1.0 / (1.0 + np.exp(-(a * np.log(p / (1 - p)) + b)))

    def learn(self, x: dict[int, float], label: str) -> str:
        """One SGD step on river's softmax regression; returns the label predicted before it."""
        for k, name in enumerate(LABELS):
            w = self.learner.weights[name]
            for i in x:
                if i not in w:
                    w[i] = float(self.weights[i, k])
        proba = self.learner.predict_proba_one(x)
        predicted = max(LABELS, key=lambda name: proba.get(name, 0.0))
        self.learner.learn_one(x, label)
        keys = list(x)
        for k, name in enumerate(LABELS):
            w = self.learner.weights[name]
            # Kept on the float32 grid, so the compact state (float32) restores them exactly.
            col = np.array([w[i] for i in keys], dtype=np.float32).astype(np.float64)
            for i, v in zip(keys, col.tolist(), strict=True):
                w[i] = v
            self.weights[keys, k] = col
        self._moved.append(np.array(keys, dtype=np.int64))  # the token table follows at the next batch
        return predicted


class ErrorMonitor:
    """Recent 0/1 error of predictions checked against feedback (ADWIN), and how often it drifted."""

    def __init__(self) -> None:
        self.adwin = drift.ADWIN()
        self.history: deque[int] = deque(maxlen=ERROR_HISTORY)
        self.drifts = 0

    def update(self, error: int) -> bool:
        self.history.append(error)
        self.adwin.update(error)
        if self.adwin.drift_detected:
            self.drifts += 1
            return True
        return False

    @property
    def error_rate(self) -> float:
        return float(self.adwin.estimation)

    def to_state(self) -> dict[str, Any]:
        return {"errors": "".join(map(str, self.history)), "drifts": self.drifts}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ErrorMonitor:
        """Rebuilt by replaying the kept errors (drifts seen while replaying are not counted twice)."""
        m = cls()
        for e in state.get("errors", []):
            m.update(int(e))
        m.drifts = int(state.get("drifts", 0))
        return m


def route(given: str | None) -> str | None:
    """A producer's language tag -> a model ('en-US' -> 'en'), ``und`` if unsupported, None to detect.

    >>> [route(x) for x in ("en-US", "FR", "ja", "und", None)]
    ['en', 'fr', 'und', None, None]
    """
    if not given or given.lower() == UND:
        return None
    code = given.lower()[:2]
    return code if code in LANGS else UND


class Scorer:
    """Language id -> per-language model -> calibrated negativity; learns online from feedback."""

    def __init__(self, path: Path = ARTEFACT, learning_rate: float = 0.1) -> None:
        meta, models, lexicons = load_artefact(path)
        self.meta = meta
        self.models = {lang: LanguageModel(lang, vocab, w, tuple(meta["calibration"][lang]), learning_rate,
                                           lexicons.get(lang), _shared_table(path, lang))
                       for lang, (vocab, w) in models.items()}
        self.langid = LanguageIdentifier(self.models)
        self.monitors: dict[str, ErrorMonitor] = {}
        self.seen_ids: dict[str, None] = {}
        self.last_counts: Counter[str] = Counter()

    def languages(self, texts: Sequence[str], langs: Sequence[str | None] | None = None) -> list[str]:
        """The language each text is scored as: the producer's tag if given, else detected."""
        routed = [route(g) for g in langs] if langs else [None] * len(texts)
        todo = [i for i, r in enumerate(routed) if r is None]
        if todo:
            for i, lang in zip(todo, self.langid.detect_batch([texts[i] for i in todo]), strict=True):
                routed[i] = lang
        return [r or UND for r in routed]

    def _model(self, lang: str) -> LanguageModel:
        return self.models.get(lang) or self.models[FALLBACK]

    def probabilities(self, texts: Sequence[str], langs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(3-way probabilities, calibrated negativity) per text, for already-routed languages."""
        probs = np.zeros((len(texts), 3))
        neg = np.zeros(len(texts))
        groups: dict[str, list[int]] = {}
        for i, lang in enumerate(langs):
            groups.setdefault(self._model(lang).lang, []).append(i)
        for lang, idx in groups.items():
            model = self.models[lang]
            p = model.probabilities([texts[i] for i in idx])
            probs[idx] = p
            neg[idx] = model.negativity(p[:, 0])
        return probs, neg

    def score_batch(self, texts: list[str], langs: list[str | None] | None = None) -> list[Score]:
        """One Score per text, in order; ``last_counts`` holds the batch's mentions per language."""
        routed = self.languages(texts, langs) if texts else []
        self.last_counts = Counter(routed)
        if not texts:
            return []
        probs, neg = self.probabilities(texts, routed)
        best = probs.argmax(axis=1).tolist()
        return [Score(round(n, 4), LABELS[b], lang) for n, b, lang in zip(neg.tolist(), best, routed, strict=True)]

    def score(self, text: str, lang: str | None = None) -> Score:
        return self.score_batch([text], [lang])[0]

    def learn_one(self, text: str, label: str, lang: str | None = None, feedback_id: str | None = None) -> bool:
        """Learn one labelled text; False if its feedback id was already learned (or the label is unknown)."""
        if label not in LABELS or (feedback_id is not None and feedback_id in self.seen_ids):
            return False
        routed = self.languages([text], [lang])[0]
        model = self._model(routed)
        predicted = model.learn(model.rows(text, grow=True), label)
        self.monitors.setdefault(routed, ErrorMonitor()).update(int(predicted != label))
        if feedback_id is not None:
            self.seen_ids[feedback_id] = None
            if len(self.seen_ids) > MAX_FEEDBACK_IDS:
                del self.seen_ids[next(iter(self.seen_ids))]
        return True

    def drift_stats(self) -> dict[str, tuple[float, int]]:
        """Per language: (recent error rate, drifts detected) - for the scorer's gauges and counters."""
        return {lang: (m.error_rate, m.drifts) for lang, m in self.monitors.items()}

    def to_state(self) -> dict[str, Any]:
        """JSON-able: what feedback changed (features it added, weights it moved), monitors, ids.

        Weights and feature names are packed (zlib + base64 of float32/int32 arrays): ~0.4 KB per
        feedback instead of ~2.5 KB as JSON numbers, so a table value stays well under Kafka's 1 MB.
        """
        models = {}
        for lang, m in self.models.items():
            touched = np.array(sorted(set().union(*(m.learner.weights[name].keys() for name in LABELS))),
                               dtype=np.int64)
            if touched.size:
                models[lang] = {"new_features": pack("\n".join(m.new_features).encode("utf-8")),
                                "rows": pack(np.diff(touched, prepend=0).astype("<i4").tobytes()),
                                "weights": pack(m.weights[touched].astype("<f4").tobytes())}
        return {"version": 2, "artefact": self.meta.get("version"), "models": models,
                "monitors": {lang: mon.to_state() for lang, mon in self.monitors.items()},
                "seen_ids": list(self.seen_ids)}

    @classmethod
    def from_state(cls, state: dict[str, Any], path: Path = ARTEFACT, learning_rate: float = 0.1) -> Scorer:
        scorer = cls(path, learning_rate)
        for lang, ms in state.get("models", {}).items():
            m = scorer.models[lang]
            names = unpack(ms["new_features"]).decode("utf-8")
            for f in names.split("\n") if names else []:
                m._add(f)
            rows = np.cumsum(np.frombuffer(unpack(ms["rows"]), dtype="<i4").astype(np.int64))
            weights = np.frombuffer(unpack(ms["weights"]), dtype="<f4").astype(np.float64).reshape(-1, 3)
            m.weights[rows] = weights
            for k, name in enumerate(LABELS):
                m.learner.weights[name].update(zip(rows.tolist(), weights[:, k].tolist(), strict=True))
            m._moved.append(rows)
        scorer.monitors = {lang: ErrorMonitor.from_state(s) for lang, s in state.get("monitors", {}).items()}
        scorer.seen_ids = dict.fromkeys(state.get("seen_ids", []))
        return scorer


class LexiconScorer:
    """The VADER baseline (English lexicon, compound score through a logistic curve), kept to compare.

    >>> s = LexiconScorer()
    >>> s.score("My flight was cancelled, terrible service!").sentiment
    'negative'
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
        sentiment = "negative" if compound <= -0.05 else "positive" if compound >= 0.05 else "neutral"
        return Score(round(negativity, 4), sentiment, lang or "en")

    def score_batch(self, texts: list[str], langs: list[str | None] | None = None) -> list[Score]:
        langs = langs or [None] * len(texts)
        return [self.score(t, lang) for t, lang in zip(texts, langs, strict=True)]
