"""``buzzwatch worker``: settings -> brands -> Slack sink -> metrics endpoint -> Faust worker.

Everything that can be wrong in the configuration fails here, before any message is read,
with a message that names the setting or the file.
"""

from __future__ import annotations

import logging

import faust
from prometheus_client import CollectorRegistry, start_http_server

from pipeline.core.brands import Brand, load_brands
from pipeline.notify.slack import BotSink, Sink, TerminalSink, WebhookSink
from pipeline.settings import Settings
from pipeline.stream.app import build_app

log = logging.getLogger(__name__)


def choose_sink(settings: Settings) -> Sink:
    """Bot token (threads, updates) > incoming webhook > terminal."""
    if settings.slack_bot_token:
        return BotSink(settings.slack_bot_token, settings.slack_api_url)
    if settings.slack_webhook_url:
        return WebhookSink(settings.slack_webhook_url)
    return TerminalSink()


def run_worker(settings: Settings, loglevel: str = "info") -> int:
    brands: list[Brand] = load_brands(settings.brands_file) if settings.brands_file else []
    registry = CollectorRegistry()
    app = build_app(settings, brands, choose_sink(settings), registry=registry)
    start_http_server(settings.metrics_port, registry=registry)
    log.warning("buzzwatch worker: %d brands, metrics on :%d, broker %s", len(brands), settings.metrics_port,
                settings.kafka_bootstrap_servers)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()  # returns only through sys.exit
    return 0
