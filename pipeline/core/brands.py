"""Which brand a mention is about, from the brands file (YAML).

A brand matches when the text contains one of its keywords (whole words, case-insensitive),
handles (``@name``) or hashtags (``#name``), and none of its exclusions. The file is checked
once at start-up; every problem names the file and the brand.

Example file::

    brands:
      - id: acme
        name: Acme Air
        keywords: [acme air, acmeair]
        handles: ["@acmeair"]
        hashtags: ["#acmefail"]
        exclusions: [acme anvil]
        slack_channel: "#acme-oncall"
        timezone: Europe/Paris       # where its audience lives: its daily and weekly rhythm (default UTC)
        mention_on: {critical: "<!subteam^S0123ABC>"}   # who is pinged, from this severity up
        quiet_hours: {start: "22:00", end: "07:00", min_severity: high}  # tz: the brand's timezone
        runbook_url: https://wiki.example/runbooks/acme   # instead of BUZZWATCH_RUNBOOK_URL; may contain {brand}

The ``mention_on`` values are the only pings buzzwatch ever sends (mention text is escaped), so
they are checked to be Slack mention syntax. A group is pinged from its severity up: an alert
pings every group at or below its severity (``{high: comms, critical: exec}``: critical pings
both). During quiet hours an alert below ``min_severity``
is still posted at once, but without the ping: it is on the channel when someone looks, and
nobody is woken for it (holding it until morning would hide a growing incident and stall the
alerts behind it).

>>> b = Brand(id="acme", name="Acme Air", keywords=("acme air",), handles=("@acmeair",))
>>> m = BrandMatcher([b])
>>> m.match("Stuck again on ACME Air flight 12")
['acme']
>>> m.match("thanks @AcmeAir!")
['acme']
>>> m.match("acme's anvil")
[]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from pipeline.errors import BrandsFileError
from pipeline.records import SEVERITIES
from pipeline.settings import link_template_problem

_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
_TOKEN = re.compile(r"[@#]?\w+")
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
# A user group, a user, or a channel-wide ping: nothing else may be pasted into a message unescaped.
_PING = re.compile(r"^<(!subteam\^[A-Z0-9]+(\|[\w.@-]+)?|@[UW][A-Z0-9]+|!here|!channel)>$")
_KEYS = {"id", "name", "keywords", "handles", "hashtags", "exclusions", "slack_channel", "timezone", "mention_on",
         "quiet_hours", "runbook_url"}


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily local-time span (may wrap midnight) in which only ``min_severity`` and up ping.

    >>> q = QuietHours("22:00", "07:00", "Europe/Paris", "high")
    >>> q.covers(1767222000.0)  # 2026-01-01T00:00 Paris
    True
    >>> q.covers(1767261600.0)  # 2026-01-01T11:00 Paris
    False
    >>> q.silences("warning", 1767222000.0), q.silences("critical", 1767222000.0)
    (True, False)
    """

    start: str
    end: str
    tz: str
    min_severity: str = "high"

    def covers(self, ts: float) -> bool:
        local = datetime.fromtimestamp(ts, tz=ZoneInfo(self.tz))
        now, start, end = local.hour * 60 + local.minute, _minutes(self.start), _minutes(self.end)
        return start <= now < end if start <= end else now >= start or now < end

    def silences(self, severity: str, ts: float) -> bool:
        """True when an alert of ``severity`` at wall time ``ts`` is posted without its ping."""
        return SEVERITIES.index(severity) < SEVERITIES.index(self.min_severity) and self.covers(ts)


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


@dataclass(frozen=True, slots=True)
class Brand:
    id: str
    name: str
    keywords: tuple[str, ...] = ()
    handles: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()
    exclusions: tuple[str, ...] = ()
    slack_channel: str | None = None
    mention_on: tuple[tuple[str, str], ...] = ()  # (severity, ping): pinged from that severity up, with the lower ones
    quiet_hours: QuietHours | None = None
    timezone: str | None = None  # IANA zone: the detector learns the brand's hours and weekdays in it (None: UTC)
    runbook_url: str | None = None  # this brand's runbook, instead of BUZZWATCH_RUNBOOK_URL (None: that one)

    def ping(self, severity: str, ts: float) -> str | None:
        """Who to ping for an alert of ``severity`` delivered at wall time ``ts`` (None: nobody).

        Every group whose ``mention_on`` severity is at or below the alert's, lowest first, each
        once, separated by a space: an incident that opens at critical still reaches the team on
        call for high (comms), not only the one added for critical. In quiet hours an alert below
        their ``min_severity`` pings nobody, whatever the groups.

        >>> b = Brand("acme", "Acme", mention_on=(("critical", "<!subteam^S2>"), ("high", "<!subteam^S1>")))
        >>> b.ping("warning", 0.0), b.ping("high", 0.0), b.ping("critical", 0.0)
        (None, '<!subteam^S1>', '<!subteam^S1> <!subteam^S2>')
        """
        if self.quiet_hours is not None and self.quiet_hours.silences(severity, ts):
            return None
        rank = SEVERITIES.index(severity)
        eligible = sorted((SEVERITIES.index(sev), n, p) for n, (sev, p) in enumerate(self.mention_on)
                          if SEVERITIES.index(sev) <= rank)
        return " ".join(dict.fromkeys(p for _, _, p in eligible)) or None


class DuplicateKey(yaml.YAMLError):
    """A mapping gives one key twice; ``line`` and ``first`` are 1-based lines of the file."""

    def __init__(self, key: Any, line: int, first: int) -> None:
        super().__init__(f"line {line}: key {key!r} given twice in one mapping (first on line {first})")
        self.key, self.line, self.first = key, line, first


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping. Plain YAML loading keeps
    the last one without a word: a second ``brands:`` would drop every brand of the first list, a
    second ``keywords:`` the first keywords. A key brought in by a merge (``<<: *defaults``) may
    still be overridden: that is what a merge is for."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}  # key -> its line
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key, line = self.construct_object(key_node, deep=deep), key_node.start_mark.line + 1
                try:
                    if key in seen:
                        raise DuplicateKey(key, line, seen[key])
                    seen[key] = line
                except TypeError:  # an unhashable key: the constructor below refuses it
                    continue
        return super().construct_mapping(node, deep=deep)


def load_brands(path: str | Path) -> list[Brand]:
    """Read and check a brands file; BrandsFileError names the file and the problem."""
    path = str(path)
    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.load(fh, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader that also refuses duplicates
    except FileNotFoundError:
        raise BrandsFileError(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BrandsFileError(path, f"cannot be read: {exc}") from None
    except DuplicateKey as exc:
        raise BrandsFileError(path, f"{exc}: YAML would keep only the last one; give it once") from None
    except yaml.YAMLError as exc:
        raise BrandsFileError(path, f"not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("brands"), list):
        raise BrandsFileError(path, "expected a mapping with a list under 'brands'")
    brands: list[Brand] = []
    seen: set[str] = set()
    for n, entry in enumerate(doc["brands"], start=1):
        where = f"brand #{n}"
        if not isinstance(entry, dict):
            raise BrandsFileError(path, f"{where}: expected a mapping, got {type(entry).__name__}")
        unknown = set(entry) - _KEYS
        if unknown:
            raise BrandsFileError(path, f"{where}: unknown keys {sorted(unknown)} (known: {', '.join(sorted(_KEYS))})")
        bid = entry.get("id")
        if not isinstance(bid, str) or not _ID.match(bid):
            raise BrandsFileError(path, f"{where}: 'id' must be lowercase letters, digits, '_', '.', '-' (got {bid!r})")
        where = f"brand {bid!r}"
        if bid in seen:
            raise BrandsFileError(path, f"{where}: duplicate id")
        seen.add(bid)
        lists = {key: _strings(path, where, entry, key) for key in ("keywords", "handles", "hashtags", "exclusions")}
        for key, terms in lists.items():  # matching is by words: a term without one never matches
            for term in terms:
                if not _tokens(term):
                    raise BrandsFileError(path, f"{where}: {key[:-1]} {term!r} has no letter or digit: it can never "
                                                "match")
        if not (lists["keywords"] or lists["handles"] or lists["hashtags"]):
            raise BrandsFileError(path, f"{where}: needs at least one keyword, handle or hashtag")
        for h in lists["handles"]:
            if not h.startswith("@"):
                raise BrandsFileError(path, f"{where}: handle {h!r} must start with '@'")
        for h in lists["hashtags"]:
            if not h.startswith("#"):
                raise BrandsFileError(path, f"{where}: hashtag {h!r} must start with '#'")
        name = entry.get("name", bid)
        channel = entry.get("slack_channel")
        if not isinstance(name, str) or (channel is not None and not isinstance(channel, str)):
            raise BrandsFileError(path, f"{where}: 'name' and 'slack_channel' must be strings")
        timezone = entry.get("timezone")
        if timezone is not None:
            _zone(path, f"{where}: timezone", timezone)
        runbook = entry.get("runbook_url")
        if runbook is not None:
            problem = link_template_problem(runbook) if isinstance(runbook, str) else f"expected a URL, got {runbook!r}"
            if problem:
                raise BrandsFileError(path, f"{where}: runbook_url: {problem}")
        brands.append(Brand(id=bid, name=name, slack_channel=channel, mention_on=_mention_on(path, where, entry),
                            quiet_hours=_quiet_hours(path, where, entry, timezone), timezone=timezone,
                            runbook_url=runbook, **lists))
    return brands


def _zone(path: str, where: str, tz: Any) -> None:
    """An IANA time zone name, or a BrandsFileError that says where."""
    try:
        if not isinstance(tz, str):
            raise ValueError(tz)
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise BrandsFileError(path, f"{where}: unknown time zone {tz!r} (use an IANA name such as Europe/Paris)") from None


def _mention_on(path: str, where: str, entry: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    value = entry.get("mention_on") or {}
    if not isinstance(value, dict):
        raise BrandsFileError(path, f"{where}: 'mention_on' must map a severity to a Slack mention, "
                                    f"e.g. {{critical: \"<!subteam^S0123ABC>\"}}")
    out: list[tuple[str, str]] = []
    for severity, ping in value.items():
        if severity not in SEVERITIES:
            raise BrandsFileError(path, f"{where}: mention_on: unknown severity {severity!r} "
                                        f"(expected {', '.join(SEVERITIES)})")
        if not isinstance(ping, str) or not _PING.match(ping.strip()):
            raise BrandsFileError(path, f"{where}: mention_on.{severity}: expected a Slack mention such as "
                                        f"<!subteam^S0123ABC>, <@U0123ABC> or <!here>, got {ping!r}")
        out.append((severity, ping.strip()))
    return tuple(out)


def _quiet_hours(path: str, where: str, entry: dict[str, Any], timezone: str | None) -> QuietHours | None:
    """``quiet_hours``; its ``tz`` defaults to the brand's ``timezone``."""
    value = entry.get("quiet_hours")
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"start", "end", "tz", "min_severity"}:
        raise BrandsFileError(path, f"{where}: 'quiet_hours' must be a mapping with start, end, tz (or the "
                                    f"brand's timezone) and optionally min_severity")
    for key in ("start", "end"):
        if not isinstance(value.get(key), str) or not _CLOCK.match(value[key]):
            raise BrandsFileError(path, f"{where}: quiet_hours.{key}: expected a time like \"22:00\", "
                                        f"got {value.get(key)!r}")
    tz = value.get("tz", timezone)
    if tz is None:
        raise BrandsFileError(path, f"{where}: quiet_hours.tz: required unless the brand has a timezone "
                                    f"(an IANA name such as Europe/Paris)")
    _zone(path, f"{where}: quiet_hours.tz", tz)
    severity = value.get("min_severity", "high")
    if severity not in SEVERITIES:
        raise BrandsFileError(path, f"{where}: quiet_hours.min_severity: expected one of "
                                    f"{', '.join(SEVERITIES)}, got {severity!r}")
    return QuietHours(value["start"], value["end"], str(tz), severity)


def _strings(path: str, where: str, entry: dict[str, Any], key: str) -> tuple[str, ...]:
    value = entry.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise BrandsFileError(path, f"{where}: '{key}' must be a list of non-empty strings")
    return tuple(v.strip().lower() for v in value)


class BrandMatcher:
    """Token lookup: one pass over the text's words, n-grams up to the longest keyword."""

    def __init__(self, brands: list[Brand]) -> None:
        self.brands = {b.id: b for b in brands}
        self._terms: dict[tuple[str, ...], set[str]] = {}
        self._exclusions: dict[tuple[str, ...], set[str]] = {}
        for b in brands:
            for term in (*b.keywords, *b.handles, *b.hashtags):
                self._terms.setdefault(_tokens(term), set()).add(b.id)
            for term in b.exclusions:
                self._exclusions.setdefault(_tokens(term), set()).add(b.id)
        self._longest = max((len(t) for t in (*self._terms, *self._exclusions)), default=1)

    def match(self, text: str) -> list[str]:
        """Ids of the brands the text is about, in brands-file order."""
        words = _tokens(text)
        hits: set[str] = set()
        excluded: set[str] = set()
        for i in range(len(words)):
            for n in range(1, self._longest + 1):
                gram = words[i:i + n]
                if len(gram) < n:
                    break
                hits |= self._terms.get(gram, set())
                excluded |= self._exclusions.get(gram, set())
        return [bid for bid in self.brands if bid in hits and bid not in excluded]


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(_TOKEN.findall(text.lower()))
