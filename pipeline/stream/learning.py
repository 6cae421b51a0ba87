"""The scorer learns from labelled texts on the ``feedback`` topic - once - and keeps what it learned.

Labels (``schemas/label.schema.json``, written by ``buzzwatch feedback FILE``) share the
``feedback`` topic with Slack button presses and are keyed ``scorer``, so they all land in one
partition and one worker learns each of them. A label whose id the scorer has already learned is
skipped (the ids travel in the scorer's state), so a redelivered or replayed label never trains
twice. After each batch the learned state is written to a table - one key per language plus
``meta`` (error monitors and seen ids), to stay far below Kafka's message size - and restored
from it when the worker starts again. Workers that do not own the ``scorer`` partition pick up
a newer state from the same table when it reaches them (``sync``).

:class:`FeedbackLearner` is the logic, driven by any mapping as the table; the Faust agent and
timer in :mod:`pipeline.stream.app` only feed it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

import orjson

from pipeline.core.scoring import Scorer
from pipeline.errors import InvalidRecord
from pipeline.metrics import Metrics
from pipeline.records import is_label, label_from_dict

META = "meta"


class FeedbackLearner:
    """Learns label records into the current scorer, persists and restores its state."""

    def __init__(self, get_scorer: Callable[[], Scorer], set_scorer: Callable[[Scorer], None],
                 table: MutableMapping[str, Any], metrics: Metrics) -> None:
        self.get_scorer = get_scorer
        self.set_scorer = set_scorer
        self.table = table
        self.metrics = metrics
        self.version = 0  # the table version the current scorer holds
        self._drifts: dict[str, int] = {}

    def apply(self, raws: Iterable[bytes], dead_letter: Callable[[int, str], None]) -> int:
        """Learn the labels among ``raws`` (other feedback records are not ours); a bad label is
        handed to ``dead_letter(its index, reason)``. Returns how many were learned (new ids)."""
        self.sync()  # never save over a newer state (this worker just restarted)
        scorer: Scorer | None = None  # fetched at the first label (it may be built then: stream/app.py)
        learned = 0
        for i, raw in enumerate(raws):
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue  # not JSON: the Slack feedback agent dead-letters it
            if not is_label(obj):
                continue
            try:
                rec = label_from_dict(obj)
            except InvalidRecord as exc:
                dead_letter(i, exc.reason)
                continue
            scorer = scorer or self.get_scorer()
            if scorer.learn_one(rec["text"], rec["label"], rec.get("lang"), feedback_id=rec["id"]):
                learned += 1
                self.metrics.feedback.labels(rec.get("source") or "file").inc()
        if scorer is not None and learned:
            self.save(scorer)
        if scorer is not None:
            self.export(scorer)
        return learned

    def save(self, scorer: Scorer) -> None:
        state = scorer.to_state()
        self.version += 1
        for lang, model in state.get("models", {}).items():
            self.table[f"model:{lang}"] = model
        self.table[META] = {**{k: v for k, v in state.items() if k != "models"}, "table_version": self.version,
                            "langs": sorted(state.get("models", {}))}

    def sync(self) -> bool:
        """Load the table's state if it is newer than the scorer's (after a restart, or learned
        by the worker that owns the labels' partition). True if it loaded one."""
        meta = self.table.get(META)
        if not meta or meta.get("table_version", 0) <= self.version:
            return False
        models = {lang: self.table.get(f"model:{lang}") for lang in meta.get("langs", [])}
        if any(m is None for m in models.values()):
            return False  # not all of it has arrived yet: next time
        state = {k: v for k, v in meta.items() if k not in ("table_version", "langs")}
        state["models"] = models
        scorer = Scorer.from_state(state)
        self.set_scorer(scorer)
        self.version = meta["table_version"]
        self.export(scorer)
        return True

    def export(self, scorer: Scorer) -> None:
        """The scorer's recent error rate on feedback, and drifts detected since the last export."""
        for lang, (rate, drifts) in scorer.drift_stats().items():
            self.metrics.scorer_error_rate.labels(lang).set(rate)
            new = drifts - self._drifts.get(lang, 0)
            if new > 0:
                self.metrics.scorer_drifts.labels(lang).inc(new)
            self._drifts[lang] = drifts
