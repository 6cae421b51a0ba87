"""``make bench-detect-why``: which of the detector's tests holds each negative burst back.

Replays the scenario suite of each seed with every window's tests recorded at every minute from a
burst's onset until ``HORIZON`` minutes past the oracle's, then asks, per burst, at which minute it
would have fired had one test been dropped or judged on the truth instead (a counterfactual per
test; the others unchanged):

- ``as is``: the detector's own tests - reproduces its delays (the replay's check);
- ``surprise on the truth``: the windows' surprise test as the oracle runs it (the generator's true
  rate, its raw negatives, a Poisson tail; no growth-shaped test) - what the baseline's estimate
  and its uncertainty cost;
- ``surprise, Poisson``: our expected rate with a Poisson tail, no growth-shaped test - what the
  uncertainty alone costs;
- ``no growth shape``: the windows' tails alone decide the surprise (``DetectorConfig.shapes``);
- ``no acceleration test``: a window's growth over the previous one alone decides the growth test
  (``DetectorConfig.accel_bar``);
- ``no share``, ``no growth``, ``no recent level``: one test dropped (``no share``: the other
  mentions standing in for it too; ``no growth``: the acceleration test too);
- ``surprise and crowd only``: all three dropped.

A burst that never fires in the replay counts as ``HORIZON`` minutes late. Prints, per variant, the
mean and p90 excess over the oracle and the bursts more than 15 minutes late, every seed together;
the last line is one JSON object. It measures delays only: a test dropped here also pages on what
it was there to ignore (virals, drifts), which only a run of the changed detector can count.

Runs the source core, not the compiled one: it wraps ``BrandDetector._tick`` to record the tests
(a compiled class cannot be wrapped) and turns off ``_quiet``, the pre-filter, so that every
minute with new signal is recorded; neither changes what fires.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from multiprocessing import Pool
from pathlib import Path
from typing import Any

from pipeline.core.detector import BrandDetector, DetectorConfig
from pipeline.core.monitor import Monitor, count_json_lines
from pipeline.core.stats import poisson_sf
from pipeline.records import parse_time
from pipeline.sim import evaluate
from pipeline.sim.bench_detect import suite_parser, write_suite

HORIZON = 90  # minutes past the oracle's minute that a burst is followed

# A window's recorded tests: (minutes, observed, expected, p, bar, authors ok, grown, share ok,
# recent ok, growth shape ok (the tick's), accelerating (the tick's, where the window is busy
# enough for it), true expected, raw negatives) - the last two filled in from the truth afterwards.
Window = tuple[int, float, float, float, float, bool, bool, bool, bool, bool, bool, float, int]
VARIANTS: dict[str, Callable[[Window], bool]] = {
    "as is": lambda w: w[5] and (w[6] or w[10]) and (w[3] < w[4] or w[9]) and w[7] and w[8],
    "surprise on the truth": lambda w: w[5] and (w[6] or w[10]) and poisson_sf(w[12], w[11]) < w[4] and w[7] and w[8],
    "surprise, Poisson": lambda w: w[5] and (w[6] or w[10]) and poisson_sf(w[1], w[2]) < w[4] and w[7] and w[8],
    "no growth shape": lambda w: w[5] and (w[6] or w[10]) and w[3] < w[4] and w[7] and w[8],
    "no acceleration test": lambda w: w[5] and w[6] and (w[3] < w[4] or w[9]) and w[7] and w[8],
    "no share": lambda w: w[5] and (w[6] or w[10]) and (w[3] < w[4] or w[9]) and w[8],
    "no growth": lambda w: w[5] and (w[3] < w[4] or w[9]) and w[7] and w[8],
    "no recent level": lambda w: w[5] and (w[6] or w[10]) and (w[3] < w[4] or w[9]) and w[7],
    "surprise and crowd only": lambda w: w[5] and (w[3] < w[4] or w[9]),
}


def record_ticks(cfg: DetectorConfig, mentions: Path, follow: dict[str, list[tuple[int, int, str]]]
                 ) -> tuple[dict[str, list[tuple[int, list[list[Any]]]]], list[dict[str, Any]]]:
    """Run the detector over ``mentions``; for each brand's followed spans ``(first, last, burst id)``
    (minute indices), every evaluated minute's windows. Returns them per burst, and the alerts."""
    record: dict[str, list[tuple[int, list[list[Any]]]]] = {}
    tick_as_is = BrandDetector._tick
    quiet_as_is = BrandDetector._quiet

    def tick(self: BrandDetector, t: int) -> dict[str, Any] | None:
        for first, last, burst in follow.get(self.brand, ()):
            if first <= t <= last:
                windows = []
                shaped = self._shape_fires(t, cfg.p_open)
                accelerating = self._accelerating(t)
                for ev in self._evidences(t):
                    grown = ev.observed >= self._growth_needed(max(ev.previous, ev.expected))
                    windows.append([ev.window_minutes, ev.observed, ev.expected, self._surprise(ev),
                                    self.window_bar(cfg.p_open, ev.window_minutes), ev.authors >= cfg.min_authors,
                                    grown, self._share_surprise(ev) < cfg.p_share or self._others_calm(ev),
                                    self._recent_surprise(ev) < cfg.p_recent, shaped,
                                    accelerating and ev.expected >= cfg.accel_min])
                record.setdefault(burst, []).append((t, windows))
        return tick_as_is(self, t)

    BrandDetector._tick = tick  # type: ignore[method-assign]
    BrandDetector._quiet = lambda self, tick, p_open: False  # type: ignore[method-assign]
    try:
        alerts: list[dict[str, Any]] = []
        with open(mentions, "rb") as fh:
            count_json_lines(Monitor(cfg), fh, alerts.append)
    finally:
        BrandDetector._tick = tick_as_is  # type: ignore[method-assign]
        BrandDetector._quiet = quiet_as_is  # type: ignore[method-assign]
    return record, alerts


def replay_seed(args: tuple[int, int, float]) -> list[dict[str, Any]]:
    """One seed's bursts: the oracle's delay, the detector's, and each variant's first firing minute."""
    seed, days, scale = args
    if not hasattr(BrandDetector._tick, "__code__"):
        raise RuntimeError("why_late wraps the detector: run it on the source core, not the compiled one")
    with tempfile.TemporaryDirectory() as tmp:
        mentions, _, suite = write_suite(Path(tmp), seed, days, scale)
        truth = suite.truth
        start = parse_time(truth["start"])
        counts = evaluate.minute_counts(suite.rows, start, truth["days"] * 1440)
        oracle = evaluate.oracle_delays(truth, counts)
        bursts = [ep for ep in truth["episodes"] if ep["kind"] == "negative_burst" and oracle.get(ep["id"]) is not None]
        follow: dict[str, list[tuple[int, int, str]]] = {}
        for ep in bursts:
            onset = int(parse_time(ep["onset"]) // 60)
            follow.setdefault(ep["brand"], []).append((onset, onset + int(oracle[ep["id"]]) + HORIZON, ep["id"]))
        record, alerts = record_ticks(DetectorConfig(), mentions, follow)
    measured = evaluate.score(evaluate.incidents_from_alerts(alerts), truth, oracle)["per_burst_delay"]
    s0 = int(start // 60)
    out = []
    for ep in bursts:
        onset, o = int(parse_time(ep["onset"]) // 60), float(oracle[ep["id"]])
        first = int((parse_time(ep["baseline_from"]) - start) // 60)
        lam, series = ep["baseline_negatives"], counts.get(ep["brand"], [])
        fired: dict[str, float] = {}
        for t, windows in record.get(ep["id"], []):
            for w in windows:
                a = t - w[0] - s0 - first  # the window's first minute in the truth's series
                truth_w = (*w, sum(lam[max(0, a):a + w[0]]), sum(series[max(0, t - w[0] - s0):t - s0]))
                for name, fires in VARIANTS.items():
                    if name not in fired and fires(truth_w):  # type: ignore[arg-type]
                        fired[name] = t - onset
        out.append({"seed": seed, "burst": ep["id"], "doubling_minutes": ep["doubling_minutes"], "oracle": o,
                    "measured": measured.get(ep["id"]),
                    "excess": {name: fired.get(name, o + HORIZON) - o for name in VARIANTS}})
    return out


def summary(bursts: list[dict[str, Any]]) -> dict[str, dict[str, float | int | None]]:
    """Per variant: mean and p90 excess, and how many bursts are more than 15 minutes late."""
    out: dict[str, dict[str, float | int | None]] = {}
    for name in VARIANTS:
        excess = [b["excess"][name] for b in bursts]
        out[name] = {"mean": round(sum(excess) / len(excess), 2) if excess else None,
                     "p90": evaluate.quantile(excess, 0.9), "late_over_15": sum(1 for x in excess if x > 15)}
    return out


def main(argv: list[str] | None = None) -> int:
    args = suite_parser("pipeline.sim.why_late", __doc__, "1-10", "replay").parse_args(argv)
    with Pool(args.processes) as pool:
        bursts = [b for seed in pool.map(replay_seed, [(s, args.days, args.scale) for s in args.seeds]) for b in seed]
    table = summary(bursts)
    print(f"{len(bursts)} bursts the oracle confirms, seeds {','.join(map(str, args.seeds))}: excess over the oracle (min)")
    print(f"{'variant':<26}{'mean':>7}{'p90':>6}{'late > 15':>11}")
    for name, row in table.items():
        print(f"{name:<26}{row['mean']:>7}{row['p90']:>6}{row['late_over_15']:>11}")
    late = sorted(bursts, key=lambda b: -b["excess"]["as is"])[:10]
    print("\nthe latest bursts, as is -> each variant:")
    for b in late:
        print(f"  seed {b['seed']:>2} {b['burst']:<30} doubling {b['doubling_minutes']:>3}  "
              + "  ".join(f"{name} {x:+.0f}" for name, x in b["excess"].items()))
    print(json.dumps({"bursts": len(bursts), "variants": table}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
