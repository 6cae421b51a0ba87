"""Synthetic mention streams with known bursts, for the demo, the tests and the benchmarks.

Each brand has a base rate (mentions per hour, with a daily cycle) and a negative share.
Episodes add mentions on top: an *accelerating negative burst* grows its rate by doubling
every ``doubling_min`` minutes from ``start`` until ``peak``, then fades; a *positive viral*
burst does the same with positive texts. Texts are built from phrase lists so that the lexicon
scorer reads them as intended and near-duplicate collapsing does not merge distinct people.

>>> spec = StreamSpec(start="2026-03-02T00:00:00Z", hours=1, brands=[BrandSpec("acme", 60)])
>>> rows = generate(spec, seed=1)
>>> 30 < len(rows) < 100 and rows == sorted(rows, key=lambda r: r["created_at"])
True
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from pipeline.records import format_time, parse_time

_WHO = ["my", "our", "the", "this", "today's", "the last", "another", "that"]
_NEG_THING = ["flight", "booking", "refund", "app", "checkout", "delivery", "order", "support call",
              "account", "payment", "update", "bill", "login", "service", "upgrade", "parcel"]
_NEG_WHAT = ["was cancelled without notice", "is broken again", "failed twice", "is a total disaster",
             "was awful", "never arrived", "got worse", "is the worst ever", "ruined my day",
             "crashed and lost everything", "is terrible and nobody helps", "left me furious",
             "was a horrible experience", "is unacceptable", "made me angry", "is so bad"]
_NEG_END = ["", "never again", "shame on you", "worst company", "I hate this", "disgusting",
            "what a joke", "so disappointed", "this is awful", "pathetic", "#fail", "angry customer"]
_POS_WHAT = ["was great", "is amazing", "made my day", "was excellent", "is wonderful", "was perfect",
             "is so good", "was a delight", "is brilliant", "exceeded expectations"]
_POS_END = ["", "love it", "thank you", "best ever", "so happy", "well done", "awesome team", ":)",
            "fantastic", "great job", "can't wait for more"]
_NEU = ["announces new {thing} for spring", "{thing} schedule for tomorrow", "posted an update on the {thing}",
        "is hiring for the {thing} team", "{thing} numbers published this morning", "opens a new {thing} office",
        "{thing} details on page 4", "the {thing} starts at 9", "press release about the {thing}",
        "quarterly {thing} report is out"]


@dataclass(frozen=True)
class Episode:
    kind: str  # "negative" | "positive"
    start_min: float  # minutes after the stream start
    doubling_min: float = 10.0
    start_per_hour: float = 6.0  # extra mentions/hour at the start
    peak_min: float = 60.0  # minutes from start to peak
    fade_min: float = 30.0


@dataclass(frozen=True)
class BrandSpec:
    id: str
    per_hour: float
    negative_share: float = 0.15
    positive_share: float = 0.35
    daily_amplitude: float = 0.5
    episodes: tuple[Episode, ...] = ()
    handle: str | None = None


@dataclass(frozen=True)
class StreamSpec:
    start: str
    hours: float
    brands: list[BrandSpec] = field(default_factory=list)
    authors_per_brand: int = 5000


def poisson_draw(rng: random.Random, lam: float) -> int:
    """A Poisson count of mean ``lam`` (normal above 50: a minute's draw on a busy brand)."""
    if lam <= 0:
        return 0
    if lam > 50:
        return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def episode_rate(ep: Episode, minute: float) -> float:
    """Extra mentions per hour that the episode adds at ``minute`` of the stream."""
    t = minute - ep.start_min
    if t < 0:
        return 0.0
    if t <= ep.peak_min:
        return ep.start_per_hour * 2 ** (t / ep.doubling_min)
    peak = ep.start_per_hour * 2 ** (ep.peak_min / ep.doubling_min)
    return peak * math.exp(-(t - ep.peak_min) / max(ep.fade_min, 1e-9) * 3)


def mention_text(rng: random.Random, kind: str, handle: str) -> str:
    """A synthetic mention of ``handle`` whose true sentiment is ``kind``."""
    thing = rng.choice(_NEG_THING)
    if kind == "negative":
        parts = [handle, rng.choice(_WHO), thing, rng.choice(_NEG_WHAT), rng.choice(_NEG_END)]
    elif kind == "positive":
        parts = [handle, rng.choice(_WHO), thing, rng.choice(_POS_WHAT), rng.choice(_POS_END)]
    else:
        parts = [handle, rng.choice(_NEU).format(thing=thing)]
    return " ".join(p for p in parts if p)


def generate(spec: StreamSpec, seed: int = 0, with_brand: bool = False) -> list[dict[str, Any]]:
    """Mention dicts (schema ``mention``), sorted by event time. Deterministic for a seed.

    ``with_brand`` sets each mention's ``brand``; without it the brands file must attribute them.
    """
    rng = random.Random(seed)
    t0 = parse_time(spec.start)
    rows: list[tuple[float, dict[str, Any]]] = []
    for b in spec.brands:
        handle = b.handle or f"@{b.id}"
        for minute in range(int(spec.hours * 60)):
            ts_min = t0 + minute * 60
            hour_of_day = (ts_min / 3600) % 24
            cycle = 1 + b.daily_amplitude * math.sin((hour_of_day - 9) / 24 * 2 * math.pi)
            base = b.per_hour * cycle / 60
            kinds = {"negative": base * b.negative_share, "positive": base * b.positive_share,
                     "neutral": base * (1 - b.negative_share - b.positive_share)}
            for ep in b.episodes:
                kinds[ep.kind] += episode_rate(ep, minute) / 60
            for kind, lam in kinds.items():
                for _ in range(poisson_draw(rng, lam)):
                    ts = ts_min + rng.random() * 60
                    author = f"u{rng.randrange(spec.authors_per_brand)}"
                    row = {"id": f"{b.id}-{len(rows)}-{rng.getrandbits(32):08x}", "text": mention_text(rng, kind, handle),
                           "created_at": format_time(round(ts, 3)), "author_id": author,
                           "author_followers": int(rng.paretovariate(1.2) * 50), "source": "sim",
                           "url": f"https://social.example/{author}/status/{rng.getrandbits(40)}"}
                    if with_brand:
                        row["brand"] = b.id
                    rows.append((ts, row))
    rows.sort(key=lambda r: r[0])
    return [r for _, r in rows]


def demo_spec() -> StreamSpec:
    """The `make run` stream: a quiet day (the detector learns each brand's daily cycle first),
    then acme's accelerating negative burst and globex's positive viral burst of the same size."""
    burst_at = 26 * 60
    return StreamSpec(
        start="2026-03-01T06:00:00Z",
        hours=27.5,
        brands=[
            BrandSpec("acme", 90, episodes=(Episode("negative", burst_at, doubling_min=8, start_per_hour=10,
                                                     peak_min=50),)),
            BrandSpec("globex", 90, episodes=(Episode("positive", burst_at, doubling_min=8, start_per_hour=10,
                                                       peak_min=50),)),
            BrandSpec("initech", 20),
        ],
    )
