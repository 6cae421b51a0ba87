"""The offline commands, run as a user runs them (a real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.sim.generate import demo_spec, generate

ROOT = Path(__file__).resolve().parents[2]
BRANDS = ROOT / "docs" / "examples" / "brands.yaml"


def bw(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], input=stdin, capture_output=True,
                          cwd=ROOT, timeout=120)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in generate(demo_spec(), seed=7)))
    return path


def test_score_then_detect_is_the_offline_pipeline(demo, tmp_path):
    scored = tmp_path / "scored.jsonl"
    r = bw("score", "--brands", str(BRANDS), "--input", str(demo), "--output", str(scored))
    assert r.returncode == 0, r.stderr
    lines = scored.read_text().splitlines()
    assert len(lines) == len(demo.read_text().splitlines())  # one line out per line in, in order
    ins = [json.loads(x)["id"] for x in demo.read_text().splitlines()]
    assert [json.loads(x)["id"] for x in lines] == ins
    r = bw("detect", "--input", str(scored))
    assert r.returncode == 0, r.stderr
    alerts = [json.loads(x) for x in r.stdout.decode().splitlines()]
    assert [a["brand"] for a in alerts if a["status"] == "open"] == ["acme"]
    again = bw("detect", "--input", str(scored))
    assert again.stdout == r.stdout  # deterministic


def test_score_names_the_bad_line():
    good = b'{"id":"1","text":"@acme awful","created_at":"2026-03-02T10:00:00Z","brand":"acme"}\n'
    r = bw("score", stdin=good + b'{"id":"2","text":"x"}\n')
    assert r.returncode == 2
    assert b"stdin line 2: created_at: required RFC 3339 string" in r.stderr


def test_score_without_brand_or_brands_file_says_so():
    r = bw("score", stdin=b'{"id":"1","text":"hi","created_at":"2026-03-02T10:00:00Z"}\n')
    assert r.returncode == 2
    assert b"line 1: no brand" in r.stderr and b"--brands" in r.stderr


def test_broken_brands_file_fails_before_reading(tmp_path):
    bad = tmp_path / "b.yaml"
    bad.write_text("brands:\n  - id: x\n")
    r = bw("score", "--brands", str(bad), stdin=b"")
    assert r.returncode == 2
    assert str(bad).encode() in r.stderr and b"needs at least one keyword" in r.stderr


def test_detect_counts_format_in_volume_mode():
    rows = []
    spike = 12 * 44  # two days of 5-minute buckets, ~20 mentions each, a spike at hour 44
    for i in range(12 * 48):
        start = 1772409600 + i * 300
        n = 20 if i < spike else 20 * 2 ** min(i - spike, 6)
        rows.append({"brand": "aapl", "start": _t(start), "end": _t(start + 300), "mentions": n, "negative": 0})
    r = bw("detect", "--format", "counts", "--signal", "volume",
           stdin="".join(json.dumps(x) + "\n" for x in rows).encode())
    assert r.returncode == 0, r.stderr
    alerts = [json.loads(x) for x in r.stdout.decode().splitlines()]
    assert alerts and alerts[0]["status"] == "open" and alerts[0]["at"] >= _t(1772409600 + spike * 300)


def test_detect_names_the_bad_line_blank_lines_counted_and_skipped():
    good = (b'{"id":"1","text":"late again","created_at":"2026-03-02T10:00:00.250Z","brand":"acme",'
            b'"negativity":0.9,"sentiment":"negative","lang":"en"}\n')
    assert bw("detect", stdin=good + b"\n" + good.replace(b'"1"', b'"2"')).returncode == 0
    r = bw("detect", stdin=good + b"\n" + b"{not json\n")
    assert r.returncode == 2 and b"stdin line 3: not valid JSON" in r.stderr
    r = bw("detect", stdin=good + good.replace(b'"2026-03-02T10:00:00.250Z"', b'"2026-03-02T10:00:61Z"'))
    assert r.returncode == 2 and b"stdin line 2: created_at: not an RFC 3339 time" in r.stderr


def test_detect_counts_bad_line():
    r = bw("detect", "--format", "counts", stdin=b'{"brand":"a","start":"2026-03-02T10:00:00Z",'
                                                 b'"end":"2026-03-02T10:05:00Z","mentions":3,"negative":5}\n')
    assert r.returncode == 2 and b"line 1: negative: more than mentions" in r.stderr


def _t(ts: float) -> str:
    from pipeline.records import format_time
    return format_time(ts)


@pytest.mark.parametrize("cmd", ["worker", "score", "detect", "replay", "simulate"])
def test_help(cmd):
    r = bw(cmd, "--help")
    assert r.returncode == 0 and b"usage: buzzwatch " + cmd.encode() in r.stdout


def test_worker_with_a_broken_brands_file_stops_at_start_up(tmp_path):
    bad = tmp_path / "brands.yaml"
    bad.write_text("brands:\n  - id: acme\n    handles: [acme]\n")
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", "worker"], capture_output=True, timeout=60, cwd=ROOT,
                       env={**os.environ, "BUZZWATCH_BRANDS_FILE": str(bad),
                            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    assert r.returncode == 2
    assert f"brands file {bad}: brand 'acme': handle 'acme' must start with '@'".encode() in r.stderr


def test_worker_with_a_bad_setting_names_it():
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", "worker"], capture_output=True, timeout=60, cwd=ROOT,
                       env={**os.environ, "BUZZWATCH_METRICS_PORT": "lots"})
    assert r.returncode == 2 and b"BUZZWATCH_METRICS_PORT: expected an integer" in r.stderr
