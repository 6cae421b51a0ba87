"""``make bench-outage``: what an outage of the input does to the pages after it.

Each suite is run twice through the same detector: whole, and with every mention stamped between
``--from`` and ``--to`` on day ``--day`` dropped - a collector down for those hours, the stream
itself silent. It counts the incidents opened in the 24 hours after the outage in each, and the
brands that page after it but not on the whole stream (what the outage alone made page). With the
outage learned as silence (``--outage-expected 0``, buzzwatch before session 35), traffic's return
paged dozens of brands that the whole stream left quiet; with it unobserved (the default), none.

With ``--partitions 24,73``, each suite is also run whole (no outage) split over that many clocks
as the worker splits it (Kafka's default partitioner on the brand), in a monitor backed by a table
the way the worker runs it (every 10 minutes of event time the changed states are written and the
idle brands dropped): the outages it logs are all false - each costs its partition's brands the
hours' learning and 160 minutes without paging. Session 37, seeds 2-7 over 24 and 73 partitions:
5 (3 in the suite's first hours, where a brand's quietest hour so far is one of its first two; 2 on
warm brands); a scratch split by crc32 had 12 before a brand's first day counted only its quietest
hour, none after (docs/measurements.md, "Session 37, third change").
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import orjson
from aiokafka.partitioner import DefaultPartitioner

from pipeline.core.detector import DetectorConfig
from pipeline.core.monitor import Monitor, add_scored_dict, count_json_lines
from pipeline.records import parse_time, scored_time
from pipeline.sim.bench_detect import suite_parser, write_suite


def run_seed(job: tuple[int, int, float, int, int, int, float]) -> dict[str, Any]:
    """One suite, whole and with its outage: the (brand, minute) of every incident opened in the
    24 hours after the outage ends."""
    seed, days, scale, day, start_h, end_h, expected = job
    cfg = DetectorConfig(outage_expected=expected)
    with tempfile.TemporaryDirectory() as tmp:
        mentions, _, suite = write_suite(Path(tmp), seed, days, scale)
        lines = Path(mentions).read_bytes().splitlines()
    t0 = parse_time(suite.truth["start"])
    lo, hi = t0 + day * 86400 + start_h * 3600, t0 + day * 86400 + end_h * 3600
    out: dict[str, Any] = {"seed": seed}
    for name, kept in (("whole", lines),
                       ("outage", [x for x in lines if not lo <= parse_time(orjson.loads(x)["created_at"]) < hi])):
        alerts: list[dict[str, Any]] = []
        count_json_lines(Monitor(cfg), kept, alerts.append)
        out[name] = sorted((a["brand"], a["at"]) for a in alerts
                           if a["status"] == "open" and hi <= parse_time(a["at"]) < hi + 86400)
    whole = {brand for brand, _ in out["whole"]}
    out["new_brands"] = sorted({brand for brand, _ in out["outage"] if brand not in whole})
    return out


def false_outages(job: tuple[int, int, float, float, int]) -> dict[str, Any]:
    """One suite whole, over ``partitions`` clocks with the worker's commits and evictions: the
    outages logged, as ``(partition, first minute, minutes)`` (see the module doc)."""
    seed, days, scale, expected, partitions = job
    every = list(range(partitions))
    partitioner = DefaultPartitioner()
    home: dict[str, int] = {}
    table: dict[str, Any] = {}
    monitor = Monitor(DetectorConfig(outage_expected=expected), load=table.get)
    with tempfile.TemporaryDirectory() as tmp:
        mentions, _, suite = write_suite(Path(tmp), seed, days, scale)
        lines = Path(mentions).read_bytes().splitlines()
    t0 = parse_time(suite.truth["start"])
    commit = t0 + 600
    for raw in lines:
        obj = orjson.loads(raw)
        ts = scored_time(obj)
        brand = obj["brand"]
        if brand not in home:
            home[brand] = int(partitioner(brand.encode(), every, every))
        add_scored_dict(monitor, obj, ts, clock=home[brand])
        if monitor.crossed:
            monitor.advance()
        if ts >= commit:  # the worker's commit: the changed states to the table, the idle brands out
            commit = ts + 600
            states = monitor.take_dirty()
            table.update(orjson.loads(orjson.dumps(states)))
            monitor.evict_idle(list(states))
    logged = sorted((clock, int((lo - t0) // 60), round((hi - lo) / 60))
                    for clock, log in monitor.outages.items() for lo, hi in log)
    return {"seed": seed, "partitions": partitions, "outages": logged}


def main(argv: list[str] | None = None) -> int:
    ap = suite_parser("pipeline.sim.outage", __doc__, "2-11", "run")
    ap.add_argument("--day", type=int, default=5, help="the outage's day of the suite (5)")
    ap.add_argument("--from", dest="start", type=int, default=10, help="its first hour, UTC (10)")
    ap.add_argument("--to", dest="end", type=int, default=16, help="the hour it ends, UTC (16)")
    ap.add_argument("--outage-expected", type=float, default=DetectorConfig().outage_expected,
                    help="DetectorConfig.outage_expected (0: the outage is learned as silence)")
    ap.add_argument("--partitions", type=_counts, default=[],
                    help="also run each suite whole over that many partitions, e.g. 24,73: the outages it "
                         "logs (all false; see the module doc)")
    args = ap.parse_args(argv)
    if not (0 <= args.start < args.end <= 24 and 0 <= args.day < args.days):
        ap.error("the outage must lie within one day of the suite: 0 <= --from < --to <= 24, --day < --days")
    jobs = [(s, args.days, args.scale, args.day, args.start, args.end, args.outage_expected) for s in args.seeds]
    with Pool(args.processes) as pool:
        rows = pool.map(run_seed, jobs)
    print(f"outage on day {args.day}, {args.start:02d}:00-{args.end:02d}:00 UTC (outage_expected {args.outage_expected:g}):"
          " incidents opened in the next 24 hours")
    print(f"{'seed':>4}{'whole':>7}{'outage':>8}  brands paging only with the outage")
    for r in rows:
        print(f"{r['seed']:>4}{len(r['whole']):>7}{len(r['outage']):>8}  {', '.join(r['new_brands']) or '-'}")
    total = {k: sum(len(r[k]) for r in rows) for k in ("whole", "outage", "new_brands")}
    print(f"   all {total['whole']:>5}{total['outage']:>8}  {total['new_brands']} brands")
    summary: dict[str, Any] = {"seeds": args.seeds, "outage_expected": args.outage_expected,
                               "incidents_whole": total["whole"], "incidents_outage": total["outage"],
                               "brands_paging_only_with_outage": total["new_brands"]}
    if args.partitions:
        jobs_p = [(s, args.days, args.scale, args.outage_expected, n) for s in args.seeds for n in args.partitions]
        with Pool(args.processes) as pool:
            found = pool.map(false_outages, jobs_p)
        print("the whole stream over partitions, as the worker runs it: outages logged (none happened)")
        for r in found:
            shown = ", ".join(f"partition {c} at minute {m} for {d} min" for c, m, d in r["outages"][:4])
            print(f"{r['seed']:>4} {r['partitions']:>4} partitions: {len(r['outages'])}  {shown}")
        summary["false_outages"] = {str(n): sum(len(r["outages"]) for r in found if r["partitions"] == n)
                                    for n in args.partitions}
    print(json.dumps(summary))
    return 0


def _counts(text: str) -> list[int]:
    try:
        counts = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected partition counts like 24,73, got {text!r}") from None
    if any(n < 1 for n in counts):
        raise argparse.ArgumentTypeError(f"partition counts must be >= 1, got {text!r}")
    return counts


if __name__ == "__main__":
    raise SystemExit(main())
