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
    w = windows.BrandWindows(windows.WindowConfig())
    for ts, author in [(60.0, "a"), (61.0, "b"), (62.0, "a"), (120.0, "a"), (119.0 + 3600, "a"),
                        (120.0 + 3600 * 2, "a")]:
        assert w.add(ts, False, author, "hello", 0, uid=f"{author}{ts}")
    assert (w.buckets[1].authors, w.buckets[2].authors) == (2, 0)
    assert w.buckets[(119 + 3600) // 60].authors == 0  # 59:59 after their last
    assert w.buckets[(120 + 3600 * 2) // 60].authors == 1  # an hour and a second after it


def test_a_voice_is_an_authors_first_mention_in_each_clock_hour():
    """``voices`` (what the seasonal profile learns) counts an author once in each clock hour: a
    fan posting every 40 minutes is one voice an hour (``authors``, sliding, would count them once
    only), four bots posting 100 times in an hour are four, and aggregated counts are all voices."""
    w = windows.BrandWindows(windows.WindowConfig())
    for i in range(6):  # 00:10, 00:50, 01:30, 02:10, 02:50, 03:30
        w.add(600.0 + 2400 * i, False, "fan", "hello", 0, uid=f"fan{i}")
    voices = {h: sum(b.voices for i, b in w.buckets.items() if i // 60 == h) for h in range(4)}
    assert voices == {0: 1, 1: 1, 2: 1, 3: 1}
    assert sum(b.authors for b in w.buckets.values()) == 1
    for i in range(100):
        w.add(5 * 3600 + 36.0 * i, True, f"bot{i % 4}", "avoid this brand", 0, uid=f"bot{i}")
    assert sum(b.voices for i, b in w.buckets.items() if i // 60 == 5) == 4
    w.add(6 * 3600.0, False, None, "", 0, weight=7)
    assert w.buckets[360].voices == 7
    assert windows.Bucket.from_list(w.buckets[360].to_list()).voices == 7
    assert windows.Bucket.from_list(w.buckets[360].to_list()[:7]).voices == 7  # a state from before: its mentions


def test_a_samples_negativity_counts_to_a_tenth_and_then_its_reach():
    """0.91 and 0.94 are alike (0.9), so the more followed of the two is shown first; 0.96 (1.0) goes
    before both however few follow it."""
    w = windows.BrandWindows(windows.WindowConfig())
    for i, (negativity, followers) in enumerate([(0.94, 300), (0.91, 80_000), (0.96, 2), (0.89, 1_000_000)]):
        sample = {"id": str(i), "negativity": negativity, "author_followers": followers}
        w.add(60.0 + i, True, f"a{i}", f"text {i}", followers, sample=sample, uid=str(i))
    assert [s["id"] for s in w.buckets[1].samples] == ["2", "3", "1"]


def test_mentions_without_an_author_or_a_text_are_still_collapsed_by_what_they_have():
    """Collapsing needs only one of the two: mentions with no author but one pasted text count as
    ``max_copies``; one author's mentions with no text (an image, a bare link) count once. Only
    aggregated counts, with neither, count as they come (``weight`` each)."""
    w = windows.BrandWindows(windows.WindowConfig())
    for k in range(6):
        w.add(60.0 + k, True, None, "the app is down", 0, uid=f"x{k}")
        w.add(120.0 + k, True, "angry", "", 0, uid=f"y{k}")
        w.add(180.0 + k, True, None, "", 0, weight=2)
    assert [w.buckets[i].effective for i in (1, 2, 3)] == [3, 1, 12]
    assert [w.buckets[i].negatives for i in (1, 2, 3)] == [6, 6, 12]


def test_the_final_buckets_are_those_from_first_up_to_upto_however_many_are_open():
    """``final(first, upto)`` hands the baseline every bucket with ``first <= i < upto``: looked up one
    index at a time for a short range, found among the open buckets for a long one (a brand quiet
    for a while): the same buckets either way."""
    w = windows.BrandWindows(windows.WindowConfig())
    for ts in (60.0, 120.0, 130.0, 300.0, 600.0):
        w.add(ts, True, "a", "down", 0)
    assert [i for i, _ in w.final(1, 3)] == [1, 2]  # a range shorter than the buckets held
    assert [i for i, _ in w.final(1, 100)] == [1, 2, 5, 10]  # longer
    assert [i for i, _ in w.final(2, 10)] == [2, 5]


def test_forgetting_drops_the_buckets_before_an_index_and_memories_only_past_an_hour():
    """``forget_before(idx)`` drops the buckets before ``idx``, not ``idx`` itself (on a first call and
    on a jump as on the usual tick). Called every minute, as the detector does, it keeps the
    authors and texts of the last hour: one author complaining every 5 minutes for two hours counts
    once, and a bot's text as often as ``max_copies`` allows; older ones are pruned, so the memory
    stays that of the last hour."""
    w = windows.BrandWindows(windows.WindowConfig())
    for ts in (60.0, 120.0, 180.0, 1200.0):
        w.add(ts, False, "a", "hi", 0)
    w.forget_before(2)  # the first call
    assert sorted(w.buckets) == [2, 3, 20]
    w.forget_before(20)  # a jump
    assert sorted(w.buckets) == [20]

    w = windows.BrandWindows(windows.WindowConfig())
    counted, sizes = 0, []
    for minute in range(1, 241):
        if minute <= 120 and minute % 5 == 0:
            w.add(minute * 60.0, True, "angry", "it broke again", 0)
        w.add(minute * 60.0 + 1, False, f"reader{minute}", "just read it", 0)
        counted += w.buckets[minute].effective
        w.forget_before(minute)  # the minutes before are final and learned
        sizes.append(w.memory_size())
    assert counted == 1
    assert max(sizes) < 100  # an hour of readers (and up to 16 minutes more: pruned every 16), the angry author, one text


def test_the_memory_that_bounds_a_state_counts_every_author_text_and_id():
    """``memory_size`` decides when a brand's state is cut to fit a Kafka record (``to_state``'s
    ``max_memory``): a negative mention from a new author with a new text adds four entries (the
    author among the negatives' and everyone's, its text, its id), another mention two. Past the
    limit, a state keeps the newest third of it from each memory, and no ids."""
    w = windows.BrandWindows(windows.WindowConfig())
    for k in range(10):
        w.add(60.0 + k, True, f"a{k}", f"complaint {chr(97 + k)}", 0, uid=f"n{k}")
    assert w.memory_size() == 40
    for k in range(5):
        w.add(70.0 + k, False, f"b{k}", "fine", 0, uid=f"p{k}")
    assert w.memory_size() == 50
    assert w.to_state(max_memory=50) == w.to_state()
    capped = w.to_state(max_memory=30)
    assert list(capped["aa"]) == [f"a{k}" for k in range(5, 10)] + [f"b{k}" for k in range(5)]
    assert len(capped["na"]) == len(capped["c"]) == 10 and capped["b"]["1"][6] == []
