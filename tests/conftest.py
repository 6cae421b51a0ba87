"""Shared fixtures: streams the project generates itself (never the shared datasets)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from pipeline.core.brands import Brand, BrandMatcher
from pipeline.core.ingest import Ingestor
from pipeline.core.scoring import LexiconScorer
from pipeline.records import ScoredMention, encode
from pipeline.sim.generate import BrandSpec, Episode, StreamSpec, generate

DEMO_BRANDS = [Brand("acme", "Acme Air", handles=("@acme",), slack_channel="#acme"),
               Brand("globex", "Globex", handles=("@globex",), slack_channel="#globex"),
               Brand("initech", "Initech", handles=("@initech",))]


def score_rows(rows: list[dict]) -> list[ScoredMention]:
    ingestor = Ingestor(LexiconScorer(), BrandMatcher(DEMO_BRANDS))
    out = ingestor.run([encode(r) for r in rows])
    return [o for o in out if isinstance(o, ScoredMention)]


def stream(*brands: BrandSpec, hours: float = 29.0, seed: int = 1) -> list[ScoredMention]:
    return score_rows(generate(StreamSpec(start="2026-03-02T03:00:00Z", hours=hours, brands=list(brands)), seed,
                               with_brand=True))


@pytest.fixture(scope="session")
def scorer() -> LexiconScorer:
    return LexiconScorer()


__all__ = ["BrandSpec", "Episode", "stream", "score_rows", "DEMO_BRANDS"]


@contextmanager
def silent_listener() -> Iterator[str]:
    """A loopback ``host:port`` that accepts connections and never answers: a hung broker, or a wrong service."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)  # connections complete in the backlog; none is ever read
        yield f"127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def silent_broker() -> Iterator[str]:
    with silent_listener() as address:
        yield address
