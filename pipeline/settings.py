"""Every setting, read once at the entry point into one frozen object.

Library code never reads the environment; it receives a Settings (or the parts it needs).
Each field's environment variable is in README, "Settings". Secrets can come from a file
(``SLACK_BOT_TOKEN_FILE`` etc.) so they never appear in a process listing; they are masked
in ``repr`` so they never reach a log.
"""

from __future__ import annotations

import math
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from pipeline.errors import ConfigError

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
# A link a Slack button can carry: http(s), nothing that could end ``<url|label>`` or hide a space.
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")  # what Kafka accepts as a topic name
_LINK = re.compile(r"^https?://[^\s<>|\"`{}]{1,2000}$")


def link_template_problem(template: str) -> str | None:
    """Why ``template`` (a URL, ``{brand}`` allowed) cannot be an alert's link, or None: checked at
    start-up so a typo fails the worker there, not as a dead button in the middle of an incident.

    >>> link_template_problem("https://wiki.example/runbooks/{brand}") is None
    True
    >>> link_template_problem("wiki.example/runbooks")
    "expected an http(s) URL (may contain {brand}), got 'wiki.example/runbooks'"
    """
    if not _LINK.match(template.replace("{brand}", "b")):
        return f"expected an http(s) URL (may contain {{brand}}), got {template!r}"
    return None


def _secret_repr(value: str | None) -> str:
    return "None" if not value else "'***'"


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    brands_file: str | None = None
    metrics_port: int = 9108  # 0: no metrics server (not a random port, which no scraper could find)
    web_port: int = 6066  # our aiohttp server (stream/web.py): /healthz, /readyz, POST /slack/actions
    app_id: str = "buzzwatch"
    topic_mentions: str = "mentions"
    topic_scored: str = "mentions.scored"
    topic_dlq: str = "mentions.dlq"
    topic_alerts: str = "alerts"
    topic_digest: str = "digest"
    topic_feedback: str = "feedback"
    topic_partitions: int = 4
    topic_replication: int = 1
    store: str = "rocksdb://"  # memory:// rebuilds every table from its changelog at each start
    data_dir: str = ".buzzwatch-data"
    batch_size: int = 5000  # records per fetch at most (one batch through the core)
    fetch_max_wait_ms: int = 500  # how long the broker may hold a fetch for data (Tansu: see README)
    max_future_s: float = 900.0  # mentions stamped further ahead of the wall clock go to the DLQ
    producer_max_batch_bytes: int = 16384  # 16 = one record per batch: needed on Tansu (see README)
    commit_interval_s: float = 2.8  # processed offsets are committed this often ...
    commit_every: int = 100_000  # ... or after this many messages, whichever comes first (see README)
    scorer_processes: int = 0  # 1: the scorer in a child process, on a second core (stream/offload.py); from
    # BUZZWATCH_SCORER_PROCESSES, whose default (auto) is 1 where the worker may use two CPUs or more
    publish_scored: bool = False  # every scored mention to the scored topic, not only those that must move
    session_timeout_s: float = 6.0
    heartbeat_interval_s: float = 2.0
    slack_api_url: str | None = None
    slack_default_channel: str | None = None
    slack_digest_channel: str | None = None  # the daily digest's channel (default: each brand's)
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_webhook_url: str | None = field(default=None, repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    grafana_url_template: str | None = None  # e.g. https://grafana.example/d/buzzwatch?var-brand={brand}
    runbook_url: str | None = None  # what on-call should do next; may contain {brand}; a brand's runbook_url wins
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = field(default=None, repr=False)
    kafka_ssl_cafile: str | None = None
    kafka_ssl_certfile: str | None = None
    kafka_ssl_keyfile: str | None = None
    keep_pymalloc: bool = False  # read again by stream/heap.py before anything else; checked here
    mimalloc: str | None = None  # likewise: a path or library name, "0" for none, unset: the system's

    def kafka_tls(self) -> ssl.SSLContext | None:
        """The TLS context KAFKA_SECURITY_PROTOCOL calls for (SSL, SASL_SSL), else None: the one rule the
        worker's Faust app, its start-up check, ``replay`` and ``feedback`` all follow."""
        return self.tls_context() if self.kafka_security_protocol in ("SSL", "SASL_SSL") else None

    def tls_context(self) -> ssl.SSLContext:
        """The TLS context of KAFKA_SSL_*: a file that cannot be read, or is not PEM, stops the worker
        at start-up with its variable named (not a bare "No such file or directory")."""
        files = {"KAFKA_SSL_CAFILE": self.kafka_ssl_cafile, "KAFKA_SSL_CERTFILE": self.kafka_ssl_certfile,
                 "KAFKA_SSL_KEYFILE": self.kafka_ssl_keyfile}
        for name, path in files.items():
            if path and not (os.path.isfile(path) and os.access(path, os.R_OK)):
                raise ConfigError(f"{name}={path}: not a readable file")
        try:
            context = ssl.create_default_context(cafile=self.kafka_ssl_cafile)
        except ssl.SSLError as exc:
            raise ConfigError(f"KAFKA_SSL_CAFILE={self.kafka_ssl_cafile}: not PEM CA certificates ({exc})") from None
        if self.kafka_ssl_certfile:
            try:
                context.load_cert_chain(self.kafka_ssl_certfile, self.kafka_ssl_keyfile)
            except ssl.SSLError as exc:
                raise ConfigError(f"KAFKA_SSL_CERTFILE={self.kafka_ssl_certfile} (key: KAFKA_SSL_KEYFILE="
                                  f"{self.kafka_ssl_keyfile or 'in the same file'}): not a PEM certificate and "
                                  f"its key ({exc})") from None
        return context

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            shown = _secret_repr(value) if not f.repr else repr(value)
            parts.append(f"{f.name}={shown}")
        return f"Settings({', '.join(parts)})"

    @classmethod
    def kafka_from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Only the KAFKA_* settings, read and checked as ``from_env`` does (the others at their defaults):
        ``replay`` and ``feedback`` reach the worker's cluster as the worker does, and do not refuse to
        run over a Slack or port setting that is none of theirs."""
        env = os.environ if env is None else env
        return cls.from_env({name: value for name, value in env.items() if name.startswith("KAFKA_")})

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build from environment variables; ConfigError names the variable and the problem."""
        env = os.environ if env is None else env

        def text(name: str, default: str | None = None) -> str | None:
            value = env.get(name)
            return value if value not in (None, "") else default

        def number(name: str, default: float, kind: type = int) -> float:
            raw = text(name)
            if raw is None:
                return default
            try:
                value = kind(raw)
            except ValueError:
                raise ConfigError(f"{name}: expected {'an integer' if kind is int else 'a number'}, got {raw!r}") from None
            if not math.isfinite(value):
                raise ConfigError(f"{name}: expected a finite number, got {raw!r}")
            if value < 0:
                raise ConfigError(f"{name}: must not be negative, got {raw!r}")
            return value

        def count(name: str, default: int) -> int:
            value = int(number(name, default))
            if value < 1:  # a batch, a partition, a wait of 0: refused, not silently made 1
                raise ConfigError(f"{name}: must be at least 1, got {text(name)!r}")
            return value

        def secret(name: str) -> str | None:
            value = text(name)
            path = text(name + "_FILE")
            if value and path:  # the file would win, silently: refused, as a team set each to be used
                raise ConfigError(f"{name} and {name}_FILE are both set: give the secret one way, its value "
                                  "or a file holding it")
            if path:
                try:
                    with open(path, encoding="utf-8") as fh:
                        value = fh.read().strip()
                except OSError as exc:
                    raise ConfigError(f"{name}_FILE: cannot read {path}: {exc.strerror}") from None
                except UnicodeDecodeError:
                    raise ConfigError(f"{name}_FILE: {path} is not UTF-8 text") from None
                if not value:
                    raise ConfigError(f"{name}_FILE: {path} is empty")
            return value

        def flag(name: str, default: bool) -> bool:
            raw = text(name)
            if raw is None:
                return default
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{name}: expected true or false, got {raw!r}")

        def choice(name: str, default: str | None, allowed: tuple[str, ...]) -> str | None:
            value = text(name, default)
            if value is not None and value.upper() not in allowed:
                raise ConfigError(f"{name}: expected one of {', '.join(allowed)}, got {value!r}")
            return value.upper() if value is not None else None

        protocol = choice("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT", SECURITY_PROTOCOLS) or "PLAINTEXT"
        mechanism = choice("KAFKA_SASL_MECHANISM", None, SASL_MECHANISMS)
        username, password = text("KAFKA_SASL_USERNAME"), secret("KAFKA_SASL_PASSWORD")
        if protocol.startswith("SASL_") and not (mechanism and username and password):
            raise ConfigError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME "
                              "and KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE)")
        template = text("BUZZWATCH_GRAFANA_URL_TEMPLATE")
        if template is not None and "{brand}" not in template:
            raise ConfigError(f"BUZZWATCH_GRAFANA_URL_TEMPLATE: must contain {{brand}}, got {template!r}")
        problem = link_template_problem(template) if template is not None else None
        if problem:  # the same check as the runbook's: a dead Grafana button is found at start-up
            raise ConfigError(f"BUZZWATCH_GRAFANA_URL_TEMPLATE: {problem}")
        runbook = text("BUZZWATCH_RUNBOOK_URL")
        problem = link_template_problem(runbook) if runbook is not None else None
        if problem:
            raise ConfigError(f"BUZZWATCH_RUNBOOK_URL: {problem}")

        mimalloc = text("BUZZWATCH_MIMALLOC")
        if mimalloc is not None and "/" in mimalloc and not os.path.isfile(mimalloc):
            raise ConfigError(f"BUZZWATCH_MIMALLOC: no such file: {mimalloc}")
        ports = {}
        for name, default in (("BUZZWATCH_METRICS_PORT", 9108), ("BUZZWATCH_WEB_PORT", 6066)):
            ports[name] = int(number(name, default))
            if ports[name] > 65535:
                raise ConfigError(f"{name}: not a port number: {ports[name]}")
        if ports["BUZZWATCH_WEB_PORT"] == 0:  # 0 would be a random port: probes and Slack could not find it
            raise ConfigError("BUZZWATCH_WEB_PORT: must be a port from 1 to 65535 (the probes and Slack's buttons need "
                              "one that can be found; unlike BUZZWATCH_METRICS_PORT, 0 cannot turn it off), got 0")
        port, web_port = ports.values()
        if port == web_port and port:
            raise ConfigError(f"BUZZWATCH_METRICS_PORT and BUZZWATCH_WEB_PORT: both {port}; they need a port each")
        session_s = float(number("BUZZWATCH_SESSION_TIMEOUT_S", 6.0, float))
        heartbeat_s = float(number("BUZZWATCH_HEARTBEAT_INTERVAL_S", 2.0, float))
        if not 0 < heartbeat_s < session_s:
            raise ConfigError(f"BUZZWATCH_HEARTBEAT_INTERVAL_S: must be above 0 and below BUZZWATCH_SESSION_TIMEOUT_S "
                              f"({session_s:g}), got {heartbeat_s:g}")
        commit_s = float(number("BUZZWATCH_COMMIT_INTERVAL_S", 2.8, float))
        if commit_s <= 0:
            raise ConfigError(f"BUZZWATCH_COMMIT_INTERVAL_S: must be above 0, got {commit_s:g}")
        topics: dict[str, str] = {}  # variable -> topic: each a legal Kafka name, and each its own
        for part, default in (("MENTIONS", "mentions"), ("SCORED", "mentions.scored"), ("DLQ", "mentions.dlq"),
                              ("ALERTS", "alerts"), ("DIGEST", "digest"), ("FEEDBACK", "feedback")):
            name = f"BUZZWATCH_TOPIC_{part}"
            topic = text(name, default) or default
            if not _TOPIC.match(topic):
                raise ConfigError(f"{name}: not a Kafka topic name (letters, digits, '.', '_', '-'; at most 249), "
                                  f"got {topic!r}")
            other = next((var for var, t in topics.items() if t == topic), None)
            if other:
                raise ConfigError(f"{other} and {name}: both {topic!r}; each topic needs its own name")
            topics[name] = topic
        store = text("BUZZWATCH_STORE", "rocksdb://") or "rocksdb://"
        if store not in ("rocksdb://", "memory://"):  # Faust would take it, and fail at start-up in tracebacks
            raise ConfigError(f"BUZZWATCH_STORE: expected rocksdb:// or memory://, got {store!r}")
        processes = (text("BUZZWATCH_SCORER_PROCESSES", "auto") or "auto").lower()
        if processes not in ("auto", "0", "1"):
            raise ConfigError(f"BUZZWATCH_SCORER_PROCESSES: auto, 0 (score in the worker) or 1 (in a child "
                              f"process), got {processes!r}")
        scorer_processes = (1 if usable_cpus() >= 2 else 0) if processes == "auto" else int(processes)
        bot_token, webhook = secret("SLACK_BOT_TOKEN"), secret("SLACK_WEBHOOK_URL")
        if bot_token and webhook:  # one would be ignored: refused, as a team set each to be used
            given = [name + "_FILE" if text(name + "_FILE") else name for name in ("SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL")]
            raise ConfigError(f"{given[0]} and {given[1]} are both set: choose one (the bot token posts one thread per "
                              "incident, updated in place, with buttons and charts; the webhook one message per step)")
        return cls(
            kafka_bootstrap_servers=text("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092") or "",
            brands_file=text("BUZZWATCH_BRANDS_FILE"),
            metrics_port=port,
            web_port=web_port,
            app_id=text("BUZZWATCH_APP_ID", "buzzwatch") or "buzzwatch",
            topic_mentions=topics["BUZZWATCH_TOPIC_MENTIONS"],
            topic_scored=topics["BUZZWATCH_TOPIC_SCORED"],
            topic_dlq=topics["BUZZWATCH_TOPIC_DLQ"],
            topic_alerts=topics["BUZZWATCH_TOPIC_ALERTS"],
            topic_digest=topics["BUZZWATCH_TOPIC_DIGEST"],
            topic_feedback=topics["BUZZWATCH_TOPIC_FEEDBACK"],
            topic_partitions=count("BUZZWATCH_TOPIC_PARTITIONS", 4),
            topic_replication=count("BUZZWATCH_TOPIC_REPLICATION", 1),
            store=store,
            data_dir=text("BUZZWATCH_DATA_DIR", ".buzzwatch-data") or ".buzzwatch-data",
            batch_size=count("BUZZWATCH_BATCH_SIZE", 5000),
            fetch_max_wait_ms=count("BUZZWATCH_FETCH_MAX_WAIT_MS", 500),
            max_future_s=float(number("BUZZWATCH_MAX_FUTURE_S", 900.0, float)),
            producer_max_batch_bytes=count("BUZZWATCH_PRODUCER_MAX_BATCH_BYTES", 16384),
            commit_interval_s=commit_s,
            commit_every=count("BUZZWATCH_COMMIT_EVERY", 100_000),
            scorer_processes=scorer_processes,
            publish_scored=flag("BUZZWATCH_PUBLISH_SCORED", False),
            session_timeout_s=session_s,
            heartbeat_interval_s=heartbeat_s,
            slack_api_url=text("SLACK_API_URL"),
            slack_default_channel=text("SLACK_DEFAULT_CHANNEL"),
            slack_digest_channel=text("SLACK_DIGEST_CHANNEL"),
            slack_bot_token=bot_token,
            slack_webhook_url=webhook,
            slack_signing_secret=secret("SLACK_SIGNING_SECRET"),
            grafana_url_template=template,
            runbook_url=runbook,
            kafka_security_protocol=protocol,
            kafka_sasl_mechanism=mechanism,
            kafka_sasl_username=username,
            kafka_sasl_password=password,
            kafka_ssl_cafile=text("KAFKA_SSL_CAFILE"),
            kafka_ssl_certfile=text("KAFKA_SSL_CERTFILE"),
            kafka_ssl_keyfile=text("KAFKA_SSL_KEYFILE"),
            keep_pymalloc=flag("BUZZWATCH_PYMALLOC", False),
            mimalloc=mimalloc,
        )


def usable_cpus(cgroup: str = "/sys/fs/cgroup") -> float:
    """The CPUs this process may use: those it may run on, capped by its cgroup's CPU quota (a
    Kubernetes CPU limit), which ``os.cpu_count`` does not see.

    >>> usable_cpus(cgroup="/nonexistent") == len(os.sched_getaffinity(0))
    True
    """
    cpus = float(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    quota = None
    base = Path(cgroup)
    try:  # cgroup v2: "max 100000" or "200000 100000"
        limit, period = (base / "cpu.max").read_text().split()[:2]
        quota = None if limit == "max" else int(limit) / int(period)
    except (OSError, ValueError):
        try:  # cgroup v1: -1 = no quota
            limit = (base / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (base / "cpu" / "cpu.cfs_period_us").read_text().strip()
            quota = int(limit) / int(period) if int(limit) > 0 else None
        except (OSError, ValueError):
            pass
    return min(cpus, quota) if quota else cpus
