"""The Grafana dashboard: generated in code, committed as JSON, valid against Grafana's schemas (../shared/grafana-schemas,
skipped where ../shared is absent), and querying only what the worker exposes (each query also passes promtool as a
recording rule)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
import yaml
from deploykit import CHART, required_module, shared_schemas

COMMITTED = CHART / "dashboards" / "buzzwatch.json"


@pytest.fixture(scope="module")
def generated() -> str:
    required_module("grafana_foundation_sdk")
    from pipeline.devtools.dashboard import render

    return render()


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(COMMITTED.read_text())


def schema(kind: str, definition: str | None = None) -> dict:
    grafana = shared_schemas("grafana-schemas", "Grafana dashboard")
    doc = json.loads((grafana / f"{kind}.jsonschema.json").read_text())
    return doc if definition is None else {**doc, "$ref": f"#/definitions/{definition}"}


def errors(instance: object, against: dict, where: str) -> list[str]:
    validator = jsonschema.Draft7Validator(against)
    return [f"{where} at {'.'.join(map(str, e.absolute_path)) or '/'}: {e.message[:200]}"
            for e in validator.iter_errors(instance)]


def queries(dashboard: dict) -> list[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    return exprs + [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]


def test_committed_json_is_the_generators_output(generated: str) -> None:
    assert COMMITTED.read_text() == generated, "stale: run `make dashboard`"


def test_dashboard_matches_grafana_schemas_panel_by_panel(dashboard: dict) -> None:
    """The dashboard without panels, then each panel, its options, field config and queries on their own."""
    found = errors({**dashboard, "panels": []}, schema("dashboard"), "dashboard")
    for panel in dashboard["panels"]:
        where = f"panel {panel['id']} {panel['title']!r}"
        found += errors(panel, schema("dashboard", "RowPanel" if panel["type"] == "row" else "Panel"), where)
        if panel["type"] in ("timeseries", "stat"):
            found += errors(panel.get("options", {}), schema(panel["type"], "Options"), where + " options")
        if panel["type"] == "timeseries":
            custom = panel["fieldConfig"]["defaults"].get("custom", {})
            found += errors(custom, schema("timeseries", "FieldConfig"), where + " custom field config")
        for target in panel.get("targets", []):
            found += errors(target, schema("prometheus"), f"{where} query {target['refId']}")
    assert not found, "\n".join(found)


def test_rows_variable_and_layout(dashboard: dict) -> None:
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == ["Brand overview", "Brand drill-down: $brand", "Pipeline health"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["brand"]["query"] == "label_values(buzzwatch_mentions_total, brand)"
    assert variables["datasource"]["type"] == "datasource"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
    drill_down = [t["expr"] for p in dashboard["panels"] if p["title"].startswith("$brand") for t in p["targets"]]
    assert drill_down and all('brand="$brand"' in e for e in drill_down)
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for needed in ("baseline", "share", "acceleration", "incident", "throughput", "lag", "latency",
                   "dead letters", "slack"):
        assert needed in titles, needed


def test_every_query_uses_only_metrics_the_worker_declares(dashboard: dict,
                                                           check_names: Callable[[str], list[str]]) -> None:
    unknown = {q: check_names(q) for q in queries(dashboard)}
    assert not {q: u for q, u in unknown.items() if u}
    names = {n for q in queries(dashboard) for n in re.findall(r"\b([a-z_:][a-z0-9_:]*)\s*[{\[(]?", q)}
    assert {"buzzwatch_mentions_total", "buzzwatch_consumer_lag_records"} <= names


def test_every_query_passes_promtool_as_a_recording_rule(dashboard: dict, promtool: str, tmp_path: Path) -> None:
    exprs = [q.replace("$__rate_interval", "5m").replace("$brand", "acme")
             for q in queries(dashboard) if not q.startswith("label_values(")]
    rules = {"groups": [{"name": "dashboard", "rules": [{"record": f"buzzwatch:panel_{n}", "expr": e}
                                                         for n, e in enumerate(exprs)]}]}
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    out = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
