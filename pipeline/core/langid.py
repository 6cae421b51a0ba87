"""Which language a mention is in: py3langid's naive-Bayes model, scored a batch at a time.

Why py3langid: its 97-language model ships inside the wheel as an ``.npz`` (loaded with
``allow_pickle=False``, no download, no native build), it is accurate on tweets (xlmt val:
en 99%, fr 99%, es 97%, de 93%), and its features come from a byte automaton that we step through a
whole batch at once in numpy, then score with one sparse product. Its own ``classify`` walks the
bytes in Python and does a small product per text (~6,000-8,000 texts/s on all 97 languages); batched,
50,000-65,000/s. fastText's lid.176 model is not in a wheel, lingua is slower, langdetect is not
deterministic.

A text whose best language is not one we score (or that has no letters: emoji, empty) is ``und``.

>>> ident = LanguageIdentifier()
>>> ident.detect_batch(["the service was terrible and nobody answered", "le service était nul",
...                     "el servicio fue terrible", "der Service war schrecklich", "ひどいサービス", ""])
['en', 'fr', 'es', 'de', 'und', 'und']
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.sparse import csr_matrix

UND = "und"
# https?://\S+|www\.\S+|@\w+|#|\bhttp\b|\bRT\b, written to start with one character class so that the
# regex engine skips other characters in C (3x faster); each branch checks which character started it.
_STRIP = re.compile(r"[hw@#R](?:(?<=h)(?:ttps?://\S+|(?<!\wh)ttp\b)|(?<=w)ww\.\S+|(?<=@)\w+|(?<=#)"
                    r"|(?<=R)(?<!\wR)T\b)")
MAX_BYTES = 400  # language is clear long before; bounds the per-batch automaton walk
_LETTER = re.compile(r"[^\W\d_]")


_OFFSET = 0xFFFFFF  # a move's low 24 bits: the next state's row offset (row << 8; rows < 65,536)
_CODE_SHIFT = 24    # its high 8 bits: which of the features emitted from states of that row (0: none)


@dataclass(frozen=True)
class _Model:
    """py3langid's model, its automaton folded so that a byte step is one gather from a uint32 table.

    py3langid steps ``state = nextmove[row[state] * 256 + byte]`` and emits ``output[state]``; here
    the state is kept as its row offset, and what a move leads to is looked up directly by ``offset
    + byte``: one uint32 with the next offset (low 24 bits) and a code (high 8 bits) for the feature
    the move emits. A code only tells apart the features of states sharing a row (at most 204 of
    them), so the feature itself is looked up once per emitted word after the walk (``features_of``),
    not per byte. The table is 39 MB, read at random: the walk is bound by its cache misses.
    """

    ptc: np.ndarray        # (features, classes) float32: log P(feature | class)
    pc: np.ndarray         # (classes,) float32: log P(class)
    classes: list[str]
    moves: np.ndarray      # uint32 per (row offset + byte)
    start: int             # the start state's row offset
    row_first: np.ndarray  # per row: where its features start in ``features`` ...
    features: np.ndarray   # ... the features emitted from each row's states, in code order

    def features_of(self, emitted: np.ndarray) -> np.ndarray:
        """Feature ids of emitting move words (two gathers from small tables)."""
        return self.features[self.row_first[(emitted & _OFFSET) >> 8] + (emitted >> _CODE_SHIFT) - 1]


@lru_cache(maxsize=1)
def _model() -> _Model:
    from py3langid.langid import MODEL_DIR, MODEL_FILE
    from py3langid.modelio import load_model

    ptc, pc, classes, nextmove, row, output = load_model(MODEL_DIR / MODEL_FILE)
    row, output = np.asarray(row, dtype=np.int64), np.asarray(output, dtype=np.int64)
    if row.max() >= 1 << 16:
        raise ValueError("py3langid model: more than 65,536 automaton rows; the uint32 move table cannot hold them")
    # Each emitting state's (row, feature), sorted; its code is its rank within its row, from 1.
    emitting = np.flatnonzero(output >= 0)
    pairs, which = np.unique(row[emitting] * len(ptc) + output[emitting], return_inverse=True)
    pair_row = pairs // len(ptc)
    code = np.arange(len(pairs)) - np.searchsorted(pair_row, pair_row) + 1
    if code.max() >= 1 << (32 - _CODE_SHIFT):
        raise ValueError("py3langid model: too many features emitted from one automaton row for an 8-bit code")
    state_word = (row << 8).astype(np.uint32)
    state_word[emitting] |= (code[which] << _CODE_SHIFT).astype(np.uint32)
    moves = state_word[np.asarray(nextmove)]
    del nextmove, state_word  # py3langid's 39 MB next-state table: not kept alive by this frame
    row_first = np.searchsorted(pair_row, np.arange(int(row.max()) + 1)).astype(np.int32)
    return _Model(ptc=np.asarray(ptc, dtype=np.float32), pc=np.asarray(pc, dtype=np.float32), classes=list(classes),
                  moves=moves, start=int(row[0]) << 8, row_first=row_first,
                  features=(pairs % len(ptc)).astype(np.int32))


class LanguageIdentifier:
    """Batch language id restricted to ``supported`` outputs (others -> ``und``)."""

    def __init__(self, supported: Iterable[str] = ("en", "fr", "es", "de")) -> None:
        self.supported = frozenset(supported)
        self._model = _model()

    @staticmethod
    def _encode(text: str) -> bytes:
        text = _STRIP.sub(" ", text)
        if text.isupper():
            text = text.lower()
        if not text.isascii():  # (ASCII is already NFC)
            text = unicodedata.normalize("NFC", text)
        return text.encode("utf-8", errors="surrogatepass")[:MAX_BYTES]

    def _features(self, encoded: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """Run the byte automaton over all texts at once: (text index, feature id) per emitted feature.

        Texts are walked longest first, so at each byte position only the texts still that long are
        stepped (a slice), and the features are collected once at the end.
        """
        n = len(encoded)
        lengths = np.fromiter(map(len, encoded), dtype=np.intp, count=n)
        order = np.argsort(-lengths, kind="stable")
        width = int(lengths.max())
        grid = np.frombuffer(b"".join(encoded[i].ljust(width, b"\0") for i in order.tolist()),
                             dtype=np.uint8).reshape(n, width).T.copy()
        active = np.searchsorted(-lengths[order], -np.arange(width), side="left").tolist()
        moves = self._model.moves
        offset = np.full(n, self._model.start, dtype=np.uint32)
        emitted = np.zeros((width, n), dtype=np.uint32)  # the move word taken at each byte
        for pos, k in enumerate(active):
            step = emitted[pos, :k]
            np.take(moves, offset[:k] + grid[pos, :k], out=step, mode="clip")  # (clip: no bounds buffer)
            np.bitwise_and(step, _OFFSET, out=offset[:k])
        pos, who = np.nonzero(emitted >> _CODE_SHIFT)
        return order[who], self._model.features_of(emitted[pos, who])

    def detect_batch(self, texts: Sequence[str]) -> list[str]:
        """One language code per text (``und`` when unsupported or undecidable)."""
        langs = [UND] * len(texts)
        rows = [i for i, text in enumerate(texts) if _LETTER.search(text)]
        if not rows:
            return langs
        who, what = self._features([self._encode(texts[i]) for i in rows])
        # Feature counts per text as CSR, built directly: (text, feature) keys sorted, runs counted.
        ptc, pc, classes = self._model.ptc, self._model.pc, self._model.classes
        features = ptc.shape[0]
        keys, times = np.unique(who * features + what, return_counts=True)
        indptr = np.searchsorted(keys, np.arange(len(rows) + 1) * features)
        counts = csr_matrix((np.log1p(times.astype(np.float32)), keys % features, indptr),
                            shape=(len(rows), features))
        scores = counts @ ptc + pc
        has = np.diff(counts.indptr) > 0
        for i, best, ok in zip(rows, scores.argmax(axis=1).tolist(), has.tolist(), strict=True):
            lang = classes[best]
            if ok and lang in self.supported:
                langs[i] = lang
        return langs
