"""Readers for the labelled sentiment sets in ``../shared/datasets`` (training and ``make bench-score``).

Labels come back as indices into ``pipeline.core.scoring.LABELS`` (0 negative, 1 neutral, 2 positive).
DEFT 2017 has no split of its own here: ids divisible by 5 are held out (never trained on), and its
``mixed`` tweets are left out (neither label fits).

XLM-T's English is not a second English distribution: it is a class-balanced resample of TweetEval's
validation split (all 324 of its val tweets and 1,430 of its 1,839 training tweets are TweetEval val
tweets, with the same labels; the other 409, all negative, are in no set here). Training on it would
train on the English evaluation, so it is only ever evaluated on, and ``training_sets`` refuses any
training text that an evaluation set (``evaluation_sets``) also holds.
"""

from __future__ import annotations

import csv
from pathlib import Path

XLMT = {"en": "english", "fr": "french", "es": "spanish", "de": "german"}
_DEFT = {"negative": 0, "objective": 1, "positive": 2}
_AIRLINE = {"negative": 0, "neutral": 1, "positive": 2}

Labelled = tuple[list[str], list[int]]


def _pair(text_file: Path, label_file: Path) -> Labelled:
    texts = text_file.read_text(encoding="utf-8").rstrip("\n").split("\n")
    labels = [int(x) for x in label_file.read_text(encoding="utf-8").split()]
    if len(texts) != len(labels):
        raise ValueError(f"{text_file}: {len(texts)} texts but {len(labels)} labels")
    return texts, labels


def tweets_en(root: Path, split: str) -> Labelled:
    return _pair(root / "tweets_en" / f"{split}_text.txt", root / "tweets_en" / f"{split}_labels.txt")


def xlmt(root: Path, lang: str, split: str) -> Labelled:
    d = root / "xlmt" / XLMT[lang]
    return _pair(d / f"{split}_text.txt", d / f"{split}_labels.txt")


def deft2017_fr(root: Path, part: str) -> Labelled:
    """``part`` is 'train' (ids not divisible by 5) or 'heldout' (ids divisible by 5)."""
    texts, labels = [], []
    with (root / "deft2017_fr" / "train.tsv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["label"] not in _DEFT:
                continue
            if (int(row["id"]) % 5 == 0) == (part == "heldout"):
                texts.append(row["text"])
                labels.append(_DEFT[row["label"]])
    return texts, labels


def airline(root: Path) -> tuple[list[str], list[int], list[str]]:
    """(texts, labels, tweet ids), duplicate tweet ids dropped, in file order."""
    texts, labels, ids, seen = [], [], [], set()
    with (root / "airline" / "tweets_dev.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row["tweet_id"] in seen:
                continue
            seen.add(row["tweet_id"])
            texts.append(row["text"])
            labels.append(_AIRLINE[row["airline_sentiment"]])
            ids.append(row["tweet_id"])
    return texts, labels, ids


def evaluation_sets(root: Path) -> dict[str, Labelled]:
    """What ``make bench-score`` reports on: validation splits, DEFT's held-out part, the airline tweets."""
    air_x, air_y, _ = airline(root)
    out = {"tweets_en val": tweets_en(root, "val")}
    out.update({f"xlmt {lang} val": xlmt(root, lang, "val") for lang in ("en", "fr", "es", "de")})
    out["deft2017_fr held-out"] = deft2017_fr(root, "heldout")
    out["airline tweets_dev"] = (air_x, air_y)
    return out


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


def overlaps(training: dict[str, Labelled], evaluation: dict[str, Labelled]) -> dict[str, int]:
    """``"train LANG / EVAL SET"`` -> how many of the evaluation set's texts the training set also holds.

    Texts are compared with whitespace collapsed and case folded; pairs with no text in common are left out.

    >>> overlaps({"en": (["Good  day", "bad"], [2, 0])}, {"val": (["good day", "meh"], [2, 1])})
    {'train en / val': 1}
    """
    out = {}
    for lang, (texts, _) in training.items():
        keys = {_key(t) for t in texts}
        for name, (ev, _) in evaluation.items():
            n = sum(_key(t) in keys for t in ev)
            if n:
                out[f"train {lang} / {name}"] = n
    return out


def training_sets(root: Path) -> dict[str, Labelled]:
    """What ``make train`` learns from, per language (validation splits and DEFT's held-out part excluded).

    Raises ``ValueError`` if a training text is also in an evaluation set (see the module docstring).
    """
    fr_x, fr_y = xlmt(root, "fr", "train")
    deft_x, deft_y = deft2017_fr(root, "train")
    sets = {"en": tweets_en(root, "train"), "fr": (fr_x + deft_x, fr_y + deft_y),
            "es": xlmt(root, "es", "train"), "de": xlmt(root, "de", "train")}
    leaked = overlaps(sets, evaluation_sets(root))
    if leaked:
        raise ValueError(f"training texts found in evaluation sets: {leaked}")
    return sets
