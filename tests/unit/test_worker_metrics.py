"""The worker's /metrics: counters a rule reads with increase() exist at 0 before any event, and a
brand's gauges leave with the brand when a rebalance moves its partition to another worker."""

from __future__ import annotations

import asyncio

import pytest
from faust.types import TP
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pipeline.core.brands import Brand
from pipeline.core.langid import UND
from pipeline.core.monitor import add_mention
from pipeline.core.scoring import LANGS
from pipeline.metrics import OTHER, Metrics
from pipeline.notify.interact import REJECTIONS
from pipeline.notify.slack import DELIVERY_RESULTS
from pipeline.records import ALERT_STATUSES, FEEDBACK_ACTIONS, SEVERITIES
from pipeline.settings import Settings
from pipeline.stream.app import _export_gauges, brand_partition, build_app
from tests.conftest import BrandSpec, Episode, stream

RATES = ("buzzwatch_negative_rate_per_minute", "buzzwatch_expected_negative_rate_per_minute",
         "buzzwatch_negative_rate_acceleration")
INCIDENT = ("buzzwatch_open_incidents", "buzzwatch_incident_severity")  # the only gauges _other has
GAUGES = RATES + INCIDENT


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


def held_partitions(settings: Settings, *brands: str) -> set[TP]:
    """An assignment: the partitions of ``brands`` in every topic the worker reads."""
    parts = {brand_partition(b.encode(), settings.topic_partitions) for b in brands}
    return {TP(topic, p) for p in parts for topic in (settings.topic_mentions, settings.topic_scored)}


def until_acme_is_open(app) -> None:
    """Acme's negative burst up to its incident, globex's an hour earlier (evaluated: its gauges are set),
    and initech's quiet mentions (in memory; a brand the pre-filter finds quiet is not evaluated)."""
    monitor = app.buzzwatch_monitor
    burst = Episode("negative", 26 * 60, doubling_min=8, start_per_hour=10, peak_min=50)
    earlier = Episode("negative", 25 * 60, doubling_min=8, start_per_hour=10, peak_min=50)
    for m in stream(BrandSpec("acme", 90, episodes=(burst,)), BrandSpec("globex", 90, episodes=(earlier,)),
                    BrandSpec("initech", 60)):
        add_mention(monitor, m)
        monitor.advance()
        if monitor.brands["acme"].incident:
            break
    assert "initech" in monitor.brands
    for brand in list(monitor.brands):
        _export_gauges(app.buzzwatch_metrics, monitor, brand)  # as write_states does at each commit


@pytest.fixture(scope="module")
def partitions() -> dict[str, int]:
    return {b: brand_partition(b.encode(), Settings().topic_partitions) for b in ("acme", "globex", "initech")}


def test_a_moved_brands_gauges_leave_with_it_and_a_held_brands_stay(tmp_path, partitions):
    """The old owner must not go on exporting the moved brand's open incident (BuzzwatchNegativeBuzz
    takes ``max by (brand)``: its stale critical would keep the alert firing)."""
    assert len(set(partitions.values())) == 3  # each brand in a partition of its own
    settings, app = worker(tmp_path, [Brand(b, b.title()) for b in partitions])
    until_acme_is_open(app)
    before = exposed(app.buzzwatch_registry)
    assert values(before, "buzzwatch_open_incidents", "brand")["acme"] == 1
    assert values(before, "buzzwatch_incident_severity", "brand")["acme"] >= 1
    for name in GAUGES:
        assert {"acme", "globex"} <= set(values(before, name, "brand")), name

    asyncio.run(app.on_partitions_assigned.send(assigned=held_partitions(settings, "globex", "initech")))

    after = exposed(app.buzzwatch_registry)
    assert "acme" not in app.buzzwatch_monitor.brands
    for name in GAUGES:
        assert set(values(after, name, "brand")) == set(values(before, name, "brand")) - {"acme"}, name
        assert values(after, name, "brand")["globex"] == values(before, name, "brand")["globex"], name
    # Counters stay: Prometheus sums them over the workers, and a reset is what rate() expects.
    assert values(after, "buzzwatch_mentions_total", "brand") == values(before, "buzzwatch_mentions_total", "brand")


def test_the_shared_other_label_stays_while_a_held_brand_counts_under_it(tmp_path, partitions):
    """With a brands file of globex only, acme and initech are both ``_other``: acme moving away leaves
    ``_other`` to initech; initech moving too removes it."""
    settings, app = worker(tmp_path, [Brand("globex", "Globex")])
    until_acme_is_open(app)
    assert OTHER in values(exposed(app.buzzwatch_registry), "buzzwatch_open_incidents", "brand")

    asyncio.run(app.on_partitions_assigned.send(assigned=held_partitions(settings, "globex", "initech")))
    kept = exposed(app.buzzwatch_registry)
    for name in GAUGES:
        assert set(values(kept, name, "brand")) == ({"globex", OTHER} if name in INCIDENT else {"globex"}), name

    asyncio.run(app.on_partitions_assigned.send(assigned=held_partitions(settings, "globex")))
    gone = exposed(app.buzzwatch_registry)
    for name in GAUGES:
        assert set(values(gone, name, "brand")) == {"globex"}, name


def test_other_shows_the_worst_incident_of_its_brands_and_no_rates(tmp_path, partitions):
    """With a brands file of globex only, acme (an open incident) and initech (quiet) share ``_other``.
    Whichever was written last stood for both: initech's 0 hid acme's incident from BuzzwatchNegativeBuzz,
    and one brand's rates read as the group's."""
    settings, app = worker(tmp_path, [Brand("globex", "Globex")])
    until_acme_is_open(app)
    monitor, metrics = app.buzzwatch_monitor, app.buzzwatch_metrics
    acme = SEVERITIES.index(monitor.brands["acme"].incident["severity"]) + 1
    for brand in ("acme", "initech"):  # the quiet brand written last
        _export_gauges(metrics, monitor, brand)
    series = exposed(app.buzzwatch_registry)
    assert values(series, "buzzwatch_incident_severity", "brand")[OTHER] == acme >= 1
    assert values(series, "buzzwatch_open_incidents", "brand")[OTHER] == 1
    for name in RATES:
        assert set(values(series, name, "brand")) == {"globex"}, name

    # acme moves to another worker (which reports it now): what stays under _other here is initech, quiet.
    asyncio.run(app.on_partitions_assigned.send(assigned=held_partitions(settings, "globex", "initech")))
    after = exposed(app.buzzwatch_registry)
    for name in INCIDENT:
        assert values(after, name, "brand")[OTHER] == 0, name
