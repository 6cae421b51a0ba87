from __future__ import annotations

import pytest

from pipeline.errors import ConfigError
from pipeline.settings import Settings


def test_defaults_and_overrides():
    s = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "k1:9092,k2:9092", "BUZZWATCH_METRICS_PORT": "9200",
                           "SLACK_DEFAULT_CHANNEL": "#buzz"})
    assert s.kafka_bootstrap_servers == "k1:9092,k2:9092"
    assert s.metrics_port == 9200 and s.slack_default_channel == "#buzz" and s.brands_file is None


@pytest.mark.parametrize("name, value, message", [
    ("BUZZWATCH_METRICS_PORT", "nine", "BUZZWATCH_METRICS_PORT: expected an integer, got 'nine'"),
    ("BUZZWATCH_METRICS_PORT", "70000", "BUZZWATCH_METRICS_PORT: not a port number"),
    ("BUZZWATCH_BATCH_SIZE", "-5", "BUZZWATCH_BATCH_SIZE: must not be negative"),
    ("BUZZWATCH_MAX_FUTURE_S", "soon", "BUZZWATCH_MAX_FUTURE_S: expected a number"),
])
def test_bad_values_name_the_variable(name, value, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({name: value})


def test_secrets_from_files_and_never_in_repr(tmp_path):
    token = tmp_path / "token"
    token.write_text("xoxb-very-secret\n")
    s = Settings.from_env({"SLACK_BOT_TOKEN_FILE": str(token), "SLACK_SIGNING_SECRET": "shh"})
    assert s.slack_bot_token == "xoxb-very-secret"
    assert "very-secret" not in repr(s) and "shh" not in repr(s) and "'***'" in repr(s)
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN_FILE: cannot read"):
        Settings.from_env({"SLACK_BOT_TOKEN_FILE": str(tmp_path / "missing")})
