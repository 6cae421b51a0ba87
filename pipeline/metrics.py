"""Every Prometheus metric buzzwatch exposes, declared in one place with an injected registry.

Brand labels are bounded: with a brands file only its brands get their own label (others are
``_other``, which has no per-brand rates: see ``set_brand_gauges``); without one, the first
``max_brands`` brands seen do. Mention or user ids are never labels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from pipeline.records import ALERT_STATUSES, FEEDBACK_ACTIONS

OTHER = "_other"


class Metrics:
    def __init__(self, registry: CollectorRegistry, brands: Iterable[str] | None = None,
                 max_brands: int = 1000, *, results: Iterable[str] = (), langs: Iterable[str] = (),
                 rejections: Iterable[str] = ()) -> None:
        self.registry = registry
        self._fixed = set(brands) if brands is not None else None
        self._seen: set[str] = set()
        self._max = max_brands
        r = registry
        self.mentions = Counter("buzzwatch_mentions", "Scored mentions counted in the brand's windows.",
                                ["brand"], registry=r)
        self.negatives = Counter("buzzwatch_negative_mentions", "Mentions scored negative (raw: bots and copies "
                                 "included).", ["brand"], registry=r)
        # The detector's numbers: collapsed negatives (an author once an hour, a pasted text at most 3
        # times), fewer than buzzwatch_negative_mentions_total counts when bots or one account flood.
        self.negative_rate = Gauge("buzzwatch_negative_rate_per_minute",
                                   "Collapsed negatives (an author once an hour, a pasted text at most 3 times) "
                                   "per minute over the last 10 minutes of event time (no _other series).",
                                   ["brand"], registry=r)
        self.expected_rate = Gauge("buzzwatch_expected_negative_rate_per_minute",
                                   "Collapsed negatives per minute the brand's seasonal baseline expects now "
                                   "(no _other series).", ["brand"], registry=r)
        self.acceleration = Gauge("buzzwatch_negative_rate_acceleration",
                                  "Change of the 10-minute rate of collapsed negatives against the 10 minutes "
                                  "before, per minute (no _other series).", ["brand"], registry=r)
        self.open_incidents = Gauge("buzzwatch_open_incidents", "1 while the brand has an open incident (_other: "
                                    "while any brand counted under it does).", ["brand"], registry=r)
        self.alerts = Counter("buzzwatch_alerts", "Alerts emitted by the detector.", ["brand", "status"], registry=r)
        self.digest = Counter("buzzwatch_digest_notices", "Days a brand's negative share drifted up (daily digest, never paged).",
                              ["brand"], registry=r)
        self.ingested = Counter("buzzwatch_ingested_records", "Records read from the mentions topic.", registry=r)
        self.detected = Counter("buzzwatch_detect_records", "Scored mentions taken into the windows (counted, "
                                "recognised as duplicates, or too late): where they were scored, or from the "
                                "scored topic.", registry=r)
        self.repartitioned = Counter("buzzwatch_repartitioned_mentions", "Scored mentions sent on to their brand's "
                                     "partition through the scored topic (not keyed by brand at the source, or "
                                     "that partition is another worker's).", registry=r)
        self.batch_records = Histogram("buzzwatch_batch_records", "Records per fetch a stage takes in one call "
                                       "(a live trickle comes in small batches, which cost more per record).",
                                       ["stage"], registry=r, buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000))
        self.dlq = Counter("buzzwatch_dlq_records", "Records sent to the dead-letter topic.", ["topic"], registry=r)
        self.unmatched = Counter("buzzwatch_unmatched_mentions", "Valid mentions about no configured brand, dropped.",
                                 registry=r)
        self.too_late = Counter("buzzwatch_late_mentions", "Mentions for a bucket already final (later than the grace, or re-read after a restart): not counted.",
                                registry=r)
        self.duplicates = Counter("buzzwatch_duplicate_mentions", "Mentions already counted (same id in the bucket, or an offset already applied): not counted again.",
                                  registry=r)
        self.latency = Histogram("buzzwatch_processing_latency_seconds",
                                 "From a record's append to the broker to the end of its processing.",
                                 ["stage"], registry=r,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5,
                                          0.75, 1, 2.5, 5, 10, 30))  # fine near the 250 ms target
        self.slack_deliveries = Counter("buzzwatch_slack_deliveries", "Slack deliveries by outcome.",
                                        ["result"], registry=r)
        self.slack_latency = Histogram("buzzwatch_slack_delivery_seconds",
                                       "Time to deliver one alert to Slack, retries included.", registry=r)
        self.slack_pending = Gauge("buzzwatch_slack_pending_alerts",
                                   "Alerts read from the alerts topic and not yet delivered to Slack.", registry=r)
        self.slack_actions = Counter("buzzwatch_slack_actions", "Button presses accepted from Slack (signed).",
                                     ["action"], registry=r)
        self.slack_rejected = Counter("buzzwatch_slack_rejected_requests",
                                      "Interactivity requests refused (bad signature, stale timestamp, bad body).",
                                      ["reason"], registry=r)
        self.incident_severity = Gauge("buzzwatch_incident_severity",
                                       "Severity of the brand's open incident: 0 none, 1 warning, 2 high, 3 critical "
                                       "(_other: the worst of the brands counted under it).", ["brand"], registry=r)
        self.consumer_lag = Gauge("buzzwatch_consumer_lag_records",
                                  "Records between the group's position and the end of the partition.",
                                  ["topic", "partition"], registry=r)
        self.brands_in_memory = Gauge("buzzwatch_brands_in_memory",
                                      "Brands whose detector is in this worker's memory; idle ones wait in the "
                                      "brand-state table until their next mention.", registry=r)
        self.scored = Counter("buzzwatch_scored_mentions", "Mentions scored, by detected language "
                              "('und' when no supported language was recognised: the fallback model scored it).",
                              ["lang"], registry=r)
        self.feedback = Counter("buzzwatch_feedback_records", "Labelled feedback records learned from.",
                                ["source"], registry=r)
        self.scorer_error_rate = Gauge("buzzwatch_scorer_error_rate",
                                       "Recent error rate of the scorer on labelled feedback.", ["lang"], registry=r)
        self.scorer_drifts = Counter("buzzwatch_scorer_drifts", "Drifts of the scorer's error rate detected.",
                                     ["lang"], registry=r)

        # Each brand's last evaluation: set by the worker holding the brand, removed when it moves away.
        self.brand_gauges = (self.negative_rate, self.expected_rate, self.acceleration, self.open_incidents,
                             self.incident_severity)
        self._other_severity: dict[str, int] = {}  # brands under _other with an open incident -> its severity

        # Counters that rules and panels read with increase() exist at 0 from the start: prometheus_client
        # creates a labelled series at its first inc(), and increase() cannot see a series whose first
        # sample is already 1 - the first refused delivery would never page. Per brand (alerts by
        # status, days in the digest): from the start with a brands file, else from its first mention.
        # ``results``, ``langs`` and ``rejections`` are the label values their code can emit (the
        # worker passes them; importing the scorer or the notifier here would slow every import).
        for result in results:
            self.slack_deliveries.labels(result)
        for lang in langs:
            self.scorer_drifts.labels(lang)
        for reason in rejections:
            self.slack_rejected.labels(reason)
        for action in FEEDBACK_ACTIONS:
            self.slack_actions.labels(action)
        for label in (*sorted(self._fixed or ()), OTHER):
            self._zero_brand(label)

    def _zero_brand(self, label: str) -> None:
        """A brand label's counters read with increase(), at 0: its alerts by status, its digest days."""
        self.digest.labels(label)
        for status in ALERT_STATUSES:
            self.alerts.labels(label, status)

    def brand(self, brand: str) -> str:
        """The label value for a brand: itself if known / within the bound, else ``_other``."""
        if self._fixed is not None:
            return brand if brand in self._fixed else OTHER
        if brand in self._seen:
            return brand
        if len(self._seen) < self._max:
            self._seen.add(brand)
            self._zero_brand(brand)
            return brand
        return OTHER

    def set_brand_gauges(self, brand: str, rate: float, expected: float, acceleration: float, severity: int) -> None:
        """A brand's last evaluation (``severity`` 0: no open incident). Brands beyond the label bound
        share ``_other``, where the last one written would stand for all of them - a quiet brand would
        hide another's critical incident from BuzzwatchNegativeBuzz. So ``_other`` gets no rates (one
        brand's would read as the group's) and the worst incident of the brands under it."""
        label = self.brand(brand)
        if label != OTHER:
            self.negative_rate.labels(label).set(rate)
            self.expected_rate.labels(label).set(expected)
            self.acceleration.labels(label).set(acceleration)
            self.open_incidents.labels(label).set(1 if severity else 0)
            self.incident_severity.labels(label).set(severity)
            return
        if severity:
            self._other_severity[brand] = severity
        else:
            self._other_severity.pop(brand, None)
        self._set_other_incident()

    def _set_other_incident(self) -> None:
        worst = max(self._other_severity.values(), default=0)
        self.open_incidents.labels(OTHER).set(1 if worst else 0)
        self.incident_severity.labels(OTHER).set(worst)

    def drop_brand_gauges(self, held: Callable[[str], bool], in_memory: Iterable[str]) -> list[str]:
        """Remove the per-brand gauges of the labels whose brand this worker no longer holds
        (``held(brand)`` false: its partition moved); returns the labels removed.

        prometheus_client exports a label's last value until it is removed: the old owner of a moved
        brand would go on reporting its open incident - a critical one kept BuzzwatchNegativeBuzz
        firing (``max by (brand)``) - until it restarted. ``_other`` is shared: it stays while a brand
        still in memory (``in_memory``) counts under it.
        """
        other_held = any(self._counts_as_other(b) for b in in_memory)
        labels = {s.labels["brand"] for g in self.brand_gauges for m in g.collect() for s in m.samples}
        gone = sorted(label for label in labels if not (other_held if label == OTHER else held(label)))
        for gauge in self.brand_gauges:
            for label in gone:
                gauge.remove(label)  # a label this gauge lacks is left alone
        self._other_severity = {b: s for b, s in self._other_severity.items() if held(b)}
        if other_held and OTHER in labels:  # the worst of the incidents still here
            self._set_other_incident()
        return gone

    def _counts_as_other(self, brand: str) -> bool:
        """Whether ``brand`` is counted under ``_other`` (``brand`` without giving it a label)."""
        if self._fixed is not None:
            return brand not in self._fixed
        return brand not in self._seen and len(self._seen) >= self._max
