from __future__ import annotations

import ssl

import pytest

from pipeline.errors import ConfigError
from pipeline.settings import Settings


def test_defaults_and_overrides():
    s = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "k1:9092,k2:9092", "BUZZWATCH_METRICS_PORT": "9200",
                           "SLACK_DEFAULT_CHANNEL": "#buzz"})
    assert s.kafka_bootstrap_servers == "k1:9092,k2:9092"
    assert s.metrics_port == 9200 and s.slack_default_channel == "#buzz" and s.brands_file is None
    assert s.publish_scored is False and s.commit_every == 100_000
    for raw, value in (("true", True), ("1", True), ("YES", True), ("off", False), ("0", False)):
        assert Settings.from_env({"BUZZWATCH_PUBLISH_SCORED": raw}).publish_scored is value, raw


@pytest.mark.parametrize("name, value, message", [
    ("BUZZWATCH_METRICS_PORT", "nine", "BUZZWATCH_METRICS_PORT: expected an integer, got 'nine'"),
    ("BUZZWATCH_METRICS_PORT", "70000", "BUZZWATCH_METRICS_PORT: not a port number"),
    ("BUZZWATCH_BATCH_SIZE", "-5", "BUZZWATCH_BATCH_SIZE: must not be negative"),
    ("BUZZWATCH_MAX_FUTURE_S", "soon", "BUZZWATCH_MAX_FUTURE_S: expected a number"),
    ("BUZZWATCH_PUBLISH_SCORED", "sometimes", "BUZZWATCH_PUBLISH_SCORED: expected true or false, got 'sometimes'"),
    ("BUZZWATCH_MAX_FUTURE_S", "nan", "BUZZWATCH_MAX_FUTURE_S: expected a finite number, got 'nan'"),
    ("BUZZWATCH_COMMIT_INTERVAL_S", "inf", "BUZZWATCH_COMMIT_INTERVAL_S: expected a finite number"),
    ("BUZZWATCH_COMMIT_INTERVAL_S", "0", "BUZZWATCH_COMMIT_INTERVAL_S: must be above 0"),
    ("BUZZWATCH_WEB_PORT", "99999", "BUZZWATCH_WEB_PORT: not a port number: 99999"),
    ("BUZZWATCH_WEB_PORT", "9108", "BUZZWATCH_METRICS_PORT and BUZZWATCH_WEB_PORT: both 9108"),
    # 0 made the probes and Slack's button endpoint listen on a random port nobody could reach.
    ("BUZZWATCH_WEB_PORT", "0", "BUZZWATCH_WEB_PORT: must be a port from 1 to 65535 .the probes and Slack's buttons "
                                "need one that can be found; unlike BUZZWATCH_METRICS_PORT, 0 cannot turn it off., "
                                "got 0"),
    ("BUZZWATCH_HEARTBEAT_INTERVAL_S", "100", "BUZZWATCH_HEARTBEAT_INTERVAL_S: must be above 0 and below "
                                              "BUZZWATCH_SESSION_TIMEOUT_S \\(6\\), got 100"),
    ("BUZZWATCH_PYMALLOC", "please", "BUZZWATCH_PYMALLOC: expected true or false, got 'please'"),
    ("BUZZWATCH_MIMALLOC", "/nowhere/libmimalloc.so", "BUZZWATCH_MIMALLOC: no such file: /nowhere/libmimalloc.so"),
    # Faust took it, and the worker died at start-up in tracebacks ("Cannot import ''") after a 30 s hang.
    ("BUZZWATCH_STORE", "rocksdb", "BUZZWATCH_STORE: expected rocksdb:// or memory://, got 'rocksdb'"),
    ("BUZZWATCH_STORE", "redis://", "BUZZWATCH_STORE: expected rocksdb:// or memory://, got 'redis://'"),
    # One topic for two roles: scored mentions read back as new ones (scored again, sent again), alerts as mentions.
    ("BUZZWATCH_TOPIC_SCORED", "mentions", "BUZZWATCH_TOPIC_MENTIONS and BUZZWATCH_TOPIC_SCORED: both 'mentions'"),
    ("BUZZWATCH_TOPIC_DLQ", "alerts", "BUZZWATCH_TOPIC_DLQ and BUZZWATCH_TOPIC_ALERTS: both 'alerts'"),
    ("BUZZWATCH_TOPIC_ALERTS", "alerts!", "BUZZWATCH_TOPIC_ALERTS: not a Kafka topic name .letters, digits"),
])
def test_bad_values_name_the_variable(name, value, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({name: value})


def test_metrics_port_0_means_no_metrics_server():
    assert Settings.from_env({"BUZZWATCH_METRICS_PORT": "0"}).metrics_port == 0
    assert Settings().metrics_port == 9108


def test_secrets_from_files_and_never_in_repr(tmp_path):
    token = tmp_path / "token"
    token.write_text("xoxb-very-secret\n")
    s = Settings.from_env({"SLACK_BOT_TOKEN_FILE": str(token), "SLACK_SIGNING_SECRET": "shh"})
    assert s.slack_bot_token == "xoxb-very-secret"
    assert "very-secret" not in repr(s) and "shh" not in repr(s) and "'***'" in repr(s)
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN_FILE: cannot read"):
        Settings.from_env({"SLACK_BOT_TOKEN_FILE": str(tmp_path / "missing")})


def test_topics_and_kafka_security_from_env(tmp_path):
    password = tmp_path / "password"
    password.write_text("scram-secret\n")
    s = Settings.from_env({"BUZZWATCH_TOPIC_MENTIONS": "social.mentions", "BUZZWATCH_TOPIC_REPLICATION": "3",
                           "KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                           "KAFKA_SASL_USERNAME": "buzzwatch", "KAFKA_SASL_PASSWORD_FILE": str(password)})
    assert (s.topic_mentions, s.topic_alerts, s.topic_replication) == ("social.mentions", "alerts", 3)
    assert (s.kafka_security_protocol, s.kafka_sasl_mechanism, s.kafka_sasl_password) == \
        ("SASL_SSL", "SCRAM-SHA-512", "scram-secret")
    assert "scram-secret" not in repr(s)


def test_sasl_credentials_reach_faust():
    from pipeline.stream.app import kafka_credentials

    creds = kafka_credentials(Settings.from_env({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                                                 "KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "u",
                                                 "KAFKA_SASL_PASSWORD": "p"}))
    assert (creds.username, creds.password, creds.mechanism.value, creds.protocol.value) == \
        ("u", "p", "PLAIN", "SASL_PLAINTEXT")
    assert kafka_credentials(Settings()) is None


@pytest.mark.parametrize("name", ["BUZZWATCH_BATCH_SIZE", "BUZZWATCH_TOPIC_PARTITIONS", "BUZZWATCH_COMMIT_EVERY",
                                  "BUZZWATCH_FETCH_MAX_WAIT_MS"])
def test_a_count_of_zero_is_refused_not_made_one(name):
    with pytest.raises(ConfigError, match=f"{name}: must be at least 1, got '0'"):
        Settings.from_env({name: "0"})
    assert getattr(Settings.from_env({name: "3"}), name.removeprefix("BUZZWATCH_").lower()) == 3


def test_tls_files_that_cannot_be_used_are_named(tmp_path):
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    for env, message in (
        ({"KAFKA_SSL_CAFILE": str(tmp_path / "missing.pem")}, "KAFKA_SSL_CAFILE=.*missing.pem: not a readable file"),
        ({"KAFKA_SSL_CAFILE": str(tmp_path)}, "KAFKA_SSL_CAFILE=.*: not a readable file"),
        ({"KAFKA_SSL_CAFILE": str(not_pem)}, "KAFKA_SSL_CAFILE=.*ca.pem: not PEM CA certificates"),
        ({"KAFKA_SSL_CERTFILE": str(tmp_path / "c.pem")}, "KAFKA_SSL_CERTFILE=.*c.pem: not a readable file"),
        ({"KAFKA_SSL_CERTFILE": str(not_pem)}, "KAFKA_SSL_CERTFILE=.*ca.pem .*not a PEM certificate and its key"),
    ):
        settings = Settings.from_env({"KAFKA_SECURITY_PROTOCOL": "SSL", **env})
        with pytest.raises(ConfigError, match=message):
            settings.tls_context()
    # without files: the system's CAs
    assert Settings.from_env({"KAFKA_SECURITY_PROTOCOL": "SSL"}).tls_context().verify_mode == ssl.CERT_REQUIRED
    # the protocol decides whether there is a context at all, for every client alike
    sasl = {"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"}
    for protocol, tls in (("PLAINTEXT", False), ("SASL_PLAINTEXT", False), ("SSL", True), ("SASL_SSL", True)):
        context = Settings.from_env({"KAFKA_SECURITY_PROTOCOL": protocol, **sasl}).kafka_tls()
        assert isinstance(context, ssl.SSLContext) if tls else context is None, protocol


@pytest.mark.parametrize("env, message", [
    ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL: expected one of PLAINTEXT, SSL"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "PLAIN"}, "needs KAFKA_SASL_MECHANISM"),
    # A mechanism and a user but no password: the broker would only refuse it at the first connection.
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "u"},
     "KAFKA_SECURITY_PROTOCOL=SASL_SSL needs .*KAFKA_SASL_PASSWORD"),
    ({"KAFKA_SASL_MECHANISM": "GSSAPI"}, "KAFKA_SASL_MECHANISM: expected one of PLAIN, SCRAM-SHA-256"),
    ({"BUZZWATCH_GRAFANA_URL_TEMPLATE": "https://g/d/x"}, "must contain {brand}"),
    ({"BUZZWATCH_GRAFANA_URL_TEMPLATE": "grafana/d/x?var-brand={brand}"},
     "BUZZWATCH_GRAFANA_URL_TEMPLATE: expected an http\\(s\\) URL"),
    ({"BUZZWATCH_GRAFANA_URL_TEMPLATE": "https://g/d/x?var-brand={brand}&q=<b>"},
     "BUZZWATCH_GRAFANA_URL_TEMPLATE: expected an http\\(s\\) URL"),
    ({"BUZZWATCH_RUNBOOK_URL": "wiki.example/runbooks"},
     "BUZZWATCH_RUNBOOK_URL: expected an http\\(s\\) URL .*got 'wiki.example/runbooks'"),
    ({"BUZZWATCH_RUNBOOK_URL": "javascript:alert(1)"}, "BUZZWATCH_RUNBOOK_URL: expected an http"),
    ({"BUZZWATCH_RUNBOOK_URL": "https://wiki.example/a b"}, "BUZZWATCH_RUNBOOK_URL: expected an http"),
    ({"BUZZWATCH_RUNBOOK_URL": "https://wiki.example/x|click"}, "BUZZWATCH_RUNBOOK_URL: expected an http"),
    ({"BUZZWATCH_RUNBOOK_URL": "https://wiki.example/{brand_id}"}, "BUZZWATCH_RUNBOOK_URL: expected an http"),
])
def test_bad_kafka_security_is_named(env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_the_runbook_url_is_optional_and_may_name_the_brand():
    assert Settings.from_env({}).runbook_url is None
    for url in ("https://wiki.example/runbooks/negative-buzz", "http://wiki/runbooks/{brand}?from=buzzwatch&x=1"):
        assert Settings.from_env({"BUZZWATCH_RUNBOOK_URL": url}).runbook_url == url


def test_a_secret_file_must_hold_text(tmp_path):
    empty, binary = tmp_path / "empty", tmp_path / "binary"
    empty.write_text("\n")
    binary.write_bytes(b"\xff\xfe\x00token")
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN_FILE: .*empty is empty"):
        Settings.from_env({"SLACK_BOT_TOKEN_FILE": str(empty)})
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN_FILE: .*binary is not UTF-8 text"):
        Settings.from_env({"SLACK_BOT_TOKEN_FILE": str(binary)})


@pytest.mark.parametrize("bot, webhook", [("SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL"),
                                          ("SLACK_BOT_TOKEN_FILE", "SLACK_WEBHOOK_URL_FILE"),
                                          ("SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL_FILE")])
def test_a_bot_token_and_a_webhook_together_are_refused_naming_both(tmp_path, bot, webhook):
    """Before, the bot won silently: a team that set the webhook to reach its channel got nothing there."""
    values = {"SLACK_BOT_TOKEN": "xoxb-token", "SLACK_WEBHOOK_URL": "https://hooks.slack.example/T/B/x"}
    env = {}
    for name in (bot, webhook):
        if name.endswith("_FILE"):
            path = tmp_path / name
            path.write_text(values[name.removesuffix("_FILE")] + "\n")
            env[name] = str(path)
        else:
            env[name] = values[name]
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(env)
    assert str(refused.value) == (f"{bot} and {webhook} are both set: choose one (the bot token posts one thread "
                                  "per incident, updated in place, with buttons and charts; the webhook one "
                                  "message per step)")
    assert "xoxb-token" not in str(refused.value) and "hooks.slack" not in str(refused.value)
    for alone in (bot, webhook):  # either one alone is fine
        Settings.from_env({alone: env[alone]})


@pytest.mark.parametrize("name", ["SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL", "SLACK_SIGNING_SECRET", "KAFKA_SASL_PASSWORD"])
def test_a_secret_given_both_as_a_value_and_as_a_file_is_refused_naming_both(tmp_path, name):
    """Before, the file silently won: a value set to rotate a secret (or a stale one left over) was ignored."""
    path = tmp_path / "secret"
    path.write_text("from-the-file\n")
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({name: "from-the-value", f"{name}_FILE": str(path)})
    assert str(refused.value) == (f"{name} and {name}_FILE are both set: give the secret one way, its value "
                                  "or a file holding it")
    assert "from-the" not in str(refused.value)
    for alone in ({name: "from-the-value"}, {f"{name}_FILE": str(path)}, {name: "", f"{name}_FILE": str(path)}):
        Settings.from_env(alone)  # either alone is fine; an empty variable is not set
