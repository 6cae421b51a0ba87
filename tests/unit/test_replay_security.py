"""``buzzwatch replay`` and ``feedback`` reach a secured cluster with the worker's KAFKA_SECURITY_PROTOCOL,
KAFKA_SASL_* and KAFKA_SSL_* settings (end to end, over TLS and SASL: tests/integration/test_kafka_security.py)."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pipeline.settings import Settings
from pipeline.stream import replay

ROOT = Path(__file__).resolve().parents[2]
SASL_SSL = {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": "buzzwatch", "KAFKA_SASL_PASSWORD": "s3cret"}


class FakeProducer:
    made: list[dict[str, Any]] = []

    def __init__(self, **options: Any) -> None:
        self.made.append(options)
        self.sent = 0

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def send(self, *args: Any, **kwargs: Any) -> asyncio.Future:
        self.sent += 1
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def test_replay_and_feedback_give_the_workers_tls_and_sasl_settings_to_the_check_and_the_producer(monkeypatch, tmp_path):
    checks: list[dict[str, Any]] = []

    async def check_brokers(bootstrap: str, timeout_s: float, **kwargs: Any) -> None:
        checks.append({"bootstrap": bootstrap, **kwargs})

    monkeypatch.setattr(replay, "check_brokers", check_brokers)
    monkeypatch.setattr(replay, "AIOKafkaProducer", FakeProducer)
    FakeProducer.made = []
    settings = Settings.kafka_from_env(SASL_SSL)
    path = tmp_path / "in.jsonl"
    path.write_text('{"id":"1","text":"x"}\n')
    assert asyncio.run(replay.replay(str(path), "kafka:9093", "mentions", None, progress=False, settings=settings)) == 0
    assert asyncio.run(replay.send_labels([{"id": "l1", "text": "x", "label": "negative"}], "kafka:9093", "feedback",
                                          settings)) == 1
    assert len(checks) == len(FakeProducer.made) == 2
    for check, producer in zip(checks, FakeProducer.made, strict=True):
        for client in (check, producer):
            assert {k: client[k] for k in ("security_protocol", "sasl_mechanism", "sasl_plain_username",
                                           "sasl_plain_password")} == {
                "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
                "sasl_plain_username": "buzzwatch", "sasl_plain_password": "s3cret"}
            assert isinstance(client["ssl_context"], ssl.SSLContext)
            assert client["ssl_context"].verify_mode == ssl.CERT_REQUIRED
        assert check["bootstrap"] == producer["bootstrap_servers"] == "kafka:9093"
        assert check["check"] == "--bootstrap, and with KAFKA_SECURITY_PROTOCOL=SASL_SSL KAFKA_SASL_* and KAFKA_SSL_*"


def bw(cmd: str, path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "SLACK_", "BUZZWATCH_"))}
    return subprocess.run([sys.executable, "-m", "pipeline.cli", cmd, str(path), "--bootstrap", "127.0.0.1:1"],
                          capture_output=True, timeout=120, cwd=ROOT, env={**clean, **env})


@pytest.mark.parametrize("cmd", ["replay", "feedback"])
def test_a_bad_kafka_security_setting_stops_replay_and_feedback_in_one_line_before_connecting(cmd, tmp_path):
    """As the worker: exit 2, the variable named, nothing sent (the broker, 127.0.0.1:1, never tried).
    Before, the settings were ignored: the command spoke plaintext and said it could not reach the broker."""
    path = tmp_path / "labels.jsonl"
    path.write_text('{"id":"l1","text":"never again","label":"negative"}\n')  # a label; replay sends any line
    missing = tmp_path / "missing.pem"
    for env, line in [
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": str(missing)},
         f"KAFKA_SSL_CAFILE={missing}: not a readable file"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "PLAIN"},
         "KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD "
         "(or KAFKA_SASL_PASSWORD_FILE)"),
        ({**SASL_SSL, "KAFKA_SASL_PASSWORD": "", "KAFKA_SASL_PASSWORD_FILE": str(missing)},
         f"KAFKA_SASL_PASSWORD_FILE: cannot read {missing}: No such file or directory"),
    ]:
        r = bw(cmd, path, **env)
        assert r.returncode == 2 and r.stderr.decode().splitlines() == [f"buzzwatch {cmd}: {line}"], r.stderr.decode()
    # A setting of the worker's alone (Slack, its ports) is none of theirs: they go on to the broker
    r = bw(cmd, path, SLACK_BOT_TOKEN="xoxb-1", SLACK_WEBHOOK_URL="https://hooks.example/1", BUZZWATCH_WEB_PORT="0")
    assert r.returncode == 1 and r.stderr.decode().startswith(f"buzzwatch {cmd}: cannot reach the Kafka broker at "
                                                              "127.0.0.1:1"), r.stderr.decode()
