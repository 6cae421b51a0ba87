"""The offline commands, run as a user runs them (a real subprocess)."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
import time
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


def _mention(i: int, text: str, brand: str | None = None) -> bytes:
    m = {"id": str(i), "text": text, "created_at": "2026-03-02T10:00:00Z", **({"brand": brand} if brand else {})}
    return json.dumps(m).encode() + b"\n"


def test_score_skips_mentions_about_no_brand_as_the_worker_drops_them_and_says_how_many():
    """The worker counts a valid mention about no brand (buzzwatch_unmatched_mentions_total) and goes on;
    ``score`` stopped at the first one. It skips them too, and stderr names the count and the first line."""
    lines = [_mention(1, "@acme lost my bag"), _mention(2, "nice weather"), _mention(3, "hi", brand="globex"),
             b"\n", _mention(5, "who is this")]
    r = bw("score", "--brands", str(BRANDS), stdin=b"".join(lines))
    assert r.returncode == 0, r.stderr
    assert [(m["id"], m["brand"]) for m in map(json.loads, r.stdout.splitlines())] == [("1", "acme"), ("3", "globex")]
    assert b"buzzwatch score: stdin: 2 mentions matched no brand and were skipped (first: line 2; " in r.stderr
    r = bw("score", stdin=_mention(1, "hi"))  # without a brands file: a brand field is the only way in
    assert r.returncode == 0 and r.stdout == b""
    assert b"1 mention matched no brand and was skipped (first: line 1; " in r.stderr and b"--brands FILE" in r.stderr


def test_score_still_stops_at_a_malformed_line_after_skipping_unmatched_ones():
    r = bw("score", "--brands", str(BRANDS), stdin=_mention(1, "nice weather") + b'{"id":"2","text":"@acme"}\n')
    assert r.returncode == 2
    (line,) = r.stderr.decode().splitlines()  # the error alone: no count of skipped mentions from a run that failed
    assert line.startswith("buzzwatch score: stdin line 2: created_at: required RFC 3339 string")


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


@pytest.mark.parametrize("variable", ["BUZZWATCH_METRICS_PORT", "BUZZWATCH_WEB_PORT"])
def test_worker_whose_port_is_taken_names_it(variable):
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "pipeline.cli", "worker"], capture_output=True, timeout=120,
                           cwd=ROOT, env={**os.environ, variable: str(port), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    assert r.returncode == 2
    assert r.stderr.decode().strip().splitlines() == [f"buzzwatch worker: {variable}={port}: cannot listen: "
                                                      "Address already in use"]


def worker_env(**env: str) -> dict[str, str]:
    """A worker's environment on ports of its own (never the defaults another worker may hold)."""
    from pipeline.devtools.broker import free_port

    return {**os.environ, "BUZZWATCH_METRICS_PORT": str(free_port()), "BUZZWATCH_WEB_PORT": str(free_port()),
            "BUZZWATCH_STORE": "memory://", "BUZZWATCH_SCORER_PROCESSES": "0", **env}


def test_worker_given_a_secret_twice_stops_with_one_line_naming_both(tmp_path):
    """Before: SLACK_BOT_TOKEN_FILE silently won over SLACK_BOT_TOKEN (here the worker went on to the
    broker, which is not there)."""
    token = tmp_path / "bot-token"
    token.write_text("xoxb-from-file\n")
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", "worker"], capture_output=True, timeout=60, cwd=ROOT,
                       env=worker_env(KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1", BUZZWATCH_DATA_DIR=str(tmp_path / "w"),
                                      SLACK_BOT_TOKEN="xoxb-from-env", SLACK_BOT_TOKEN_FILE=str(token)))
    assert r.returncode == 2 and r.stderr.decode().splitlines() == [
        "buzzwatch worker: SLACK_BOT_TOKEN and SLACK_BOT_TOKEN_FILE are both set: give the secret one way, its "
        "value or a file holding it"], r.stderr.decode()


def test_worker_with_an_unreachable_broker_says_so_in_one_line_naming_the_setting(tmp_path):
    """Before: a Faust/aiokafka traceback (exit 1) some 60 lines long."""
    started = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", "worker"], capture_output=True, timeout=60, cwd=ROOT,
                       env=worker_env(KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1", BUZZWATCH_DATA_DIR=str(tmp_path)))
    assert r.returncode == 1, r.stderr.decode()
    assert r.stderr.decode().splitlines() == [
        "buzzwatch worker: cannot reach the Kafka broker at 127.0.0.1:1: [Errno 111] Connect call failed "
        "('127.0.0.1', 1) (check KAFKA_BOOTSTRAP_SERVERS)"]
    assert time.monotonic() - started < 30


def test_worker_with_a_broker_that_never_answers_stops_within_30_s_naming_it(silent_broker, tmp_path):
    """Before: it kept starting, silent, for minutes (150 s measured, and on)."""
    started = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", "worker"], capture_output=True, timeout=60, cwd=ROOT,
                       env=worker_env(KAFKA_BOOTSTRAP_SERVERS=silent_broker, BUZZWATCH_DATA_DIR=str(tmp_path)))
    took = time.monotonic() - started
    from pipeline.stream.worker import BROKER_CHECK_S

    assert r.returncode == 1 and r.stderr.decode().splitlines() == [
        f"buzzwatch worker: cannot reach the Kafka broker at {silent_broker}: no answer within "
        f"{BROKER_CHECK_S:g} s (check KAFKA_BOOTSTRAP_SERVERS)"], r.stderr.decode()
    assert BROKER_CHECK_S <= took < 30


def test_the_broker_check_names_each_server_and_the_security_settings(silent_broker):
    import asyncio

    from pipeline.errors import BrokerUnavailable
    from pipeline.settings import Settings
    from pipeline.stream.worker import check_broker

    settings = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:1, {silent_broker}",
                                  "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "PLAIN",
                                  "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"})
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable) as err:
        asyncio.run(check_broker(settings, timeout_s=0.5))
    assert time.monotonic() - started < 5
    message = str(err.value)  # the servers are tried in random order: 127.0.0.1:1's refusal may come first
    assert message.startswith(f"cannot reach the Kafka broker at 127.0.0.1:1, {silent_broker}: "), message
    assert message.endswith("no answer within 0.5 s (check KAFKA_BOOTSTRAP_SERVERS, and with "
                            "KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT KAFKA_SASL_*)"), message
    refused = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1,127.0.0.1:2"})
    with pytest.raises(BrokerUnavailable) as err:
        asyncio.run(check_broker(refused, timeout_s=5))
    for port in (1, 2):  # each server with its own reason, in the one line
        assert f"127.0.0.1:{port}: [Errno 111] Connect call failed ('127.0.0.1', {port})" in str(err.value)


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process ``pid`` listens on (its own sockets, not the machine's)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_worker_with_metrics_port_0_serves_no_metrics_at_all(silent_broker, tmp_path):
    """BUZZWATCH_METRICS_PORT=0 turns /metrics off. Before, it served them on a random port that the
    start-up line gave as ':0': a port no scraper could be pointed at."""
    import urllib.request

    env = worker_env(KAFKA_BOOTSTRAP_SERVERS=silent_broker, BUZZWATCH_DATA_DIR=str(tmp_path),
                     BUZZWATCH_METRICS_PORT="0")
    web = int(env["BUZZWATCH_WEB_PORT"])
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:  # the metrics server would start before the web port; the broker check then waits 20 s
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "the worker never served /healthz"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{web}/healthz", timeout=1) as resp:
                    assert resp.status == 200
                    break
            except OSError:
                time.sleep(0.2)
        assert listening_ports(proc.pid) == {web}
    finally:
        proc.kill()
        proc.wait()


def test_detect_says_what_it_did_not_count(demo, tmp_path):
    # Mentions more than the grace late against the stream's event time, and repeated ids, are not
    # counted - as in the worker - but never silently: stderr says how many.
    scored = bw("score", "--brands", str(BRANDS), "--input", str(demo)).stdout.splitlines(keepends=True)
    r = bw("detect", stdin=b"".join(scored))
    assert r.returncode == 0 and r.stderr == b""  # in event-time order: everything counted
    late = scored[-1:] + scored[:-1]  # the last mention (hours later) first: the rest are late
    r = bw("detect", stdin=b"".join(late))
    found = re.search(rb"stdin: (\d+) not counted: their bucket was already final", r.stderr)
    assert found, r.stderr
    # All but the few within the grace (10 min) of the last one, which still count.
    last = json.loads(scored[-1])["created_at"]
    recent = sum(1 for line in scored[:-1] if _ts(json.loads(line)["created_at"]) > _ts(last) - 600)
    assert len(scored) - 1 - recent <= int(found[1]) <= len(scored) - 1 - recent + 60
    r = bw("detect", stdin=b"".join(line for line in scored[:100] for _ in range(2)))  # each line twice
    assert b"stdin: 100 duplicates (an id seen before) not counted again" in r.stderr


def test_detect_exits_3_when_most_of_what_it_read_came_too_late(demo, tmp_path):
    """A stderr line is easy to miss in a script: alerts computed from a sliver of the input (most
    often one not in event-time order) exit 3; a few late mentions keep exit 0 and their count line."""
    scored = bw("score", "--brands", str(BRANDS), "--input", str(demo)).stdout.splitlines(keepends=True)
    out = tmp_path / "alerts.jsonl"
    r = bw("detect", "-o", str(out), stdin=b"".join(scored[-1:] + scored[:-1]))  # the last first: the rest late
    assert r.returncode == 3, r.stderr
    assert re.search(rb"stdin: most of the input came too late to count \([\d,]+ of [\d,]+ read, \d+%\).*"
                     rb"The grace is 600 s, as in the worker, and not an option: sort the input by created_at", r.stderr)
    assert out.exists()  # written all the same: what the run made of the rest
    third = len(scored) * 2 // 3  # the last one two thirds of the way in: a third late
    r = bw("detect", stdin=b"".join(scored[:third] + scored[-1:] + scored[third:-1]))
    assert r.returncode == 0 and b"not counted: their bucket was already final" in r.stderr
    assert b"most of the input" not in r.stderr
    # Bucket counts the same way: the last of 24 buckets first, the 23 others late.
    rows = [json.dumps({"brand": "a", "start": _t(1772409600 + i * 300), "end": _t(1772409600 + (i + 1) * 300),
                        "mentions": 5}).encode() + b"\n" for i in range(24)]
    r = bw("detect", "--format", "counts", stdin=b"".join(rows[-1:] + rows[:-1]))
    assert r.returncode == 3 and b"(23 of 24 read, 96%)" in r.stderr, r.stderr


def test_detect_and_score_refuse_to_write_over_their_input(demo, tmp_path):
    same = tmp_path / "same.jsonl"
    same.write_bytes(demo.read_bytes())
    for cmd in (["score", "--brands", str(BRANDS)], ["detect"]):
        r = bw(*cmd, "-i", str(same), "-o", str(same))
        assert r.returncode == 2 and b"is also the input" in r.stderr
        assert same.read_bytes() == demo.read_bytes()  # untouched


def test_a_run_stopped_by_a_bad_line_leaves_no_partial_output(demo, tmp_path):
    """Outputs are written beside the target and replace it on success: a score stopped at line 3
    keeps the file that was there (and leaves no temporary one); a run that succeeds replaces it,
    with its permissions."""
    lines = demo.read_bytes().splitlines(keepends=True)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"".join(lines[:2]) + b"{not json\n" + b"".join(lines[2:10]))
    out = tmp_path / "scored.jsonl"
    out.write_bytes(b"kept\n")
    out.chmod(0o640)
    r = bw("score", "--brands", str(BRANDS), "-i", str(bad), "-o", str(out))
    assert r.returncode == 2 and b"line 3" in r.stderr
    assert out.read_bytes() == b"kept\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl", "scored.jsonl"]
    good = tmp_path / "good.jsonl"
    good.write_bytes(b"".join(lines[:10]))
    r = bw("score", "--brands", str(BRANDS), "-i", str(good), "-o", str(out))
    assert r.returncode == 0 and len(out.read_bytes().splitlines()) == 10
    assert out.stat().st_mode & 0o777 == 0o640
    new = tmp_path / "new.jsonl"
    assert bw("score", "--brands", str(BRANDS), "-i", str(good), "-o", str(new)).returncode == 0
    assert new.stat().st_mode & 0o777 == 0o666 & ~_umask()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl", "good.jsonl", "new.jsonl", "scored.jsonl"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_two_outputs_naming_one_file_are_refused_before_either_is_written(demo, tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"kept\n")
    scored = bw("score", "--brands", str(BRANDS), "--input", str(demo)).stdout
    r = bw("detect", "-o", str(out), "--digest", str(tmp_path / "." / "out.jsonl"), stdin=scored)
    assert r.returncode == 2 and b"given to both --output and --digest: each needs its own file" in r.stderr
    r = bw("simulate", "--scenario", "suite", "--days", "3", "--scale", "0.05", "-o", str(out), "--truth", str(out))
    assert r.returncode == 2 and b"given to both --output and --truth" in r.stderr
    assert out.read_bytes() == b"kept\n"  # neither run opened it


@pytest.mark.parametrize("args, message", [
    (["--sensitivity", "0"], b"--sensitivity: expected a probability strictly between 0 and 1"),
    (["--sensitivity", "nan"], b"--sensitivity: expected a probability strictly between 0 and 1"),
    (["--sensitivity", "5"], b"--sensitivity: expected a probability strictly between 0 and 1"),
    (["--min-authors", "-1"], b"--min-authors: must not be negative"),
    (["--cooldown", "soon"], b"--cooldown: expected an integer"),
])
def test_detect_refuses_bad_options(args, message):
    r = bw("detect", *args, stdin=b"")
    assert r.returncode == 2 and message in r.stderr


def test_detect_counts_refuses_rows_off_the_grid_and_repeated_buckets():
    def row(start: float, span: float = 300, brand: str = "a") -> bytes:
        return json.dumps({"brand": brand, "start": _t(start), "end": _t(start + span), "mentions": 3}).encode() + b"\n"

    t0 = 1772409600
    assert bw("detect", "--format", "counts", stdin=row(t0) + row(t0, brand="b") + row(t0 + 300)).returncode == 0
    r = bw("detect", "--format", "counts", stdin=row(t0) + row(t0 + 300, span=60))
    assert r.returncode == 2 and b"line 2: start, end: not one bucket of line 1's grid (300 s buckets" in r.stderr
    r = bw("detect", "--format", "counts", stdin=row(t0) + row(t0 + 330))
    assert r.returncode == 2 and b"line 2: start, end: not one bucket" in r.stderr
    r = bw("detect", "--format", "counts", stdin=row(t0) + row(t0 + 300) + row(t0))
    assert r.returncode == 2 and b"line 3: brand 'a', start: this bucket was given before" in r.stderr


def test_simulate_checks_both_outputs_before_writing_either(tmp_path):
    existing = tmp_path / "keep.jsonl"
    existing.write_text("keep me\n")
    r = bw("simulate", "--scenario", "suite", "--days", "3", "--scale", "0.05", "-o", str(existing),
           "--truth", str(tmp_path / "missing" / "truth.json"))
    assert r.returncode == 2 and b"truth.json: cannot write: No such directory" in r.stderr
    assert existing.read_text() == "keep me\n"


def test_a_failed_write_is_one_line_not_a_traceback():
    r = bw("simulate", "-o", "/dev/full")
    assert r.returncode == 1 and r.stderr.strip() == b"buzzwatch simulate: No space left on device"
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)  # a device is written in place, never replaced


def test_an_output_through_a_symlink_replaces_its_file_and_keeps_the_link(demo, tmp_path):
    real = tmp_path / "real.jsonl"
    real.write_bytes(b"old\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    r = bw("simulate", "-o", str(link))
    assert r.returncode == 0 and link.is_symlink() and real.read_bytes().count(b"\n") > 100


def test_feedback_to_an_unreachable_broker_says_so(tmp_path):
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"id":"l1","text":"never again","label":"negative"}\n')
    r = bw("feedback", str(labels), "--bootstrap", "127.0.0.1:1")
    assert r.returncode == 1 and b"buzzwatch feedback: cannot reach the Kafka broker at 127.0.0.1:1" in r.stderr
    assert b"Traceback" not in r.stderr


@pytest.mark.parametrize("cmd", ["replay", "feedback"])
def test_replay_and_feedback_to_an_unreachable_broker_say_so_in_their_one_line_only(cmd, tmp_path):
    """Before, aiokafka's own log line came first ('... ERROR aiokafka: Unable connect to "127.0.0.1:1":
    [Errno 111] ...'), and the command's line gave, for a reason, 'KafkaConnectionError: Unable to
    bootstrap from [('127.0.0.1', 1, <AddressFamily.AF_INET: 2>)]'."""
    path = tmp_path / "in.jsonl"
    path.write_text('{"id":"l1","text":"never again","label":"negative"}\n')  # a label; replay sends any line
    r = bw(cmd, str(path), "--bootstrap", "127.0.0.1:1")
    assert r.returncode == 1 and r.stderr.decode().splitlines() == [
        f"buzzwatch {cmd}: cannot reach the Kafka broker at 127.0.0.1:1: [Errno 111] Connect call failed "
        "('127.0.0.1', 1) (check --bootstrap)"], r.stderr.decode()
    env = subprocess.run([sys.executable, "-m", "pipeline.cli", cmd, str(path)], capture_output=True, timeout=120,
                         cwd=ROOT, env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1,127.0.0.1:2"})
    lines = env.stderr.decode().splitlines()
    assert env.returncode == 1 and len(lines) == 1, lines  # each server with its reason, and where the list came from
    assert lines[0].startswith(f"buzzwatch {cmd}: cannot reach the Kafka broker at 127.0.0.1:1,127.0.0.1:2: "), lines
    assert lines[0].endswith(" (check KAFKA_BOOTSTRAP_SERVERS)"), lines
    for port in (1, 2):
        assert f"127.0.0.1:{port}: [Errno 111] Connect call failed ('127.0.0.1', {port})" in lines[0], lines


def test_feedback_to_a_broker_that_never_answers_says_how_long_it_waited(silent_broker, monkeypatch):
    """aiokafka's TimeoutError says nothing: the line read 'Unable to bootstrap from [...]', after its
    own log line 'Unable connect to "127.0.0.1:...": ' with no reason at all."""
    import asyncio

    from pipeline.errors import BrokerUnavailable
    from pipeline.stream import replay

    monkeypatch.setattr(replay, "REQUEST_TIMEOUT_MS", 500)  # 30 s in use
    with pytest.raises(BrokerUnavailable) as err:
        asyncio.run(replay.send_labels([{"id": "l1", "text": "x", "label": "negative"}], silent_broker, "feedback"))
    assert str(err.value) == f"cannot reach the Kafka broker at {silent_broker}: no answer within 0.5 s (check --bootstrap)"


def labels_file(tmp_path, *lines: dict) -> str:
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return str(path)


def refused_before_sending(r: subprocess.CompletedProcess) -> str:
    """Exit 2 (bad input) with one line, before any connection: the broker (127.0.0.1:1) is never named."""
    assert r.returncode == 2 and b"cannot reach" not in r.stderr and b"Traceback" not in r.stderr, r.stderr
    return r.stderr.decode().strip()


def test_feedback_refuses_one_id_with_two_different_lessons_naming_both_lines(tmp_path):
    """The worker learns an id once: the second label would silently never be learned."""
    path = labels_file(tmp_path, {"id": "l1", "text": "never again", "label": "negative"},
                       {"id": "l2", "text": "fine", "label": "neutral"},
                       {"id": "l1", "text": "never again", "label": "positive"})
    assert refused_before_sending(bw("feedback", path, "--bootstrap", "127.0.0.1:1")) == (
        f"buzzwatch feedback: {path} lines 1 and 3: id 'l1' twice with different labels; "
        "the scorer learns an id once, so line 3 would never be learned")
    other_text = labels_file(tmp_path, {"id": "l1", "text": "never again", "label": "negative"},
                             {"id": "l1", "text": "lost my bag", "label": "negative"})
    assert "lines 1 and 2: id 'l1' twice with different texts" in refused_before_sending(
        bw("feedback", other_text, "--bootstrap", "127.0.0.1:1"))
    # The same label twice teaches nothing twice (the worker skips the repeat): not an error.
    same = labels_file(tmp_path, *[{"id": "l1", "text": "never again", "label": "negative"}] * 2)
    assert b"cannot reach the Kafka broker" in bw("feedback", same, "--bootstrap", "127.0.0.1:1").stderr


def test_feedback_refuses_a_language_the_scorer_has_no_model_for(tmp_path):
    path = labels_file(tmp_path, {"id": "l1", "text": "never again", "label": "negative", "lang": "en-GB"},
                       {"id": "l2", "text": "jamais plus", "label": "negative", "lang": "xx"})
    assert refused_before_sending(bw("feedback", path, "--bootstrap", "127.0.0.1:1")) == (
        f"buzzwatch feedback: {path} line 2: lang 'xx' has no model (supported: en, fr, es, de; "
        "leave it out to have the language detected)")
    detect = labels_file(tmp_path, {"id": "l1", "text": "never again", "label": "negative", "lang": "und"})
    assert b"cannot reach the Kafka broker" in bw("feedback", detect, "--bootstrap", "127.0.0.1:1").stderr


@pytest.mark.parametrize("content", ["", "\n  \n"])
def test_feedback_refuses_a_file_without_labels_before_connecting(tmp_path, content):
    path = tmp_path / "labels.jsonl"
    path.write_text(content)
    assert refused_before_sending(bw("feedback", str(path), "--bootstrap", "127.0.0.1:1")) == (
        f"buzzwatch feedback: {path}: no labels (one JSON object per line: id, text, label, optional lang)")


def _ts(text: str) -> float:
    from pipeline.records import parse_time
    return parse_time(text)


def test_volume_mode_learns_that_a_brands_volume_is_overdispersed():
    """Four days of steady but bursty volume (gamma-Poisson, mean 20 per 5 minutes): nothing to page.
    Taken as Poisson it pages; the CLI's volume signal learns the overdispersion and stays quiet."""
    import random

    from pipeline.core.detector import DetectorConfig
    from pipeline.core.monitor import Monitor, add_counts
    from pipeline.core.windows import WindowConfig

    rng, rows = random.Random(7), []
    for i in range(12 * 24 * 4):
        lam = rng.gammavariate(1.5, 20 / 1.5)  # NB size 1.5: the spread of a real brand's volume
        n = sum(1 for _ in range(200) if rng.random() < lam / 200)
        start = 1772409600 + i * 300
        rows.append({"brand": "ko", "start": _t(start), "end": _t(start + 300), "mentions": n, "negative": 0})
    r = bw("detect", "--format", "counts", "--signal", "volume",
           stdin="".join(json.dumps(x) + "\n" for x in rows).encode())
    assert r.returncode == 0, r.stderr
    opened = [a for a in map(json.loads, r.stdout.decode().splitlines()) if a["status"] == "open"]
    poisson = Monitor(DetectorConfig(signal="volume", min_authors=0, window=WindowConfig(bucket_s=300, grace_s=600)))
    as_poisson = 0
    for i, x in enumerate(rows):
        start = 1772409600 + i * 300
        add_counts(poisson, "ko", start, start + 300, x["mentions"], 0)
        as_poisson += sum(a["status"] == "open" for a in poisson.advance())
    assert len(opened) <= 1 < 5 <= as_poisson, (len(opened), as_poisson)


def test_detect_writes_the_daily_digest_apart_from_the_alerts(tmp_path):
    """A brand drifting over days: no alert on stdout, its days in the --digest file (the same
    notices the worker sends to the digest topic); a path that cannot be written fails first."""
    from pipeline.records import format_time
    from tests.unit.test_drift import _drifting

    rows = _drifting(6, [0.12, 0.12, 0.12, 0.18, 0.24, 0.30])
    lines = b"".join(json.dumps({
        "id": f"m{i}", "text": text, "created_at": format_time(ts), "brand": brand, "author_id": author,
        "negativity": 0.9 if negative else 0.1, "sentiment": "negative" if negative else "neutral", "lang": "en",
    }).encode() + b"\n" for i, (brand, ts, negative, author, text) in enumerate(rows))
    digest = tmp_path / "digest.jsonl"
    r = bw("detect", "--digest", str(digest), stdin=lines)
    assert r.returncode == 0 and r.stdout == b"", r.stderr
    days = [json.loads(x) for x in digest.read_text().splitlines()]
    # The stream ends at the end of 03-07: that day is not over in event time until a later mention.
    assert [(d["brand"], d["day"]) for d in days] == [("acme", "2026-03-05"), ("acme", "2026-03-06")]
    r = bw("detect", "--digest", str(tmp_path / "no" / "such" / "dir" / "d.jsonl"), stdin=lines)
    assert r.returncode == 2 and b"d.jsonl" in r.stderr and r.stdout == b""
    r = bw("detect", "--digest", "-", stdin=lines)
    assert r.returncode == 2 and b"--digest and --output" in r.stderr


def test_detect_learns_each_brand_in_its_time_zone_from_the_brands_file(tmp_path):
    """A New York brand three times as busy from noon to 1 pm, local, every day: when the clocks go
    forward (2026-03-08) its noon comes an hour earlier in UTC. Learned in UTC, that hour pages every
    day until the daily curve has moved; learned in its own zone (``--brands``), nothing pages."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    start, end = int(datetime(2026, 2, 9, tzinfo=ny).timestamp()), int(datetime(2026, 3, 12, tzinfo=ny).timestamp())
    rows, carry = [], 0.0
    for t in range(start, end, 300):
        carry += (600.0 if datetime.fromtimestamp(t, ny).hour == 12 else 200.0) / 12
        n = int(carry)
        carry -= n
        rows.append(json.dumps({"brand": "acme", "start": _t(t), "end": _t(t + 300), "mentions": n, "negative": n // 10}))
    counts = tmp_path / "counts.jsonl"
    counts.write_text("\n".join(rows) + "\n")
    brands = tmp_path / "brands.yaml"
    brands.write_text("brands:\n  - id: acme\n    handles: ['@acme']\n    timezone: America/New_York\n")

    def opened(*extra: str) -> list[str]:
        r = bw("detect", "--format", "counts", "--signal", "volume", "-i", str(counts), *extra)
        assert r.returncode == 0, r.stderr
        return [a["opened_at"] for a in map(json.loads, r.stdout.decode().splitlines()) if a["status"] == "open"]

    assert opened() == [f"2026-03-{d:02d}T16:05:00Z" for d in (8, 9, 10, 11)]
    assert opened("--brands", str(brands)) == []


def test_detect_refuses_a_brands_file_with_an_unknown_time_zone_before_writing(tmp_path):
    brands = tmp_path / "brands.yaml"
    brands.write_text("brands:\n  - id: acme\n    handles: ['@acme']\n    timezone: New York\n")
    out = tmp_path / "alerts.jsonl"
    r = bw("detect", "--brands", str(brands), "-o", str(out), stdin=b"")
    assert r.returncode == 2 and b"brand 'acme': timezone: unknown time zone 'New York'" in r.stderr
    assert not out.exists()


@pytest.mark.parametrize("speed", ["0", "-5", "nan", "inf"])
def test_replay_refuses_a_speed_that_is_not_positive(speed, tmp_path):
    r = bw("replay", str(tmp_path / "any.jsonl"), "--speed", speed, "--bootstrap", "127.0.0.1:1")
    assert r.returncode == 2 and f"--speed: expected a positive number, got '{speed}'".encode() in r.stderr


def test_the_brands_file_is_an_input_no_output_may_overwrite(demo, tmp_path):
    """``--brands FILE`` is read like ``--input``: an output naming it would replace the team's
    brands file with JSON lines. Refused before anything is written."""
    brands = tmp_path / "brands.yaml"
    brands.write_bytes(BRANDS.read_bytes())
    scored = bw("score", "--brands", str(BRANDS), "--input", str(demo)).stdout
    for args, stdin in ((["score", "-i", str(demo), "-o", str(brands)], None),
                        (["detect", "-o", str(brands)], scored),
                        (["detect", "--digest", str(tmp_path / "." / "brands.yaml")], scored)):
        r = bw(*args, "--brands", str(brands), stdin=stdin)
        assert r.returncode == 2 and b"is also the brands file: write the output elsewhere" in r.stderr, r.stderr
        assert brands.read_bytes() == BRANDS.read_bytes()


def test_input_given_as_dash_is_named_stdin_as_without_it():
    """README: a bad line stops with ``stdin line N: <reason>`` - with ``-i -`` too."""
    for cmd in ("score", "detect"):
        r = bw(cmd, "-i", "-", stdin=b"{not json\n")
        assert r.returncode == 2 and r.stderr.startswith(f"buzzwatch {cmd}: stdin line 1: ".encode()), r.stderr
    r = bw("feedback", "-", "--bootstrap", "127.0.0.1:1", stdin=b"")
    assert r.returncode == 2 and r.stderr.startswith(b"buzzwatch feedback: stdin: no labels"), r.stderr


@pytest.mark.parametrize("cmd, closed", [(["detect"], 0), (["score"], 0), (["detect"], 1), (["simulate"], 1)])
def test_a_closed_stdin_or_stdout_is_one_line_not_a_traceback(cmd, closed):
    """``buzzwatch detect <&-`` (a cron line, a supervisor without a stdin) has no stdin at all."""
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", *cmd], capture_output=True, cwd=ROOT, timeout=60,
                       preexec_fn=lambda: os.close(closed))  # the process starts without it: sys.stdin is None
    assert r.returncode == 2 and b"Traceback" not in r.stderr, r.stderr
    assert r.stderr.decode().strip() == f"buzzwatch {cmd[0]}: " + ("stdin: closed: read a file instead (-i FILE)",
                                                                   "stdout: closed: write to a file instead (-o FILE)")[closed]


@pytest.mark.parametrize("span", [0.5, 90.5])
def test_detect_counts_refuses_buckets_of_a_fraction_of_a_second(span):
    """Buckets are whole seconds: 90.5 s rows counted in 90 s buckets drift across them (two rows in
    one bucket every 3 hours, a bucket read as 0 beside it) - silently wrong counts. Refused."""
    rows = b"".join(json.dumps({"brand": "a", "start": _t(1772409600 + i * span), "end": _t(1772409600 + (i + 1) * span),
                                "mentions": 3}).encode() + b"\n" for i in range(3))
    r = bw("detect", "--format", "counts", stdin=rows)
    assert r.returncode == 2, r.stderr
    assert f"stdin line 1: start, end: a bucket must last a whole number of seconds, got {span:g} s".encode() in r.stderr


def test_replay_refuses_a_line_too_large_for_a_kafka_record_before_sending_anything(tmp_path):
    """A line over the producer's 1 MiB request size cannot be sent: it stopped the replay half-way with
    aiokafka's MessageSizeTooLargeError traceback, the lines before it sent. Now the file is refused
    first, the line named; one just under the limit is sent (here: the broker is what fails)."""
    path = tmp_path / "mentions.jsonl"
    line = json.dumps({"id": "1", "text": "x" * (1 << 20), "created_at": "2026-03-01T00:00:00Z"})
    path.write_text('{"id": "0", "text": "fine", "created_at": "2026-03-01T00:00:00Z"}\n\n' + line + "\n")
    r = bw("replay", str(path), "--bootstrap", "127.0.0.1:1", "--quiet")
    assert r.returncode == 2 and b"Traceback" not in r.stderr and b"cannot reach" not in r.stderr, r.stderr
    assert re.fullmatch(rf"buzzwatch replay: {re.escape(str(path))} line 3: 1,048,\d\d\d bytes as a Kafka record, "
                        r"more than the 1,048,576 a request may hold: nothing sent", r.stderr.decode().strip()), r.stderr
    path.write_text(json.dumps({"id": "1", "text": "x" * 1_000_000, "created_at": "2026-03-01T00:00:00Z"}) + "\n")
    assert b"cannot reach the Kafka broker" in bw("replay", str(path), "--bootstrap", "127.0.0.1:1", "--quiet").stderr
