"""Fixtures for the deployment tests: promtool, the metrics the worker declares."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from deploykit import required_tool, touched_metrics, undeclared
from prometheus_client import generate_latest


@pytest.fixture(scope="session")
def promtool() -> str:
    return required_tool("promtool", "Debian package `prometheus`: apt-get install prometheus")


@pytest.fixture(scope="session")
def exposition() -> bytes:
    """What the worker's /metrics would answer with every metric present."""
    return generate_latest(touched_metrics().registry)


@pytest.fixture(scope="session")
def declared_series(exposition: bytes) -> set[str]:
    """Every series name the worker exposes (counters with `_total`, histograms' `_bucket`/`_sum`/`_count`)."""
    names = set()
    for line in exposition.decode().splitlines():
        if line and not line.startswith("#"):
            names.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    return names


@pytest.fixture(scope="session")
def check_names(declared_series: set[str]) -> Callable[[str], list[str]]:
    return lambda expr: undeclared(expr, declared_series)
