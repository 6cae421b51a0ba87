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


def test_a_bucket_remembers_the_ids_it_counted_and_reads_a_state_of_id_hashes():
    """A bucket keeps the ids of the mentions it counted (not a hash of them, which cost 4% of
    ``buzzwatch detect``'s instructions), so a duplicate is refused, and they survive its state. A
    state written before session 25 holds 63-bit hashes of the ids: it still loads, and the bucket
    goes on counting and writing itself back (no id ever matches a hash: the duplicate sent again
    under another offset within its open minutes would count twice)."""
    import orjson

    cfg = windows.WindowConfig()
    w = windows.BrandWindows(cfg)
    assert w.add(60.0, True, "a", "down again", 5, uid="1627")
    assert not w.add(61.0, True, "a", "down again", 5, uid="1627")
    assert w.add(62.0, False, "b", "fine", 5, uid="1628")
    state = orjson.loads(orjson.dumps(w.to_state()))
    assert state["b"]["1"][6] == ["1627", "1628"]
    restored = windows.BrandWindows.from_state(cfg, state)
    assert not restored.add(63.0, True, "c", "still down", 5, uid="1628")
    old = {"b": {"1": [2, 1, 1, 2, 5, [], [3497032612813470591, 1234]]}, "na": {}, "aa": {}, "c": {}}
    w = windows.BrandWindows.from_state(cfg, old)
    assert w.add(64.0, True, "d", "no signal", 5, uid="1629")
    assert w.buckets[1].mentions == 3
    assert orjson.loads(orjson.dumps(w.to_state()))["b"]["1"][6] == sorted(["1234", "1629", "3497032612813470591"])


def test_the_samples_on_call_sees_are_the_most_negative_then_the_most_followed():
    """A bucket keeps its 3 best negative samples: the most negative (to a tenth: 0.93 and 0.97 are
    alike), and among those alike the most followed - the mention the most people saw."""
    w = windows.BrandWindows(windows.WindowConfig())
    for i, (negativity, followers) in enumerate([(0.93, 10), (0.97, 50_000), (0.71, 900_000), (0.94, 300),
                                                 (0.92, None)]):
        sample = {"id": str(i), "negativity": negativity, "author_followers": followers}
        assert w.add(60.0 + i, True, f"a{i}", f"text {i}", followers or 0, sample=sample, uid=str(i))
    assert [s["id"] for s in w.buckets[1].samples] == ["1", "3", "0"]
    assert [s["id"] for s in w.sum(0, 2).samples] == ["1", "3", "0"]


def test_an_author_counts_once_an_hour_and_again_after_it():
    """``authors`` (the crowd test's unique authors) counts an author's first mention in the last
    hour: a second one within it is not a new author, nor one 59 minutes after their last; one after an
    hour without any is."""
    cfg = windows.WindowConfig()
    w = windows.BrandWindows(cfg)
    for ts, author in [(60.0, "a"), (61.0, "b"), (62.0, "a"), (120.0, "a"), (119.0 + cfg.dedupe_s, "a"),
                        (120.0 + cfg.dedupe_s * 2, "a")]:
        assert w.add(ts, False, author, "hello", 0, uid=f"{author}{ts}")
    assert (w.buckets[1].authors, w.buckets[2].authors) == (2, 0)
    assert w.buckets[(119 + cfg.dedupe_s) // cfg.bucket_s].authors == 0  # 59:59 after their last
    assert w.buckets[(120 + cfg.dedupe_s * 2) // cfg.bucket_s].authors == 1  # an hour and a second after it
