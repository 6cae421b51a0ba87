"""Real components: a Tansu broker on a free loopback port, the Slack stand-in, worker processes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.devtools.broker import LocalBroker
from pipeline.devtools.slack_standin import SlackStandIn
from pipeline.devtools.worker_process import WorkerProcess

ROOT = Path(__file__).resolve().parents[2]
BRANDS = ROOT / "docs" / "examples" / "brands.yaml"


@pytest.fixture
def broker(tmp_path) -> Iterator[LocalBroker]:
    """A fresh memory-only broker per test (it never frees memory)."""
    with LocalBroker(log_path=str(tmp_path / "broker.log")) as b:
        yield b


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as s:
        yield s


@pytest.fixture
def start_worker(broker, slack, tmp_path):
    workers: list[WorkerProcess] = []

    def start(name: str = "worker", **env: str) -> WorkerProcess:
        w = WorkerProcess(broker.bootstrap, tmp_path / "w", log_name=f"{name}.log", env={
            "BUZZWATCH_BRANDS_FILE": str(BRANDS), "SLACK_BOT_TOKEN": "xoxb-test-token",
            "SLACK_API_URL": slack.api_url, **env}).start()
        workers.append(w)
        w.wait_ready()
        return w

    yield start
    for w in workers:
        w.stop()


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_bytes(b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows))
    return path


def replay(path: Path, bootstrap: str, *extra: str) -> None:
    subprocess.run([sys.executable, "-m", "pipeline.cli", "replay", str(path), "--bootstrap", bootstrap,
                    "--quiet", *extra], check=True, timeout=120, cwd=ROOT)
