"""NAB realTweets backtest: the volume detector on mention counts, scored as NAB scores it.

Each series (mentions per 5 minutes) goes through the same code as
``buzzwatch detect --format counts --signal volume``; every incident opening is a detection.
Standard profile: detections in the first 15% of a series are ignored (probation); in a labelled
window the earliest detection scores the scaled sigmoid of its position (1 at the window's left
edge, 0 at its right); a window with no detection costs 1; a detection outside every window costs
0.11 x the sigmoid of its distance past the previous window (0.11 far away). The normalised score
is 100 x (raw - null) / (perfect - null) with null = -windows and perfect = +windows: the figure
the published scores on these five series were computed with (ARTime 80.2, ...).

Checked against NAB's own ``nab/sweeper.py`` (``Sweeper.scoreDataSet`` on the same detections
as 0/1 anomaly scores, threshold 1): the raw score of every series is the same. NAB's
normaliser (``runner.normalize``) differs in one respect: its perfect score is the number of
*labelled anomalies* (labels.json), not of windows - GOOG has two labels in one window, so 16,
not 15, here. ``nab_exact_score`` is that figure (ARTime 77.6, CAD-OSE 62.4, HTM 54.1 by it).

Given a checkout of numenta/NAB instead (``--datasets``), all ten realTweets series are scored and
the five not in ``../shared`` are reported apart (``held_back_score``: held back until the
configuration was first measured on them, 2026-11-27), next to the
published detectors' scores on the same two halves, read from the checkout's own results.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from bisect import bisect_right
from datetime import UTC, datetime
from pathlib import Path

from pipeline.core.baseline import BaselineConfig
from pipeline.core.detector import DetectorConfig
from pipeline.core.monitor import Monitor, add_counts
from pipeline.core.windows import WindowConfig

A_FP = 0.11
PROBATION = 0.15


def _ts(text: str) -> float:
    return datetime.strptime(text[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


def load_series(path: Path) -> list[tuple[float, int]]:
    with open(path, newline="") as fh:
        return [(_ts(row["timestamp"]), int(float(row["value"]))) for row in csv.DictReader(fh)]


def detect(series: list[tuple[float, int]], cfg: DetectorConfig) -> list[int]:
    """Indices of the rows at which an incident opened (the row ending at the alert's boundary)."""
    step = series[1][0] - series[0][0]
    times = [ts for ts, _ in series]
    monitor = Monitor(cfg)
    hits: list[int] = []
    for ts, value in series:
        add_counts(monitor, "series", ts, ts + step, value, 0)
        for alert in monitor.advance():
            if alert["status"] == "open":
                decided = datetime.fromisoformat(alert["at"]).timestamp()
                hits.append(max(0, bisect_right(times, decided - 1e-6) - 1))
    return hits


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def scaled_sigmoid(position: float) -> float:
    """NAB's weighting: ~1 at a window's left edge (-1), 0 at its right edge, -1 far after."""
    if position > 3.0:
        return -1.0
    return 2 * _sigmoid(-5 * position) - 1.0


def score_series(n_rows: int, timestamps: list[float], windows: list[tuple[float, float]],
                 hits: list[int]) -> tuple[float, int, int, int]:
    """(raw score, true positives, false positives, missed windows) of one series."""
    spans = []
    for start, end in windows:
        lo = next(i for i, t in enumerate(timestamps) if t >= start)
        hi = max(i for i, t in enumerate(timestamps) if t <= end)
        spans.append((lo, hi))
    probation = min(math.floor(PROBATION * n_rows), PROBATION * 5000)  # NAB: 15%, at most 750 rows
    edge = scaled_sigmoid(-1.0)
    raw, tp, fp = 0.0, 0, 0
    detected = [False] * len(spans)
    for i in sorted(set(hits)):
        if i < probation:
            continue
        inside = [k for k, (lo, hi) in enumerate(spans) if lo <= i <= hi]
        if inside:
            k = inside[0]
            if not detected[k]:
                lo, hi = spans[k]
                detected[k] = True
                raw += scaled_sigmoid(-(hi - i + 1) / (hi - lo + 1)) / edge
                tp += 1
            continue
        before = [(lo, hi) for lo, hi in spans if hi < i]
        if before:
            lo, hi = before[-1]
            raw += A_FP * scaled_sigmoid((i - hi) / max(hi - lo, 1))  # NAB: distance / (width - 1)
        else:
            raw -= A_FP
        fp += 1
    # NAB scores a window only if some of its rows are past probation (else it is in no score part).
    missed = sum(1 for k, (lo, hi) in enumerate(spans) if not detected[k] and hi >= probation)
    return raw - missed, tp, fp, missed


DEVELOPMENT = ("AAPL", "AMZN", "FB", "GOOG", "IBM")  # the five series in ../shared/datasets


def is_development(name: str) -> bool:
    """``Twitter_volume_AAPL`` (or ``realTweets/Twitter_volume_AAPL.csv``): one of the five in ../shared?"""
    return name.removesuffix(".csv").rsplit("_", 1)[-1] in DEVELOPMENT


def layout(root: Path) -> tuple[list[Path], dict, dict]:
    """The series, windows and labels under ``root``: this project's datasets folder (``nab/``) or a
    checkout of numenta/NAB (``data/realTweets``, ``labels/combined_*.json``), which holds all ten."""
    if (root / "nab" / "windows.json").exists():
        series, windows, labels = root / "nab" / "realTweets", root / "nab" / "windows.json", root / "nab" / "labels.json"
    elif (root / "labels" / "combined_windows.json").exists():
        series = root / "data" / "realTweets"
        windows, labels = root / "labels" / "combined_windows.json", root / "labels" / "combined_labels.json"
    else:
        raise FileNotFoundError(f"no NAB data under {root}: expected nab/windows.json or labels/combined_windows.json")
    return sorted(series.glob("*.csv")), json.loads(windows.read_text()), json.loads(labels.read_text())


def run(datasets: Path, cfg: DetectorConfig) -> dict:
    paths, windows, labels = layout(datasets)
    rows = []
    for path in paths:
        series = load_series(path)
        hits = detect(series, cfg)
        spans = [(_ts(a), _ts(b)) for a, b in windows[f"realTweets/{path.name}"]]
        raw, tp, fp, missed = score_series(len(series), [t for t, _ in series], spans, hits)
        rows.append({"series": path.stem, "windows": len(spans), "detected": tp, "false_alarms": fp,
                     "missed": missed, "raw": raw, "labels": len(labels[f"realTweets/{path.name}"]),
                     "development": is_development(path.stem)})
    dev = [r for r in rows if r["development"]]
    held = [r for r in rows if not r["development"]]
    out = {"series": rows, "nab_standard_score": group_score(dev), "nab_exact_score": group_score(dev, exact=True)}
    if held:
        out["held_back_score"] = group_score(held)
    return out


def group_score(rows: list[dict], exact: bool = False) -> float:
    """The normalised score of some series together (their raw scores summed, as NAB sums them)."""
    windows = sum(r["windows"] for r in rows)
    raw = sum(r["raw"] for r in rows)
    return round(normalised(raw, windows, sum(r["labels"] for r in rows) if exact else windows), 1)


def published(root: Path) -> dict[str, dict[str, float]]:
    """Published detectors' standard-profile scores on the development and the held-back series,
    from a NAB checkout's own per-file results (``results/<detector>/<detector>_standard_scores.csv``)."""
    _, windows, _ = layout(root)
    out: dict[str, dict[str, float]] = {}
    for path in sorted((root / "results").glob("*/*_standard_scores.csv")):
        with open(path, newline="") as fh:
            raw = {r["File"]: float(r["Score"]) for r in csv.DictReader(fh) if r["File"].startswith("realTweets/")}
        groups: dict[str, list[dict]] = {"development": [], "held_back": []}
        for name, score in raw.items():
            key = "development" if is_development(name) else "held_back"
            groups[key].append({"raw": score, "windows": len(windows[name]), "labels": 0})
        if all(len(g) == 5 for g in groups.values()):
            out[path.parent.name] = {k: group_score(g) for k, g in groups.items()}
    return out


def normalised(raw: float, windows: int, perfect: float) -> float:
    """100 x (raw - null) / (perfect - null), null = -windows (NAB's null detector detects nothing).

    >>> normalised(-15.0, 15, 15), normalised(15.0, 15, 15), round(normalised(8.887, 15, 16), 1)
    (0.0, 100.0, 77.1)
    """
    return 100 * (raw + windows) / (perfect + windows) if windows else 0.0


def nab_config() -> DetectorConfig:
    """One configuration for every series (no per-series tuning): volume mode on 5-minute counts.

    Each series learns its own overdispersion (Twitter volume is far from Poisson, and unequally so:
    AAPL's negative-binomial size is ~0.6, AMZN's ~10). Even so, p-values are not comparable across
    series in the far tail: at a labelled anomaly the best window's tail probability is 1e-7 on PFE
    and 1e-110 on UPS, whose routine bot blocks reach 1e-228. So each series sets its own bar
    (``relative_days``): 1.5 x the median, over its last 14 days, of each day's most surprising
    window, and never looser than 1e-6. After an incident a brand stays quiet for the rest of the day. The CLI runs the same
    detector with ``detect --format counts --signal volume --sensitivity 1e-6 --cooldown 1380
    --relative-days 14``.

    Until 2026-11-27 this was a flat ``p_open`` of 1e-22, tuned on the five development series: 79.6
    there, 44.9 on the five held back (numenta/NAB has all ten). The brand's own bar, chosen on all
    ten, scores 71.0 / 76.9; chosen on one half and scored on the other, over the same grids, a flat
    threshold is worth about 54 and the brand's own bar about 66 (see docs/measurements.md, "Detection").

    Measured and not adopted, before (on the development five): bursts scored against the recent
    (6 h) or a robust (median of 3 h / 6 h) level instead of the seasonal one (at most 76: nights
    page), a stricter recent-level gate (no change), day-scale elevation z-scores (12-24 h), and a
    3-day level-shift test that catches AMZN 04-01 alone (86.1 for z in ~3.0-3.5; leave-one-out
    79.3-79.6). After: a bar at the maximum of the last days rather than the median (60 / 59), a
    cooldown of two or three days (at most 67 / 65). The scenario suite's bar scaled with each
    window's width (``DetectorConfig.bar_minutes``) on top of the brand's own: 64.8 / 75.3 - so with
    ``relative_days`` it is off (that bar, from each day's most surprising window of any width,
    already counts every window)."""
    return DetectorConfig(signal="volume", min_authors=0, p_open=1e-6, relative_days=14, relative_factor=1.5,
                          cooldown_minutes=1380, disp_window_exp=0.75, window=WindowConfig(bucket_s=300, grace_s=600),
                          baseline=BaselineConfig(dispersion=True))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--datasets", default="../shared/datasets",
                    help="folder holding nab/ (default ../shared/datasets), or a checkout of numenta/NAB: all ten series")
    args = ap.parse_args(argv)
    datasets = Path(args.datasets)
    try:
        result = run(datasets, nab_config())
    except FileNotFoundError as exc:
        print(f"{exc}: pass --datasets")
        return 2
    print(f"{'series':<24}{'windows':>8}{'detected':>9}{'false':>7}{'missed':>7}{'raw':>8}")
    for r in result["series"]:
        print(f"{r['series']:<24}{r['windows']:>8}{r['detected']:>9}{r['false_alarms']:>7}{r['missed']:>7}{r['raw']:>8.3f}"
              + ("" if r["development"] else "  (held back)"))
    print(f"NAB standard-profile score: {result['nab_standard_score']} (ARTime 80.2, CAD-OSE 64.4, HTM 55.9)")
    print(f"  normalised as NAB's runner does (perfect = labelled anomalies): {result['nab_exact_score']}"
          " (ARTime 77.6, CAD-OSE 62.4, HTM 54.1)")
    figures = {"nab_standard_score": result["nab_standard_score"], "nab_exact_score": result["nab_exact_score"]}
    if "held_back_score" in result:
        print(f"on the five held-back series (not in ../shared; the configuration was chosen on all ten): "
              f"{result['held_back_score']}")
        figures["held_back_score"] = result["held_back_score"]
        for name, scores in published(datasets).items():
            print(f"  {name:<20} development {scores['development']:6.1f}   held back {scores['held_back']:6.1f}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
