"""``make bench-detect-growth``: what a growth-shaped test would gain over fixed windows, on the true rate.

The surprise test, like the oracle it is measured against, scans trailing windows of 5 to 80
minutes for a count improbable under the brand's rate. A burst that accelerates puts most of its
excess in its last minutes, which a window weighs no more than its first. The likelihood ratio for
that shape - the rate ``lam x (1 + A 2^(age / -d))`` over the last ``W`` minutes, its size ``A``
fitted, against ``lam`` alone - weighs each minute by what an accelerating burst would add to it.

Both tests run here as the oracle does, on the generator's true rate and the raw negatives, so what
is measured is the test's form alone, not the baseline's estimate: each brand's statistic at every
minute, its runs above a bar merged into incidents like the oracle's, scored like any detector
(``pipeline.sim.evaluate``). Over a range of bars it prints the false incidents and, per burst, the
delay minus the windows oracle's; the bar at which the false incidents equal the oracle's is the
comparison. A control with flat weights over the oracle's own windows (``--shapes 0:5,0:10,...``)
shows what the likelihood-ratio bar alone changes. The last line is one JSON object.
"""

from __future__ import annotations

import json
from multiprocessing import Pool
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from pipeline.records import parse_time
from pipeline.sim import evaluate
from pipeline.sim.bench_detect import suite_parser
from pipeline.sim.scenarios import brand_model, make_suite

SHAPES = ((5, 20), (15, 60), (45, 160))  # (doubling minutes, trailing minutes); doubling 0: flat weights
BARS = (10.0, 11.0, 12.0, 13.0, 14.0)  # on the log likelihood ratio (1e-6 is a Poisson LLR of about 13.8)
NEWTON_STEPS = 25


def growth_llr(counts: np.ndarray, rates: np.ndarray, doubling: float, minutes: int) -> np.ndarray:
    """At every minute ``t``, the log likelihood ratio of the counts of minutes ``t - minutes + 1 .. t``
    under ``rates x (1 + A g)`` (``g`` = 1 at ``t``, halving every ``doubling`` minutes back; 1
    throughout if ``doubling`` is 0) with ``A >= 0`` fitted, against ``rates``; 0 where no ``A > 0``
    fits better. Poisson counts. ``A`` by Newton's method on the score, which is convex and
    decreasing in ``A``: from 0 each step stays left of the root, so it converges without overshoot.

    >>> rates = np.full(120, 0.1)
    >>> float(growth_llr(np.zeros(120), rates, 15, 60)[-1])
    0.0
    >>> burst = np.array([0.0] * 100 + [0, 0, 1, 0, 1, 1, 1, 2, 2, 3, 3, 4, 5, 6, 7, 8, 10, 12, 14, 17])
    >>> llr = growth_llr(burst, rates, 5, 20)
    >>> bool(llr[-1] > llr[-5] > 13.8)
    True
    """
    pad = np.zeros(minutes - 1)
    n = sliding_window_view(np.concatenate([pad, counts]), minutes)
    lam = sliding_window_view(np.concatenate([pad, rates]), minutes)
    g = 2.0 ** ((np.arange(minutes) - (minutes - 1)) / doubling) if doubling else np.ones(minutes)
    ng = n * g
    expected = (lam * g).sum(axis=1)
    rising = ng.sum(axis=1) > expected  # the score at A = 0: positive where a rise fits better
    a = np.zeros(len(counts))
    for _ in range(NEWTON_STEPS):
        den = 1.0 + a[:, None] * g
        score = (ng / den).sum(axis=1) - expected
        slope = -(ng * g / den**2).sum(axis=1)
        a = a + np.where(rising & (slope < 0), -score / np.where(slope < 0, slope, -1.0), 0.0)
    llr = (n * np.log1p(a[:, None] * g)).sum(axis=1) - a * expected
    return np.where(rising, llr, 0.0)


def seed_delays(args: tuple[int, int, float, tuple[tuple[int, int], ...], tuple[float, ...]]) -> dict[str, Any]:
    """One suite: the windows oracle's false incidents and delays, and the growth test's at each bar."""
    seed, days, scale, shapes, bars = args
    suite = make_suite(seed=seed, days=days, scale=scale)
    truth = suite.truth
    start = parse_time(truth["start"])
    minutes = truth["days"] * 1440
    counts = evaluate.minute_counts(suite.rows, start, minutes)
    oracle = evaluate.oracle_delays(truth, counts)
    windows = evaluate.score(evaluate.oracle_incidents(truth, counts), truth, oracle)
    warm = truth.get("warmup_minutes", 1440)
    stats = {}
    for rec in truth["brands"]:
        model = brand_model(rec)
        n = np.array(counts.get(rec["id"], [0] * minutes), dtype=float)
        lam = np.array([model.expected_negatives(m) for m in range(minutes)])
        stats[rec["id"]] = np.max([growth_llr(n, lam, d, w) for d, w in shapes], axis=0)
    per_bar = {}
    for bar in bars:
        incidents = []
        for brand, s in stats.items():
            # s[m] ends with minute m: it is known at the boundary m + 1, as the oracle's windows are
            spans = evaluate.merge([(int(t) + 1, int(t) + 1) for t in np.nonzero(s[warm:] > bar)[0] + warm], 1)
            incidents += [{"brand": brand, "at": start + a * 60, "id": f"{brand}-{a}"}
                          for a, _ in evaluate.merge(spans, evaluate.ORACLE_MERGE_MIN)]
        incidents.sort(key=lambda i: (i["at"], i["brand"]))
        m = evaluate.score(incidents, truth, oracle)
        per_bar[str(bar)] = {"false": m["false_incidents"], "delay": m["per_burst_delay"]}
    doubling = {ep["id"]: ep["doubling_minutes"] for ep in truth["episodes"]}
    return {"windows_false": windows["false_incidents"], "windows_delay": windows["per_burst_delay"],
            "bars": per_bar, "doubling": doubling}


def compare(results: list[dict[str, Any]], bars: tuple[float, ...]) -> dict[str, dict[str, Any]]:
    """Per bar: false incidents, and the growth test's delay minus the windows oracle's per burst
    that both confirm (all bursts, and those doubling every 45 minutes)."""
    out = {}
    for bar in bars:
        excess: list[float] = []
        slow: list[float] = []
        for r in results:
            for burst, base in r["windows_delay"].items():
                mine = r["bars"][str(bar)]["delay"].get(burst)
                if base is None or mine is None:
                    continue
                excess.append(mine - base)
                if r["doubling"][burst] == 45:
                    slow.append(mine - base)
        out[str(bar)] = {
            "false": sum(r["bars"][str(bar)]["false"] for r in results), "bursts": len(excess),
            "mean": round(sum(excess) / len(excess), 2) if excess else None,
            "median": evaluate.quantile(excess, 0.5), "p10": evaluate.quantile(excess, 0.1),
            "p90": evaluate.quantile(excess, 0.9),
            "slow_mean": round(sum(slow) / len(slow), 2) if slow else None, "slow_p10": evaluate.quantile(slow, 0.1),
        }
    return out


def _shapes(text: str) -> tuple[tuple[int, int], ...]:
    return tuple((int(d), int(w)) for d, w in (part.split(":") for part in text.split(",")))


def main(argv: list[str] | None = None) -> int:
    ap = suite_parser("pipeline.sim.growth_headroom", __doc__, "2-11", "run")
    ap.add_argument("--shapes", type=_shapes, default=SHAPES,
                    help="doubling:minutes,... (default 5:20,15:60,45:160; doubling 0: flat weights)")
    ap.add_argument("--bars", type=lambda s: tuple(float(x) for x in s.split(",")), default=BARS)
    args = ap.parse_args(argv)
    with Pool(args.processes) as pool:
        results = pool.map(seed_delays, [(s, args.days, args.scale, args.shapes, args.bars) for s in args.seeds])
    table = compare(results, args.bars)
    windows_false = sum(r["windows_false"] for r in results)
    shapes = ",".join(f"{d}:{w}" for d, w in args.shapes)
    print(f"seeds {','.join(map(str, args.seeds))}, on the true rate: the windows oracle (5-80 min, p < "
          f"{evaluate.ORACLE_P:g}) opens {windows_false} false incidents; the growth test ({shapes}), delay minus "
          f"the oracle's per burst (min):")
    print(f"{'LLR bar':>8}{'false':>7}{'mean':>8}{'median':>8}{'p10':>6}{'p90':>6}{'45-min mean':>13}{'p10':>6}")
    for bar, r in table.items():
        print(f"{bar:>8}{r['false']:>7}{r['mean']:>+8.2f}{r['median']:>+8.0f}{r['p10']:>+6.0f}{r['p90']:>+6.0f}"
              f"{r['slow_mean']:>+13.2f}{r['slow_p10']:>+6.0f}")
    print(json.dumps({"seeds": args.seeds, "shapes": [list(s) for s in args.shapes],
                      "windows_oracle_false": windows_false, "bars": table}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
