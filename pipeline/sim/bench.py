"""``make bench``: throughput of the core stages the worker and the CLI share, on generated data.

Prints a table and, last, one JSON object of the figures. The streaming figures (end to end
through Kafka, latency, memory, recovery) belong to the scale issue and are added here then.
"""

from __future__ import annotations

import json
import time

from pipeline.core.brands import Brand, BrandMatcher
from pipeline.core.detector import DetectorConfig
from pipeline.core.ingest import Ingestor
from pipeline.core.monitor import Monitor, add_mention
from pipeline.core.scoring import Scorer
from pipeline.records import ScoredMention, decode_scored, encode
from pipeline.sim.generate import BrandSpec, Episode, StreamSpec, generate


def main() -> int:
    brands = [BrandSpec(f"b{i}", 20 + 10 * (i % 30), episodes=(Episode("negative", 600, 10, 10, 50),) if i % 10 == 0
                        else ()) for i in range(60)]
    rows = generate(StreamSpec(start="2026-03-02T00:00:00Z", hours=24, brands=brands), seed=1)
    raws = [encode(r) for r in rows]
    matcher = BrandMatcher([Brand(b.id, b.id, handles=(f"@{b.id}",)) for b in brands])
    ingestor = Ingestor(Scorer(), matcher)

    t = time.perf_counter()
    outcomes = []
    for i in range(0, len(raws), 1000):
        outcomes += ingestor.run(raws[i:i + 1000])
    score_s = time.perf_counter() - t
    scored = [o for o in outcomes if isinstance(o, ScoredMention)]
    lines = [encode(m) for m in scored]

    t = time.perf_counter()
    monitor = Monitor(DetectorConfig())
    alerts = 0
    for line in lines:
        add_mention(monitor, decode_scored(line))
        alerts += len(monitor.advance())
    detect_s = time.perf_counter() - t

    figures = {
        "mentions": len(raws),
        "score_mentions_per_s": round(len(raws) / score_s),
        "detect_mentions_per_s": round(len(lines) / detect_s),
        "alerts": alerts,
    }
    print(f"{'stage':<28}{'mentions/s':>12}")
    print(f"{'score (decode+match+model)':<28}{figures['score_mentions_per_s']:>12,}")
    print(f"{'detect (decode+windows)':<28}{figures['detect_mentions_per_s']:>12,}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
