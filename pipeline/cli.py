"""``buzzwatch`` commands: worker, score, detect, replay, simulate.

``buzzwatch score | buzzwatch detect`` is the offline pipeline; it runs the same core as the
worker. Bad input stops with a message naming the line and exit code 2; nothing is skipped
silently, and ``detect`` exits 3 when most of what it read came too late to count.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from typing import IO, Any

import orjson

from pipeline.errors import BuzzwatchError, ConfigError, InvalidLine, InvalidRecord
from pipeline.records import encode, format_time, parse_time

EXIT_BAD_INPUT = 2
EXIT_MOSTLY_LATE = 3  # detect: more than half of the mentions read were too late to count
DEFAULT_SENSITIVITY = 1e-6  # DetectorConfig.p_open (not imported here: the CLI starts without the core)


class BadInput(BuzzwatchError):
    """A line of an input file cannot be used; the message names the line."""


def _open_in(stack: ExitStack, path: str | None) -> IO[bytes]:
    if path in (None, "-"):
        if sys.stdin is None:  # started with fd 0 closed (`<&-`, a supervisor without one)
            raise BadInput("stdin: closed: read a file instead (-i FILE)")
        return sys.stdin.buffer
    try:
        return stack.enter_context(open(path, "rb"))
    except OSError as exc:
        raise BadInput(f"{path}: cannot open: {exc.strerror}") from None


def _name(path: str | None) -> str:
    """How messages name an input: ``-`` and no path are both stdin."""
    return "stdin" if path in (None, "-") else path


def _open_out(stack: ExitStack, path: str | None, source: str | None = None, brands: str | None = None) -> IO[bytes]:
    """``path`` for writing, refused if it is the input ``source`` or the ``brands`` file (read as an
    input too: replacing it would lose the team's brands). A regular file is written to a
    temporary file beside it that replaces it when the command succeeds: a run stopped by a bad
    line leaves no partial output that looks complete, and a file that was there is kept. A device
    or a pipe (``/dev/null``, a FIFO) is written in place."""
    if path in (None, "-"):
        if sys.stdout is None:  # started with fd 1 closed
            raise BadInput("stdout: closed: write to a file instead (-o FILE)")
        return sys.stdout.buffer
    _check_writable(path)
    for read, what in ((source, "the input"), (brands, "the brands file")):
        if read not in (None, "-") and os.path.exists(path) and os.path.exists(read) and os.path.samefile(path, read):
            raise BadInput(f"{path}: is also {what}: write the output elsewhere")
    if os.path.exists(path) and not os.path.isfile(path):  # a device, a pipe: written in place, never replaced
        try:
            return stack.enter_context(open(path, "wb"))
        except OSError as exc:
            raise BadInput(f"{path}: cannot write: {exc.strerror}") from None
    target = os.path.realpath(path)  # a symlink's file is replaced, the link kept
    folder, name = os.path.split(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=folder or ".")
    except OSError as exc:
        raise BadInput(f"{path}: cannot write: {exc.strerror}") from None
    out = os.fdopen(fd, "wb")

    def finish(kind: type[BaseException] | None, *_: object) -> None:
        out.close()
        if kind is None:
            os.chmod(tmp, _mode_of(target))
            os.replace(tmp, target)
        else:
            os.unlink(tmp)

    stack.push(finish)
    return out


def _mode_of(path: str) -> int:
    """The permissions an output file gets: those of the file it replaces, else open()'s (umask)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _distinct_outputs(**flags: str | None) -> None:
    """Refuse two output flags naming one file: the second open would empty what the first wrote.
    Checked before anything is opened."""
    seen: dict[str, str] = {}
    for flag, path in flags.items():
        if path in (None, "-"):
            continue
        key = os.path.realpath(path)
        if key in seen:
            raise BadInput(f"{path}: given to both --{seen[key]} and --{flag}: each needs its own file")
        seen[key] = flag


def _check_writable(path: str) -> None:
    """Fail before any file is opened (and emptied) if ``path`` cannot be an output file."""
    folder = os.path.dirname(path) or "."
    if os.path.isdir(path):
        raise BadInput(f"{path}: cannot write: Is a directory")
    if not os.path.isdir(folder):
        raise BadInput(f"{path}: cannot write: No such directory {folder}")


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    for n, line in enumerate(stream, start=1):
        line = line.strip()
        if line:
            yield n, line


def _chunks(items: Iterable[tuple[int, bytes]], size: int) -> Iterator[list[tuple[int, bytes]]]:
    chunk: list[tuple[int, bytes]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# -- score ------------------------------------------------------------------------------------
def cmd_score(args: argparse.Namespace) -> int:
    from pipeline.core.brands import BrandMatcher, load_brands
    from pipeline.core.ingest import Ingestor
    from pipeline.core.scoring import Scorer

    matcher = BrandMatcher(load_brands(args.brands)) if args.brands else None
    ingestor = Ingestor(Scorer(), matcher)
    name = _name(args.input)
    skipped, first_skipped = 0, 0  # mentions about no brand: skipped, as the worker drops them
    with ExitStack() as stack:
        src, dst = _open_in(stack, args.input), _open_out(stack, args.output, args.input, args.brands)
        for chunk in _chunks(_lines(src), 1000):
            outcomes = ingestor.run([raw for _, raw in chunk])
            for (n, _), out in zip(chunk, outcomes, strict=True):
                if isinstance(out, InvalidRecord):
                    raise BadInput(f"{name} line {n}: {out.reason}")
                if out is None:
                    skipped += 1
                    first_skipped = first_skipped or n
                    continue
                dst.write(encode(out) + b"\n")
        dst.flush()
    if skipped:
        _report_unmatched(skipped, first_skipped, name, matched_text=matcher is not None)
    return 0


def _report_unmatched(skipped: int, first: int, name: str, matched_text: bool) -> None:
    """Mentions about no brand are dropped by the worker (``buzzwatch_unmatched_mentions_total``), so
    ``score`` skips them too - but says so: a whole file skipped is most often a missing --brands."""
    why = ("no 'brand' field and no match in the brands file" if matched_text
           else "no 'brand' field; pass --brands FILE to match their text")
    print(f"buzzwatch score: {name}: {skipped:,} mention{'s' if skipped != 1 else ''} matched no brand and "
          f"{'were' if skipped != 1 else 'was'} skipped (first: line {first}; {why}; the worker counts these in "
          "buzzwatch_unmatched_mentions_total)", file=sys.stderr)


# -- detect -----------------------------------------------------------------------------------
def detector_config(args: argparse.Namespace, bucket_s: int = 60) -> Any:
    from pipeline.core.baseline import BaselineConfig
    from pipeline.core.detector import DetectorConfig
    from pipeline.core.windows import WindowConfig

    # Aggregated counts carry no authors: the crowd test cannot apply to them.
    min_authors = args.min_authors if args.format == "mentions" else 0
    # Raw volume is overdispersed (retweet cascades, bots, news cycles: nothing collapses them as
    # authors collapse negatives), so the volume signal learns each brand's overdispersion, which a
    # window of k buckets averages out like k^0.75 (as for NAB); as Poisson, real Twitter volume
    # (NAB realTweets) pages ~110 times a series in eight weeks instead of ~18.
    volume = args.signal == "volume"
    return DetectorConfig(signal=args.signal, p_open=args.sensitivity, min_authors=min_authors,
                          cooldown_minutes=args.cooldown, disp_window_exp=0.75 if volume else 0.0,
                          relative_days=args.relative_days,
                          window=WindowConfig(bucket_s=bucket_s, grace_s=max(600, 2 * bucket_s)),
                          baseline=BaselineConfig(dispersion=volume))


def _timezones(args: argparse.Namespace) -> dict[str, str]:
    """Each brand's time zone from ``--brands`` (the worker's brands file), as the worker reads it."""
    from pipeline.core.brands import load_brands

    return {b.id: b.timezone for b in load_brands(args.brands) if b.timezone} if args.brands else {}


def cmd_detect(args: argparse.Namespace) -> int:
    from pipeline.core.monitor import Monitor, count_json_lines

    name = _name(args.input)
    timezones = _timezones(args)  # a bad brands file fails before anything is opened
    _distinct_outputs(output=args.output, digest=args.digest)
    with ExitStack() as stack:
        src, dst = _open_in(stack, args.input), _open_out(stack, args.output, args.input, args.brands)
        # Opened first: a path that cannot be written fails before the input is read, not after.
        digest = _open_out(stack, args.digest, args.input, args.brands) if args.digest else None
        if digest is not None and digest is dst:
            raise BadInput("--digest and --output: one of them must be a file (both would go to stdout)")
        write = dst.write
        if args.format == "counts":
            monitor, read = _detect_counts(args, src, write, name, timezones)
        else:  # scored mentions: the hot path, a loop compiled with the core
            monitor = Monitor(detector_config(args), timezones=timezones)
            try:
                read = count_json_lines(monitor, src, lambda alert: write(encode(alert) + b"\n"))
            except InvalidLine as exc:
                raise BadInput(f"{name} line {exc.line}: {exc.reason}") from None
        dst.flush()
        if digest is not None and monitor is not None:  # the days the input closed, as the worker sends them
            digest.writelines(encode(n) + b"\n" for n in monitor.take_digest())
    return _report_uncounted(monitor, name, read)


def _report_uncounted(monitor: Any, name: str, read: int) -> int:
    """Say what was not counted, as the worker's metrics do (late, duplicate): never silently. The
    exit code: EXIT_MOSTLY_LATE if more than half of what was read came too late - the alerts then
    describe a sliver of the input (most often one not in event-time order), which a count on stderr
    alone leaves easy to miss in a script."""
    if monitor is None:
        return 0
    grace = monitor.cfg.window.grace_s
    if monitor.too_late:
        print(f"buzzwatch detect: {name}: {monitor.too_late} not counted: their bucket was already final "
              f"(more than {grace:g} s older than the latest event time seen; the input must be roughly in "
              "event-time order; the worker counts these in buzzwatch_late_mentions_total)", file=sys.stderr)
    if monitor.duplicates:
        print(f"buzzwatch detect: {name}: {monitor.duplicates} duplicates (an id seen before) not counted again",
              file=sys.stderr)
    if monitor.too_late * 2 <= read:
        return 0
    print(f"buzzwatch detect: {name}: most of the input came too late to count ({monitor.too_late:,} of "
          f"{read:,} read, {monitor.too_late / read:.0%}): the alerts written leave them out. The grace is "
          f"{grace:g} s, as in the worker, and not an option: sort the input by created_at. Exit code "
          f"{EXIT_MOSTLY_LATE}.", file=sys.stderr)
    return EXIT_MOSTLY_LATE


def _detect_counts(args: argparse.Namespace, src: IO[bytes], write: Any, name: str,
                   timezones: dict[str, str]) -> tuple[Any, int]:
    """``buzzwatch detect --format counts``: per-bucket counts; the first row's span sets the bucket
    size, and every row must be one bucket of that grid, each (brand, start) once. Returns the
    monitor and what it was handed in the unit ``Monitor.too_late`` counts (a row's negative and
    other mentions are one each)."""
    from pipeline.core.monitor import Monitor, add_counts

    monitor: Monitor | None = None
    read = 0
    span = phase = first = 0.0
    seen: set[tuple[str, float]] = set()
    for n, raw in _lines(src):
        try:
            brand, start, end, mentions, negative = _count_row(orjson.loads(raw))
            if monitor is None:
                span, phase, first = end - start, start % (end - start), start
                if abs(span - round(span)) > 1e-3 or round(span) < 1:  # the windows count whole seconds
                    raise InvalidRecord(f"start, end: a bucket must last a whole number of seconds, got {span:g} s")
                monitor = Monitor(detector_config(args, bucket_s=round(span)), timezones=timezones)
            elif end - start != span or start % span != phase:
                raise InvalidRecord(f"start, end: not one bucket of line 1's grid ({span:g} s buckets starting "
                                    f"{format_time(first)}): every line must count one bucket of that size")
            if (brand, start) in seen:
                raise InvalidRecord(f"brand {brand!r}, start: this bucket was given before")
            seen.add((brand, start))
            add_counts(monitor, brand, start, end, mentions, negative)
            read += (negative > 0) + (mentions > negative)
        except orjson.JSONDecodeError as exc:
            raise BadInput(f"{name} line {n}: not valid JSON: {exc}") from None
        except InvalidRecord as exc:
            raise BadInput(f"{name} line {n}: {exc.reason}") from None
        for alert in monitor.advance():
            write(encode(alert) + b"\n")
    return monitor, read


def _count_row(obj: Any) -> tuple[str, float, float, int, int]:
    if not isinstance(obj, dict):
        raise InvalidRecord("expected a JSON object")
    brand = obj.get("brand")
    if not isinstance(brand, str) or not brand:
        raise InvalidRecord("brand: required string")
    start, end = parse_time(obj.get("start"), "start"), parse_time(obj.get("end"), "end")
    if end <= start:
        raise InvalidRecord("end: must be after start")
    counts = []
    for key in ("mentions", "negative"):
        value = obj.get(key, 0 if key == "negative" else None)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidRecord(f"{key}: expected a non-negative integer, got {value!r:.40}")
        counts.append(value)
    if counts[1] > counts[0]:
        raise InvalidRecord("negative: more than mentions")
    return brand, start, end, counts[0], counts[1]


# -- replay -----------------------------------------------------------------------------------
def cmd_replay(args: argparse.Namespace) -> int:
    import asyncio

    from pipeline.settings import Settings
    from pipeline.stream.replay import replay

    settings = Settings.kafka_from_env()  # the worker's KAFKA_* security settings; a bad one: exit 2, nothing sent
    return asyncio.run(replay(args.file, args.bootstrap, args.topic, args.speed, progress=not args.quiet,
                              settings=settings))


# -- feedback ---------------------------------------------------------------------------------
def cmd_feedback(args: argparse.Namespace) -> int:
    """Every line is checked before anything is sent: a bad file sends nothing."""
    import asyncio

    from pipeline.settings import Settings
    from pipeline.stream.replay import send_labels

    settings = Settings.kafka_from_env()  # as replay's
    with ExitStack() as stack:
        records = _checked_labels(_open_in(stack, args.file), _name(args.file))
    sent = asyncio.run(send_labels(records, args.bootstrap, args.topic, settings))
    print(f"buzzwatch feedback: {sent} labels sent to {args.topic}", file=sys.stderr)
    return 0


def _checked_labels(src: IO[bytes], name: str) -> list[dict[str, Any]]:
    """The file's labels, or BadInput naming the line(s) of what the scorer would not learn as meant:
    the worker learns an id once, so a second, different lesson under it would be silently dropped;
    a ``lang`` without a model would be learned by another language's model; no labels at all is
    almost surely the wrong file."""
    from pipeline.core.scoring import LANGS, route
    from pipeline.records import label_from_dict

    records: list[dict[str, Any]] = []
    first: dict[str, tuple[int, dict[str, Any]]] = {}  # id -> (its line, its label)
    for n, raw in _lines(src):
        try:
            record = label_from_dict(orjson.loads(raw))
        except orjson.JSONDecodeError as exc:
            raise BadInput(f"{name} line {n}: not valid JSON: {exc}") from None
        except InvalidRecord as exc:
            raise BadInput(f"{name} line {n}: {exc.reason}") from None
        lang = record.get("lang")
        if lang is not None and route(lang) not in (*LANGS, None):
            raise BadInput(f"{name} line {n}: lang {lang!r} has no model (supported: {', '.join(LANGS)}; "
                           f"leave it out to have the language detected)")
        if record["id"] in first:
            line, earlier = first[record["id"]]
            for field in ("label", "text"):
                if record[field] != earlier[field]:
                    raise BadInput(f"{name} lines {line} and {n}: id {record['id']!r} twice with different "
                                   f"{field}s; the scorer learns an id once, so line {n} would never be learned")
        else:
            first[record["id"]] = (n, record)
        records.append(record)
    if not records:
        raise BadInput(f"{name}: no labels (one JSON object per line: id, text, label, optional lang)")
    return records


# -- simulate ---------------------------------------------------------------------------------
def cmd_simulate(args: argparse.Namespace) -> int:
    if args.scenario == "demo":
        if args.truth or args.days is not None or args.scale is not None:
            raise BadInput("--truth, --days and --scale apply to --scenario suite only")
        from pipeline.sim.generate import demo_spec, generate

        rows = generate(demo_spec(), seed=7 if args.seed is None else args.seed)
        truth = None
    else:
        from pipeline.sim.scenarios import make_suite

        days, scale = 9 if args.days is None else args.days, 1.0 if args.scale is None else args.scale
        if days < 3:
            raise BadInput(f"--days: need at least 3 (a day of warm-up, episodes after day 2), got {days}")
        if not 0 < scale <= 20:
            raise BadInput(f"--scale: expected a number in (0, 20], got {scale}")
        suite = make_suite(seed=1 if args.seed is None else args.seed, days=days, scale=scale)
        rows, truth = suite.rows, suite.truth
    _distinct_outputs(output=args.output, truth=args.truth)
    for path in (args.output, args.truth):  # both checked before either is opened (and emptied)
        if path not in (None, "-"):
            _check_writable(path)
    with ExitStack() as stack:
        dst = _open_out(stack, args.output)
        truth_out = _open_out(stack, args.truth) if args.truth else None
        for row in rows:
            dst.write(orjson.dumps(row) + b"\n")
        if truth_out is not None:
            truth_out.write(orjson.dumps(truth, option=orjson.OPT_INDENT_2) + b"\n")
    return 0


# -- worker -----------------------------------------------------------------------------------
def cmd_worker(args: argparse.Namespace) -> int:
    from pipeline.settings import Settings
    from pipeline.stream.worker import run_worker

    return run_worker(Settings.from_env(), loglevel=args.loglevel)


def _float_in(text: str, low: float, high: float, what: str) -> float:
    """``text`` as a number strictly between ``low`` and ``high`` (nan never is), for argparse."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not low < value < high:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def _probability(text: str) -> float:
    return _float_in(text, 0.0, 1.0, "a probability strictly between 0 and 1")


def _positive(text: str) -> float:
    return _float_in(text, 0.0, math.inf, "a positive number")


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="buzzwatch", description="Alerts when negative buzz about a brand accelerates.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    w = sub.add_parser("worker", help="run the streaming worker (settings from environment variables)")
    w.add_argument("--loglevel", default="info", choices=["debug", "info", "warning", "error"])
    w.set_defaults(func=cmd_worker)

    s = sub.add_parser("score", help="Mention JSONL -> ScoredMention JSONL, one line per mention, in order; "
                                     "mentions about no brand are skipped and counted on stderr")
    s.add_argument("--input", "-i", help="input file (default: stdin)")
    s.add_argument("--output", "-o", help="output file (default: stdout)")
    s.add_argument("--brands", help="brands file (YAML) for mentions without a 'brand'")
    s.set_defaults(func=cmd_score)

    d = sub.add_parser("detect", help="ScoredMention JSONL (or per-bucket counts) -> Alert JSONL",
                       epilog=f"Exit status: 0 done; {EXIT_BAD_INPUT} a bad line or option (the line named); 1 a "
                              f"write that failed; {EXIT_MOSTLY_LATE} done, but more than half of the mentions read "
                              "came too late to count (more than the grace - 10 min, at least 2 buckets - behind "
                              "the latest event time seen): the output is written, without them; sort the input "
                              "by created_at.")
    d.add_argument("--input", "-i", help="input file (default: stdin), roughly in event-time order")
    d.add_argument("--output", "-o", help="output file (default: stdout)")
    d.add_argument("--signal", choices=["negative", "volume"], default="negative",
                   help="what must accelerate: negative mentions (default) or all mentions")
    d.add_argument("--format", choices=["mentions", "counts"], default="mentions",
                   help='input lines: scored mentions, or {"brand","start","end","mentions","negative"}')
    d.add_argument("--sensitivity", type=_probability, default=DEFAULT_SENSITIVITY,
                   help=f"tail probability below which a window is surprising (default {DEFAULT_SENSITIVITY:g})")
    d.add_argument("--min-authors", type=_non_negative, default=3, help="distinct authors needed to page (default 3)")
    d.add_argument("--cooldown", type=_non_negative, default=60, help="quiet minutes after an incident resolves (default 60)")
    d.add_argument("--relative-days", type=_non_negative, default=0,
                   help="each brand sets its own bar: page only above 1.5 x its typical day's most surprising "
                        "window over the last N days (for volume, whose tails differ by brand; default 0: off)")
    d.add_argument("--brands", metavar="FILE",
                   help="the worker's brands file: each brand's timezone, in which its hours and weekdays are "
                        "learned (default: UTC for every brand)")
    d.add_argument("--digest", metavar="FILE",
                   help="write the daily digest here (Digest JSONL): each brand's days whose negative share rose "
                        "well above its usual one - slow drifts, which never page")
    d.set_defaults(func=cmd_detect)

    r = sub.add_parser("replay", help="produce a Mention JSONL file into the mentions topic")
    r.add_argument("file")
    r.add_argument("--bootstrap", default=None, help="Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS)")
    r.add_argument("--topic", default="mentions")
    r.add_argument("--speed", type=_positive, default=None,
                   help="replay in event time, this many times faster than real time (default: as fast as possible)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_replay)

    f = sub.add_parser("feedback", help="send labelled texts (JSONL: id, text, label, lang?) for the scorer to learn")
    f.add_argument("file", help='JSONL, one {"id", "text", "label": negative|neutral|positive, "lang"?} per line')
    f.add_argument("--bootstrap", default=None, help="Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS)")
    f.add_argument("--topic", default="feedback")
    f.set_defaults(func=cmd_feedback)

    m = sub.add_parser("simulate", help="write a generated stream: the demo (Mention JSONL) or the labelled suite",
                       description="demo: the Mention stream `make run` replays (a negative and a positive burst). "
                                   "suite: the labelled scenario suite as ScoredMention JSONL in arrival order, "
                                   "with its ground truth (episodes, true rates) written to --truth.")
    m.add_argument("--scenario", choices=["demo", "suite"], default="demo", help="which stream (default: demo)")
    m.add_argument("--output", "-o", help="output file (default: stdout)")
    m.add_argument("--seed", type=int, default=None, help="random seed (default: 7 for demo, 1 for suite)")
    m.add_argument("--truth", help="suite only: write the ground truth JSON here")
    m.add_argument("--days", type=int, default=None, help="suite only: days of stream (default 9, at least 3)")
    m.add_argument("--scale", type=float, default=None,
                   help="suite only: brands and episodes x this (default 1: ~0.6M mentions)")
    m.set_defaults(func=cmd_simulate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except (BadInput, ConfigError) as exc:
        print(f"buzzwatch {args.command}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BuzzwatchError as exc:  # e.g. the broker cannot be reached
        print(f"buzzwatch {args.command}: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    except OSError as exc:  # a full disk, a vanished output: one line, not a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"buzzwatch {args.command}: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

