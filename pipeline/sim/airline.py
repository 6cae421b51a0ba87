"""``make bench-airline``: the detector on real brand traffic, and on bursts injected into it.

The scenario suite (``scenarios``) is our own generator's traffic, so a detector tuned on it may be
tuned to its assumptions: Poisson arrivals, replies in chains of one to three, smooth days. Here the
background is real: six US airlines' mentions over eight days of February 2015 (Twitter US Airline
Sentiment, ``<datasets>/airline/tweets_dev.csv``). They are attributed to brands by their handles
through a brands file, as the worker does; the rows the dataset calls "Delta" are @JetBlue tweets.
They are scored by their human labels, or with ``--scorer`` by the shipped scorer. Two questions:

1. **Quiet.** What pages on the real stream alone? Its true bursts are unknown, so every page is
   listed with its reason. The Prometheus-style rule and a plug-in oracle (below) run beside it.
2. **Speed.** Accelerating negative bursts are injected into the real stream at known onsets, one
   per airline per round, at a random time after the airline's first 36 hours. They are drawn as the
   suite draws them: the airline's tier, doubling every 5, 15 or 45 minutes, a crowd of distinct
   authors. We report recall, delay from onset, and the excess delay over the plug-in oracle.

The plug-in oracle knows each airline's mean negatives per minute at each hour of the day, over all
eight days. No online detector can know that: it is read from the future too. It fires as the
suite's oracle does (``evaluate.oracle_minute``: a Poisson tail below 1e-6 over a trailing 5 to 80
minutes).

Nothing is tuned here. The detector runs at ``buzzwatch detect``'s defaults, read from the CLI's own
parser, on the same core. The data stays in ``../shared``; the tests write their own.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import orjson
import yaml

from pipeline.cli import build_parser, detector_config
from pipeline.core.brands import BrandMatcher, load_brands
from pipeline.core.ingest import Ingestor
from pipeline.core.monitor import Monitor, count_json_lines
from pipeline.records import format_time, parse_time
from pipeline.sim import evaluate
from pipeline.sim.generate import mention_text, poisson_draw
from pipeline.sim.scenarios import TIERS, BrandModel, arrival_delay, draw_label, episode_rate, negative_burst

#: brand id, handle: the brands file the benchmark writes (the dataset's own airline column is not read).
AIRLINES: Final = (("united", "@united"), ("usairways", "@USAirways"), ("american", "@AmericanAir"),
                   ("southwest", "@SouthwestAir"), ("jetblue", "@JetBlue"), ("virginamerica", "@VirginAmerica"))
TIMEZONE: Final = "America/New_York"  # where the airlines' audience lives (their days and weeks)
#: (negativity, sentiment) of a human label: the detector counts the label, the oracle negativity >= 0.5.
LABEL_SCORES: Final = {"negative": (0.9, "negative"), "neutral": (0.3, "neutral"), "positive": (0.1, "positive")}
DOUBLINGS: Final = (5, 15, 45)
ROUNDS: Final = 30  # rounds of injected bursts by default: 180 bursts, 60 per doubling time
HISTORY_MIN: Final = 36 * 60  # an onset comes this long after the airline's first mention (warm-up: a day)
MISSES_SHOWN: Final = 12
MATCH_SLACK_MIN: Final = 30  # as in the suite: an incident this long after a burst's end still belongs to it


def read_dataset(path: Path) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The dataset's rows as Mention dicts in event-time order, and each id's human label.

    Ids repeat in the file (the dataset's own duplicates): they are kept, and the detector counts
    each once, as it would on the wire.
    """
    rows: list[tuple[float, dict[str, Any]]] = []
    labels: dict[str, str] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for n, rec in enumerate(csv.DictReader(fh), start=2):
            try:
                stamp = datetime.strptime(rec["tweet_created"], "%Y-%m-%d %H:%M:%S %z")
                label = rec["airline_sentiment"]
                if label not in LABEL_SCORES:
                    raise ValueError(f"airline_sentiment: unknown label {label!r}")
                mention = {"id": rec["tweet_id"], "text": rec["text"], "created_at": stamp.isoformat(),
                           "author_id": rec["name"] or None, "lang": "en", "source": "twitter"}
            except (KeyError, ValueError) as exc:
                raise SystemExit(f"{path} line {n}: {exc}") from None
            rows.append((stamp.timestamp(), mention))
            labels[mention["id"]] = label
    rows.sort(key=lambda r: r[0])
    return [m for _, m in rows], labels


def write_brands(path: Path) -> Path:
    """The brands file the worker would be given for these six airlines."""
    brands = [{"id": bid, "name": handle[1:], "handles": [handle], "timezone": TIMEZONE} for bid, handle in AIRLINES]
    path.write_text(yaml.safe_dump({"brands": brands}, sort_keys=False), encoding="utf-8")
    return path


def attribute_and_score(mentions: Sequence[dict[str, Any]], labels: dict[str, str], brands: Path,
                        scorer: Any = None) -> list[dict[str, Any]]:
    """ScoredMention dicts of the mentions about an airline, through the worker's ingest core: the
    brands file attributes each (first match), then ``scorer`` scores it, or its human label does."""
    ingestor = Ingestor(None, BrandMatcher(load_brands(str(brands))))
    batch = ingestor.prepare([orjson.dumps(m) for m in mentions])
    if scorer is not None:
        scores = scorer.score_batch(batch.texts(), batch.langs())
    else:
        scores = [(*LABEL_SCORES[labels[obj["id"]]], "en") for _, obj, _, _ in batch.todo]
    return [out.to_dict() for out in Ingestor.complete(batch, scores) if out is not None]


def _tier(per_hour: float) -> str:
    for name, _, high, _ in TIERS:
        if per_hour < high:
            return name
    return TIERS[-1][0]


GAP_S: Final = 12 * 3600  # an airline's collection starts after its last silence this long (American: 02-22)


def profiles(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per airline: the span its collection covers (from the first mention after its last silence of
    ``GAP_S``: before 02-22 American has only a few dozen mentions, made in other airlines' threads),
    its mentions per hour and negative share there, and its mean negatives per minute at each hour of
    the day (UTC) over that span - the plug-in oracle's rate."""
    times: dict[str, list[tuple[float, bool]]] = {}
    for r in rows:
        times.setdefault(r["brand"], []).append((parse_time(r["created_at"]), r["negativity"] >= 0.5))
    out: dict[str, dict[str, Any]] = {}
    for brand, seen in times.items():
        seen.sort()
        begin = 0
        for i in range(1, len(seen)):
            if seen[i][0] - seen[i - 1][0] >= GAP_S:
                begin = i
        span = seen[begin:]
        first, last = span[0][0], span[-1][0]
        hour_neg, hours_in_span = [0] * 24, [0] * 24
        for ts, negative in span:
            hour_neg[int(ts // 3600) % 24] += negative
        for h in range(int(first // 3600), int(last // 3600) + 1):
            hours_in_span[h % 24] += 1
        per_hour = len(span) / max(1.0, (last - first) / 3600)
        out[brand] = {"first": first, "last": last, "n": len(span), "per_hour": per_hour, "tier": _tier(per_hour),
                      "neg_share": sum(1 for _, n in span if n) / len(span),
                      "rate": [hour_neg[h] / max(1, hours_in_span[h]) / 60 for h in range(24)]}
    return out


def draw_bursts(prof: dict[str, dict[str, Any]], rounds: int, seed: int) -> list[list[dict[str, Any]]]:
    """Per round, one burst per airline (its onset at least ``HISTORY_MIN`` after the airline's first
    mention, its fade inside the data), the doubling time cycling through ``DOUBLINGS``."""
    rng = random.Random(seed)
    out = []
    for k in range(rounds):
        doubling = DOUBLINGS[k % len(DOUBLINGS)]
        this = []
        for brand, p in sorted(prof.items()):
            model = BrandModel(brand, p["tier"], p["per_hour"], p["neg_share"], 0.0, 0.0, 0, 1.0, [])
            ep = negative_burst(rng, model, doubling)
            first_min = int(p["first"] // 60) + HISTORY_MIN
            last_min = int(p["last"] // 60) - ep["end_min"]
            if last_min <= first_min:
                continue  # too short a history for a burst this long
            onset = rng.randrange(first_min, last_min)
            this.append({**ep, "brand": brand, "id": f"{brand}-r{k}", "onset_min": onset,
                         "end_min": onset + ep["end_min"], "peak_min": onset + ep["peak_after_min"]})
        out.append(this)
    return out


def burst_rows(ep: dict[str, Any], handle: str, rng: random.Random) -> list[dict[str, Any]]:
    """The mentions of one injected burst, as the suite emits them: Poisson counts per minute at the
    burst's rate, each a negative text by a new author, labelled with the suite's scorer noise."""
    rows = []
    for minute in range(ep["onset_min"], ep["end_min"]):
        for _ in range(poisson_draw(rng, episode_rate(ep, minute))):
            ts = (minute + rng.random()) * 60
            negativity, sentiment = draw_label(rng, "negative")
            rows.append({"id": f"{ep['id']}-{len(rows)}", "text": mention_text(rng, "negative", handle),
                         "created_at": format_time(ts), "brand": ep["brand"], "negativity": negativity,
                         "sentiment": sentiment, "lang": "en", "author_id": f"crowd{len(rows)}-{ep['id']}",
                         "author_followers": int(rng.paretovariate(1.2) * 50), "source": "injected",
                         "_arrives": ts + arrival_delay(rng)})
    return rows


def detect(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """``buzzwatch detect`` at its defaults over ``rows`` in arrival order: its alerts."""
    args = build_parser().parse_args(["detect"])
    monitor = Monitor(detector_config(args), timezones={bid: TIMEZONE for bid, _ in AIRLINES})
    alerts: list[dict[str, Any]] = []
    count_json_lines(monitor, (orjson.dumps({k: v for k, v in r.items() if k != "_arrives"}) for r in rows),
                     alerts.append)
    return alerts


def run(root: Path, rounds: int, seed: int, use_scorer: bool, folder: Path) -> dict[str, Any]:
    """Both questions of the module docstring on ``root``'s airline data set (``folder``: scratch
    space for the brands file): the real stream's pages, then ``rounds`` rounds of injected bursts."""
    mentions, labels = read_dataset(root / "airline" / "tweets_dev.csv")
    scorer = None
    if use_scorer:
        from pipeline.core.scoring import Scorer

        scorer = Scorer()
    rows = attribute_and_score(mentions, labels, write_brands(folder / "brands.yaml"), scorer)
    prof = profiles(rows)
    # A brand is watched from its collection's start: before it, an airline's few mentions come from
    # the other airlines' threads (American's, until 02-22), and its collection would be a jump from
    # zero - which a brand added to the brands file does not see: it starts with its warm-up.
    kept = [r for r in rows if parse_time(r["created_at"]) >= prof[r["brand"]]["first"]]
    unwatched, rows = len(rows) - len(kept), kept
    start = float(int(min(p["first"] for p in prof.values()) // 86400) * 86400)
    minutes = int((max(p["last"] for p in prof.values()) - start) // 60) + 1
    handles = dict(AIRLINES)

    def expected(brand: str, first: int, last: int) -> list[float]:
        rate = prof[brand]["rate"]
        return [rate[(int(start // 60) + m) // 60 % 24] for m in range(first, last)]

    # 1. The real stream alone.
    quiet_alerts = detect(rows)
    counts = evaluate.minute_counts(rows, start, minutes)
    brand_weeks = sum((p["last"] - p["first"] - 86400) / (7 * 86400) for p in prof.values())  # after warm-up
    oracle_pages = {b: len(evaluate.oracle_firing(counts[b], expected(b, 0, minutes))) for b in prof}
    rule_pages = {b: len(evaluate.rule_firing(counts[b])) for b in prof}

    # 2. Bursts injected, a round at a time.
    results, stray = [], 0
    base_min = int(start // 60)
    arrivals = [(parse_time(r["created_at"]), r) for r in rows]  # the real mentions arrive at their event time
    for k, bursts in enumerate(draw_bursts(prof, rounds, seed)):
        rng = random.Random(f"{seed}-{k}")
        extra = [r for ep in bursts for r in burst_rows(ep, handles[ep["brand"]], rng)]
        if scorer is not None:  # the injected texts are scored like the real ones
            for r, (negativity, sentiment, _) in zip(extra, scorer.score_batch([r["text"] for r in extra]), strict=True):
                r["negativity"], r["sentiment"] = negativity, sentiment
        stream = [row for _, row in sorted(arrivals + [(r["_arrives"], r) for r in extra], key=lambda a: a[0])]
        opened = evaluate.incidents_from_alerts(detect(stream))
        counts_k = {b: list(c) for b, c in counts.items()}  # the real stream's, plus the injected
        for b, c in evaluate.minute_counts(extra, start, minutes).items():
            counts_k[b] = [x + y for x, y in zip(counts_k[b], c, strict=True)]
        matched = set()
        for ep in bursts:
            onset_ts, until = ep["onset_min"] * 60.0, (ep["end_min"] + MATCH_SLACK_MIN) * 60.0
            hits = [i for i in opened if i["brand"] == ep["brand"] and onset_ts <= i["at"] < until]
            matched.update(i["id"] for i in hits)
            onset = ep["onset_min"] - base_min  # minute index in the series
            first, last = max(0, onset - evaluate.ORACLE_WINDOWS[-1]), min(minutes, ep["end_min"] - base_min + 1)
            series = counts_k[ep["brand"]][first:last]
            oracle = evaluate.oracle_minute(series, expected(ep["brand"], first, last), onset - first, len(series) - 1)
            results.append({
                "id": ep["id"], "brand": ep["brand"], "tier": prof[ep["brand"]]["tier"],
                "doubling": ep["doubling_minutes"], "onset": format_time(onset_ts),
                "start_per_hour": ep["start_per_hour"], "peak_per_hour": ep["peak_per_hour"],
                "delay": (min(i["at"] for i in hits) - onset_ts) / 60 if hits else None,
                "oracle": None if oracle is None else float(oracle - (onset - first)),
            })
        stray += sum(1 for i in opened if i["id"] not in matched)
    return {"rows": rows, "unwatched": unwatched, "profiles": prof, "quiet_alerts": quiet_alerts, "brand_weeks": brand_weeks,
            "oracle_pages": oracle_pages, "rule_pages": rule_pages, "bursts": results, "stray": stray,
            "rounds": rounds}


def summarise(bursts: list[dict[str, Any]]) -> dict[str, Any]:
    """Recall, delay from onset and excess over the plug-in oracle (median, p90) of some bursts."""
    caught = [b for b in bursts if b["delay"] is not None]
    excess = [b["delay"] - b["oracle"] for b in caught if b["oracle"] is not None]
    confirmed = [b for b in bursts if b["oracle"] is not None]  # bursts the plug-in oracle confirms

    def q(values: list[float], p: float) -> float | None:
        v = evaluate.quantile(values, p)
        return None if v is None else round(v, 1)

    return {"bursts": len(bursts), "recall": round(len(caught) / len(bursts), 3) if bursts else None,
            "delay_median_min": q([b["delay"] for b in caught], 0.5), "delay_p90_min": q([b["delay"] for b in caught], 0.9),
            "oracle_median_min": q([b["oracle"] for b in bursts if b["oracle"] is not None], 0.5),
            "oracle_missed": sum(1 for b in bursts if b["oracle"] is None),
            "recall_confirmed": round(sum(1 for b in confirmed if b["delay"] is not None) / len(confirmed), 3)
            if confirmed else None,
            "excess_median_min": q(excess, 0.5), "excess_p90_min": q(excess, 0.9)}


def report(res: dict[str, Any], use_scorer: bool) -> dict[str, Any]:
    rows, prof = res["rows"], res["profiles"]
    negatives = sum(1 for r in rows if r["sentiment"] == "negative")
    print(f"real background: {len(rows):,} mentions of {len(prof)} airlines ({negatives:,} negative by "
          f"{'the shipped scorer' if use_scorer else 'their human labels'}), "
          f"{format_time(min(p['first'] for p in prof.values()))} to {format_time(max(p['last'] for p in prof.values()))}; "
          f"{res['brand_weeks']:.2f} airline-weeks after each airline's first day; {res['unwatched']} mentions "
          f"before their airline's collection starts left out")
    for brand, p in sorted(prof.items(), key=lambda kv: -kv[1]["n"]):
        print(f"  {brand:14} {p['n']:5,} mentions, {p['per_hour']:5.1f}/h ({p['tier']}), {p['neg_share']:.0%} negative; "
              f"plug-in oracle pages {res['oracle_pages'][brand]}, Prometheus rule {res['rule_pages'][brand]}")
    pages = evaluate.incidents_from_alerts(res["quiet_alerts"])
    print(f"\n1. the real stream alone: buzzwatch opens {len(pages)} incidents "
          f"({len(pages) / res['brand_weeks']:.2f} per airline-week); the plug-in oracle "
          f"{sum(res['oracle_pages'].values())}, the Prometheus rule {sum(res['rule_pages'].values())}")
    for a in res["quiet_alerts"]:
        if a["status"] == "open":
            print(f"  {a['at']} {a['brand']}: {a['severity']}, {a['reason']}")
    bursts = res["bursts"]
    print(f"\n2. {len(bursts)} negative bursts injected ({res['rounds']} rounds, one per airline a round; "
          f"delays in minutes from onset; excess: over the plug-in oracle)")
    head = (f"  {'':22} {'bursts':>6} {'recall':>7} {'(oracle-confirmed)':>18} {'delay p50':>9} {'p90':>5} "
            f"{'oracle p50':>10} {'excess p50':>10} {'p90':>5}")
    print(head)
    groups: list[tuple[str, list[dict[str, Any]]]] = [("all", bursts)]
    groups += [(f"doubling {d} min", [b for b in bursts if b["doubling"] == d]) for d in DOUBLINGS]
    groups += [(f"{brand} ({prof[brand]['tier']})", [b for b in bursts if b["brand"] == brand])
               for brand in sorted(prof, key=lambda x: -prof[x]["n"])]
    table = {}
    for name, group in groups:
        s = summarise(group)
        table[name] = s

        def f(v: Any) -> str:
            return "-" if v is None else f"{v:g}"

        print(f"  {name:22} {s['bursts']:>6} {f(s['recall']):>7} {f(s['recall_confirmed']):>18} {f(s['delay_median_min']):>9} {f(s['delay_p90_min']):>5} "
              f"{f(s['oracle_median_min']):>10} {f(s['excess_median_min']):>10} {f(s['excess_p90_min']):>5}")
    missed = [b for b in bursts if b["delay"] is None]
    for b in missed[:MISSES_SHOWN]:
        oracle = "never" if b["oracle"] is None else f"+{b['oracle']:.0f} min"
        print(f"  missed: {b['id']} at {b['onset']}, doubling {b['doubling']} min, {b['start_per_hour']:g} -> "
              f"{b['peak_per_hour']:g} negatives/h (the oracle: {oracle})")
    if len(missed) > MISSES_SHOWN:
        print(f"  ... and {len(missed) - MISSES_SHOWN} more missed")
    print(f"  incidents in those rounds that match no injected burst: {res['stray']} "
          f"(the real stream alone, {res['rounds']} times over: {len(pages) * res['rounds']})")
    return {"mentions": len(rows), "airline_weeks": round(res["brand_weeks"], 2), "scorer": use_scorer,
            "quiet_incidents": len(pages), "quiet_per_airline_week": round(len(pages) / res["brand_weeks"], 3),
            "oracle_quiet_incidents": sum(res["oracle_pages"].values()),
            "rule_quiet_incidents": sum(res["rule_pages"].values()), "stray_incidents": res["stray"],
            "injected": table}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="../shared/datasets", help="folder holding airline/ (default ../shared/datasets)")
    ap.add_argument("--rounds", type=int, default=ROUNDS, help=f"rounds of injected bursts, one per airline each (default {ROUNDS})")
    ap.add_argument("--seed", type=int, default=1, help="seed of the injected bursts (default 1)")
    ap.add_argument("--scorer", action="store_true", help="score the mentions with the shipped scorer, not their labels")
    args = ap.parse_args(argv)
    source = Path(args.datasets) / "airline" / "tweets_dev.csv"
    if not source.is_file():
        print(f"{source}: not found: pass --datasets (the folder holding airline/tweets_dev.csv)", file=sys.stderr)
        return 2
    if not 1 <= args.rounds <= 1000:
        print("--rounds must be in 1..1000", file=sys.stderr)
        return 2
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        res = run(Path(args.datasets), args.rounds, args.seed, args.scorer, Path(tmp))
    print(json.dumps(report(res, args.scorer)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
