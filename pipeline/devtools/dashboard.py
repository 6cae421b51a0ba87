"""The Grafana dashboard, built in code with grafana-foundation-sdk and committed as JSON.

``python -m pipeline.devtools.dashboard`` (``make dashboard``) writes
``helm/buzzwatch/dashboards/buzzwatch.json``, which the chart ships in a ConfigMap for Grafana's
dashboard sidecar; ``--check`` fails when the committed file is stale. Three rows: brand overview
(every brand), brand drill-down (variable ``brand``), pipeline health. Every query uses only metrics
declared in ``pipeline/metrics.py`` (tests/deploy/test_dashboard.py checks it).

grafana-foundation-sdk is a dev dependency (the ``deploy`` extra), imported when the dashboard is built.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).resolve().parents[2] / "helm" / "buzzwatch" / "dashboards" / "buzzwatch.json"
UID = "buzzwatch"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SEVERITIES = {"0": ("none", "green"), "1": ("warning", "yellow"), "2": ("high", "orange"), "3": ("critical", "red")}
R = "[$__rate_interval]"
B = 'brand="$brand"'

# (title, description, unit, [(expr, legend)]) per panel, by row. Stat panels are marked "stat".
OVERVIEW = [
    ("Collapsed negatives per minute vs baseline",
     "Each brand's collapsed negatives (an author once an hour, a pasted text at most 3 times: what the "
     "detector counts) per minute over the last 10 minutes of event time, and what its seasonal baseline "
     "expects now (\"expected\"). Fewer than the raw negatives in a bot or copy flood.", "short",
     [("max by (brand) (buzzwatch_negative_rate_per_minute)", "{{brand}}"),
      ("max by (brand) (buzzwatch_expected_negative_rate_per_minute)", "{{brand}} expected")]),
    ("Negative share", "Share of each brand's scored mentions that are negative.", "percentunit",
     [(f"sum by (brand) (rate(buzzwatch_negative_mentions_total{R})) / sum by (brand) (rate(buzzwatch_mentions_total{R}))",
       "{{brand}}")]),
    ("Acceleration of collapsed negatives", "Change of the 10-minute rate of collapsed negatives against the "
     "10 minutes before, per minute: above 0 the negative buzz is growing.", "short",
     [("max by (brand) (buzzwatch_negative_rate_acceleration)", "{{brand}}")]),
    ("Open incidents", "Brands with an open incident, by severity (1 warning, 2 high, 3 critical).", "stat",
     [("max by (brand) (buzzwatch_incident_severity and on (job, instance, brand) (buzzwatch_open_incidents == 1))",
       "{{brand}}")]),
]
DRILL_DOWN = [
    ("$brand: collapsed negatives per minute vs baseline", "Collapsed negatives per minute (an author once an "
     "hour, a pasted text at most 3 times: what the detector counts) and the baseline's expectation.", "short",
     [(f"max(buzzwatch_negative_rate_per_minute{{{B}}})", "collapsed negatives per minute"),
      (f"max(buzzwatch_expected_negative_rate_per_minute{{{B}}})", "expected")]),
    ("$brand: mentions per minute", "All scored mentions and the negative ones, raw: bots and copies included "
     "(the collapsed negatives are in the panel vs baseline).", "short",
     [(f"sum(rate(buzzwatch_mentions_total{{{B}}}{R})) * 60", "mentions"),
      (f"sum(rate(buzzwatch_negative_mentions_total{{{B}}}{R})) * 60", "negative (raw)")]),
    ("$brand: negative share", "Share of the brand's scored mentions that are negative.", "percentunit",
     [(f"sum(rate(buzzwatch_negative_mentions_total{{{B}}}{R})) / sum(rate(buzzwatch_mentions_total{{{B}}}{R}))",
       "negative share")]),
    ("$brand: acceleration of collapsed negatives", "Change of the rate of collapsed negatives per minute; "
     "above 0 it is growing.", "short",
     [(f"max(buzzwatch_negative_rate_acceleration{{{B}}})", "acceleration")]),
    ("$brand: incident", "Severity of the brand's open incident.", "stat",
     [(f"max(buzzwatch_incident_severity{{{B}}})", "severity")]),
    ("$brand: alerts", "Alerts the detector emitted for the brand, by status.", "short",
     [(f"sum by (status) (increase(buzzwatch_alerts_total{{{B}}}{R}))", "{{status}}")]),
    ("$brand: days in the daily digest (7 d)", "Days, over the last week, whose negative share drifted well above "
     "the brand's usual one: the daily digest of slow drifts, which never page.", "stat",
     [(f"sum(increase(buzzwatch_digest_notices_total{{{B}}}[7d]))", "days")]),
]
HEALTH = [
    ("Throughput", "Records read from the mentions topic, mentions scored (by language), sent on to "
     "another partition (not keyed by brand), dropped as unmatched, late or duplicate; per second.", "ops",
     [(f"sum(rate(buzzwatch_ingested_records_total{R}))", "ingested"),
      (f"sum by (lang) (rate(buzzwatch_scored_mentions_total{R}))", "scored {{lang}}"),
      (f"sum(rate(buzzwatch_repartitioned_mentions_total{R}))", "repartitioned"),
      (f"sum(rate(buzzwatch_unmatched_mentions_total{R}))", "unmatched"),
      (f"sum(rate(buzzwatch_late_mentions_total{R}))", "late"),
      (f"sum(rate(buzzwatch_duplicate_mentions_total{R}))", "duplicate")]),
    ("Consumer lag", "Records between the consumer group's position and the end of each topic.", "short",
     [("sum by (topic) (buzzwatch_consumer_lag_records)", "{{topic}}")]),
    ("Processing latency", "From a record's append to the broker to the end of its processing, by stage.", "s",
     [(f"histogram_quantile(0.5, sum by (le, stage) (rate(buzzwatch_processing_latency_seconds_bucket{R})))",
       "p50 {{stage}}"),
      (f"histogram_quantile(0.99, sum by (le, stage) (rate(buzzwatch_processing_latency_seconds_bucket{R})))",
       "p99 {{stage}}")]),
    ("Dead letters", "Records sent to the dead-letter topic per second, by source topic.", "ops",
     [(f"sum by (topic) (rate(buzzwatch_dlq_records_total{R}))", "{{topic}}")]),
    ("Slack deliveries", "Deliveries per second by outcome (posted, updated, duplicate, recovered, refused, ...).",
     "ops",
     [(f"sum by (result) (rate(buzzwatch_slack_deliveries_total{R}))", "{{result}}")]),
    ("Alerts waiting for Slack", "Alerts read and not yet delivered; they wait (offsets uncommitted) while Slack "
     "is unreachable.", "stat", [("max(buzzwatch_slack_pending_alerts)", "pending")]),
    ("Slack buttons: presses and refusals", "Button presses accepted from Slack, by action, and interactivity "
     "requests refused, by reason. not_configured, bad_signature or stale_timestamp mean every press fails: the "
     "signing secret is missing or no longer Slack's, or the clock is off (BuzzwatchSlackButtonsRefused).", "short",
     [(f"sum by (action) (increase(buzzwatch_slack_actions_total{R}))", "{{action}}"),
      (f"sum by (reason) (increase(buzzwatch_slack_rejected_requests_total{R}))", "refused: {{reason}}")]),
    ("Slack delivery time", "Time to deliver one alert to Slack, retries included.", "s",
     [(f"histogram_quantile(0.5, sum by (le) (rate(buzzwatch_slack_delivery_seconds_bucket{R})))", "p50"),
      (f"histogram_quantile(0.95, sum by (le) (rate(buzzwatch_slack_delivery_seconds_bucket{R})))", "p95")]),
    ("Scorer error rate", "Recent error rate of the scorer on labelled feedback, by language.", "percentunit",
     [("max by (lang) (buzzwatch_scorer_error_rate)", "{{lang}}")]),
    ("Workers up", "Workers Prometheus scrapes successfully (job buzzwatch).", "stat",
     [('sum(up{job="buzzwatch"})', "workers")]),
]
ROWS = [("Brand overview", OVERVIEW), ("Brand drill-down: $brand", DRILL_DOWN), ("Pipeline health", HEALTH)]


def build() -> dict[str, Any]:
    """The dashboard as a JSON-ready dict."""
    from grafana_foundation_sdk.builders import common as common_builders
    from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models import common
    from grafana_foundation_sdk.models import dashboard as model

    source = common.DataSourceRef(type_val=DATASOURCE["type"], uid=DATASOURCE["uid"])
    builder = (
        dashboard.Dashboard("buzzwatch")
        .uid(UID)
        .description("Negative buzz per brand against its seasonal baseline, and the health of the pipeline "
                     "(generated by pipeline/devtools/dashboard.py; do not edit in Grafana).")
        .tags(["buzzwatch", "generated"])
        .editable()
        .refresh("1m")
        .time("now-6h", "now")
        .timezone("browser")
        .with_variable(dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus"))
        .with_variable(
            dashboard.QueryVariable("brand").label("Brand").datasource(source)
            .query("label_values(buzzwatch_mentions_total, brand)")
            .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(model.VariableSort.ALPHABETICAL_ASC))
    )
    legend_options = (common_builders.VizLegendOptions().display_mode(common.LegendDisplayMode.LIST)
              .placement(common.LegendPlacement.BOTTOM).show_legend(True).calcs([]))
    tooltip_options = common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI).sort(common.SortOrder.DESCENDING)
    y, ids = 0, iter(range(1, 100))
    for row_title, panels in ROWS:
        builder = builder.with_row(dashboard.Row(row_title).id(next(ids)).grid_pos(model.GridPos(h=1, w=24, x=0, y=y)))
        y += 1
        width = 6 if len(panels) == 4 else 8  # four panels side by side, else three per line
        for n, (title, description, unit, queries) in enumerate(panels):
            pos = model.GridPos(h=8, w=width, x=n * width % 24, y=y + n * width // 24 * 8)
            if unit == "stat":
                panel = stat.Panel().graph_mode(common.BigValueGraphMode.NONE)
                if "incident" in title.lower():
                    panel = panel.color_mode(common.BigValueColorMode.BACKGROUND).mappings([model.ValueMap(
                        {v: model.ValueMappingResult(text=t, color=c) for v, (t, c) in SEVERITIES.items()})])
            else:
                panel = (timeseries.Panel().unit(unit).fill_opacity(10).line_width(1).span_nulls(True)
                         .legend(legend_options).tooltip(tooltip_options))
            panel = panel.id(next(ids)).title(title).description(description).datasource(source).grid_pos(pos)
            for ref, (expr, legend) in zip("ABCDEFGH", queries, strict=False):
                panel = panel.with_target(prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref)
                                          .datasource(source))
            builder = builder.with_panel(panel)
        y += (len(panels) * width - 1) // 24 * 8 + 8
    return json.loads(JSONEncoder(sort_keys=True).encode(builder.build()))


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.devtools.dashboard", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed JSON differs from the generator")
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not args.output.is_file() or args.output.read_text() != text:
            print(f"{args.output} is stale: run `make dashboard`", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
