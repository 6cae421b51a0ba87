"""Helpers shared by the deployment tests (imported by name: pytest puts this directory on sys.path)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from pipeline.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "buzzwatch"
RULES = CHART / "files" / "prometheus-rules.yaml"
SCHEMAS = Path(__file__).resolve().parent / "schemas"  # only the KEDA schemas, written for these tests
# The team's shared data (schemas from upstream projects): used in place, never copied into the project.
SHARED = Path(os.environ.get("BUZZWATCH_SHARED_DIR") or ROOT.parent / "shared")
SHARED_NAME = os.environ.get("BUZZWATCH_SHARED_DIR") or "../shared"


def shared_schemas(folder: str, what: str, version: str = "") -> Path:
    """`SHARED/folder/version`; without `SHARED/folder` the test skips, under CI=true too: a clean clone has no ../shared."""
    if not (SHARED / folder).is_dir():
        pytest.skip(f"{SHARED_NAME}/{folder} not found: {what} schema validation skipped")
    return SHARED / folder / version


def required_tool(name: str, why: str) -> str:
    """The tool's path; without it the test fails under CI=true (CI must install it) and skips elsewhere."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not found ({why}); `.ci/run` installs it"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def touched_metrics() -> Metrics:
    """The worker's metrics on a fresh registry, every metric given one sample (with a label if it has any)."""
    metrics = Metrics(CollectorRegistry())
    for metric in vars(metrics).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        child = metric.labels(*["x"] * len(metric._labelnames)) if metric._labelnames else metric
        if hasattr(child, "observe"):
            child.observe(0.1)
        elif hasattr(child, "set"):
            child.set(1)
        else:
            child.inc()
    return metrics


METRIC = re.compile(r"\bbuzzwatch_[a-zA-Z0-9_:]+")


def undeclared(expr: str, declared: set[str]) -> list[str]:
    """The buzzwatch metric names a PromQL expression uses that the worker does not expose."""
    return sorted({m for m in METRIC.findall(expr) if m not in declared})


def required_module(name: str, extra: str = "dev"):
    """Import a test dependency; without it the test fails under CI=true and skips elsewhere."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        message = f"Python module {name} missing: pip install -e '.[{extra}]'"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
