"""The PNG uploaded with an incident: the brand's negatives per minute against its baseline.

People on a phone would rather look than read. The chart is drawn with matplotlib's Agg
backend through the object API (no pyplot: no global state, safe in the delivery thread): it
installs from PyPI as wheels, needs no display or system library, and draws axes, times and a
legend that a hand-rolled PNG writer would have to re-invent. It is imported lazily, so a worker
that never renders a chart never pays for it; one 640x280 chart takes ~0.1 s and ~20 kB.

>>> png = render_chart({"start": "2026-03-02T07:00:00Z", "bucket_s": 60,
...                     "negatives": [0, 1, 0, 2, 5, 9], "expected": [0.4] * 6}, "Acme Air")
>>> png[:8] == PNG_SIGNATURE
True
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_RED, _GREY, _BAND = "#d62728", "#444444", "#bbbbbb"


def usable(history: Any) -> bool:
    """True when ``history`` (the alert's optional field) has something to draw.

    >>> usable(None), usable({"start": "2026-03-02T07:00:00Z", "bucket_s": 60, "negatives": [], "expected": []})
    (False, False)
    """
    return (isinstance(history, dict) and isinstance(history.get("negatives"), list)
            and isinstance(history.get("expected"), list) and len(history["negatives"]) >= 2
            and isinstance(history.get("bucket_s"), int) and history["bucket_s"] > 0
            and isinstance(history.get("start"), str))


def render_chart(history: dict[str, Any], title: str, opened_at: str | None = None) -> bytes:
    """PNG bytes: negatives per minute (bars), the expected rate (line) and its ~95% band.

    Counts per bucket are turned into per-minute rates, so buckets of any width read alike
    (the message gives counts over the alert's window). ``opened_at`` draws a marker where the incident opened.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import DateFormatter
    from matplotlib.figure import Figure

    step = int(history["bucket_s"])
    per_min = 60.0 / step
    start = datetime.fromisoformat(history["start"]).astimezone(UTC)
    observed = [float(v) * per_min for v in history["negatives"]]
    expected = [float(v) * per_min for v in history["expected"]][: len(observed)]
    expected += [expected[-1] if expected else 0.0] * (len(observed) - len(expected))
    times = [start + timedelta(seconds=i * step) for i in range(len(observed))]
    # Poisson band of the per-bucket count, shown per minute: what "normal noise" looks like.
    band = [per_min * (float(e) / per_min + 2 * (float(e) / per_min) ** 0.5) for e in expected]

    fig = Figure(figsize=(6.4, 2.8), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    edges = [*times, times[-1] + timedelta(seconds=step)]
    # Stairs, not bars: one path instead of a patch per minute (~10x faster to draw, same picture).
    ax.stairs(band, edges, fill=True, color=_BAND, alpha=0.35, linewidth=0, label="usual range")
    ax.stairs(observed, edges, fill=True, color=_RED, alpha=0.75, label="negatives/min")
    ax.stairs(expected, edges, color=_GREY, linewidth=1.6, label="expected/min")
    if opened_at:
        opened = datetime.fromisoformat(opened_at).astimezone(UTC)
        if times[0] <= opened <= times[-1] + timedelta(seconds=step):
            ax.axvline(opened, color="black", linestyle="--", linewidth=1)
            ax.annotate("alert", (opened, 1), xycoords=("data", "axes fraction"), xytext=(3, -10),
                        textcoords="offset points", fontsize=8)
    ax.set_title(f"{title}: negative mentions per minute vs baseline (UTC)", fontsize=10, loc="left")
    ax.xaxis.set_major_formatter(DateFormatter("%H:%M", tz=UTC))
    ax.set_xlim(times[0], times[-1] + timedelta(seconds=step))
    ax.set_ylim(0, max([*observed, *band, 1.0]) * 1.1)
    ax.tick_params(labelsize=8)
    ax.grid(axis="y", alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    fig.subplots_adjust(left=0.06, right=0.98, top=0.9, bottom=0.1)  # fixed: tight_layout costs a draw
    out = io.BytesIO()
    fig.savefig(out, format="png", metadata={"Software": None})  # no version stamp: reproducible bytes
    return out.getvalue()
