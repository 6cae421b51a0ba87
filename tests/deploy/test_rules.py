"""The Prometheus rules file: promtool checks it and runs its unit tests; its metrics are the worker's."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import yaml
from deploykit import ROOT, RULES

RULES_TEST = ROOT / "tests" / "prometheus" / "rules_test.yaml"


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, input=stdin.decode() if stdin else None, capture_output=True, text=True, timeout=60)


def alerts() -> list[dict]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r]


def test_promtool_check_rules(promtool: str) -> None:
    out = run(promtool, "check", "rules", str(RULES))
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_unit_tests_pass(promtool: str) -> None:
    out = run(promtool, "test", "rules", str(RULES_TEST))
    assert out.returncode == 0, out.stdout + out.stderr


def test_worker_exposition_passes_promtool_check_metrics(promtool: str, exposition: bytes) -> None:
    assert b"buzzwatch_slack_deliveries_total{" in exposition  # every metric is present, labels included
    out = run(promtool, "check", "metrics", stdin=exposition)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_rule_uses_only_metrics_the_worker_exposes(check_names: Callable[[str], list[str]]) -> None:
    unknown = {r["alert"]: check_names(r["expr"]) for r in alerts()}
    assert not {k: v for k, v in unknown.items() if v}, unknown


def test_every_alert_is_tested_firing_and_silent() -> None:
    cases = [c for t in yaml.safe_load(RULES_TEST.read_text())["tests"] for c in t.get("alert_rule_test", [])]
    fires = {c["alertname"] for c in cases if c.get("exp_alerts")}
    silent = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    names = {r["alert"] for r in alerts()}
    assert names - fires == set(), "never tested firing"
    assert names - silent == set(), "never tested silent"


def test_every_alert_has_severity_summary_and_description() -> None:
    for rule in alerts():
        assert rule["labels"].get("severity"), rule["alert"]
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]


def test_rules_test_points_at_the_chart_file() -> None:
    files = yaml.safe_load(RULES_TEST.read_text())["rule_files"]
    assert [(RULES_TEST.parent / f).resolve() for f in files] == [RULES.resolve()]
    assert Path(RULES).is_file()
