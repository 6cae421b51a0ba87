"""``make bench-detect-calibration``: is the surprise test's uncertainty about a brand's rate honest?

The surprise test (``BrandDetector._surprise``) judges a window's negatives with a negative-binomial
tail: a Poisson count whose rate is only as certain as the baseline says - the relative variance of
its level (``1 / counts``, capped for model error) plus that of its seasonal factor at that hour
(``SeasonalBaseline.season_variance``). Too wide a claim makes bursts late for nothing; too narrow
a claim makes false pages. The generator knows each brand's true rate, so the claim can be checked:
every 20 minutes of quiet traffic (no episode within an hour before or six hours after, drifts
reported apart) the detector's expected negatives ``E`` over the window are set against the true
expectation ``T``, and ``z = log(T / E) / claimed sd`` should have a spread of 1.

Prints, per brand tier: windows, median ``E``, bias (mean ``T / E - 1``), the rms of ``log(T / E)``
against the sd claimed (its two parts), the spread of ``z`` and how often ``|z| > 2`` (4.6% for an
honest normal claim). The last line is one JSON object. Runs the source core: it wraps
``BrandDetector._tick`` (a compiled class cannot be wrapped) and turns off ``_quiet``, the
pre-filter, so that every minute with new negatives is evaluated; neither changes what fires.
"""

from __future__ import annotations

import json
import math
import statistics
import tempfile
from multiprocessing import Pool
from pathlib import Path
from typing import Any

from pipeline.core.detector import BrandDetector, DetectorConfig
from pipeline.core.monitor import Monitor, count_json_lines
from pipeline.records import parse_time
from pipeline.sim.bench_detect import suite_parser, write_suite
from pipeline.sim.scenarios import brand_model

WINDOW = 20  # minutes: the window the surprise test's bar is set for (DetectorConfig.bar_minutes)
BEFORE, AFTER = 60, 6 * 60  # minutes around an episode whose windows are left out
TIERS = ("tiny", "small", "medium", "large")


def record_expectations(cfg: DetectorConfig, mentions: Path) -> list[tuple[str, int, float, float, float]]:
    """Run the detector over ``mentions``; at every evaluated minute that ends a ``WINDOW`` (a
    multiple of it), each brand's ``(brand, minute, E, level variance, season variance)`` - once the
    brand has two days of baseline."""
    out: list[tuple[str, int, float, float, float]] = []
    seen: set[tuple[str, int]] = set()
    tick_as_is, quiet_as_is = BrandDetector._tick, BrandDetector._quiet
    if not hasattr(tick_as_is, "__code__"):
        raise RuntimeError("calibration wraps the detector: run it on the source core, not the compiled one")

    def tick(self: BrandDetector, t: int) -> dict[str, Any] | None:
        b = self.baseline
        if t % WINDOW == 0 and b.history_minutes() >= 2 * 1440 and (self.brand, t) not in seen:
            seen.add((self.brand, t))
            level_var = 1.0 / min(b.c_neg + b.cfg.prior_count, self.cfg.max_confidence)
            out.append((self.brand, t, self._expected(t - WINDOW, t), level_var, b.season_variance((t - 1) * 60)))
        return tick_as_is(self, t)

    BrandDetector._tick = tick  # type: ignore[method-assign]
    BrandDetector._quiet = lambda self, tick, p_open: False  # type: ignore[method-assign]
    try:
        with open(mentions, "rb") as fh:
            count_json_lines(Monitor(cfg), fh, lambda alert: None)
    finally:
        BrandDetector._tick = tick_as_is  # type: ignore[method-assign]
        BrandDetector._quiet = quiet_as_is  # type: ignore[method-assign]
    return out


def quiet_windows(truth: dict[str, Any], recorded: list[tuple[str, int, float, float, float]]) -> list[dict[str, Any]]:
    """The recorded windows away from every episode but drifts (those marked ``drift``; chronic
    brands are their own normal), each with its true expectation ``T``."""
    start = int(parse_time(truth["start"]) // 60)
    models = {rec["id"]: brand_model(rec) for rec in truth["brands"]}
    tiers = {rec["id"]: rec["tier"] for rec in truth["brands"]}
    spans: dict[str, list[tuple[str, int, int]]] = {}
    for ep in truth["episodes"]:
        if ep["kind"] != "chronic":
            spans.setdefault(ep["brand"], []).append((ep["kind"], int(parse_time(ep["onset"]) // 60) - BEFORE,
                                                      int(parse_time(ep["end"]) // 60) + AFTER))
    out = []
    for brand, t, expected, level_var, season_var in recorded:
        kinds = {kind for kind, a, b in spans.get(brand, ()) if a <= t <= b}
        if kinds - {"drift"}:
            continue
        model = models[brand]
        true = sum(model.expected_negatives(m - start) for m in range(t - WINDOW, t))
        out.append({"tier": tiers[brand], "drift": bool(kinds), "E": expected, "T": true,
                    "level_var": level_var, "season_var": season_var})
    return out


def summarise(windows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Bias, rms log error against the claimed sd (and its parts), the spread of z and its tails.

    >>> honest = [{"E": 10.0, "T": 10.0 * math.exp(z * 0.1), "level_var": 0.005, "season_var": 0.005}
    ...           for z in (-1.5, -0.5, 0.5, 1.5)]
    >>> s = summarise(honest)
    >>> s["rms_log_error"], s["claimed_sd"], s["z_sd"]
    (0.112, 0.1, 1.12)
    """
    if not windows:
        return None
    logs = [math.log(w["T"] / w["E"]) for w in windows]
    claimed = [w["level_var"] + w["season_var"] for w in windows]
    z = [x / math.sqrt(v) for x, v in zip(logs, claimed, strict=True)]
    return {
        "windows": len(windows),
        "median_expected": round(statistics.median(w["E"] for w in windows), 2),
        "bias": round(statistics.fmean(w["T"] / w["E"] - 1.0 for w in windows), 3),
        "rms_log_error": round(math.sqrt(statistics.fmean(x * x for x in logs)), 3),
        "claimed_sd": round(math.sqrt(statistics.fmean(claimed)), 3),
        "claimed_level_sd": round(math.sqrt(statistics.fmean(w["level_var"] for w in windows)), 3),
        "claimed_season_sd": round(math.sqrt(statistics.fmean(w["season_var"] for w in windows)), 3),
        "z_sd": round(statistics.pstdev(z), 2),
        "z_beyond_2": round(sum(1 for x in z if abs(x) > 2) / len(z), 3),
    }


def one_seed(args: tuple[int, int, float]) -> list[dict[str, Any]]:
    seed, days, scale = args
    with tempfile.TemporaryDirectory() as tmp:
        mentions, _, suite = write_suite(Path(tmp), seed, days, scale)
        return quiet_windows(suite.truth, record_expectations(DetectorConfig(), mentions))


def main(argv: list[str] | None = None) -> int:
    args = suite_parser("pipeline.sim.calibration", __doc__, "2-6", "run").parse_args(argv)
    with Pool(args.processes) as pool:
        windows = [w for seed in pool.map(one_seed, [(s, args.days, args.scale) for s in args.seeds]) for w in seed]
    rows: dict[str, Any] = {}
    for tier in TIERS:
        for drift in (False, True):
            row = summarise([w for w in windows if w["tier"] == tier and w["drift"] == drift])
            if row is not None:
                rows[tier + (" in a drift" if drift else "")] = row
    print(f"{WINDOW}-minute windows of quiet traffic, seeds {','.join(map(str, args.seeds))}: the detector's "
          f"expected negatives E against the truth T")
    print(f"{'brands':<20}{'windows':>8}{'E':>8}{'bias':>8}{'rms log T/E':>13}{'claimed sd':>12}"
          f"{'(level':>8}{'season)':>9}{'sd of z':>9}{'|z|>2':>7}")
    for name, r in rows.items():
        print(f"{name:<20}{r['windows']:>8}{r['median_expected']:>8}{r['bias']:>+8.3f}{r['rms_log_error']:>13}"
              f"{r['claimed_sd']:>12}{r['claimed_level_sd']:>8}{r['claimed_season_sd']:>9}{r['z_sd']:>9}"
              f"{r['z_beyond_2']:>7}")
    print(json.dumps({"seeds": args.seeds, "window_minutes": WINDOW, "tiers": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
