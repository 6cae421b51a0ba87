"""The worker's /metrics: counters a rule reads with increase() exist at 0 before any event."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pipeline.core.brands import Brand
from pipeline.core.langid import UND
from pipeline.core.scoring import LANGS
from pipeline.metrics import OTHER, Metrics
from pipeline.notify.interact import REJECTIONS
from pipeline.notify.slack import DELIVERY_RESULTS
from pipeline.records import ALERT_STATUSES, FEEDBACK_ACTIONS
from pipeline.settings import Settings
from pipeline.stream.app import build_app


def exposed(registry: CollectorRegistry) -> dict[tuple[str, frozenset], float]:
    """What /metrics answers: (series name, labels) -> value."""
    text = generate_latest(registry).decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def values(series: dict[tuple[str, frozenset], float], name: str, label: str) -> dict[str, float]:
    """The series ``name`` by the value of its label ``label``."""
    return {dict(labels)[label]: v for (n, labels), v in series.items() if n == name}


def worker(tmp_path, brands: list[Brand]):
    settings = Settings(scorer_processes=1, store="memory://", data_dir=str(tmp_path))  # no scorer built here
    return settings, build_app(settings, brands, sink=None, registry=CollectorRegistry())


def test_counters_the_rules_read_with_increase_are_exposed_at_0_before_any_event(tmp_path):
    """A series first seen at 1 is invisible to increase(): the first refused delivery would not page."""
    _, app = worker(tmp_path, [Brand("acme", "Acme")])
    series = exposed(app.buzzwatch_registry)
    assert values(series, "buzzwatch_slack_deliveries_total", "result") == dict.fromkeys(DELIVERY_RESULTS, 0.0)
    assert "refused" in DELIVERY_RESULTS
    assert values(series, "buzzwatch_scorer_drifts_total", "lang") == dict.fromkeys((*LANGS, UND), 0.0)
    assert values(series, "buzzwatch_slack_rejected_requests_total", "reason") == dict.fromkeys(REJECTIONS, 0.0)
    assert values(series, "buzzwatch_slack_actions_total", "action") == dict.fromkeys(FEEDBACK_ACTIONS, 0.0)
    alerts = {(dict(labels)["brand"], dict(labels)["status"]): v for (n, labels), v in series.items()
              if n == "buzzwatch_alerts_total"}
    assert alerts == {(brand, status): 0.0 for brand in ("acme", OTHER) for status in ALERT_STATUSES}


def test_without_a_brands_file_a_brands_alerts_exist_at_0_from_its_first_label():
    registry = CollectorRegistry()
    metrics = Metrics(registry, max_brands=1)
    assert metrics.brand("acme") == "acme" and metrics.brand("globex") == OTHER
    alerts = {(dict(labels)["brand"], dict(labels)["status"]): v for (n, labels), v in exposed(registry).items()
              if n == "buzzwatch_alerts_total"}
    assert alerts == {(brand, status): 0.0 for brand in ("acme", OTHER) for status in ALERT_STATUSES}
