"""The shipped scorer artefact and the scorer's packed state: plain arrays, never pickle.

``scorer.npz`` holds, per language, the feature vocabulary (UTF-8, newline-separated, as uint8),
the weights (features x 3, float32) and optional lexicons, plus a JSON ``meta`` (calibration,
training figures). ``np.load(..., allow_pickle=False)`` refuses anything executable.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

ARTEFACT = Path(__file__).resolve().parent.parent / "data" / "scorer.npz"


@lru_cache(maxsize=4)
def load_artefact(path: Path = ARTEFACT) -> tuple[dict[str, Any], dict[str, tuple[list[str], np.ndarray]],
                                                  dict[str, dict[str, float]]]:
    """(meta, {lang: (vocabulary, weights)}, {lang: lexicon}) from the ``.npz``; never unpickles anything."""
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(bytes(z["meta"]).decode("utf-8"))
        models = {lang: (_strings(z[f"{lang}_vocab"]), z[f"{lang}_weights"].astype(np.float64))
                  for lang in meta["langs"]}
        lexicons = {lang: dict(zip(_strings(z[f"{lang}_lexicon_words"]), z[f"{lang}_lexicon_values"].tolist(),
                                   strict=True)) for lang in meta.get("lexicons", [])}
    return meta, models, lexicons


def _strings(a: np.ndarray) -> list[str]:
    return bytes(a).decode("utf-8").split("\n")


def _bytes(strings: Sequence[str]) -> np.ndarray:
    return np.frombuffer("\n".join(strings).encode("utf-8"), dtype=np.uint8)


def save_artefact(path: Path, meta: dict[str, Any], models: dict[str, tuple[list[str], np.ndarray]],
                  lexicons: Mapping[str, Mapping[str, float]] | None = None) -> None:
    arrays: dict[str, np.ndarray] = {}
    for lang, (vocab, weights) in models.items():
        arrays[f"{lang}_vocab"] = _bytes(vocab)
        arrays[f"{lang}_weights"] = weights.astype(np.float32)
    for lang, lex in (lexicons or {}).items():
        arrays[f"{lang}_lexicon_words"] = _bytes(list(lex))
        arrays[f"{lang}_lexicon_values"] = np.asarray(list(lex.values()), dtype=np.float32)
    meta = {**meta, "lexicons": sorted(lexicons or {})}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez_compressed(path, **arrays)


def pack(raw: bytes) -> str:
    return base64.b64encode(zlib.compress(raw, 6)).decode("ascii")


def unpack(text: str) -> bytes:
    return zlib.decompress(base64.b64decode(text))
