"""``make run``: the whole pipeline on this machine, with a burst you can watch being caught.

Starts a Tansu broker on a free loopback port, a Slack stand-in that prints what it receives,
and a worker; generates the sample stream (27.5 h of three brands: a quiet day for the baseline,
then ``acme`` gets an accelerating negative burst and ``globex`` a positive viral burst of the
same size) and replays it 1,600x faster than real time. The incident appears as Slack received
it (the chart is saved under ``.run/slack-files/``); once the replay is done the demo presses the
incident's "Acknowledge" button the way Slack would (a signed request to the worker's
``/slack/actions``) and the root message is redrawn with who acknowledged it. Ctrl-C stops
everything it started.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline.devtools.broker import LocalBroker
from pipeline.devtools.slack_standin import SlackStandIn
from pipeline.devtools.worker_process import WorkerProcess
from pipeline.sim.generate import demo_spec, generate

ROOT = Path(__file__).resolve().parents[2]
SIGNING_SECRET = "demo-signing-secret"  # the stand-in signs its button presses with it, as Slack would


def say(text: str) -> None:
    print(f"\033[1m==> {text}\033[0m", flush=True)


def _hold_signals() -> None:
    """Ignore further SIGINT/SIGTERM: the stops below run to the end."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--speed", type=float, default=1600.0, help="event time / wall time (default 1600)")
    ap.add_argument("--workdir", default=str(ROOT / ".run"), help="logs and the sample stream (default .run/)")
    ap.add_argument("--exit-after-alert", action="store_true", help="stop once the first alert arrived (for CI)")
    args = ap.parse_args(argv)
    # Ctrl-C and SIGTERM both end the demo through the same cleanup, even when started from a
    # shell that left SIGINT ignored (background jobs inherit that).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    sample = work / "sample-mentions.jsonl"
    sample.write_text("".join(json.dumps(r) + "\n" for r in generate(demo_spec(), seed=7)))
    brands = ROOT / "docs" / "examples" / "brands.yaml"
    broker = LocalBroker(log_path=str(work / "broker.log"))
    slack = SlackStandIn(echo=True, save_files=work / "slack-files")
    worker: WorkerProcess | None = None
    replayer: subprocess.Popen[bytes] | None = None
    try:
        broker.start()
        say(f"Kafka-compatible broker (Tansu) on {broker.bootstrap}")
        slack.start()
        say(f"Slack stand-in on {slack.url} - alerts appear below as Slack would receive them")
        worker = WorkerProcess(broker.bootstrap, work, env={
            "BUZZWATCH_BRANDS_FILE": str(brands), "SLACK_BOT_TOKEN": "xoxb-demo-token",
            "SLACK_API_URL": slack.api_url, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "BUZZWATCH_GRAFANA_URL_TEMPLATE": "http://127.0.0.1:3000/d/buzzwatch/buzzwatch?var-brand={brand}",
        })
        # The broker starts empty (memory storage): a table store left by a previous run would be
        # ahead of its changelogs, and Faust refuses to start on it.
        shutil.rmtree(worker.data_dir, ignore_errors=True)
        worker.start()
        say(f"worker starting (log: {worker.log_path}); metrics at http://127.0.0.1:{worker.metrics_port}/metrics")
        worker.wait_ready()
        say(f"worker ready after {time.monotonic() - started:.0f} s; replaying {sample.name} "
            f"(27.5 h of mentions at {args.speed:.0f}x)")
        replayer = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "replay", str(sample), "--bootstrap",
                                     broker.bootstrap, "--speed", str(args.speed)],
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
        slack.wait_for(lambda: slack.messages(), timeout=300)
        say(f"first alert {time.monotonic() - started:.0f} s after `make run` started")
        if args.exit_after_alert:
            return 0
        replayer.wait()
        time.sleep(2)
        acknowledge(slack, worker)
        for line in worker.metrics().splitlines():
            if line.startswith(("buzzwatch_mentions_total", "buzzwatch_alerts_total", "buzzwatch_open_incidents")):
                print("   ", line)
        say(f"replay done. The worker keeps running: try `curl http://127.0.0.1:{worker.metrics_port}/metrics`. "
            "Ctrl-C stops it all.")
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        _hold_signals()
        print()
        say("stopping")
        return 0
    finally:
        _hold_signals()  # a second Ctrl-C (or make's SIGTERM after it) must not cut the clean-up short
        if replayer is not None and replayer.poll() is None:
            replayer.terminate()
        if worker is not None:
            worker.stop()
        slack.stop()
        broker.stop()


def acknowledge(slack: SlackStandIn, worker: WorkerProcess) -> None:
    """Press "Acknowledge" on the first incident as on-call would; Slack signs the request."""
    roots = [m for m in slack.messages() if m["kind"] == "post" and not m.get("thread_ts")]
    if not roots:
        return
    endpoint = f"http://127.0.0.1:{worker.web_port}/slack/actions"
    status, _ = slack.press(endpoint, SIGNING_SECRET, roots[0]["ts"], "acknowledge", "U0ONCALL")
    say(f"pressed Acknowledge on {roots[0]['ts']} as U0ONCALL (signed POST {endpoint}): HTTP {status}")
    time.sleep(3)


if __name__ == "__main__":
    sys.exit(main())
