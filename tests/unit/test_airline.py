"""``make bench-airline``'s harness: the real airline mentions read, attributed and scored as the
worker would, each airline watched from its collection's start, and bursts injected into them found
by the same core. The data set is written here, in the layout of ``../shared/datasets``, with made-up
tweets: two airlines over four days, one of them mentioned a few times before its collection starts.
"""

from __future__ import annotations

import csv
import math
import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipeline.sim import airline

COLUMNS = ["tweet_id", "airline_sentiment", "airline", "name", "text", "tweet_created"]
PST = timezone(timedelta(hours=-8))
START = datetime(2015, 2, 16, 0, 0, tzinfo=PST)


def _write(root: Path, rows: list[dict[str, str]]) -> Path:
    folder = root / "airline"
    folder.mkdir(parents=True)
    with (folder / "tweets_dev.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return root


def _row(n: int, at: datetime, handle: str, label: str, airline_column: str, author: str) -> dict[str, str]:
    return {"tweet_id": str(n), "airline_sentiment": label, "airline": airline_column, "name": author,
            "text": f"{handle} flight {n % 97} {'late again, awful' if label == 'negative' else 'boarding soon'}",
            "tweet_created": at.strftime("%Y-%m-%d %H:%M:%S %z")}


def _dataset(root: Path, days: int = 4) -> Path:
    """JetBlue (labelled "Delta", as in the real file) at ~12 mentions an hour by day and ~2 by night,
    40% negative; American collected from day 3 as busy, and before that in three of JetBlue's threads."""
    rng = random.Random(7)
    rows, n = [], 0
    for minute in range(days * 1440):
        at = START + timedelta(minutes=minute)
        per_hour = 2 + 10 * max(0.0, math.sin((at.hour - 6) / 24 * 2 * math.pi))
        for handle, column, rate in (("@JetBlue", "Delta", per_hour),
                                     ("@AmericanAir", "American", per_hour if minute >= 2 * 1440 else 0.0)):
            if rng.random() < rate / 60:
                n += 1
                label = "negative" if rng.random() < 0.4 else rng.choice(["neutral", "positive"])
                rows.append(_row(n, at + timedelta(seconds=rng.randrange(60)), handle, label, column,
                                 f"user{rng.randrange(3000)}"))
    for hours in (10, 27, 31):  # American before its collection: a few mentions in other threads
        n += 1
        rows.append(_row(n, START + timedelta(hours=hours), "@JetBlue @AmericanAir", "negative", "Delta", f"early{n}"))
    rows.append(dict(rows[10]))  # the real file repeats some ids: counted once
    rng.shuffle(rows)  # the file is not in time order
    return _write(root, rows)


def test_the_rows_are_read_in_time_order_with_their_labels(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    mentions, labels = airline.read_dataset(root / "airline" / "tweets_dev.csv")
    times = [datetime.fromisoformat(m["created_at"]) for m in mentions]
    assert times == sorted(times)
    assert times[0].utcoffset() == timedelta(hours=-8)  # the offset is kept: RFC 3339 with -08:00
    assert set(labels.values()) == {"negative", "neutral", "positive"}


def test_a_bad_row_is_refused_with_its_line(tmp_path: Path) -> None:
    row = _row(1, START, "@JetBlue", "furious", "Delta", "ann")
    root = _write(tmp_path, [_row(2, START, "@JetBlue", "negative", "Delta", "bob"), row])
    with pytest.raises(SystemExit, match=r"line 3: airline_sentiment: unknown label 'furious'"):
        airline.read_dataset(root / "airline" / "tweets_dev.csv")


def test_mentions_are_attributed_by_handle_through_the_brands_file(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    mentions, labels = airline.read_dataset(root / "airline" / "tweets_dev.csv")
    rows = airline.attribute_and_score(mentions, labels, airline.write_brands(tmp_path / "brands.yaml"))
    by_brand = {r["brand"] for r in rows}
    assert by_brand == {"jetblue", "american"}  # "Delta" rows are @JetBlue tweets
    neg = [r for r in rows if r["sentiment"] == "negative"]
    assert neg and all(r["negativity"] >= 0.5 for r in neg)
    assert all(r["negativity"] < 0.5 for r in rows if r["sentiment"] != "negative")


def test_an_airline_is_watched_from_its_collections_start(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    mentions, labels = airline.read_dataset(root / "airline" / "tweets_dev.csv")
    prof = airline.profiles(airline.attribute_and_score(mentions, labels, airline.write_brands(tmp_path / "b.yaml")))
    american = datetime.fromtimestamp(prof["american"]["first"], UTC)
    assert START + timedelta(days=2) <= american < START + timedelta(days=2, hours=2)
    assert datetime.fromtimestamp(prof["jetblue"]["first"], UTC) < START + timedelta(hours=1)
    # the plug-in oracle's rate follows the day: more negatives by day than by night
    rate = prof["jetblue"]["rate"]
    assert max(rate) > 4 * min(r for r in rate if r > 0)


def test_the_quiet_stream_does_not_page_and_injected_bursts_are_found(tmp_path: Path) -> None:
    res = airline.run(_dataset(tmp_path), rounds=3, seed=1, use_scorer=False, folder=tmp_path)
    assert res["unwatched"] > 0  # American's mentions before day 3
    assert not [a for a in res["quiet_alerts"] if a["status"] == "open"]
    bursts = res["bursts"]
    assert {b["brand"] for b in bursts} == {"jetblue", "american"}
    assert {b["doubling"] for b in bursts} == {5, 15, 45}
    found = [b for b in bursts if b["delay"] is not None]
    assert len(found) >= len(bursts) - 1
    assert all(0 <= b["delay"] <= 240 for b in found)
    assert all(b["oracle"] is not None for b in bursts)  # the plug-in oracle confirms each one
