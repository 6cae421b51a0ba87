"""Per-brand event-time buckets: what happened in each minute, with bots and copies collapsed.

Time is an integer bucket index (``ts // bucket_s``). A bucket is a half-open range
``[i * bucket_s, (i + 1) * bucket_s)``. Buckets stay writable until the watermark has passed
their end by ``grace_s``; after that they are *final*: handed to the baseline (the detector
keeps them a while longer, read-only, for its trailing windows). A mention older than that is
*too late*: the caller counts it and does not add it.

Timeline for bucket_s=60, grace_s=600 (each char = 1 minute, W = watermark)::

    bucket:   ...|b0|b1|b2|...|b10|b11|
                  ^ final once W >= end(b0) + 600 s
    a mention stamped in b0 arriving while W < end(b0) + 600 s is added to b0;
    arriving later, it is counted in ``too_late`` and dropped.

Collapsing: among negatives in the trailing ``dedupe_s``, an author counts once and one
near-identical text counts at most ``max_copies`` times, so one angry account or a bot
network pasting one text cannot look like a crowd. The raw counts are kept alongside.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from itertools import islice
from typing import Any, Final

from pipeline.core.stats import floor_div

_URL: Final = re.compile(r"https?://\S+|www\.\S+")
_WORDS: Final = re.compile(r"@\w+|([^\W\d_]+)")  # a handle (dropped: an empty group) or a run of letters
_ASCII_WORD: Final = "abcdefghijklmnopqrstuvwxyz0123456789_"  # what \w matches in lowercased ASCII
_ASCII_NOT_LETTER: Final = bytes(b if 97 <= b <= 122 else 32 for b in range(256))  # a-z kept, the rest spaces


def fingerprint(text: str) -> str:
    """Near-duplicate key: case, URLs, handles, digits, punctuation and retweet prefixes ignored.

    >>> fingerprint("RT @bob: The app is DOWN!!! https://t.co/x") == fingerprint("the app is down")
    True
    """
    key = _FINGERPRINTS.get(text)
    if key is not None:
        return key
    norm = text.lower()
    if "http" in norm or "www." in norm:
        norm = _URL.sub(" ", norm)
    if norm[:2] == "rt" and norm[2:3].isspace():
        norm = norm[2:]  # a retweet prefix (the spaces after it go with the others)
    # Handles, digits, underscores, punctuation and spaces all separate the words that remain:
    # the letters' runs, joined by one space (as replacing each by a space and collapsing them).
    if norm.isascii():  # the usual text: the letters' runs by a byte table, ~4x cheaper than the regex
        if "@" in norm:  # each handle's word characters dropped (the @ becomes a space anyway), as @\w+ would be
            parts = norm.split("@")
            for k in range(1, len(parts)):
                parts[k] = parts[k].lstrip(_ASCII_WORD)
            norm = " ".join(parts)
        words = b" ".join(norm.encode().translate(_ASCII_NOT_LETTER).split())[:80]
    else:
        words = " ".join([w for w in _WORDS.findall(norm) if w])[:80].encode()
    key = hashlib.blake2b(words, digest_size=6).hexdigest()
    if len(_FINGERPRINTS) >= _MAX_FINGERPRINTS:
        _FINGERPRINTS.clear()
    _FINGERPRINTS[text] = key
    return key


_MAX_FINGERPRINTS: Final = 4096  # texts whose fingerprint is kept: a pasted text repeats within minutes
_FINGERPRINTS: Final[dict[str, str]] = {}


class Bucket:
    """Counts for one brand in one bucket.

    A plain class, not a dataclass: compiled, a dataclass's generated ``__init__`` stays
    interpreted, and a busy stream makes a bucket every few mentions.
    """

    __slots__ = ("mentions", "negatives", "effective", "authors", "reach", "samples", "ids", "voices")

    def __init__(self, mentions: int = 0, negatives: int = 0, effective: int = 0, authors: int = 0,
                 reach: int = 0, samples: list[dict[str, Any]] | None = None, ids: set[str] | None = None,
                 voices: int = 0) -> None:
        self.mentions = mentions
        self.negatives = negatives
        self.effective = effective  # negatives after author / copy collapsing
        self.authors = authors  # distinct authors first seen (in dedupe_s) in this bucket, all sentiments
        self.reach = reach  # followers of the authors of negatives
        self.samples: list[dict[str, Any]] = [] if samples is None else samples
        self.ids = ids  # the ids of the mentions counted here, while the bucket is open
        self.voices = voices  # mentions by authors not seen before in this clock hour (the seasonal profile's count)

    def to_list(self, with_ids: bool = True) -> list[Any]:
        ids = sorted(self.ids) if self.ids and with_ids else []
        return [self.mentions, self.negatives, self.effective, self.authors, self.reach, self.samples, ids, self.voices]

    @classmethod
    def from_list(cls, data: list[Any]) -> Bucket:
        mentions, negatives, effective, authors, reach, samples, ids = data[:7]
        voices = data[7] if len(data) > 7 else mentions  # written before session 37: every mention
        # str(): a state written before session 25 holds 63-bit hashes of the ids, which no id matches
        return cls(mentions, negatives, effective, authors, reach, samples, {str(i) for i in ids} if ids else None,
                   voices)


@dataclass(frozen=True, slots=True)
class WindowConfig:
    """How buckets are cut and how long they wait for late mentions."""

    bucket_s: int = 60
    grace_s: int = 600
    dedupe_s: int = 3600
    max_copies: int = 3
    samples_per_bucket: int = 3


class BrandWindows:
    """The open (not yet final) buckets of one brand, plus the recent author / text memory."""

    __slots__ = ("cfg", "buckets", "neg_authors", "all_authors", "copies", "_forgotten")

    def __init__(self, cfg: WindowConfig) -> None:
        self.cfg = cfg
        self.buckets: dict[int, Bucket] = {}
        self._forgotten: int | None = None  # no bucket below this index (after forget_before)
        self.neg_authors: dict[str, float] = {}  # author -> last negative ts
        self.all_authors: dict[str, float] = {}
        self.copies: dict[str, list[float]] = {}  # fingerprint -> ts of counted copies

    def add(
        self, ts: float, negative: bool, author: str | None, text: str, followers: int,
        sample: dict[str, Any] | None = None, weight: int = 1, uid: str | None = None,
    ) -> bool:
        """Count one mention (or ``weight`` identical ones, for aggregated input) into its bucket.

        False if ``uid`` (the mention's id) was already counted in that bucket: a
        redelivered or duplicated mention is counted once.
        """
        cfg = self.cfg
        idx = floor_div(ts, cfg.bucket_s)
        buckets = self.buckets
        bucket = buckets.get(idx)
        if bucket is None:
            bucket = buckets[idx] = Bucket()
        if uid is not None:
            ids = bucket.ids
            if ids is None:
                bucket.ids = {uid}
            elif uid in ids:
                return False
            else:
                ids.add(uid)
        bucket.mentions += weight
        horizon = ts - cfg.dedupe_s
        if author is None:
            bucket.authors += weight
            bucket.voices += weight
        else:
            all_authors = self.all_authors
            last = _take(all_authors, author)  # re-inserted last: the dict stays in time order
            if last is None or last < ts - ts % 3600:
                bucket.voices += 1
            if last is None or last < horizon:
                bucket.authors += 1
                all_authors[author] = ts
            else:
                all_authors[author] = last if last >= ts else ts  # max(last, ts)
        if not negative:
            return True
        bucket.negatives += weight
        bucket.reach += followers
        if author is None and not text:  # aggregated counts: nothing to collapse
            bucket.effective += weight
        elif self._counts(ts, author, text, horizon):
            bucket.effective += 1
        if sample is not None:
            samples = bucket.samples
            samples.append(sample)
            if len(samples) > self.cfg.samples_per_bucket:
                samples.sort(key=_sample_rank, reverse=True)
                del samples[self.cfg.samples_per_bucket:]
        return True

    def _counts(self, ts: float, author: str | None, text: str, horizon: float) -> bool:
        if author is not None:
            last = _take(self.neg_authors, author)
            if last is not None and last >= horizon:
                self.neg_authors[author] = max(last, ts)
                return False
            self.neg_authors[author] = ts
        key = fingerprint(text)
        copies = self.copies
        before = copies.get(key)  # not pop(): compiled, a lookup and a deletion cost less than the method call
        if before is None:
            seen = []
        else:
            del copies[key]
            seen = [t for t in before if t >= horizon]
        counted = len(seen) < self.cfg.max_copies
        if counted:
            seen.append(ts)
        copies[key] = seen  # re-inserted last: the dict stays in time order
        return counted

    def final(self, first: int, upto: int) -> list[tuple[int, Bucket]]:
        """Buckets with ``first <= i < upto`` that hold anything, oldest first."""
        buckets = self.buckets
        if upto - first < len(buckets):  # the usual tick: a few indices to look up
            return [(i, b) for i in range(first, upto) if (b := buckets.get(i)) is not None]
        return sorted((i, b) for i, b in buckets.items() if first <= i < upto)

    def forget_before(self, idx: int) -> None:
        """Drop buckets older than ``idx`` and author / text memory older than ``dedupe_s``."""
        buckets, low = self.buckets, self._forgotten
        if low is not None and idx - low < len(buckets):  # the usual tick: one or two indices
            for i in range(low, idx):
                buckets.pop(i, None)
        else:
            for i in [i for i in buckets if i < idx]:
                del buckets[i]
        self._forgotten = idx if low is None else max(low, idx)
        if low is not None and idx % 16:
            return  # memories older than dedupe_s are ignored when read; pruning them can wait
        horizon = idx * self.cfg.bucket_s - self.cfg.dedupe_s
        # One scan from the oldest end, then the deletions: taking next(iter()) after each deletion
        # would rescan the deleted slots at the front of the dict every time (quadratic).
        for memory in (self.neg_authors, self.all_authors):  # oldest first (see add)
            stale = []
            for key, ts in memory.items():
                if ts >= horizon:
                    break
                stale.append(key)
            for key in stale:
                del memory[key]
        stale = []
        for key, seen in self.copies.items():
            if seen and seen[-1] >= horizon:
                break
            stale.append(key)
        for key in stale:
            del self.copies[key]

    def sum(self, first: int, last: int) -> Bucket:
        """Totals over buckets ``first <= i < last`` (samples merged, best first)."""
        total = Bucket()
        for i, b in self.buckets.items():
            if first <= i < last:
                total.mentions += b.mentions
                total.negatives += b.negatives
                total.effective += b.effective
                total.authors += b.authors
                total.reach += b.reach
                total.samples.extend(b.samples)
        total.samples.sort(key=_sample_rank, reverse=True)
        return total

    def is_empty(self) -> bool:
        return not self.buckets

    def memory_size(self) -> int:
        """Entries of the per-mention memories - ids in open buckets, authors and copies of the last
        ``dedupe_s`` - which grow with a brand's volume: a crisis at 100 mentions/s holds ~360,000."""
        size = len(self.neg_authors) + len(self.all_authors) + len(self.copies)
        for b in self.buckets.values():
            if b.ids:
                size += len(b.ids)
        return size

    def to_state(self, max_memory: int | None = None) -> dict[str, Any]:
        """JSON-able. Past ``max_memory`` entries (``memory_size``) the state keeps only the most
        recent ``max_memory // 3`` of each memory and no bucket ids: a Kafka record holds 1 MB, and a
        busy brand's full memories took 3.3 MB after 60,000 mentions in 10 minutes. Counts are kept
        exactly; what a restart from it forgets is an author or a copy seen before the kept ones
        (counted once more if it comes back within ``dedupe_s``) and the ids of a duplicate sent
        again under another offset (a re-read one is recognised by its offset: see Monitor)."""
        if max_memory is None or self.memory_size() <= max_memory:
            return {
                "b": {str(i): b.to_list() for i, b in self.buckets.items()},
                "na": self.neg_authors, "aa": self.all_authors, "c": self.copies,
            }
        keep = max(1, max_memory // 3)
        return {
            "b": {str(i): b.to_list(with_ids=False) for i, b in self.buckets.items()},
            "na": _newest(self.neg_authors, keep), "aa": _newest(self.all_authors, keep),
            "c": _newest(self.copies, keep),
        }

    @classmethod
    def from_state(cls, cfg: WindowConfig, state: dict[str, Any]) -> BrandWindows:
        w = cls(cfg)
        w.buckets = {int(i): Bucket.from_list(b) for i, b in state.get("b", {}).items()}
        w.neg_authors = dict(state.get("na", {}))
        w.all_authors = dict(state.get("aa", {}))
        w.copies = {k: list(v) for k, v in state.get("c", {}).items()}
        return w


def _newest(memory: dict[str, Any], keep: int) -> dict[str, Any]:
    """The last ``keep`` entries of a memory kept in time order (oldest first, see ``add``)."""
    if len(memory) <= keep:
        return memory
    newest = list(islice(reversed(memory.items()), keep))  # from the newest end: O(keep), not O(len)
    newest.reverse()
    return dict(newest)


def _take(memory: dict[str, float], key: str) -> float | None:
    """``memory.pop(key, None)``: compiled, a lookup and a deletion cost less than the method call."""
    last = memory.get(key)
    if last is not None:
        del memory[key]
    return last


def _sample_rank(sample: dict[str, Any]) -> tuple[float, int]:
    return (round(sample.get("negativity", 0.0), 1), sample.get("author_followers") or 0)
