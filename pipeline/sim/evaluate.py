"""Score incidents against the suite's ground truth, next to the oracle and a Prometheus rule.

Definitions (all times are event time; a *boundary* is the end of a UTC minute):

- **incident**: one ``incident_id`` among alerts with ``status == "open"``, at its ``at`` time.
- **episode window** of an episode: ``[onset, end + 30 min)``: the burst's trailing edge belongs
  to it, so an incident opened while a faded burst resolves is a duplicate, not a false alarm.
  A ``chronic`` brand's window is the whole stream after warm-up; a ``drift`` runs to the end.
- **matching**: an incident matches an episode when both are on the same brand and the incident
  opens inside the episode's window. A burst is *detected* when at least one incident matches it;
  its **delay** is the first match's time minus the onset; its **duplicates** are the other matches.
- **precision** = incidents matching a negative burst / all incidents (duplicates count as matched;
  they are reported apart). Incidents matching another kind are counted per kind; an incident
  matching no episode is a **false incident on quiet traffic**.
- **quiet brand-weeks**: per non-chronic brand, the time after the first day (warm-up) outside
  every episode window, summed, in weeks.
- **oracle**: knows the brand's true expected negatives per minute without the burst. It fires at
  the first boundary after onset (up to the burst's end) at which, for a trailing window of 5, 10,
  20, 40 or 80 minutes, ``poisson_sf(observed negatives, expected) < 1e-6``; *observed* counts
  every mention with ``negativity >= 0.5`` by event time, arrived late or not. Its delay is the
  statistical limit; **excess delay** = detector delay - oracle delay, per burst both detect.
  Run over whole series as a detector (for its false-alarm figures), its firing runs less than
  30 minutes apart are one incident (like a detector's resolution after 30 calm minutes).
- **daily digest**: a drift is *reported* when a digest notice for its brand names a day that
  ends after its onset; its **report delay** is that day's end (when the notice is made) minus the
  onset, in days. A notice on a brand without a drift is *off-drift*, counted by what that brand
  has (a chronic level, a burst that day, or nothing: quiet), per brand-week after warm-up.
- **Prometheus rule**: at each boundary from 24 h after the stream's start, it fires when the
  negatives of the last 15 minutes are > 3x the trailing 24 h mean per 15 minutes and >= 10.
  One incident per contiguous run of firing minutes (a minute not firing ends it).

>>> inc = [{"brand": "a", "at": 600.0, "id": "a-1"}, {"brand": "a", "at": 900.0, "id": "a-2"},
...        {"brand": "b", "at": 600.0, "id": "b-1"}]
>>> truth = {"start": "1970-01-01T00:00:00Z", "end": "1970-01-15T00:00:00Z", "warmup_minutes": 0,
...          "match_slack_minutes": 30, "brands": [{"id": "a"}, {"id": "b"}],
...          "episodes": [{"id": "e", "brand": "a", "kind": "negative_burst", "onset": "1970-01-01T00:05:00Z",
...                        "peak": "1970-01-01T00:20:00Z", "end": "1970-01-01T01:00:00Z"}]}
>>> m = score(inc, truth, {"e": 3.0})
>>> m["recall"], m["precision"], m["delay_median_min"], m["excess_median_min"], m["duplicates_per_burst"]
(1.0, 0.667, 5.0, 2.0, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from pipeline.core.stats import poisson_sf
from pipeline.records import parse_time
from pipeline.sim.scenarios import brand_model

ORACLE_WINDOWS = (5, 10, 20, 40, 80)
ORACLE_P = 1e-6
ORACLE_MERGE_MIN = 30  # as a detector, the oracle's firing runs closer than this are one incident
OTHER_KINDS = ("positive_viral", "bot_flood", "news_spike", "drift", "chronic")


def _prefix(values: Iterable[float]) -> list[Any]:
    out: list[Any] = [0]
    for v in values:
        out.append(out[-1] + v)
    return out


def runs(fires: Callable[[int], bool], first: int, last: int) -> list[tuple[int, int]]:
    """Maximal runs ``[a, b]`` of consecutive boundaries in ``[first, last]`` at which ``fires``.

    >>> runs(lambda t: t in (3, 4, 7), 0, 9)
    [(3, 4), (7, 7)]
    """
    out: list[tuple[int, int]] = []
    begin = None
    for t in range(first, last + 1):
        if fires(t):
            if begin is None:
                begin = t
        elif begin is not None:
            out.append((begin, t - 1))
            begin = None
    if begin is not None:
        out.append((begin, last))
    return out


def merge(spans: list[tuple[int, int]], gap: int) -> list[tuple[int, int]]:
    """Join runs less than ``gap`` minutes apart (an incident resolves only after calm minutes).

    >>> merge([(3, 4), (20, 22), (60, 61)], 30)
    [(3, 22), (60, 61)]
    """
    out: list[tuple[int, int]] = []
    for a, b in spans:
        if out and a - out[-1][1] < gap:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


# -- counts and the oracle --------------------------------------------------------------------
def minute_counts(rows: Iterable[dict[str, Any]], start: float, minutes: int) -> dict[str, list[int]]:
    """Negatives (``negativity >= 0.5``) per brand per event-time minute from ``start``."""
    out: dict[str, list[int]] = {}
    for r in rows:
        if r["negativity"] < 0.5:
            continue
        i = int((parse_time(r["created_at"]) - start) // 60)
        if 0 <= i < minutes:
            counts = out.get(r["brand"])
            if counts is None:
                counts = out[r["brand"]] = [0] * minutes
            counts[i] += 1
    return out


def oracle_minute(observed: list[int], expected: list[float], onset: int, end: int,
                  windows: tuple[int, ...] = ORACLE_WINDOWS, p: float = ORACLE_P) -> int | None:
    """First boundary ``t`` in ``(onset, end]`` (minute indices) at which a trailing window's
    negatives are improbable under the true expectation; None if the burst never gets there.

    >>> quiet, lam = [0] * 200, [0.05] * 200
    >>> oracle_minute(quiet, lam, 100, 199) is None
    True
    >>> burst = quiet[:100] + [0, 1, 1, 2, 3, 5, 8] + [10] * 93
    >>> oracle_minute(burst, lam, 100, 199)
    105
    """
    prefix_o, prefix_e = _prefix(observed), _prefix(expected)
    for t in range(onset + 1, min(end, len(observed)) + 1):
        for w in windows:
            a = max(0, t - w)
            n, lam = prefix_o[t] - prefix_o[a], prefix_e[t] - prefix_e[a]
            if n > lam and poisson_sf(n, lam) < p:
                return t
    return None


def oracle_delays(truth: dict[str, Any], counts: dict[str, list[int]]) -> dict[str, float | None]:
    """Oracle delay in minutes from onset, per negative burst (None: never confirmed)."""
    start = parse_time(truth["start"])
    out: dict[str, float | None] = {}
    for ep in truth["episodes"]:
        if ep["kind"] != "negative_burst":
            continue
        first = int((parse_time(ep["baseline_from"]) - start) // 60)
        lam = ep["baseline_negatives"]
        series = counts.get(ep["brand"], [])[first:first + len(lam)]
        series += [0] * (len(lam) - len(series))
        onset = int((parse_time(ep["onset"]) - start) // 60) - first
        t = oracle_minute(series, lam, onset, len(lam) - 1)
        out[ep["id"]] = None if t is None else float(t - onset)
    return out


def oracle_firing(observed: list[int], expected: list[float], warm: int = 1440) -> list[tuple[int, int]]:
    """The oracle run as a detector over a whole series: its contiguous firing runs.

    >>> oracle_firing([0] * 1500, [0.05] * 1500)
    []
    >>> oracle_firing([0] * 1460 + [4] * 3 + [0] * 100, [0.05] * 1563)[0][0]
    1462
    """
    po, pe = _prefix(observed), _prefix(expected)

    def fires(t: int) -> bool:
        for w in ORACLE_WINDOWS:
            n, lam = po[t] - po[t - w], pe[t] - pe[t - w]
            # Cheap screen first: a tail below 1e-6 lies far beyond lam + 3 sqrt(lam).
            if n >= 2 and n > lam + 3 * math.sqrt(lam) and poisson_sf(n, lam) < ORACLE_P:
                return True
        return False

    return merge(runs(fires, max(warm, max(ORACLE_WINDOWS)), len(observed)), ORACLE_MERGE_MIN)


def oracle_incidents(truth: dict[str, Any], counts: dict[str, list[int]]) -> list[dict[str, Any]]:
    """The oracle's incidents on every brand, from each brand's true quiet-traffic model."""
    start = parse_time(truth["start"])
    minutes = truth["days"] * 1440
    out = []
    for rec in truth["brands"]:
        model = brand_model(rec)
        series = counts.get(rec["id"], [0] * minutes)
        expected = [model.expected_negatives(m) for m in range(minutes)]
        out += [{"brand": rec["id"], "at": start + first * 60, "id": f"{rec['id']}-oracle-{first}"}
                for first, _ in oracle_firing(series, expected, truth.get("warmup_minutes", 1440))]
    return sorted(out, key=lambda i: (i["at"], i["brand"]))


# -- the Prometheus rule ----------------------------------------------------------------------
def rule_firing(counts: list[int], warm: int = 1440, window: int = 15, factor: float = 3.0,
                minimum: int = 10) -> list[tuple[int, int]]:
    """Contiguous firing runs ``[first, last]`` (boundaries as minute indices) of the rule
    "negatives in the last ``window`` min > ``factor`` x the trailing-24h mean per ``window`` min,
    and >= ``minimum``", evaluated at every boundary from ``warm``.

    >>> day = [1] * 1440                 # 15 per 15 min on average
    >>> rule_firing(day + [1] * 10 + [5] * 10 + [1] * 30)  # 7 ones + 8 fives = 47 > 3 x 15.3
    [(1458, 1467)]
    >>> rule_firing(day + [2] * 60)      # doubled: 30 <= 45, silent
    []
    """
    prefix = _prefix(counts)

    def fires(t: int) -> bool:
        recent = prefix[t] - prefix[t - window]
        return recent > factor * (prefix[t] - prefix[t - 1440]) / (1440 / window) and recent >= minimum

    return runs(fires, max(warm, 1440), len(counts))


def rule_incidents(counts: dict[str, list[int]], start: float) -> list[dict[str, Any]]:
    """The rule's incidents, one per firing run, in the evaluator's incident form."""
    out = []
    for brand, series in counts.items():
        for first, _ in rule_firing(series):
            at = start + first * 60
            out.append({"brand": brand, "at": at, "id": f"{brand}-rule-{first}"})
    return sorted(out, key=lambda i: (i["at"], i["brand"]))


# -- the detector ------------------------------------------------------------------------------
def incidents_from_alerts(alerts: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One incident per ``incident_id``, at its opening alert."""
    seen: dict[str, dict[str, Any]] = {}
    for a in alerts:
        if a["status"] == "open" and a["incident_id"] not in seen:
            seen[a["incident_id"]] = {"brand": a["brand"], "at": parse_time(a["at"]), "id": a["incident_id"]}
    return sorted(seen.values(), key=lambda i: (i["at"], i["brand"]))


def read_alerts(path: Path) -> list[dict[str, Any]]:
    with open(path, "rb") as fh:
        return [orjson.loads(line) for line in fh if line.strip()]


# -- matching and metrics ----------------------------------------------------------------------
def quantile(values: list[float], q: float) -> float | None:
    """Nearest-rank quantile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _windows(truth: dict[str, Any]) -> dict[str, list[tuple[float, float, dict[str, Any]]]]:
    slack = truth.get("match_slack_minutes", 30) * 60
    start = parse_time(truth["start"]) + truth.get("warmup_minutes", 1440) * 60
    out: dict[str, list[tuple[float, float, dict[str, Any]]]] = {}
    for ep in truth["episodes"]:
        a, b = parse_time(ep["onset"]), parse_time(ep["end"]) + slack
        if ep["kind"] == "chronic":
            a = start
        out.setdefault(ep["brand"], []).append((a, b, ep))
    return out


def quiet_brand_weeks(truth: dict[str, Any]) -> float:
    """Brand-time after warm-up and outside every episode window (chronic brands excluded), in weeks."""
    start = parse_time(truth["start"]) + truth.get("warmup_minutes", 1440) * 60
    end = parse_time(truth["end"])
    windows = _windows(truth)
    total = 0.0
    for brand in truth["brands"]:
        spans = sorted((max(a, start), min(b, end)) for a, b, _ in windows.get(brand["id"], []))
        if any(ep["kind"] == "chronic" for _, _, ep in windows.get(brand["id"], [])):
            continue
        covered, cursor = 0.0, start
        for a, b in spans:
            a = max(a, cursor)
            if b > a:
                covered += b - a
                cursor = b
        total += end - start - covered
    return total / (7 * 86400)


def score(incidents: list[dict[str, Any]], truth: dict[str, Any], oracle: dict[str, float | None]) -> dict[str, Any]:
    """Metrics of one detector's incidents (see the module docstring for every definition)."""
    windows = _windows(truth)
    matched: dict[str, list[float]] = {}
    by_kind = dict.fromkeys(OTHER_KINDS, 0)
    hit_kind: dict[str, set[str]] = {k: set() for k in OTHER_KINDS}
    true_pos = 0
    quiet: list[dict[str, Any]] = []
    for inc in incidents:
        eps = [ep for a, b, ep in windows.get(inc["brand"], []) if a <= inc["at"] < b]
        bursts = [ep for ep in eps if ep["kind"] == "negative_burst"]
        if bursts:
            true_pos += 1
            matched.setdefault(bursts[0]["id"], []).append(inc["at"])
        elif eps:
            by_kind[eps[0]["kind"]] = by_kind.get(eps[0]["kind"], 0) + 1
            hit_kind.setdefault(eps[0]["kind"], set()).add(eps[0]["id"])
        else:
            quiet.append(inc)
    bursts = [ep for ep in truth["episodes"] if ep["kind"] == "negative_burst"]
    delays, excess, before_peak, dups, per_burst = [], [], 0, 0, {}
    for ep in bursts:
        times = sorted(matched.get(ep["id"], []))
        delay = (times[0] - parse_time(ep["onset"])) / 60 if times else None
        per_burst[ep["id"]] = delay
        if delay is None:
            continue
        delays.append(delay)
        dups += len(times) - 1
        before_peak += times[0] <= parse_time(ep["peak"])
        if oracle.get(ep["id"]) is not None:
            excess.append(delay - oracle[ep["id"]])
    weeks = quiet_brand_weeks(truth)
    totals = {k: sum(1 for e in truth["episodes"] if e["kind"] == k) for k in OTHER_KINDS}

    def r(x: float | None, nd: int = 1) -> float | None:
        return None if x is None else round(x, nd)

    return {
        "bursts": len(bursts), "detected": len(delays),
        "recall": r(len(delays) / len(bursts) if bursts else None, 3),
        "incidents": len(incidents), "false_incidents": len(incidents) - true_pos,
        "precision": r(true_pos / len(incidents) if incidents else None, 3),
        "delay_median_min": r(quantile(delays, 0.5)), "delay_p90_min": r(quantile(delays, 0.9)),
        "excess_median_min": r(quantile(excess, 0.5)), "excess_p90_min": r(quantile(excess, 0.9)),
        "before_peak": r(before_peak / len(bursts) if bursts else None, 3),
        "duplicates_per_burst": r(dups / len(delays) if delays else None, 3),
        "quiet_false": len(quiet), "quiet_brand_weeks": round(weeks, 2),
        "false_per_brand_week": r(len(quiet) / weeks if weeks else None, 3),
        **{f"incidents_{k}": by_kind[k] for k in OTHER_KINDS},
        **{f"paged_{k}": len(hit_kind[k]) for k in OTHER_KINDS},  # episodes with at least one incident
        **{f"episodes_{k}": totals[k] for k in OTHER_KINDS},
        "per_burst_delay": per_burst, "quiet_incidents": quiet,
    }


def breakdown(truth: dict[str, Any], per_burst: dict[str, float | None], oracle: dict[str, float | None],
              key: str) -> dict[str, dict[str, Any]]:
    """Recall and median delay / excess per value of an episode field (tier, doubling_minutes, night)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for ep in truth["episodes"]:
        if ep["kind"] == "negative_burst":
            groups.setdefault(str(ep.get(key)), []).append(ep)
    out = {}
    for value, eps in sorted(groups.items()):
        d = [per_burst[e["id"]] for e in eps if per_burst.get(e["id"]) is not None]
        x = [per_burst[e["id"]] - oracle[e["id"]] for e in eps  # type: ignore[operator]
             if per_burst.get(e["id"]) is not None and oracle.get(e["id"]) is not None]
        o = [oracle[e["id"]] for e in eps if oracle.get(e["id"]) is not None]
        out[value] = {"bursts": len(eps), "recall": round(len(d) / len(eps), 2), "delay_median": quantile(d, 0.5),
                      "excess_median": quantile(x, 0.5), "oracle_median": quantile(o, 0.5)}
    return out


def score_digest(notices: list[dict[str, Any]], truth: dict[str, Any]) -> dict[str, Any]:
    """The daily digest against the suite's drifts (see the module doc).

    >>> truth = {"start": "1970-01-01T00:00:00Z", "days": 9, "warmup_minutes": 1440, "brands": [{"id": "a"}, {"id": "b"}],
    ...          "episodes": [{"brand": "a", "kind": "drift", "onset": "1970-01-03T06:00:00Z"}]}
    >>> score_digest([{"brand": "a", "day": "1970-01-03", "at": "1970-01-04T00:00:00Z"},
    ...               {"brand": "b", "day": "1970-01-05", "at": "1970-01-06T00:00:00Z"}], truth)["drifts_reported"]
    1
    """
    drifts = {e["brand"]: parse_time(e["onset"]) for e in truth["episodes"] if e["kind"] == "drift"}
    kinds: dict[str, set[str]] = {}
    for e in truth["episodes"]:
        kinds.setdefault(e["brand"], set()).add(e["kind"])
    first: dict[str, float] = {}
    off: dict[str, int] = {}
    for n in notices:
        brand, at = n["brand"], parse_time(n["at"])
        if brand in drifts and at > drifts[brand]:
            first[brand] = min(first.get(brand, at), at)
        else:
            k = ("before its drift" if brand in drifts else "chronic" if "chronic" in kinds.get(brand, ())
                 else "burst brand" if kinds.get(brand) else "quiet")
            off[k] = off.get(k, 0) + 1
    delays = sorted((first[b] - drifts[b]) / 86400 for b in first)
    weeks = (len(truth["brands"]) - len(drifts)) * (truth["days"] * 1440 - truth["warmup_minutes"]) / (7 * 1440)
    return {"drifts": len(drifts), "drifts_reported": len(first),
            "report_delay_median_days": round(quantile(delays, 0.5), 2) if delays else None,
            "report_delay_max_days": round(delays[-1], 2) if delays else None,
            "notices": len(notices), "off_drift_notices": sum(off.values()), "off_drift_by_kind": off,
            "off_drift_per_brand_week": round(sum(off.values()) / weeks, 4) if weeks > 0 else None}
