"""Many brands, a few event clocks: route scored mentions to brand detectors and tick them.

A *clock* is one ordered input - in the worker, one brand partition (of ``mentions.scored``, and of
``mentions`` for what is counted where it is scored: the same number, the same clock; a brand
lives in exactly one); offline, the one input file. Its watermark is the largest event time
seen on it (inputs are roughly ordered; the buckets' grace absorbs the rest). Kafka orders
nothing across partitions, so one partition running ahead must not make another's mentions
late: each brand is ticked by its own clock. Only *active* brands - with open buckets or an open
incident - are ticked; an idle brand costs nothing until its next mention, when its baseline
catches up on the silent hours in one step. A gap in which a clock expected many mentions - by its
own traffic on the last days (``ClockTraffic``) or its brands' baselines - and got none is not
silence but an outage of its input (``_down``): its brands learn nothing from it
(``BrandDetector.unobserved``; a brand out of memory then, when it is reloaded).
With a table, each clock's state (``take_clock_states``) is written beside the brands' and
restored by the next process to read its input, so an outage spanning a restart is one too. An
active brand with no tick to evaluate (no new signal, no open incident) is not visited either,
except every ``CATCH_UP_TICKS`` to learn its final buckets; an explicit ``advance(watermark)``
visits every brand. ``dirty`` names the brands whose state changed since the last
``take_dirty()``, so the streaming shell writes each brand's state once per flush rather than once
per mention.

>>> m = Monitor(DetectorConfig())
>>> m.add_scored("acme", 0.0, True, "u1", "late again", 10, uid="1")
'counted'
>>> m.add_scored("acme", 1.0, True, "u1", "late again", 10, uid="1")
'duplicate'
>>> m.advance(600.0)
[]
>>> sorted(m.take_dirty())
['acme']
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import msgspec
import orjson

from pipeline.core.detector import BrandDetector, DetectorConfig, smallest
from pipeline.core.shape import aware_time, scored_fields
from pipeline.core.traffic import ClockTraffic
from pipeline.core.wire import SCORED
from pipeline.errors import InvalidLine, InvalidRecord
from pipeline.records import ScoredMention, load_json, scored_time

CATCH_UP_TICKS: Final = 60  # a brand with nothing to evaluate still catches up (learns) this often
_BEFORE_ALL: Final = float("-inf")


#: Per-mention memories a brand's stored state keeps at most (``BrandWindows.to_state``): ~25-45
#: bytes each, so a state stays far under the 1 MB a Kafka record may hold however busy the brand,
#: and a commit, which writes every brand changed since the last, costs at most ~0.1 ms a brand (at
#: 32,000 mentions/s over 500 brands, states of 20,000 entries took 250 ms of CPU a commit and made
#: the latency's p99).
MAX_STATE_MEMORY: Final = 3_000

#: Outages a clock remembers for the brands reloaded after them (``Monitor._missed_outages``).
OUTAGE_LOG: Final = 32
#: A clock's stored state holds the mentions expected this long after its watermark (``take_clock_states``).
AHEAD_S: Final = 3 * 3600.0


class Monitor:
    """Brand detectors keyed by brand id, plus the event-time watermark."""

    def __init__(self, cfg: DetectorConfig, load: Callable[[str], dict[str, Any] | None] | None = None,
                 timezones: Mapping[str, str] | None = None,
                 load_clock: Callable[[int], dict[str, Any] | None] | None = None) -> None:
        self.cfg = cfg
        self.timezones = dict(timezones or {})  # brand -> IANA zone its seasons are learned in (others: UTC)
        self.brands: dict[str, BrandDetector] = {}
        self.active: set[str] = set()
        self.dirty: set[str] = set()
        self.clocks: dict[int, float] = {}  # clock -> watermark
        self.clock_of: dict[str, int] = {}  # brand -> its clock
        self.too_late = 0
        self.digest: list[dict[str, Any]] = []  # drift notices of closed days, until take_digest()
        self.duplicates = 0  # mentions seen before (same id, or an offset already applied): not counted again
        self._ticked: dict[int, int] = {}  # clock -> bucket boundary at the last advance()
        self._due: dict[int, float] = {}  # clock -> watermark at which it crosses its next boundary
        self._crossed = True  # some clock reached its _due since the last advance()
        self._load = load  # restore a brand's state from the table on first sight
        # (clock, lo, hi, brand): gaps a clock's input was down, for every brand of the clock in memory
        # (brand None) or for one brand reloaded since, until advance()
        self._outages: list[tuple[int, float, float, str | None]] = []
        self._outage_log: dict[int, list[tuple[float, float]]] = {}  # clock -> its last outages (lo, hi)
        self._load_clock = load_clock  # restore a clock's state from the table on first sight (``take_clock_states``)
        self._clocks_seen: set[int] = set()  # clocks looked up in the table already
        self._written: dict[int, float] = {}  # clock -> watermark in its last ``take_clock_states``
        self._restored: dict[int, tuple[float, float]] = {}  # clock -> (watermark, mentions expected after it) restored
        self.traffic: dict[int, ClockTraffic] = {}  # clock -> its mentions hour by hour (``_down``)
        self._outage_s = cfg.outage_minutes * 60.0 if cfg.outage_expected > 0 else math.inf  # a gap this long may be one

    def detector(self, brand: str) -> BrandDetector:
        det = self.brands.get(brand)
        if det is None:
            state = self._load(brand) if self._load is not None else None
            tz = self.timezones.get(brand)
            det = BrandDetector.from_state(brand, self.cfg, state, tz) if state else BrandDetector(brand, self.cfg, tz)
            self.brands[brand] = det
            if not det.is_idle():
                self.active.add(brand)
        return det

    def add_scored(self, brand: str, ts: float, negative: bool, author: str | None, text: str,
                   followers: int, sample: dict[str, Any] | None = None, weight: int = 1,
                   uid: str | None = None, clock: int = 0, offset: int | None = None,
                   source: bool = False) -> str:
        """Count one mention: 'counted', 'late' (its bucket is final) or 'duplicate'.

        ``offset`` is the mention's position in its input (a brand reads one partition): one at
        or below the last applied is a replay after a restart - its effect is already in the state.
        A brand has up to two inputs, each with its own position: its partition of the scored
        topic, and (``source``) the same partition of the raw mentions when they are keyed by brand
        and counted where they are scored (``count_decoded``).
        """
        if self._load_clock is not None and clock not in self._clocks_seen:
            self._restore_clock(clock)
        det = self.brands.get(brand)
        if det is None:
            det = self.detector(brand)
            # Its clock from the start: a brand restored with open buckets is active at once, and a
            # replay after a restart may bring only duplicates at first; ticked meanwhile by another
            # input's clock (one ahead: the raw topic's), it would make its own next mentions late.
            self.clock_of[brand] = clock
            if det.learned_upto is not None and clock in self._outage_log:
                self._missed_outages(brand, det, clock)
        if offset is not None:
            if offset <= (det.source_offset if source else det.offset):
                self.duplicates += 1
                return "duplicate"
            if source:
                det.source_offset = offset
            else:
                det.offset = offset
            self.dirty.add(brand)
        if det.learned_upto is None and not det.accepts(ts, self.clocks.get(clock, _BEFORE_ALL)):
            outcome = "late"  # a brand with no state does not start from a bucket its clock made final
        else:
            outcome = det.add(ts, negative, author, text, followers, sample, weight, uid)
        if outcome != "counted":
            if outcome == "late":
                self.too_late += 1
            else:
                self.duplicates += 1
            return outcome
        self.active.add(brand)
        self.dirty.add(brand)
        self.clock_of[brand] = clock
        traffic = self.traffic.get(clock)
        if traffic is None:
            traffic = self.traffic[clock] = ClockTraffic()
        traffic.add(ts, weight)
        clocks = self.clocks
        last = clocks.get(clock, _BEFORE_ALL)
        if ts > last:
            if ts - last >= self._outage_s and last != _BEFORE_ALL and self._down(clock, last, ts):
                self._outages.append((clock, last, ts, None))
                log = self._outage_log.setdefault(clock, [])
                log.append((last, ts))
                del log[:-OUTAGE_LOG]
            clocks[clock] = ts
            if ts >= self._due.get(clock, _BEFORE_ALL):
                self._crossed = True
        return outcome

    def _down(self, clock: int, lo: float, hi: float) -> bool:
        """True if the clock expected ``outage_expected`` mentions or more between ``lo`` and ``hi``
        and none came: with 14, no mention at all is a 1e-6 chance - the input was down (a
        collector's outage, a producer stopped), not quiet. One small brand's quiet night is not.
        Expected by its own traffic on the last days (``ClockTraffic``: whatever brands are in
        memory), or by the baselines of its brands in memory (``_expected_mentions``)."""
        need = self.cfg.outage_expected
        traffic = self.traffic.get(clock)
        if traffic is not None and traffic.expected(lo, hi, self._outage_log.get(clock, ()), need) >= need:
            return True
        restored = self._restored.get(clock)
        if restored is not None and restored[0] == lo and restored[1] * min(hi - lo, AHEAD_S) / AHEAD_S >= need:
            return True  # from before a restart: what the brands in memory then expected
        expected = 0.0
        for brand, det in self.brands.items():
            if self.clock_of.get(brand, 0) != clock or det.learned_upto is None:
                continue
            expected += _expected_mentions(det, lo, hi, self.cfg.warmup_minutes, need - expected)
            if expected >= need:
                return True
        return False

    @property
    def outages(self) -> dict[int, list[tuple[float, float]]]:
        """Each clock's last outages (``OUTAGE_LOG``), as ``(lo, hi)`` event times."""
        return {clock: list(log) for clock, log in self._outage_log.items() if log}

    @property
    def crossed(self) -> bool:
        """True if some clock crossed a bucket boundary since the last ``advance()`` (else it has
        nothing to evaluate: a caller may skip it)."""
        return self._crossed

    @property
    def watermark(self) -> float:
        """The most advanced clock's watermark (-inf before any mention)."""
        return max(self.clocks.values(), default=float("-inf"))

    def advance(self, watermark: float | None = None) -> list[dict[str, Any]]:
        """Tick active brands up to their clock (every clock moved to ``watermark`` if later)."""
        alerts: list[dict[str, Any]] = self._skip_outages() if self._outages else []
        if watermark is not None:
            for clock, wm in self.clocks.items():
                self.clocks[clock] = max(wm, watermark)
        elif not self._crossed:  # no clock crossed a bucket boundary: nothing to evaluate
            return alerts
        self._crossed = False
        lag, size = self.cfg.tick_lag_s, self.cfg.window.bucket_s
        steps = {clock: int((wm - lag) // size) for clock, wm in self.clocks.items()}
        self._due = {clock: (step + 1) * size + lag for clock, step in steps.items()}
        if steps == self._ticked:
            return alerts
        moved = {clock for clock, step in steps.items() if self._ticked.get(clock) != step}
        self._ticked = steps
        force = watermark is not None
        brands, clock_of, clocks = self.brands, self.clock_of, self.clocks
        for brand in list(self.active):
            clock = clock_of.get(brand, 0)
            if clock not in moved:
                continue
            det = brands[brand]
            before = det.last_tick
            if not force and det.incident is None and before is not None:
                step = steps[clock]
                due = det.due
                if step - before < CATCH_UP_TICKS and (not due or smallest(due) > step):
                    continue  # nothing to evaluate yet: learning the final buckets can wait (see module doc)
            alerts.extend(det.advance(clocks[clock]))
            if det.notices:
                self.digest.extend(det.notices)
                det.notices.clear()
            if det.last_tick != before:
                self.dirty.add(brand)
            if det.is_idle():
                self.active.discard(brand)
        alerts.sort(key=lambda a: (a["at"], a["brand"]))
        return alerts

    def _missed_outages(self, brand: str, det: BrandDetector, clock: int) -> None:
        """A brand reloaded from the table (evicted as idle) after outages of its clock it has not
        learned past: they are unobserved for it too, at the next ``advance()``. Without this, the
        worker's small brands - idle between mentions, so out of memory most of the time - learned
        every outage as silence."""
        for lo, hi in self._outage_log[clock]:
            if self._before(det, lo, hi):
                self._outages.append((clock, lo, hi, brand))

    def _before(self, det: BrandDetector, lo: float, hi: float) -> bool:
        """True if ``det`` has not learned past the start of the outage from ``lo`` to ``hi`` (its
        first bucket and the grace after it): one that has was in memory then and has it - or learned
        those hours from the input elsewhere, before its partition came back here."""
        if det.learned_upto is None:
            return False
        bucket_s = self.cfg.window.bucket_s
        grace = int(math.ceil(self.cfg.window.grace_s / bucket_s))
        return det.learned_upto < int(hi // bucket_s) and det.learned_upto <= int(lo // bucket_s) + 1 + grace

    def _skip_outages(self) -> list[dict[str, Any]]:
        """Every brand of a clock whose input was down: its alerts up to the outage, then the outage
        unobserved (``BrandDetector.unobserved``). A brand out of memory then has it when it is
        reloaded (``_missed_outages``); one that learned past the outage's start already has it."""
        alerts: list[dict[str, Any]] = []
        brands, clock_of = self.brands, self.clock_of
        for clock, lo, hi, only in self._outages:
            for brand in (brands if only is None else (only,)):
                det = brands.get(brand)
                if det is not None and clock_of.get(brand, 0) == clock and self._before(det, lo, hi):
                    alerts.extend(det.unobserved(lo, hi))
                    self.dirty.add(brand)
                    if det.is_idle():
                        self.active.discard(brand)
        self._outages.clear()
        return alerts

    def take_digest(self) -> list[dict[str, Any]]:
        """The digest notices of the days brands closed since the last call (see ``core.drift``)."""
        notices, self.digest = self.digest, []
        return sorted(notices, key=lambda n: (n["day"], n["brand"]))

    def take_dirty_brands(self) -> list[str]:
        """The brands changed since the last call (their states are due in the table), and reset."""
        dirty = [b for b in self.dirty if b in self.brands]
        self.dirty.clear()
        return dirty

    def take_dirty(self) -> dict[str, dict[str, Any]]:
        """States of the brands changed since the last call (for the table), and reset."""
        return {b: self.brands[b].to_state(MAX_STATE_MEMORY) for b in self.take_dirty_brands()}

    def evict_idle(self, brands: Iterable[str]) -> int:
        """Drop those of ``brands`` that are idle (no open bucket, no incident) and written (not
        dirty) from memory; the next mention reloads one from the table, exactly as a restart
        would. Most brands are idle most of the time, so memory follows the active ones. Without a
        table (``load``, offline) nothing is dropped. Returns how many were."""
        if self._load is None:
            return 0
        dropped = 0
        for b in brands:
            if b in self.brands and b not in self.active and b not in self.dirty:
                del self.brands[b]
                self.clock_of.pop(b, None)
                dropped += 1
        return dropped

    def forget(self, brands: Iterable[str]) -> None:
        """Drop brands from memory (their partition moved to another worker)."""
        for b in brands:
            self.brands.pop(b, None)
            self.active.discard(b)
            self.dirty.discard(b)

    def forget_clocks(self, clocks: Iterable[int]) -> None:
        """Drop clocks (their partition moved to another worker): if one comes back, its state is
        read again from the table. Kept, its watermark from before it left would make the time its
        other owner read look like a gap in the input."""
        for c in clocks:
            self.clocks.pop(c, None)
            self._written.pop(c, None)
            self._restored.pop(c, None)
            self._outage_log.pop(c, None)
            self.traffic.pop(c, None)
            self._ticked.pop(c, None)
            self._due.pop(c, None)
            self._clocks_seen.discard(c)

    def take_clock_states(self) -> dict[int, dict[str, Any]]:
        """States of the clocks whose watermark moved since the last call (for the table, beside the
        brands'): the watermark, the mentions the active brands' baselines expect in the 3 hours after
        it, the last outages and its traffic hour by hour over the last week (``ClockTraffic``). Restored after a restart (``load_clock``), they let the first
        mention tell an outage that spans the restart from a quiet spell, and let brands reloaded
        later have the outages they missed."""
        moved = {c: w for c, w in self.clocks.items() if w != self._written.get(c) and w != _BEFORE_ALL}
        if not moved:
            return {}
        ahead = dict.fromkeys(moved, 0.0)
        for brand in self.active:
            clock = self.clock_of.get(brand, 0)
            det = self.brands.get(brand)
            if clock in ahead and det is not None and det.learned_upto is not None:
                ahead[clock] += _expected_mentions(det, moved[clock], moved[clock] + AHEAD_S, self.cfg.warmup_minutes)
        self._written.update(moved)
        traffic = self.traffic
        return {c: {"w": w, "e": round(ahead[c], 3), "o": [list(o) for o in self._outage_log.get(c, ())],
                    "t": traffic[c].to_state() if c in traffic else []}
                for c, w in moved.items()}

    def _restore_clock(self, clock: int) -> None:
        """A clock's state from the table (``take_clock_states``), at its first mention in this process."""
        self._clocks_seen.add(clock)
        assert self._load_clock is not None
        state = self._load_clock(clock)
        if not state or clock in self.clocks:
            return
        w = float(state["w"])
        self.clocks[clock] = self._written[clock] = w
        self._restored[clock] = (w, float(state.get("e", 0.0)))
        self._outage_log[clock] = [(float(lo), float(hi)) for lo, hi in state.get("o", ())][-OUTAGE_LOG:]
        self.traffic[clock] = ClockTraffic.from_state(state.get("t", []))


def _expected_mentions(det: BrandDetector, lo: float, hi: float, warmup_minutes: float,
                       enough: float = math.inf) -> float:
    """Mentions the brand's baseline expects between event times ``lo`` and ``hi`` (hour by hour:
    the season moves), counted only until ``enough``. A brand without the history it needs to page
    (``warmup_minutes``) does not know its daily cycle yet, so it expects only the rate of its
    quietest hour so far (``SeasonalBaseline.quietest_rate``): with its mean instead, in a worker of
    24 partitions (suite seed 3), a medium brand first seen at noon expected ~16 mentions in a
    32-minute gap of its partition at 18:41, where its hour held 8 - an outage, until session 37."""
    b = det.baseline
    if b.history_minutes() < warmup_minutes:
        return b.quietest_rate() * (hi - lo) / 60.0
    expected, t = 0.0, lo
    while t < hi and expected < enough:
        step = min(hi, (t // 3600 + 1) * 3600) - t
        expected += b.expected_mentions(t) * step / 60.0
        t += step
    return expected


def sample_of(m: ScoredMention | dict[str, Any]) -> dict[str, Any]:
    """What an alert shows of one mention (text cut to a tweet's length)."""
    get: Any = m.get if isinstance(m, dict) else m.__getattribute__
    return {"id": get("id"), "text": get("text")[:280], "negativity": get("negativity"),
            "author_id": get("author_id"), "author_followers": get("author_followers"), "url": get("url")}


def add_mention(monitor: Monitor, m: ScoredMention, clock: int = 0, offset: int | None = None,
                source: bool = False) -> str:
    """Count a scored mention (negative: the scorer's 3-way label says so); see add_scored."""
    negative = m.sentiment == "negative"
    return monitor.add_scored(m.brand, m.ts, negative, m.author_id, m.text, m.author_followers or 0,
                              sample_of(m) if negative else None, uid=m.id, clock=clock,
                              offset=offset, source=source)


def add_scored_dict(monitor: Monitor, obj: dict[str, Any], ts: float, clock: int = 0,
                    offset: int | None = None) -> str:
    """add_mention for a dict already checked by ``records.scored_time`` (the hot path: no record object)."""
    get = obj.get
    return _add_fields(monitor, get("url"), ts, obj["brand"], obj["id"], obj["text"], obj["sentiment"] == "negative",
                       get("negativity"), get("author_id"), get("author_followers"), clock, offset)


def _add_fields(monitor: Monitor, url: Any, ts: float, brand: str, mention_id: str, text: str,
                negative: bool, negativity: Any, author: str | None, followers: int | None, clock: int,
                offset: int | None, source: bool = False) -> str:
    """add_scored_dict with the fields already read (``wire.SCORED``, ``shape.scored_fields``, or a raw
    mention and its scores: ``count_decoded``); a negative keeps its sample (``sample_of``, inlined)."""
    sample: dict[str, Any] | None = None
    if negative:
        sample = {"id": mention_id, "text": text[:280], "negativity": negativity, "author_id": author,
                  "author_followers": followers, "url": url}
    return monitor.add_scored(brand, ts, negative, author, text, followers or 0, sample, 1, mention_id,
                              clock, offset, source)


def _count_checked(monitor: Monitor, obj: Any, clock: int, offset: int | None,
                   latest: float | None = None) -> tuple[str, str, bool]:
    """Check a decoded scored mention and count it: ``(outcome, brand, negative)``. The usual record
    passes ``shape.scored_fields`` and is counted from the fields it read; anything else goes
    through the field-by-field checks, whose InvalidRecord says what is wrong. ``latest``: the
    latest event time accepted (``count_records``)."""
    ok, ts, brand, mention_id, text, negative, author, followers = scored_fields(obj)
    if not ok:
        ts = scored_time(obj)
    if latest is not None and ts > latest:
        raise InvalidRecord(_future(obj["created_at"]))
    if ok:
        return _add_fields(monitor, obj.get("url"), ts, brand, mention_id, text, negative,
                           obj.get("negativity") if negative else None, author, followers, clock, offset), brand, negative
    return add_scored_dict(monitor, obj, ts, clock, offset), obj["brand"], obj["sentiment"] == "negative"


def _add_wire(monitor: Monitor, s: Any, ts: float, clock: int, offset: int | None) -> str:
    """Count a record ``wire.SCORED`` decoded (its fields checked) at event time ``ts``."""
    if s.sentiment == "negative":
        return _add_fields(monitor, s.url, ts, s.brand, s.id, s.text, True, s.negativity, s.author_id,
                           s.author_followers, clock, offset)
    return _add_fields(monitor, None, ts, s.brand, s.id, s.text, False, None, s.author_id, s.author_followers,
                       clock, offset)


def count_json_lines(monitor: Monitor, lines: Iterable[bytes], emit: Callable[[dict[str, Any]], object]) -> int:
    """The loop of ``buzzwatch detect`` over scored mentions, one JSON object a line: each line
    decoded, checked and counted, the alerts handed to ``emit`` as they fire. It sits here, compiled
    with the core, because at ~100,000 lines a second an interpreted loop costs as much as the
    counting. Each line is decoded and checked in one pass (``wire.SCORED``); a line that refuses
    goes through orjson and the field-by-field checks, which say what is wrong. A JSON value ignores
    its newline; a line that fails is stripped and retried, so blank lines are skipped. A bad line
    raises InvalidLine (its number and what is wrong). Returns the number of records read (blank
    lines apart), against which ``buzzwatch detect`` weighs ``monitor.too_late``."""
    loads = orjson.loads
    decode = SCORED.decode
    n = blank = 0
    for raw in lines:
        n += 1
        try:
            s = decode(raw)
        except msgspec.DecodeError:
            s = None
        if s is not None:
            ts = aware_time(s.created_at)
            if ts is not None:
                _add_wire(monitor, s, ts, 0, None)
                if monitor.crossed:
                    for alert in monitor.advance():
                        emit(alert)
                continue
        try:
            obj = loads(raw)
        except orjson.JSONDecodeError:
            raw = raw.strip()
            if not raw:
                blank += 1
                continue
            try:
                obj = loads(raw)
            except orjson.JSONDecodeError as exc:
                raise InvalidLine(n, f"not valid JSON: {exc}") from None
        try:
            _count_checked(monitor, obj, 0, None)
        except InvalidRecord as exc:
            raise InvalidLine(n, exc.reason) from None
        if monitor.crossed:
            for alert in monitor.advance():
                emit(alert)
    return n - blank


class FetchTally:
    """What ``count_records`` did with a fetch: per-brand counts (for the metrics), the records it
    refused (their index in the fetch and the dead letter's reason), and the alerts that fired."""

    def __init__(self) -> None:
        self.counted: dict[str, list[int]] = {}  # brand -> [mentions, negatives]
        self.late = 0
        self.duplicates = 0
        self.bad: list[tuple[int, str]] = []
        self.alerts: list[dict[str, Any]] = []
        self.digest: list[dict[str, Any]] = []  # the daily digest's notices of days that closed

    def record(self, outcome: str, brand: str, negative: bool) -> None:
        if outcome == "counted":
            c = self.counted.get(brand)
            if c is None:
                c = self.counted[brand] = [0, 0]
            c[0] += 1
            if negative:
                c[1] += 1
        elif outcome == "late":
            self.late += 1
        else:
            self.duplicates += 1


def count_records(monitor: Monitor, records: list[Any], home: Callable[[str], int] | None = None,
                  latest: float | None = None) -> FetchTally:
    """The worker's detect handler over one fetch of ``mentions.scored``: each record (anything with
    ``value``, ``partition`` and ``offset``, e.g. aiokafka's ConsumerRecord) decoded, checked and
    counted on its partition's clock, then the brands ticked once. The same steps as
    ``count_json_lines`` (``wire.SCORED`` first) and compiled with it for the same reason; a bad record
    is set aside for the dead-letter topic instead of stopping the fetch.

    ``home(brand)`` is the partition a brand's records belong in: one found in another partition is
    set aside too. Its offset is another partition's, which the brand's replay guard (the last offset
    applied from its own partition) cannot hold: counted, it made the brand's own next mentions look
    like replays, and they were dropped. ``latest`` is the latest event time accepted (the worker: its
    wall clock plus ``BUZZWATCH_MAX_FUTURE_S``, as at ingest): a later one is set aside too - counted,
    it moved its partition's watermark so far ahead that every later mention there came too late."""
    tally = FetchTally()
    loads = orjson.loads
    decode = SCORED.decode
    for i, record in enumerate(records):
        raw = record.value
        try:
            s = decode(raw)
        except (msgspec.DecodeError, TypeError):
            s = None
        if s is not None:
            ts = aware_time(s.created_at)
            if ts is not None:
                if latest is not None and ts > latest:
                    tally.bad.append((i, _future(s.created_at)))
                    continue
                if home is not None and home(s.brand) != record.partition:
                    tally.bad.append((i, _misplaced(s.brand, home(s.brand), record.partition)))
                    continue
                tally.record(_add_wire(monitor, s, ts, record.partition, record.offset), s.brand,
                             s.sentiment == "negative")
                continue
        try:
            obj = loads(raw)
        except (orjson.JSONDecodeError, TypeError):
            try:
                load_json(raw if raw is not None else b"")  # raises with the dead letter's reason
            except InvalidRecord as exc:
                tally.bad.append((i, exc.reason))
            continue
        brand = obj.get("brand") if isinstance(obj, dict) else None
        if home is not None and isinstance(brand, str) and brand and home(brand) != record.partition:
            tally.bad.append((i, _misplaced(brand, home(brand), record.partition)))
            continue
        try:
            outcome, brand, negative = _count_checked(monitor, obj, record.partition, record.offset, latest)
        except InvalidRecord as exc:
            tally.bad.append((i, exc.reason))
            continue
        tally.record(outcome, brand, negative)
    tally.alerts = monitor.advance()
    if monitor.digest:
        tally.digest = monitor.take_digest()
    return tally


def _future(created_at: str) -> str:
    return f"created_at: {created_at} is more than BUZZWATCH_MAX_FUTURE_S in the future"


def _misplaced(brand: str, home: int, partition: int) -> str:
    return (f"brand {brand!r} belongs in partition {home} (its key's, Kafka's default partitioner), "
            f"not in partition {partition}: key the record by its brand")


def count_decoded(monitor: Monitor, here: list[tuple[dict[str, Any], float, str, float, str, int, int]]) -> FetchTally:
    """The worker's shortcut for mentions already in their brand's partition (keyed by brand at
    the source): each ``(mention, event time, brand, negativity, sentiment, partition, offset)`` -
    the raw mention still its decoded dict (``Ingestor.prepare``), with its scores - counted where it
    was scored, on that partition's clock and with its offset in the raw topic as the replay guard
    (``source``), then the brands ticked once: what ``count_records`` does after the round trip
    through the scored topic that it saves, and without building the scored record it would carry."""
    tally = FetchTally()
    for obj, ts, brand, negativity, sentiment, partition, offset in here:
        negative = sentiment == "negative"
        get = obj.get
        tally.record(_add_fields(monitor, get("url"), ts, brand, obj["id"], obj["text"], negative, negativity,
                                 get("author_id"), get("author_followers"), partition, offset, True), brand, negative)
    tally.alerts = monitor.advance()
    if monitor.digest:
        tally.digest = monitor.take_digest()
    return tally


def add_counts(monitor: Monitor, brand: str, start: float, end: float, mentions: int, negative: int) -> None:
    """Count one pre-aggregated bucket (``buzzwatch detect --format counts``): no authors, no texts."""
    if negative:
        monitor.add_scored(brand, start, True, None, "", 0, weight=negative)
    if mentions - negative:
        monitor.add_scored(brand, start, False, None, "", 0, weight=mentions - negative)
