"""A batch of texts -> one language model's logits, computed over the whole batch at once.

``core.text`` defines the features of one text (training and ``learn_one`` use it); scoring needs
the same sum for thousands of texts a second, and Python steps per token were most of its cost. So
each distinct token is looked up once in a ``TokenTable`` row holding everything the model needs
about it - its word feature's row, its negated form, whether it is punctuation, a negator or an
intensifier, its lexicon valence, and the summed weights of its character n-grams (a linear model
allows summing them once) - and negation scope, bigrams, lexicon cues and the weighted sums run as
numpy operations over all the batch's tokens. A token then costs one dict lookup.
``tests/unit/test_featurise.py`` checks the logits equal the per-text features' (``LanguageModel.rows``).

Learning moves a few hundred weights and adds features; the table follows (``refresh``) instead of
starting empty: each token keeps the rows of its character n-grams, so the tokens whose sums include
a moved row are summed again in numpy, the tokens containing a new n-gram look theirs up again, and
new word and bigram features update their lookups - the same values a new table would compute.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import chain, islice, repeat

import numpy as np

from pipeline.core.text import INTENSIFIERS, NEGATORS, PUNCT, lexicon_valences, normalise, split_tokens

DENSE = ("lex_pos", "lex_neg", "lex_npos", "lex_nneg", "lex_diff", "excl", "quest", "caps", "elong", "negations")
MAX_TOKENS = 200_000   # distinct tokens kept before the table starts afresh (~240 B of arrays each)
MAX_BIGRAMS = 250_000  # bigram -> row answers kept (~100 B each in a dict)
SEARCH_GRAMS = 200     # new n-grams found by searching the table's text; more: every token looked up again
SUM_CHUNK = 500_000    # n-gram rows summed per numpy call when refreshing (bounds temporary memory)


class TokenTable:
    """Per-token facts for one language model, filled as tokens are first seen, and the batch logits.

    Rows and n-gram sums are read from the ``index``/``grams``/``weights`` passed in, so a table stays valid
    only while those do not change, or after ``refresh`` is told what changed.
    """

    def __init__(self, lang: str, lexicon: Mapping[str, float] | None = None,
                 grams: Mapping[str, int] | None = None) -> None:
        self.lang = lang
        self.lex, self.valence = lexicon_valences(lang, lexicon)
        self.negators = NEGATORS.get(lang, NEGATORS["en"])
        self.boosters = INTENSIFIERS.get(lang, INTENSIFIERS["en"])
        self._codes = GramCodes(grams or {})  # ``grams``: the n-gram index it will be used with, coded now
        self._clear()

    def _clear(self, capacity: int = 4096) -> None:
        self.ids: dict[str, int] = {}
        self.strings: list[str] = []
        self.bigrams: dict[int, int] = {}
        self.word_row = np.empty(capacity, dtype=np.int32)
        self.negated = np.empty(capacity, dtype=np.int32)   # id of "not_" + token, -1 until needed
        self.breaker = np.empty(capacity, dtype=bool)        # punctuation or emoticon: ends a negation scope
        self.negator = np.empty(capacity, dtype=bool)
        self.booster = np.empty(capacity, dtype=bool)
        self.value = np.empty(capacity)                      # lexicon valence (a negated word: -0.74 x its own)
        self.cues = np.empty((capacity, 3), dtype=np.int8)   # counts as "!", "?", negated word (when no valence)
        self.ngrams = np.empty(capacity, dtype=np.int32)
        self.vectors = np.empty((capacity, 3))
        self.grams = GramRows(capacity)
        self._text: tuple[int, str, np.ndarray] = (0, "", np.zeros(0, dtype=np.int64))  # see ``_containing``

    _COLUMNS = ("word_row", "negated", "breaker", "negator", "booster", "value", "cues", "ngrams", "vectors")

    def _reserve(self, size: int) -> None:
        while size > len(self.word_row):
            for name in self._COLUMNS:
                a = getattr(self, name)
                setattr(self, name, np.concatenate([a, np.empty_like(a)]))

    def copy(self) -> TokenTable:
        """An independent table with the same tokens (a model that learns stops sharing the shipped one)."""
        other = object.__new__(TokenTable)
        other.__dict__.update(self.__dict__)
        for name in self._COLUMNS:
            setattr(other, name, getattr(self, name).copy())
        other.grams = self.grams.copy()
        other.ids, other.strings, other.bigrams = dict(self.ids), list(self.strings), dict(self.bigrams)
        return other

    def _add(self, tokens: list[str], index: Mapping[str, int], grams: Mapping[str, int], weights: np.ndarray
             ) -> None:
        """New distinct tokens: the facts ``text.lexicon_features`` and ``LanguageModel.rows`` derive."""
        lo, hi = len(self.strings), len(self.strings) + len(tokens)
        self._reserve(hi)
        self.ids.update(zip(tokens, range(lo, hi), strict=True))
        self.strings += tokens
        self.word_row[lo:hi] = [index.get("w:" + t, -1) for t in tokens]
        self.negated[lo:hi] = -1
        self.breaker[lo:hi] = [t[0] in PUNCT or t in ("xsmile", "xfrown") for t in tokens]
        self.negator[lo:hi] = [t in self.negators or t.endswith("n't") or (t.startswith("n'") and len(t) > 2)
                               for t in tokens]
        self.booster[lo:hi] = [t in self.boosters for t in tokens]
        values, cues = [], []
        for t in tokens:
            v = self.valence.get(t, 0.0)
            c = (0, 0, 0)
            if not v:
                if t[0] == "!":
                    c = (1, 0, 0)
                elif t[0] == "?":
                    c = (0, 1, 0)
                elif t.startswith("not_"):
                    c = (0, 0, 1)
                    v = -0.74 * self.lex.get(t[4:], 0.0)
            values.append(v)
            cues.append(c)
        self.value[lo:hi] = values
        self.cues[lo:hi] = cues
        # A negated token has its word's n-grams: copy them when the word is known (it usually is).
        stems = [self.ids.get(t[4:], -1) if t.startswith("not_") and not t.startswith("not_not_") else -1
                 for t in tokens]
        todo = [j for j, b in enumerate(stems) if b < 0]
        words = [_gram_word(tokens[j]) for j in todo]
        at = np.array(todo, dtype=np.int64) + lo
        lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
        self.ngrams[at] = np.maximum(lengths[:, None] - np.arange(1, 5), 0).sum(axis=1)  # 2- to 5-grams
        self._look_up_grams(at, words, grams, weights)
        copied = [(lo + j, b) for j, b in enumerate(stems) if b >= 0]
        if copied:
            to, base = np.array(copied, dtype=np.int64).T
            self.ngrams[to] = self.ngrams[base]
            self.vectors[to] = self.vectors[base]
            self.grams.copy_rows(to, base)

    def _look_up_grams(self, at: np.ndarray, words: list[str], grams: Mapping[str, int], weights: np.ndarray
                       ) -> None:
        """Tokens ``at`` (``words``: "<token>"): their n-grams' rows, kept, and summed weights."""
        if self._codes.grams is not grams or self._codes.seen < len(grams):
            self._codes = self._codes.follow(grams)
        owner, rows = self._codes.look_up(words)
        self.grams.append(at[owner], rows)
        self.vectors[at] = _sums(owner, weights[rows], len(at))

    def refresh(self, moved: np.ndarray, features: Sequence[str], index: Mapping[str, int],
                grams: Mapping[str, int], weights: np.ndarray) -> None:
        """Follow a model that learned: rows ``moved`` changed weight, ``features`` were added to ``index``.

        Afterwards every value equals what a new table would compute (bincount adds a token's rows in
        the same order, so its sum is the same to the last bit).
        """
        for f in features:
            kind, name = f[:2], f[2:]
            if kind == "w:" and (j := self.ids.get(name)) is not None:
                self.word_row[j] = index[f]
            elif kind == "b:":
                first, _, second = name.partition(" ")
                a, b = self.ids.get(first), self.ids.get(second)
                if a is not None and b is not None:
                    self.bigrams.pop((a << 32) | b, None)
        new_grams = {f[2:] for f in features if f.startswith("c:")}
        relook = self._containing(new_grams)
        if relook.size:
            self.grams.drop(relook, len(self.strings))
            words = [_gram_word(self.strings[j]) for j in relook.tolist()]
            self._look_up_grams(relook, words, grams, weights)
        if len(moved):
            self.vectors[:len(self.strings)] = self.grams.sums(weights, len(self.strings))

    def _containing(self, new_grams: set[str]) -> np.ndarray:
        """Ids of the tokens that have one of ``new_grams`` among their n-grams (all, when there are many)."""
        size = len(self.strings)
        if not new_grams or not size:
            return np.zeros(0, dtype=np.int64)
        if len(new_grams) > SEARCH_GRAMS:
            return np.arange(size)
        if self._text[0] < size:  # the tokens' n-gram words, one a line (tokens are only ever appended)
            done, text, ends = self._text
            more = [_gram_word(t) for t in self.strings[done:]]
            ends = np.concatenate([ends, (ends[-1] if done else 0) + np.cumsum([len(w) + 1 for w in more])])
            self._text = (size, text + "".join(w + "\n" for w in more), ends)
        _, text, ends = self._text
        at: list[int] = []
        for g in new_grams:  # an n-gram has no newline: a match lies within one token's word
            i = text.find(g)
            while i >= 0:
                at.append(i)
                i = text.find(g, i + 1)
        return np.unique(np.searchsorted(ends, np.array(at, dtype=np.int64), side="right"))

    def _ids(self, tokens: list[str], index: Mapping[str, int], grams: Mapping[str, int], weights: np.ndarray
             ) -> np.ndarray:
        ids = np.fromiter(map(self.ids.get, tokens, repeat(-1)), dtype=np.int64, count=len(tokens))
        missing = np.flatnonzero(ids < 0).tolist()
        if missing:
            self._add(list(dict.fromkeys(tokens[j] for j in missing)), index, grams, weights)
            ids[missing] = [self.ids[tokens[j]] for j in missing]
        return ids

    def logits(self, texts: Sequence[str], index: Mapping[str, int], grams: Mapping[str, int],
               weights: np.ndarray) -> np.ndarray:
        """(texts x 3): bias + word uni/bigrams + character n-grams (each block at unit norm) + lexicon cues."""
        if len(self.strings) > MAX_TOKENS:
            self._clear()
        if len(self.bigrams) > MAX_BIGRAMS:
            self.bigrams.clear()
        n = len(texts)
        normed = [normalise(t) for t in texts]
        per_text = [split_tokens(t.lower()) for t, _, _ in normed]
        counts = np.fromiter(map(len, per_text), dtype=np.int64, count=n)
        ids = self._ids(list(chain.from_iterable(per_text)), index, grams, weights)
        owner = np.repeat(np.arange(n), counts)
        first = np.zeros(len(ids), dtype=bool)
        first[(np.cumsum(counts) - counts)[counts > 0]] = True

        # Negation scope (text._negate): after a negator, up to the next breaker or the end of the text.
        at = np.arange(len(ids))
        after_neg = np.zeros(len(ids), dtype=bool)
        after_neg[1:] = self.negator[ids[:-1]]
        after_brk = np.zeros(len(ids), dtype=bool)
        after_brk[1:] = self.breaker[ids[:-1]]
        opened = np.maximum.accumulate(np.where(after_neg & ~first, at, -1)) if len(ids) else at
        closed = np.maximum.accumulate(np.where(after_brk | first, at, -1)) if len(ids) else at
        scoped = (opened > closed) & ~self.breaker[ids]
        if scoped.any():
            base = ids[scoped]
            todo = np.unique(base[self.negated[base] < 0])
            if todo.size:
                self.negated[todo] = self._ids(["not_" + self.strings[u] for u in todo.tolist()], index, grams,
                                               weights)
            ids[scoped] = self.negated[base]

        # Word unigrams and bigrams (within a text), scaled by 1/sqrt(their number).
        pairs = np.flatnonzero(~first[1:]) if len(ids) else at
        keys = (ids[pairs] << 32) | ids[pairs + 1]
        brow = np.fromiter(map(self.bigrams.get, keys.tolist(), repeat(-2)), dtype=np.int64, count=len(keys))
        new = np.flatnonzero(brow == -2)
        if new.size:
            s = self.strings
            got = [index.get(f"b:{s[a]} {s[b]}", -1)
                   for a, b in zip(ids[pairs[new]].tolist(), ids[pairs[new] + 1].tolist(), strict=True)]
            brow[new] = got
            self.bigrams.update(zip(keys[new].tolist(), got, strict=True))
        rows = np.concatenate([self.word_row[ids], brow])
        whose = np.concatenate([owner, owner[pairs + 1]])
        found = rows >= 0
        word_sum = _sums(whose[found], weights[rows[found]], n)
        word_scale = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(2 * counts - 1, 1)), 0.0)

        # Character n-grams: each token's summed n-gram weights, scaled by 1/sqrt(the text's n-grams).
        total = np.bincount(owner, self.ngrams[ids], minlength=n)
        char_scale = np.where(total > 0, 1.0 / np.sqrt(np.maximum(total, 1)), 0.0)
        char_sum = _sums(owner, self.vectors[ids], n)

        dense = self._dense(ids, owner, first, normed, counts)
        drows = [index.get("d:" + k, -1) for k in DENSE]
        keep = [k for k, r in enumerate(drows) if r >= 0]
        out = np.broadcast_to(weights[0], (n, 3)) + word_scale[:, None] * word_sum
        out += dense[:, keep] @ weights[[drows[k] for k in keep]]
        out += char_scale[:, None] * char_sum
        return out

    def _dense(self, ids: np.ndarray, owner: np.ndarray, first: np.ndarray,
               normed: list[tuple[str, int, int]], counts: np.ndarray) -> np.ndarray:
        """``text.lexicon_features`` for every text: (texts x DENSE)."""
        n = len(counts)
        v = self.value[ids]
        boosted = np.zeros(len(ids), dtype=bool)
        boosted[1:] = self.booster[ids[:-1]]
        v = np.where(boosted & ~first, v * 1.3, v)
        up, down = v > 0, v < 0
        pos = np.bincount(owner[up], v[up], minlength=n)
        neg = -np.bincount(owner[down], v[down], minlength=n)
        npos = np.bincount(owner[up], minlength=n)
        nneg = np.bincount(owner[down], minlength=n)
        cues = self.cues[ids]
        excl, quest, negations = (np.bincount(owner, cues[:, k], minlength=n) for k in range(3))
        caps = np.fromiter((c for _, c, _ in normed), dtype=np.int64, count=n)
        elong = np.fromiter((e for _, _, e in normed), dtype=np.int64, count=n)
        scale = 1.0 + 0.2 * np.minimum(caps, 3) + 0.1 * np.minimum(excl, 3)
        cols = (np.log1p(pos * scale), np.log1p(neg * scale), np.minimum(npos, 5) / 5, np.minimum(nneg, 5) / 5,
                np.tanh((pos - neg) * scale / 4), np.minimum(excl, 3) / 3, np.minimum(quest, 3) / 3,
                np.minimum(caps, 3) / 3, np.minimum(elong, 3) / 3, np.minimum(negations, 5) / 5)
        return np.where((counts > 0)[:, None], np.stack(cols, axis=1), 0.0)


class GramCodes:
    """A vocabulary's character n-grams as integers, so that a batch of new tokens is looked up in numpy.

    Each character of the n-grams is a digit (its place in their alphabet + 1), so an n-gram of up
    to 5 characters is one int64 and different lengths never collide; a token's 2- to 5-grams are
    made for all tokens at once and found by ``searchsorted`` (a dict lookup per n-gram was most of
    the cost of text never seen before).
    """

    def __init__(self, grams: Mapping[str, int]) -> None:
        self.grams = grams
        self.seen = len(grams)
        self.alphabet = np.unique(_points("".join(grams))).astype(np.int64)
        self.letters = frozenset(self.alphabet.tolist())
        self.base = len(self.alphabet) + 1
        self.keys, self.rows = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        self._insert(list(grams), np.fromiter(grams.values(), dtype=np.int64, count=len(grams)))

    def follow(self, grams: Mapping[str, int]) -> GramCodes:
        """Codes for ``grams``: this one extended when only new n-grams were added (they only ever are)."""
        if grams is not self.grams:
            return GramCodes(grams)
        added = list(islice(grams, self.seen, None))
        if any(ord(c) not in self.letters for g in added for c in g):
            return GramCodes(grams)  # a new character: new digits
        self.seen = len(grams)
        self._insert(added, np.array([grams[g] for g in added], dtype=np.int64))
        return self

    def _insert(self, names: list[str], rows: np.ndarray) -> None:
        if not names:
            return
        lengths = np.fromiter(map(len, names), dtype=np.int64, count=len(names))
        places = np.repeat(lengths, lengths) - 1 - (np.arange(int(lengths.sum()))
                                                    - np.repeat(np.cumsum(lengths) - lengths, lengths))
        digits = np.searchsorted(self.alphabet, _points("".join(names))) + 1
        # (an n-gram is never empty, so every reduceat segment has a character)
        keys = np.add.reduceat(digits * self.base ** places, np.cumsum(lengths) - lengths)
        keys, rows = np.concatenate([self.keys, keys]), np.concatenate([self.rows, rows])
        order = np.argsort(keys, kind="stable")
        self.keys, self.rows = keys[order], rows[order]

    def look_up(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(word index, row) of every 2- to 5-gram of ``words`` in the vocabulary, in the order
        ``text.char_ngrams`` lists them (n, then position) word by word: sums add up in the same order."""
        lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
        total = int(lengths.sum())
        if self.base ** 5 >= 2 ** 63:  # thousands of distinct characters: the codes would not fit
            get = self.grams.get
            found = [[r for n in (2, 3, 4, 5) for i in range(len(w) - n + 1)
                      if (r := get(w[i:i + n])) is not None] for w in words]
            owner = np.repeat(np.arange(len(words)), [len(f) for f in found])
            return owner, np.fromiter(chain.from_iterable(found), dtype=np.int64, count=len(owner))
        if not total or not len(self.keys):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        points = _points("".join(words))
        where = np.minimum(np.searchsorted(self.alphabet, points), len(self.alphabet) - 1)
        digits = np.zeros(total + 5, dtype=np.int64)
        digits[:total] = np.where(self.alphabet[where] == points, where + 1, 0)
        word = np.repeat(np.arange(len(words)), lengths)
        at_in_word = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        left = lengths[word] - at_in_word  # characters from here to the end of its word
        key, known = digits[:total].copy(), digits[:total] > 0
        owners, rows = [], []
        for n in (2, 3, 4, 5):
            key = key * self.base + digits[n - 1:total + n - 1]
            known &= digits[n - 1:total + n - 1] > 0
            at = np.flatnonzero(known & (left >= n))
            pos = np.minimum(np.searchsorted(self.keys, key[at]), len(self.keys) - 1)
            hit = self.keys[pos] == key[at]
            owners.append(word[at[hit]])
            rows.append(self.rows[pos[hit]])
        owner = np.concatenate(owners)
        order = np.argsort(owner, kind="stable")  # by word; within it n, then position, as appended
        return owner[order], np.concatenate(rows)[order]


class GramRows:
    """Every token's character n-gram rows, one token's contiguous, so their sums can be made again."""

    def __init__(self, capacity: int) -> None:
        self.rows = np.empty(16 * capacity, dtype=np.int32)
        self.owner = np.empty(16 * capacity, dtype=np.int32)
        self.used = 0
        self.start = np.zeros(capacity, dtype=np.int64)  # per token: where its rows begin, and how many
        self.count = np.zeros(capacity, dtype=np.int64)

    def copy(self) -> GramRows:
        other = object.__new__(GramRows)
        for name in ("rows", "owner", "start", "count"):
            setattr(other, name, getattr(self, name).copy())
        other.used = self.used
        return other

    def append(self, owner: np.ndarray, rows: np.ndarray) -> None:
        """``rows`` of tokens ``owner`` (each token's together, none stored yet)."""
        end = self.used + len(rows)
        if end > len(self.rows):
            size = max(end, 2 * len(self.rows))
            self.rows = np.concatenate([self.rows[:self.used], np.empty(size - self.used, dtype=np.int32)])
            self.owner = np.concatenate([self.owner[:self.used], np.empty(size - self.used, dtype=np.int32)])
        top = int(owner.max(initial=-1)) + 1
        if top > len(self.start):
            grow = max(top, 2 * len(self.start)) - len(self.start)
            self.start = np.concatenate([self.start, np.zeros(grow, dtype=np.int64)])
            self.count = np.concatenate([self.count, np.zeros(grow, dtype=np.int64)])
        self.rows[self.used:end] = rows
        self.owner[self.used:end] = owner
        first = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]]) if len(owner) else owner
        self.start[owner[first]] = self.used + first
        self.count[owner[first]] = np.diff(np.r_[first, len(owner)])
        self.used = end

    def copy_rows(self, to: np.ndarray, base: np.ndarray) -> None:
        """Tokens ``to`` get the rows of tokens ``base`` (a negated word has its word's n-grams)."""
        n = self.count[base]
        at = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n) + np.repeat(self.start[base], n)
        self.append(np.repeat(to, n), self.rows[at].astype(np.int64))

    def drop(self, tokens: np.ndarray, size: int) -> None:
        """Forget the rows of ``tokens`` (about to be looked up again)."""
        gone = np.zeros(size, dtype=bool)
        gone[tokens] = True
        keep = ~gone[self.owner[:self.used]]
        kept = int(keep.sum())
        self.rows[:kept] = self.rows[:self.used][keep]
        self.owner[:kept] = self.owner[:self.used][keep]
        self.used = 0
        self.count[tokens] = 0
        owner = self.owner[:kept].copy()
        self.append(owner, self.rows[:kept].astype(np.int64))

    def sums(self, weights: np.ndarray, size: int) -> np.ndarray:
        """(size x 3): each token's rows of ``weights`` summed in order - as ``_sums`` did when it was added.

        In chunks of about SUM_CHUNK rows cut between tokens, so a token's sum is made in one piece.
        """
        columns = [np.ascontiguousarray(weights[:, k]) for k in range(3)]  # gathers 3x faster than rows
        out = np.zeros((size, 3))
        lo = 0
        while lo < self.used:
            hi = min(lo + SUM_CHUNK, self.used)
            while hi < self.used and self.owner[hi] == self.owner[hi - 1]:
                hi += 1
            owner, rows = self.owner[lo:hi], self.rows[lo:hi]
            for k, column in enumerate(columns):
                out[:, k] += np.bincount(owner, column[rows], minlength=size)
            lo = hi
        return out


def _points(text: str) -> np.ndarray:
    """The code points of ``text`` (one per Python character, lone surrogates included)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _gram_word(token: str) -> str:
    """The string whose character n-grams a token has: a negated token has its word's."""
    return f"<{token[4:]}>" if token.startswith("not_") else f"<{token}>"


def _sums(owner: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Rows of ``values`` summed per owning text (texts x 3), in order (bincount adds sequentially)."""
    return np.stack([np.bincount(owner, values[:, k], minlength=n) for k in range(values.shape[1])], axis=1)

