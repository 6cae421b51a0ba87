"""A real Prometheus (Debian's package) scrapes a worker fed by the replayed demo stream: every
dashboard query returns data and every alert rule evaluates without error."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pipeline.devtools.broker import free_port
from pipeline.sim.generate import demo_spec, generate
from tests.integration.conftest import replay, write_jsonl

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "helm" / "buzzwatch" / "dashboards" / "buzzwatch.json"
RULES = ROOT / "helm" / "buzzwatch" / "files" / "prometheus-rules.yaml"
MALFORMED = b'{"id": "bad-1", "text": "@acme broken record", "created_at": "not a time"}'


class Prometheus:
    def __init__(self, workdir: Path, target: str) -> None:
        self.port = free_port()
        config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                  "rule_files": [str(RULES)],
                  "scrape_configs": [{"job_name": "buzzwatch", "static_configs": [{"targets": [target]}]}]}
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = open(workdir / "prometheus.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [shutil.which("prometheus") or "prometheus", f"--config.file={workdir / 'prometheus.yml'}",
             f"--storage.tsdb.path={workdir / 'tsdb'}", f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def api(self, path: str, **params: str) -> dict:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as resp:
            return json.loads(resp.read())

    def query(self, expr: str) -> list[dict]:
        answer = self.api("query", query=expr)
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture
def prometheus_for(tmp_path: Path) -> Iterator:
    if shutil.which("prometheus") is None:
        message = "prometheus not found (Debian package `prometheus`; .ci/run installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    started: list[Prometheus] = []

    def start(target: str) -> Prometheus:
        started.append(Prometheus(tmp_path, target))
        return started[-1]

    yield start
    for p in started:
        p.stop()


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except OSError:  # not listening yet
            value = None
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def dashboard_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"].replace("$__rate_interval", "1m").replace("$brand", "acme"))
            for p in dashboard["panels"] for t in p.get("targets", [])]


def test_every_dashboard_query_returns_series_and_every_rule_evaluates(
        broker, slack, start_worker, prometheus_for, tmp_path):
    worker = start_worker()
    prometheus = prometheus_for(f"127.0.0.1:{worker.metrics_port}")
    wait_until(lambda: prometheus.query('up{job="buzzwatch"} == 1'), 30, "Prometheus scraping the worker")
    rows = generate(demo_spec(), seed=7)
    replay(write_jsonl(tmp_path / "stream.jsonl", [*rows[:100], MALFORMED, *rows[100:]]), broker.bootstrap)
    # Labels through `buzzwatch feedback`: the scorer's error-rate gauge exists once learning began.
    labels = write_jsonl(tmp_path / "labels.jsonl", [
        {"id": f"lab-{i}", "text": f"gate agent left us waiting {i} hours", "label": "negative", "source": "analyst"}
        for i in range(5)])
    subprocess.run([sys.executable, "-m", "pipeline.cli", "feedback", str(labels), "--bootstrap", broker.bootstrap],
                   check=True, timeout=60, cwd=ROOT)
    wait_until(lambda: [m for m in slack.messages() if m["channel"] == "#acme-oncall"], 90, "the acme alert in Slack")
    wait_until(lambda: prometheus.query("buzzwatch_slack_deliveries_total"), 30, "Slack deliveries scraped")
    wait_until(lambda: prometheus.query("buzzwatch_scorer_error_rate"), 30, "the scorer's error rate scraped")
    time.sleep(3)  # a few more scrapes: rates need two samples

    # Every metric a panel reads is exposed, and every panel returns data.
    exposed = {line.split("{")[0].split(" ")[0] for line in worker.metrics().splitlines() if not line.startswith("#")}
    missing = {m for _, expr in dashboard_queries() for m in re.findall(r"\bbuzzwatch_\w+", expr)} - exposed
    assert not missing, f"the worker does not expose {missing}"
    empty = [(title, expr) for title, expr in dashboard_queries() if not prometheus.query(expr)]
    assert not empty, empty
    assert {s["metric"]["brand"] for s in prometheus.query("count by (brand) (buzzwatch_mentions_total)")} >= {
        "acme", "globex", "initech"}, "the brand variable has values"

    groups = wait_until(lambda: [g for g in prometheus.api("rules")["data"]["groups"]
                                 if all(not r.get("lastEvaluation", "0001").startswith("0001") for r in g["rules"])],
                        30, "the rules evaluated")
    names = {g["name"] for g in groups}
    assert names == {g["name"] for g in yaml.safe_load(RULES.read_text())["groups"]}
    broken = [(r["name"], r.get("lastError")) for g in groups for r in g["rules"] if r["health"] != "ok"]
    assert not broken, broken
