from __future__ import annotations

import pytest

from pipeline.core.brands import Brand, BrandMatcher, load_brands
from pipeline.errors import BrandsFileError

GOOD = """
brands:
  - id: acme
    name: Acme Air
    keywords: [acme air]
    handles: ["@acmeair"]
    hashtags: ["#acmefail"]
    exclusions: [acme anvil]
    slack_channel: "#acme"
  - id: globex
    handles: ["@globex"]
"""


@pytest.mark.parametrize("text, expected", [
    ("Stuck on ACME AIR flight 12 again", ["acme"]),   # keyword, any case, whole words
    ("thanks @AcmeAir!", ["acme"]),                     # handle
    ("never again #AcmeFail", ["acme"]),                # hashtag
    ("acme air sells an acme anvil", []),               # exclusion wins
    ("acmeair is a word, not a handle", []),            # handles need the @
    ("@globex and @acmeair both", ["acme", "globex"]),  # file order
    ("nothing here", []),
])
def test_matching(tmp_path, text, expected):
    path = tmp_path / "brands.yaml"
    path.write_text(GOOD)
    assert BrandMatcher(load_brands(path)).match(text) == expected


A = "brands:\n  - id: a\n    handles: ['@a']\n"


@pytest.mark.parametrize("content, problem", [
    ("brands: [", "not valid YAML"),
    ("- id: acme", "expected a mapping with a list under 'brands'"),
    ("brands:\n  - id: Acme Air\n    handles: ['@a']", "'id' must be lowercase"),
    ("brands:\n  - id: acme\n", "needs at least one keyword, handle or hashtag"),
    ("brands:\n  - id: acme\n    handles: [acme]", "handle 'acme' must start with '@'"),
    ("brands:\n  - id: acme\n    hashtags: [acme]", "hashtag 'acme' must start with '#'"),
    ("brands:\n  - id: a\n    handles: ['@a']\n  - id: a\n    handles: ['@b']", "brand 'a': duplicate id"),
    ("brands:\n  - id: a\n    handles: ['@a']\n    colour: red", "unknown keys ['colour']"),
    ("brands:\n  - id: a\n    keywords: [1, 2]", "'keywords' must be a list of non-empty strings"),
    (f"{A}    mention_on: <!channel>", "'mention_on' must map a severity to a Slack mention"),
    (f"{A}    mention_on: {{urgent: '<!here>'}}", "mention_on: unknown severity 'urgent'"),
    (f"{A}    mention_on: {{critical: '@comms-team'}}", "mention_on.critical: expected a Slack mention"),
    (f"{A}    mention_on: {{critical: '<http://evil|bank>'}}", "mention_on.critical: expected a Slack mention"),
    (f"{A}    quiet_hours: 22-7", "'quiet_hours' must be a mapping"),
    (f"{A}    quiet_hours: {{start: '25:00', end: '07:00', tz: UTC}}", "quiet_hours.start: expected a time"),
    (f"{A}    quiet_hours: {{start: '22:00', end: '07:00', tz: Mars/Olympus}}", "unknown time zone 'Mars/Olympus'"),
    (f"{A}    quiet_hours: {{start: '22:00', end: '7', tz: UTC}}", "quiet_hours.end: expected a time"),
    (f"{A}    quiet_hours: {{start: '22:00', end: '07:00', tz: UTC, min_severity: low}}",
     "quiet_hours.min_severity: expected one of warning, high, critical"),
    (f"{A}    quiet_hours: {{start: '22:00', end: '07:00'}}", "quiet_hours.tz: required unless the brand has a timezone"),
    (f"{A}    timezone: Paris", "brand 'a': timezone: unknown time zone 'Paris' (use an IANA name"),
    (f"{A}    timezone: 1", "brand 'a': timezone: unknown time zone 1"),
    (f"{A}    runbook_url: wiki/runbooks/a", "brand 'a': runbook_url: expected an http(s) URL"),
    (f"{A}    runbook_url: [https://wiki/a]", "brand 'a': runbook_url: expected a URL, got ['https://wiki/a']"),
    (f"{A}    runbook_url: '<https://evil|bank>'", "brand 'a': runbook_url: expected an http(s) URL"),
    # A term without a letter or digit is no word to match: the brand would silently never be found.
    ("brands:\n  - id: a\n    handles: ['@']", "brand 'a': handle '@' has no letter or digit: it can never match"),
    ("brands:\n  - id: a\n    hashtags: ['#']", "brand 'a': hashtag '#' has no letter or digit"),
    ("brands:\n  - id: a\n    keywords: [acme, '!!!']", "brand 'a': keyword '!!!' has no letter or digit"),
    (f"{A}    exclusions: ['--']", "brand 'a': exclusion '--' has no letter or digit"),
])
def test_broken_file_names_the_file_and_the_problem(tmp_path, content, problem):
    path = tmp_path / "brands.yaml"
    path.write_text(content)
    with pytest.raises(BrandsFileError) as err:
        load_brands(path)
    assert str(path) in str(err.value)
    assert problem in str(err.value)


def test_a_brand_has_a_timezone_or_none(tmp_path):
    path = tmp_path / "brands.yaml"
    path.write_text(A + "    timezone: America/Los_Angeles\n  - id: globex\n    handles: ['@globex']\n")
    a, globex = load_brands(path)
    assert a.timezone == "America/Los_Angeles" and globex.timezone is None


def test_quiet_hours_are_in_the_brands_timezone_unless_they_name_their_own(tmp_path):
    path = tmp_path / "brands.yaml"
    path.write_text(A + "    timezone: America/New_York\n    quiet_hours: {start: '22:00', end: '07:00'}\n"
                    "  - id: b\n    handles: ['@b']\n    timezone: America/New_York\n"
                    "    quiet_hours: {start: '22:00', end: '07:00', tz: Europe/Paris}\n")
    a, b = load_brands(path)
    assert a.quiet_hours.tz == "America/New_York" and b.quiet_hours.tz == "Europe/Paris"
    new_york_23h = 1772424000.0  # 2026-03-02 04:00 UTC: 23:00 in New York, 05:00 in Paris
    assert a.quiet_hours.covers(new_york_23h) and b.quiet_hours.covers(new_york_23h)
    assert not a.quiet_hours.covers(new_york_23h + 9 * 3600)  # 08:00 in New York


def test_a_brand_may_have_its_own_runbook(tmp_path):
    path = tmp_path / "brands.yaml"
    path.write_text(A + "    runbook_url: https://wiki.example/runbooks/{brand}\n  - id: globex\n    handles: ['@globex']\n")
    a, globex = load_brands(path)
    assert a.runbook_url == "https://wiki.example/runbooks/{brand}" and globex.runbook_url is None


def test_missing_file(tmp_path):
    with pytest.raises(BrandsFileError, match="file not found"):
        load_brands(tmp_path / "nope.yaml")


def test_matcher_with_multiword_keyword_at_text_end():
    m = BrandMatcher([Brand("acme", "Acme", keywords=("acme air",))])
    assert m.match("I flew acme air") == ["acme"]
    assert m.match("acme") == []


ROUTED = A + """    slack_channel: C0ACME
    mention_on: {high: "<!subteam^S0COMMS>", critical: "<!subteam^S0EXEC|exec>"}
    quiet_hours: {start: "22:00", end: "07:00", tz: Europe/Paris, min_severity: critical}
"""
PARIS_NOON, PARIS_3AM = 1772449200.0, 1772416800.0  # 2026-03-02 12:00 and 03:00 in Paris (UTC+1)


@pytest.mark.parametrize("severity, at, ping", [
    ("warning", PARIS_NOON, None),                       # below every mention_on entry
    ("high", PARIS_NOON, "<!subteam^S0COMMS>"),          # its own entry
    ("critical", PARIS_NOON, "<!subteam^S0COMMS> <!subteam^S0EXEC|exec>"),  # every entry at or below it
    ("high", PARIS_3AM, None),                           # quiet hours: below min_severity, posted without ping
    ("critical", PARIS_3AM, "<!subteam^S0COMMS> <!subteam^S0EXEC|exec>"),  # not silenced: all its groups
])
def test_routing_per_severity_and_quiet_hours(tmp_path, severity, at, ping):
    path = tmp_path / "brands.yaml"
    path.write_text(ROUTED)
    (brand,) = load_brands(path)
    assert brand.slack_channel == "C0ACME"
    assert brand.ping(severity, at) == ping


def test_a_group_listed_at_two_severities_is_pinged_once_lowest_severity_first():
    from pipeline.core.brands import Brand

    brand = Brand("acme", "Acme", handles=("@acme",), mention_on=(
        ("critical", "<!subteam^S0EXEC>"), ("warning", "<!here>"), ("high", "<!subteam^S0EXEC>")))
    assert brand.ping("warning", PARIS_NOON) == "<!here>"
    assert brand.ping("high", PARIS_NOON) == "<!here> <!subteam^S0EXEC>"
    assert brand.ping("critical", PARIS_NOON) == "<!here> <!subteam^S0EXEC>"


@pytest.mark.parametrize("start, end, local, inside", [
    ("22:00", "07:00", "23:30", True),   # wraps midnight: evening side
    ("22:00", "07:00", "06:59", True),   # ... morning side
    ("22:00", "07:00", "07:00", False),  # end is exclusive
    ("22:00", "07:00", "12:00", False),
    ("12:00", "14:00", "13:00", True),   # same-day span
    ("12:00", "14:00", "12:00", True),   # start is inclusive
    ("12:00", "14:00", "14:00", False),  # end is exclusive here too
    ("12:00", "14:00", "11:59", False),
    ("12:00", "14:00", "14:30", False),
])
def test_quiet_hours_span(start, end, local, inside):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from pipeline.core.brands import QuietHours

    h, m = map(int, local.split(":"))
    ts = datetime(2026, 7, 1, h, m, tzinfo=ZoneInfo("America/New_York")).timestamp()
    assert QuietHours(start, end, "America/New_York").covers(ts) is inside


@pytest.mark.parametrize("content, problem", [
    # `brands:` twice: YAML would keep the second list and drop acme without a word.
    ("brands:\n  - id: acme\n    handles: ['@acme']\nbrands:\n  - id: globex\n    handles: ['@globex']\n",
     "line 4: key 'brands' given twice in one mapping (first on line 1)"),
    # A key twice in one brand: the first list of keywords would be lost.
    ("brands:\n  - id: acme\n    keywords: [acme air]\n    handles: ['@acme']\n    keywords: [acmeair]\n",
     "line 5: key 'keywords' given twice in one mapping (first on line 3)"),
    ("brands:\n  - id: acme\n    id: acme2\n    handles: ['@acme']\n", "line 3: key 'id' given twice"),
    # Nested mappings too: the second critical would silently replace the first ping.
    (f"{A}    mention_on:\n      critical: '<!here>'\n      critical: '<!channel>'\n",
     "line 6: key 'critical' given twice in one mapping (first on line 5)"),
    ("brands:\n  - {id: acme, handles: ['@acme'], handles: ['@acme2']}\n", "line 2: key 'handles' given twice"),
])
def test_a_key_given_twice_is_refused_naming_it_and_its_lines(tmp_path, content, problem):
    path = tmp_path / "brands.yaml"
    path.write_text(content)
    with pytest.raises(BrandsFileError) as err:
        load_brands(path)
    assert str(err.value).startswith(f"brands file {path}: {problem}"), str(err.value)
    assert "\n" not in str(err.value)  # one line, like every other brands-file error


def test_yaml_merge_keys_may_still_be_overridden_in_the_brands_file(tmp_path):
    """A merge (`<<: *defaults`) then an explicit key is YAML's way to override, not a key given twice."""
    path = tmp_path / "brands.yaml"
    path.write_text("defaults: &d {timezone: Europe/Paris, slack_channel: '#buzz'}\nbrands:\n"
                    "  - {<<: *d, id: acme, handles: ['@acme'], slack_channel: '#acme'}\n")
    [acme] = load_brands(path)
    assert (acme.timezone, acme.slack_channel) == ("Europe/Paris", "#acme")
