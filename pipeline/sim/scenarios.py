"""The labelled scenario suite: many brands, known episodes, known true rates.

``make_suite(seed, days, scale)`` builds a multi-day stream of **ScoredMention** dicts in *arrival*
order (event time plus a delay: most a few seconds, some up to 10 minutes) and the ground truth:
every brand's traffic model and every episode (what, where, when). Because the generator knows
each brand's true expected rate of *negative-labelled* mentions per minute without the episode,
the truth also carries what the oracle (``pipeline.sim.evaluate.oracle_minute``) needs.

Brands span 1-600 mentions/hour in four tiers, with a daily cycle (local time: some brands live
in other time zones), a weekend factor, a random level per day, and negative replies that now
and then come in twos and threes (overdispersion, as in real traffic). Episodes start after the
second day (the detector learns a day first; the Prometheus rule needs 24 h of history):

- ``negative_burst``: a crowd of distinct authors whose negative mentions double every 5, 15 or
  45 minutes, from a fraction of the usual negative rate to a peak, then fade; some at night,
  some on brands of 1-3 mentions/hour;
- ``positive_viral`` (mostly praise, a few critics), ``news_spike`` (mostly neutral);
- ``bot_flood``: one to four accounts pasting near-duplicates of one text, or one angry account
  writing many different complaints;
- ``drift``: the negative share of a brand creeps up over days; ``chronic``: a brand whose
  negative share is high but steady all along (the episode spans the whole scored period).

Labels are noisy like a real scorer's: a negative text is labelled negative with probability
0.92, a neutral one 0.04, a positive one 0.02, and ``negativity`` agrees with the label
(``>= 0.5`` exactly when ``sentiment == "negative"``), so the detector (which counts the label)
and the oracle (which counts ``negativity >= 0.5``) see the same negatives.

>>> s = make_suite(seed=3, days=3, scale=0.05)
>>> kinds = {e["kind"] for e in s.truth["episodes"]}
>>> "negative_burst" in kinds and s.rows == make_suite(seed=3, days=3, scale=0.05).rows
True
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from pipeline.records import format_time, parse_time
from pipeline.sim.generate import mention_text, poisson_draw

START = "2026-03-02T00:00:00Z"  # a Monday
MINUTE = 60
# P(labelled negative | what the text really is): the scorer's confusion.
P_NEG_LABEL = {"negative": 0.92, "neutral": 0.04, "positive": 0.02}
# Negative reactions sometimes come in small clusters (replies): sizes 1, 2, 3. Real traffic is
# overdispersed like this; at these rates the oracle's own Poisson test, run over quiet traffic,
# pages ~0.05 times per brand-week (the 0.1 target is reachable at the oracle's speed), twice as
# many clusters would make it ~0.15.
CLUSTER = ((1, 0.95), (2, 0.04), (3, 0.01))
CLUSTER_MEAN = sum(k * p for k, p in CLUSTER)
# Brand tiers: (name, mentions/hour low, high, brands at scale 1).
TIERS = (("tiny", 1, 3, 24), ("small", 3, 20, 24), ("medium", 20, 120, 20), ("large", 120, 600, 5))
MATCH_SLACK_MIN = 30  # an episode's trailing edge, in which an incident still belongs to it
ORACLE_LOOKBACK_MIN = 80


@dataclass
class BrandModel:
    """One brand's quiet traffic; ``neg_share`` may change over time (drift)."""

    id: str
    tier: str
    per_hour: float
    neg_share: float
    pos_share: float
    daily_amplitude: float
    tz_hours: int  # local time = UTC + tz_hours
    weekend: float  # Saturday/Sunday volume factor
    day_levels: list[float]
    drift: tuple[int, int, float] | None = None  # (from minute, to minute, final share)
    episodes: list[dict[str, Any]] = field(default_factory=list)

    def volume(self, minute: int) -> float:
        """True expected mentions in this minute (all sentiments) without episodes."""
        day, local_h = minute // 1440, ((minute / 60 + self.tz_hours) % 24)
        cycle = 1 + self.daily_amplitude * math.sin((local_h - 9) / 24 * 2 * math.pi)
        weekday = (minute // 1440 + 0) % 7  # the stream starts on a Monday
        week = self.weekend if weekday >= 5 else 1.0
        return self.per_hour / 60 * cycle * week * self.day_levels[day]

    def shares(self, minute: int) -> tuple[float, float, float]:
        """(negative, neutral, positive) shares of quiet traffic at ``minute``."""
        neg = self.neg_share
        if self.drift is not None:
            a, b, final = self.drift
            neg += (final - self.neg_share) * min(1.0, max(0.0, (minute - a) / (b - a)))
        pos = min(self.pos_share, 1 - neg)
        return neg, 1 - neg - pos, pos

    def expected_negatives(self, minute: int) -> float:
        """True expected negative-*labelled* mentions in this minute, without episodes."""
        neg, neu, pos = self.shares(minute)
        v = self.volume(minute)
        return v * (neg * P_NEG_LABEL["negative"] + neu * P_NEG_LABEL["neutral"] + pos * P_NEG_LABEL["positive"])


@dataclass
class Suite:
    rows: list[dict[str, Any]]  # ScoredMention dicts in arrival order
    truth: dict[str, Any]


def episode_rate(ep: dict[str, Any], minute: float) -> float:
    """Extra mentions per minute that an episode adds at ``minute`` (bursts, virals, news, floods)."""
    t = minute - ep["onset_min"]
    if t < 0 or ep["kind"] in ("drift", "chronic"):
        return 0.0
    if ep["kind"] == "bot_flood":
        return ep["peak_per_hour"] / 60 if t < ep["peak_after_min"] else 0.0
    rise, start = ep["peak_after_min"], ep["start_per_hour"]
    if t <= rise:
        return start * 2 ** (t / ep["doubling_minutes"]) / 60
    return ep["peak_per_hour"] / 60 * math.exp(-3 * (t - rise) / ep["fade_minutes"])


# What each episode's extra mentions really are (negative, neutral, positive).
MIX = {"negative_burst": (1.0, 0.0, 0.0), "positive_viral": (0.05, 0.05, 0.9),
       "news_spike": (0.07, 0.85, 0.08), "bot_flood": (1.0, 0.0, 0.0)}


def _brands(rng: random.Random, days: int, scale: float) -> list[BrandModel]:
    out = []
    for tier, lo, hi, n in TIERS:
        for k in range(max(0 if tier == "large" else 1, round(n * scale))):
            out.append(BrandModel(
                id=f"{tier}{k:02d}", tier=tier, per_hour=round(math.exp(rng.uniform(math.log(lo), math.log(hi))), 2),
                neg_share=round(rng.uniform(0.08, 0.2), 3), pos_share=round(rng.uniform(0.2, 0.45), 3),
                daily_amplitude=round(rng.uniform(0.3, 0.8), 2), tz_hours=rng.choice([0, 0, 1, -5, -8, 8, 9]),
                weekend=round(rng.uniform(0.55, 1.35), 2),
                day_levels=[round(math.exp(rng.gauss(0, 0.1)), 3) for _ in range(days + 1)]))
    return out


def _local_minute(rng: random.Random, b: BrandModel, day: int, night: bool) -> int:
    """A minute of ``day`` at local night (0-5 h) or local day (8-20 h) for this brand."""
    hour = rng.uniform(0, 5) if night else rng.uniform(8, 20)
    return int(day * 1440 + ((hour - b.tz_hours) % 24) * 60)


def _fits(b: BrandModel, onset: int, end: int, total: int) -> bool:
    if onset < 2 * 1440 or end > total - 60:
        return False
    return all(end + 360 < e["onset_min"] or onset > e["end_min"] + 360 for e in b.episodes)


def _place(rng: random.Random, b: BrandModel, ep: dict[str, Any], days: int, night: bool) -> bool:
    length = ep["end_min"] - ep["onset_min"]
    for _ in range(40):
        onset = _local_minute(rng, b, rng.randrange(2, days), night)
        if _fits(b, onset, onset + length, days * 1440):
            ep["onset_min"], ep["end_min"] = onset, onset + length
            ep["peak_min"] = onset + ep["peak_after_min"]
            b.episodes.append(ep)
            return True
    return False


def negative_burst(rng: random.Random, b: BrandModel, doubling: int) -> dict[str, Any]:
    """An accelerating negative burst on ``b`` doubling every ``doubling`` minutes, peaking at a
    size its tier would notice (an episode of the truth file; the caller sets its onset)."""
    base_neg = b.per_hour * b.neg_share
    if b.tier == "tiny":
        peak = rng.uniform(15, 30)  # below the 40/h a "10 in 15 minutes" rule needs
    elif b.tier == "small":
        peak = rng.uniform(40, 120)
    else:
        peak = b.per_hour * rng.uniform(1.0, 3.5)
    start = max(1.0, rng.uniform(0.3, 1.0) * base_neg)  # at onset, up to twice the usual negatives
    rise = round(doubling * math.log2(max(peak / start, 2.0)))
    fade = rng.randrange(60, 150)
    return {"kind": "negative_burst", "doubling_minutes": doubling, "start_per_hour": round(start, 3),
            "peak_per_hour": round(start * 2 ** (rise / doubling), 2), "peak_after_min": rise,
            "fade_minutes": fade, "onset_min": 0, "end_min": rise + fade}


def _spike(rng: random.Random, b: BrandModel, kind: str) -> dict[str, Any]:
    peak = max(90.0, b.per_hour * (rng.uniform(4, 20) if kind == "positive_viral" else rng.uniform(4, 12)))
    doubling = rng.choice([5, 10])
    start = max(2.0, b.per_hour * 0.2)
    rise = round(doubling * math.log2(max(peak / start, 2.0)))
    fade = rng.randrange(90, 180)
    return {"kind": kind, "doubling_minutes": doubling, "start_per_hour": round(start, 3),
            "peak_per_hour": round(start * 2 ** (rise / doubling), 2), "peak_after_min": rise,
            "fade_minutes": fade, "onset_min": 0, "end_min": rise + fade}


def _flood(rng: random.Random, variant: str) -> dict[str, Any]:
    minutes = rng.randrange(30, 120)
    return {"kind": "bot_flood", "variant": variant, "authors": 1 if variant == "angry_account" else rng.randint(1, 4),
            "doubling_minutes": None, "peak_per_hour": rng.choice([60, 120, 240]), "peak_after_min": minutes,
            "onset_min": 0, "end_min": minutes}


def _schedule(rng: random.Random, brands: list[BrandModel], days: int, scale: float) -> None:
    """Give brands their episodes: bursts on a brand of their own, other kinds on the rest."""
    pool = brands[:]
    rng.shuffle(pool)
    chronic = [b for b in pool if b.tier in ("small", "medium")][: max(1, round(4 * scale))]
    for b in chronic:
        b.neg_share, b.pos_share = round(rng.uniform(0.45, 0.65), 3), 0.1
        b.episodes.append({"kind": "chronic", "onset_min": 1440, "peak_min": 1440, "end_min": days * 1440,
                           "doubling_minutes": None})
    rest = [b for b in pool if b not in chronic]
    drifts = [b for b in rest if b.tier != "tiny"][: max(1, round(4 * scale))]
    for b in drifts:
        a = 2 * 1440 + rng.randrange(0, 720)
        z = min(days * 1440 - 60, a + rng.randrange(2 * 1440, 4 * 1440))
        b.drift = (a, z, round(rng.uniform(0.35, 0.5), 3))
        b.episodes.append({"kind": "drift", "onset_min": a, "peak_min": z, "end_min": days * 1440,
                           "doubling_minutes": None, "final_share": b.drift[2]})
    rest = [b for b in rest if b not in drifts]
    by_tier = {t: [b for b in rest if b.tier == t] for t, *_ in TIERS}
    per_tier = {"tiny": 3, "small": 3, "medium": 4, "large": 2}  # per doubling time, at scale 1
    used: set[str] = set()
    for tier, n in per_tier.items():
        candidates = by_tier[tier]
        k = 0
        for doubling in (5, 15, 45):
            for j in range(max(1, round(n * scale))):
                if not candidates:
                    break
                b = candidates[k % len(candidates)]
                k += 1
                ep = negative_burst(rng, b, doubling)
                if _place(rng, b, ep, days, night=(j % 3 == 2)):
                    used.add(b.id)
    others = [b for b in rest if b.id not in used and b.tier != "tiny"] or rest
    known = [b for b in others if b.tier in ("medium", "large")] or others  # praise goes viral for known brands
    kinds = ["positive_viral", "news_spike", "bot_flood:copypasta", "bot_flood:angry_account"] * 4
    kinds += ["positive_viral", "news_spike"] * 2
    for i, kind in enumerate(kinds[: max(4, round(len(kinds) * scale))]):
        name, _, variant = kind.partition(":")
        group = known if name == "positive_viral" else others
        for j in range(len(rest)):  # the next brand with room for it, preferring the group
            b = group[(i + j) % len(group)] if j < len(group) else rest[(i + j) % len(rest)]
            ep = _flood(rng, variant) if name == "bot_flood" else _spike(rng, b, name)
            if _place(rng, b, ep, days, night=False):
                break


def draw_label(rng: random.Random, intent: str) -> tuple[float, str]:
    """(negativity, sentiment) of a text whose true sentiment is ``intent``, with scorer noise."""
    if rng.random() < P_NEG_LABEL[intent]:
        return round(min(1.0, 0.5 + abs(rng.gauss(0.3, 0.15))), 4), "negative"
    if intent == "positive":
        return round(min(0.49, abs(rng.gauss(0.08, 0.08))), 4), "positive"
    return round(min(0.49, abs(rng.gauss(0.25, 0.1))), 4), "neutral"


def _cluster_size(rng: random.Random) -> int:
    u, acc = rng.random(), 0.0
    for k, p in CLUSTER:
        acc += p
        if u < acc:
            return k
    return CLUSTER[-1][0]


def arrival_delay(rng: random.Random) -> float:
    """Arrival delay in seconds: mostly a few seconds, 3% between half a minute and 10 minutes."""
    return rng.uniform(30, 600) if rng.random() < 0.03 else rng.expovariate(1 / 3)


def _flood_text(rng: random.Random, handle: str, base: str) -> str:
    """A near-duplicate of ``base``: what the fingerprint ignores (digits, URLs, punctuation) varies."""
    extra = rng.choice(["", "!!!", f" #{rng.randrange(1000)}", f" https://t.co/{rng.getrandbits(24):x}", " ..."])
    return f"{handle} {base}{extra}"


_MINUTE_TEXT: dict[int, str] = {}


def _stamp(ts: float) -> str:
    """RFC 3339 with milliseconds, fast (the suite writes ~10^6 of them).

    >>> _stamp(1767225610.1239)
    '2026-01-01T00:00:10.123Z'
    """
    ms = int(ts * 1000)
    minute, rest = divmod(ms, 60_000)
    prefix = _MINUTE_TEXT.get(minute)
    if prefix is None:
        prefix = _MINUTE_TEXT[minute] = format_time(minute * 60)[:17]
        if len(_MINUTE_TEXT) > 100_000:
            _MINUTE_TEXT.clear()
    return f"{prefix}{rest // 1000:02d}.{rest % 1000:03d}Z"


def _emit(rng: random.Random, b: BrandModel, t0: float, days: int, out: list[tuple[float, dict[str, Any]]]) -> None:
    handle = f"@{b.id}"
    pool = max(200, int(b.per_hour * 72))
    crowd = 0
    floods = {id(ep): mention_text(rng, "negative", "").strip() for ep in b.episodes if ep["kind"] == "bot_flood"}

    def add(ts: float, intent: str, author: str, text: str) -> None:
        negativity, sentiment = draw_label(rng, intent)
        row = {"id": f"{b.id}-{len(out)}", "text": text, "created_at": _stamp(ts), "brand": b.id,
               "negativity": negativity, "sentiment": sentiment, "lang": "en", "author_id": author,
               "author_followers": int(rng.paretovariate(1.2) * 50), "source": "sim"}
        out.append((ts + arrival_delay(rng), row))

    live = [ep for ep in b.episodes if ep["kind"] in MIX]
    for minute in range(days * 1440):
        ts0 = t0 + minute * MINUTE
        v = b.volume(minute)
        neg, neu, pos = b.shares(minute)
        clusters, neu_rate = v * neg / CLUSTER_MEAN, v * neu
        total = clusters + neu_rate + v * pos
        for _ in range(poisson_draw(rng, total)):  # one draw per minute, then what each one is
            u = rng.random() * total
            first = ts0 + rng.random() * MINUTE
            if u < clusters:
                for j in range(_cluster_size(rng)):
                    add(first + (rng.random() * 240 if j else 0), "negative", f"u{rng.randrange(pool)}",
                        mention_text(rng, "negative", handle))
            else:
                intent = "neutral" if u < clusters + neu_rate else "positive"
                add(first, intent, f"u{rng.randrange(pool)}", mention_text(rng, intent, handle))
        for ep in live:
            lam = episode_rate(ep, minute)
            if lam <= 0:
                continue
            for _ in range(poisson_draw(rng, lam)):
                ts = ts0 + rng.random() * MINUTE
                if ep["kind"] == "bot_flood":
                    if ep["variant"] == "angry_account":
                        add(ts, "negative", f"angry-{b.id}", mention_text(rng, "negative", handle))
                    else:
                        add(ts, "negative", f"bot{rng.randrange(ep['authors'])}-{b.id}",
                            _flood_text(rng, handle, floods[id(ep)]))
                    continue
                mix = MIX[ep["kind"]]
                u = rng.random()
                intent = "negative" if u < mix[0] else "neutral" if u < mix[0] + mix[1] else "positive"
                crowd += 1
                add(ts, intent, f"c{crowd}-{b.id}", mention_text(rng, intent, handle))


def brand_record(b: BrandModel) -> dict[str, Any]:
    """A brand's traffic model as truth JSON (``brand_model`` reads it back)."""
    return {"id": b.id, "tier": b.tier, "per_hour": b.per_hour, "negative_share": b.neg_share,
            "positive_share": b.pos_share, "daily_amplitude": b.daily_amplitude, "tz_hours": b.tz_hours,
            "weekend": b.weekend, "day_levels": b.day_levels, "drift": list(b.drift) if b.drift else None}


def brand_model(rec: dict[str, Any]) -> BrandModel:
    """The traffic model of a truth brand record: its true expected negatives per minute.

    >>> b = _brands(random.Random(1), 3, 0.1)[0]
    >>> brand_model(brand_record(b)).expected_negatives(700) == b.expected_negatives(700)
    True
    """
    drift = rec.get("drift")
    return BrandModel(rec["id"], rec["tier"], rec["per_hour"], rec["negative_share"], rec["positive_share"],
                      rec["daily_amplitude"], rec["tz_hours"], rec["weekend"], rec["day_levels"],
                      (int(drift[0]), int(drift[1]), float(drift[2])) if drift else None)


def _truth_episode(b: BrandModel, ep: dict[str, Any], t0: float, n: int) -> dict[str, Any]:
    rec = {"id": f"{b.id}-{ep['kind']}-{n}", "brand": b.id, "kind": ep["kind"], "tier": b.tier,
           "onset": format_time(t0 + ep["onset_min"] * MINUTE), "peak": format_time(t0 + ep["peak_min"] * MINUTE),
           "end": format_time(t0 + ep["end_min"] * MINUTE), "doubling_minutes": ep.get("doubling_minutes"),
           "brand_per_hour": b.per_hour}
    for key in ("start_per_hour", "peak_per_hour", "fade_minutes", "variant", "authors", "final_share"):
        if key in ep:
            rec[key] = ep[key]
    if ep["kind"] == "negative_burst":
        local_h = (ep["onset_min"] / 60 + b.tz_hours) % 24
        rec["night"] = local_h < 6
        first = ep["onset_min"] - ORACLE_LOOKBACK_MIN
        rec["baseline_from"] = format_time(t0 + first * MINUTE)
        # True expected negative-labelled mentions per minute without the burst (the oracle's baseline).
        rec["baseline_negatives"] = [round(b.expected_negatives(m), 6) for m in range(first, ep["end_min"] + 1)]
    return rec


def make_suite(seed: int = 1, days: int = 9, scale: float = 1.0, start: str = START) -> Suite:
    """The labelled suite; deterministic for ``seed``; ``scale`` multiplies brands and episodes."""
    if days < 3:
        raise ValueError(f"days: need at least 3 (a day of warm-up, episodes after day 2), got {days}")
    if not 0 < scale <= 20:
        raise ValueError(f"scale: expected a number in (0, 20], got {scale}")
    rng = random.Random(seed)
    brands = _brands(rng, days, scale)
    _schedule(rng, brands, days, scale)
    t0 = parse_time(start)
    timed: list[tuple[float, dict[str, Any]]] = []
    for b in brands:
        _emit(random.Random(f"{seed}-{b.id}"), b, t0, days, timed)
    timed.sort(key=lambda r: r[0])
    episodes = [_truth_episode(b, ep, t0, n) for b in brands for n, ep in enumerate(b.episodes)]
    truth = {
        "seed": seed, "days": days, "scale": scale, "start": start, "end": format_time(t0 + days * 86400),
        "warmup_minutes": 1440, "match_slack_minutes": MATCH_SLACK_MIN,
        "brands": [brand_record(b) for b in brands],
        "episodes": sorted(episodes, key=lambda e: (e["onset"], e["brand"])),
    }
    return Suite([row for _, row in timed], truth)
