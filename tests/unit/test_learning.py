"""The scorer learns labels from the feedback topic once, persists them, and a restart restores them."""

from __future__ import annotations

import orjson
from prometheus_client import CollectorRegistry

from pipeline.core.scoring import Scorer
from pipeline.metrics import Metrics
from pipeline.stream.learning import FeedbackLearner

TEXT = "the lounge wifi situation is whatever"


def learner(table: dict, registry: CollectorRegistry) -> tuple[FeedbackLearner, dict]:
    holder = {"scorer": Scorer()}
    return FeedbackLearner(lambda: holder["scorer"], lambda s: holder.update(scorer=s), table,
                           Metrics(registry)), holder


def labels(n: int, start: int = 0) -> list[bytes]:
    return [orjson.dumps({"id": f"l{i}", "text": f"{TEXT} {i % 3}", "label": "negative", "source": "analyst"})
            for i in range(start, start + n)]


def test_labels_are_learned_once_persisted_and_restored_after_a_restart():
    table: dict = {}
    registry = CollectorRegistry()
    first, holder = learner(table, registry)
    before = holder["scorer"].score(TEXT).negativity
    dead: list[tuple[int, str]] = []
    slack_press = orjson.dumps({"source": "slack", "action": "acknowledge", "incident_id": "x", "brand": "acme",
                                "user_id": "U1", "at": "2026-03-02T00:00:00Z"})
    bad = orjson.dumps({"id": "b1", "text": "x", "label": "furious"})
    assert first.apply(labels(30) + [slack_press, bad], lambda i, why: dead.append((i, why))) == 30
    assert dead == [(31, dead[0][1])] and "label: expected one of" in dead[0][1]  # the press (30) is not ours
    after = holder["scorer"].score(TEXT).negativity
    assert after > before
    assert registry.get_sample_value("buzzwatch_feedback_records_total", {"source": "analyst"}) == 30
    # Replayed labels (same ids) teach nothing: the state is unchanged.
    assert first.apply(labels(30), lambda i, why: None) == 0
    assert holder["scorer"].score(TEXT).negativity == after
    # A restarted worker (fresh scorer, same table) scores exactly as before the restart.
    second, holder2 = learner(table, CollectorRegistry())
    assert second.sync() and holder2["scorer"].score(TEXT).negativity == after
    assert second.apply(labels(30), lambda i, why: None) == 0
