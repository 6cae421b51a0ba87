"""``make example``: regenerate docs/examples/incident-*.{json,png} - what on-call staff receive.

Runs the demo stream (the one ``make run`` replays) through the same core the worker runs
(score, detect), delivers the ``acme`` incident through the real ``Notifier`` into a recording
sink, then presses "Acknowledge" as a person would, and writes:

- ``incident-slack.json``: every Slack Web API call in order (post, chart upload, update, thread reply);
- ``incident-blocks.json``: the root message as it finally looks ({"blocks": ...}, pasteable into
  Slack's Block Kit Builder);
- ``incident-chart.png``: the chart uploaded with the escalation.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pipeline.core.brands import BrandMatcher, load_brands
from pipeline.core.detector import DetectorConfig
from pipeline.core.ingest import Ingestor
from pipeline.core.monitor import Monitor, add_mention
from pipeline.core.scoring import Scorer
from pipeline.notify.slack import Notifier
from pipeline.records import ScoredMention, encode
from pipeline.sim.generate import demo_spec, generate

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = "https://grafana.example.com/d/buzzwatch/buzzwatch?var-brand={brand}"


class RecordingSink:
    """A bot sink that answers like Slack and remembers every call (the PNGs apart)."""

    threads = True

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.charts: list[bytes] = []
        self.current: dict[str, list[dict[str, Any]]] = {}

    def post(self, channel: str | None, text: str, blocks: list[dict[str, Any]], thread_ts: str | None = None,
             metadata: dict[str, Any] | None = None) -> str:
        ts = f"1772440{len(self.calls):03d}.000100"
        self.calls.append({"method": "chat.postMessage", "channel": channel, "thread_ts": thread_ts, "text": text,
                           "blocks": blocks, **({"metadata": metadata} if metadata else {})})
        self.current[ts] = blocks
        return ts

    def find(self, channel: str | None, incident_id: str) -> str | None:
        return None

    def find_reply(self, channel: str, thread_ts: str, incident_id: str, seq: int) -> bool:
        return False

    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        self.calls.append({"method": "chat.update", "channel": channel, "ts": ts, "text": text, "blocks": blocks})
        self.current[ts] = blocks

    def upload(self, channel: str, thread_ts: str, filename: str, data: bytes, title: str) -> None:
        self.calls.append({"method": "files.uploadV2", "channel": channel, "thread_ts": thread_ts,
                           "filename": filename, "title": title, "bytes": len(data)})
        self.charts.append(data)


def incident_alerts(brand: str = "acme") -> list[dict[str, Any]]:
    """The demo stream's alerts for ``brand``, as the worker's detect stage produces them."""
    brands = load_brands(ROOT / "docs" / "examples" / "brands.yaml")
    ingestor = Ingestor(Scorer(), BrandMatcher(brands))
    monitor = Monitor(DetectorConfig())
    alerts: list[dict[str, Any]] = []
    rows = generate(demo_spec(), seed=7)
    for start in range(0, len(rows), 1000):
        for m in ingestor.run([encode(r) for r in rows[start:start + 1000]]):
            if isinstance(m, ScoredMention):
                add_mention(monitor, m)
                alerts += monitor.advance()
    return [a for a in alerts if a["brand"] == brand]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(ROOT / "docs" / "examples"), help="directory (default docs/examples)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    brands = {b.id: b for b in load_brands(ROOT / "docs" / "examples" / "brands.yaml")}
    sink = RecordingSink()
    at_noon = 1772449200.0  # 12:00 Paris: outside acme's quiet hours, so its ping shows
    notifier = Notifier(sink, channel_for=lambda b: brands[b].slack_channel, name_for=lambda b: brands[b].name,
                        ping_for=lambda b, sev, ts: brands[b].ping(sev, ts), grafana_template=GRAFANA,
                        runbook_for=lambda b: brands[b].runbook_url,
                        clock=lambda: at_noon, buttons=True)
    alerts = incident_alerts()
    if not alerts:
        print("the demo stream produced no acme alert", file=sys.stderr)
        return 1
    ledger: dict[str, Any] = {}
    for alert in alerts:
        notifier.deliver(alert, ledger)
    last = alerts[-1]  # then someone picks it up
    notifier.acknowledge({"source": "slack", "action": "acknowledge", "incident_id": last["incident_id"],
                          "brand": last["brand"], "user_id": "U0ONCALL", "at": last["at"]}, ledger)
    root_ts = next(iter(sink.current))
    out.mkdir(parents=True, exist_ok=True)
    (out / "incident-slack.json").write_text(json.dumps(sink.calls, indent=2, ensure_ascii=False) + "\n")
    (out / "incident-blocks.json").write_text(json.dumps({"blocks": sink.current[root_ts]}, indent=2,
                                                         ensure_ascii=False) + "\n")
    (out / "incident-chart.png").write_bytes(sink.charts[-1])
    print(f"{len(alerts)} alerts, {len(sink.calls)} Slack calls -> {out}/incident-slack.json, "
          f"incident-blocks.json, incident-chart.png ({len(sink.charts[-1]):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
