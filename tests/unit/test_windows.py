"""Near-duplicate fingerprints: the keys live in brand states, so they must never change."""

from __future__ import annotations

import hashlib
import random
import re

from pipeline.core import windows
from pipeline.core.windows import fingerprint

_URL = re.compile(r"https?://\S+|www\.\S+")
_WORDS = re.compile(r"@\w+|([^\W\d_]+)")


def regex_fingerprint(text: str) -> str:
    """The fingerprint as first written (one regex for handles and letter runs): the reference."""
    norm = text.lower()
    if "http" in norm or "www." in norm:
        norm = _URL.sub(" ", norm)
    if norm[:2] == "rt" and norm[2:3].isspace():
        norm = norm[2:]
    norm = " ".join([w for w in _WORDS.findall(norm) if w])[:80]
    return hashlib.blake2b(norm.encode(), digest_size=6).hexdigest()


PIECES = ["RT ", "rt\t", "@bob", "@", "@@x", "a@b", "_", "__init", "x_y", "42", "2nd", "Ünïcødé", "straße", "İstanbul",
          "x²", "½", "日本", " ", "  ", "\n", "!!!", "#fail", "https://t.co/x", "www.x.io/a", "http", "DOWN", "the app",
          "is", "down", "-", "'", "é", "a" * 30]


def test_fingerprint_equals_the_regex_one_on_ascii_and_unicode_texts():
    rng = random.Random(11)
    texts = ["", "RT @bob: The app is DOWN!!! https://t.co/x", "the app is down", "@only @handles"]
    texts += ["".join(rng.choice(PIECES) for _ in range(rng.randint(1, 14))) for _ in range(5000)]
    texts += ["".join(chr(rng.randint(32, 126)) for _ in range(rng.randint(1, 120))) for _ in range(5000)]
    for text in texts:
        windows._FINGERPRINTS.clear()
        assert fingerprint(text) == regex_fingerprint(text), text
