"""What on-call reads: hostile mention text can neither ping nor forge links."""

from __future__ import annotations

import json
import re

import pytest

from pipeline.notify.render import blocks, count, escape, headline, notification_text

# Slack's date tokens are ours (each reader sees the time in their zone): only these may open with "<!".
_DATES = re.compile(r"<!date\^\d+\^\{date_short_pretty\} \{time\}\|\d{4}-\d\d-\d\d \d\d:\d\d UTC>"
                    r"|<!date\^\d+\^\{time\}\|\d\d:\d\d UTC>")


def without_dates(text: str) -> str:
    return _DATES.sub("", text)


HOSTILE = ["<!channel> refund now", "<!everyone>", "<!here|here>", "<@U123ABC> look", "<http://evil.example|bank>",
           "a & b <b>", "x" * 5000, "zero\u200bwidth <!channel>", "\u202eright-to-left <!here>",
           "<#C0PAYROLL|payroll> see", "<mailto:a@b|c>", "<tel:123|call>", "<!subteam^S0EXEC> <ftp://x|y>"]

# The links we render ourselves: a sample's URL that passed ``safe_url``, as "<url|open>".
_OUR_LINKS = re.compile(r"<https?://[^\s<>|]+\|open>")


def unescaped_lt(rendered: str) -> list[str]:
    """Whatever Slack would read as a control sequence (a channel, mailto:, tel:, any "<...>"): every
    "<" left once our date tokens and our own links are taken out."""
    rest = _OUR_LINKS.sub("", without_dates(rendered))
    return [rest[max(0, i - 10):i + 20] for i, c in enumerate(rest) if c == "<"]


def alert(text: str) -> dict:
    return {"incident_id": "acme-2026-03-02T09:20:00Z", "brand": "acme", "status": "open", "seq": 1,
            "at": "2026-03-02T09:20:00Z", "opened_at": "2026-03-02T09:20:00Z", "severity": "high",
            "reason": "16 negative mentions in 20 min vs 2.6 expected",
            "evidence": {"window_minutes": 20, "observed_negatives": 16, "expected_negatives": 2.6,
                         "negative_rate_per_min": 0.8, "expected_rate_per_min": 0.13, "growth_doubling_minutes": 5.0,
                         "negative_share": 0.41, "baseline_share": 0.13, "unique_authors": 16, "mentions": 39,
                         "reach": 1234, "p_value": 1.5e-8},
            "samples": [{"id": "1", "text": text, "negativity": 0.9, "author_id": "<!channel>",
                         "author_followers": 10, "url": None}]}


@pytest.mark.parametrize("text", HOSTILE)
def test_no_control_sequence_survives(text):
    rendered = without_dates(json.dumps(blocks(alert(text)), ensure_ascii=False))
    for seq in ("<!", "<@", "<http", "<#", "<mailto", "<tel"):
        assert seq not in rendered
    assert unescaped_lt(rendered) == []
    for block in blocks(alert(text)):
        body = block.get("text", {}).get("text", "")
        assert len(body) <= 3000


def test_escape_never_cuts_an_entity():
    assert escape("<" * 10, limit=12) == "&lt;&lt;…"
    for text in ("<" * 10, "a&b>c" * 6, "x<y" * 8):  # every cut point: only whole entities before the "…"
        for limit in range(2, 40):
            out = escape(text, limit=limit)
            assert len(out) <= limit
            kept = out.removesuffix("…")
            assert kept.count("&") == kept.count(";"), (text, limit, out)


def test_headline_and_blocks_carry_the_numbers():
    a = alert("awful")
    assert "HIGH" in headline(a, "Acme Air") and "Acme Air" in headline(a, "Acme Air")
    text = json.dumps(blocks(a, "Acme Air"))
    assert "16 in 20 min vs 2.6 expected" in text and "doubling every 5 min" in text and "41%" in text


def fields(a: dict) -> dict[str, str]:
    (section,) = [b for b in blocks(a) if b.get("fields")]
    return dict(f["text"].split("\n", 1) for f in section["fields"])


def test_a_small_brands_new_burst_reads_as_what_paged():
    """The detector's numbers for a tiny brand: 6 negatives from none the window before, 0.088 expected.
    Per minute that was "0.30 now vs 0.00 expected" and "not growing" - though 0 -> 6 is what paged."""
    a = alert("awful")
    a["evidence"].update(observed_negatives=6.0, expected_negatives=0.088, previous_negatives=0.0,
                         negative_rate_per_min=0.3, expected_rate_per_min=0.0044, growth_doubling_minutes=None)
    shown = fields(a)
    assert shown["*Negatives*"] == "6 in 20 min vs 0.1 expected"
    assert shown["*Growth*"] == "new: 0 → 6 in 20 min"
    a["evidence"].update(expected_negatives=0.0, expected_rate_per_min=0.0002)  # rounded away in the record
    assert fields(a)["*Negatives*"] == "6 in 20 min vs 0.004 expected"


def test_a_large_brands_fields_keep_their_scale():
    a = alert("awful")
    a["evidence"].update(window_minutes=10, observed_negatives=1840.0, expected_negatives=212.37,
                         previous_negatives=930.0, negative_rate_per_min=184.0, expected_rate_per_min=21.237,
                         growth_doubling_minutes=10.2)
    assert fields(a) == {"*Negatives*": "1,840 in 10 min vs 212 expected", "*Growth*": "doubling every 10 min",
                         "*Negative share*": "41% (usual 13%)", "*Authors · reach*": "16 · 1,234 followers"}
    a["evidence"].update(observed_negatives=900.0, growth_doubling_minutes=None)  # shrinking: no doubling time
    assert fields(a)["*Growth*"] == "not growing (930 the 10 min before)"


def test_a_quiet_window_after_a_quiet_one_is_not_growing_not_new():
    """Back to nothing (a resolution, say): 0 negatives now and 0 before is no burst."""
    a = alert("awful")
    a["evidence"].update(observed_negatives=0.0, previous_negatives=0.0, growth_doubling_minutes=None)
    assert fields(a)["*Growth*"] == "not growing (0 the 20 min before)"


def test_text_exactly_at_the_limit_is_kept_whole():
    """Only what is over Slack's limit is cut: a sample of exactly the limit keeps its last character."""
    assert escape("x" * 400, 400) == "x" * 400 and escape("a&b" + "x" * 393, 400).endswith("xx")
    assert escape("x" * 401, 400) == "x" * 399 + "…"


def test_the_whole_message_on_call_needs():
    from pipeline.notify.render import ACTIONS

    a = {**alert("refund now"), "terms": [{"term": "#acmefail", "count": 12}, {"term": "refund", "count": 9}]}
    a["samples"][0].update(author_id="jo", author_followers=48_200, url="https://social.example/p/1?a=1&b=2")
    out = blocks(a, "Acme Air", grafana_url="https://grafana.example/d/bw?var-brand=acme", buttons=True)
    text = json.dumps(out, ensure_ascii=False)
    assert out[0]["type"] == "header" and "HIGH" in out[0]["text"]["text"] and "Acme Air" in out[0]["text"]["text"]
    assert "`#acmefail` ×12 · `refund` ×9" in text
    assert "*jo* (48,200 followers)" in text and "<https://social.example/p/1?a=1&amp;b=2|open>" in text
    (actions,) = [b for b in out if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == [*ACTIONS, "grafana"]
    assert actions["elements"][-1]["url"] == "https://grafana.example/d/bw?var-brand=acme"


def test_a_volume_alert_counts_mentions_not_negatives():
    """``buzzwatch detect --signal volume`` pages on all mentions: its evidence's "negatives" are every
    mention, so the field says "Mentions". An alert the detector wrote, from a surge of neutral ones."""
    from pipeline.cli import build_parser, detector_config
    from pipeline.core.monitor import Monitor, add_counts
    from pipeline.records import format_time

    args = build_parser().parse_args(["detect", "--signal", "volume", "--format", "counts"])
    monitor = Monitor(detector_config(args, bucket_s=300))
    t0, spike = 1772409600, 12 * 44  # two days of 5-minute buckets, ~20 mentions each, a surge at hour 44
    alerts = []
    for i in range(12 * 48):
        add_counts(monitor, "aapl", t0 + i * 300, t0 + (i + 1) * 300, 20 if i < spike else 20 * 2 ** min(i - spike, 6), 0)
        alerts += monitor.advance()
    a = alerts[0]
    assert a["status"] == "open" and a["at"] >= format_time(t0 + spike * 300) and a["signal"] == "volume"
    shown = fields(a)
    assert "*Negatives*" not in shown
    observed, minutes = count(a["evidence"]["observed_negatives"]), a["evidence"]["window_minutes"]
    assert shown["*Mentions*"].startswith(f"{observed} in {minutes} min vs ")
    assert shown["*Mentions*"].endswith(" expected (all mentions, not only negatives)")
    assert "*Negative share*" not in shown and "share" not in a["reason"]  # 100% of itself: meaningless
    header = blocks(a)[0]["text"]["text"]
    assert "volume spike on aapl" in header and "negative" not in header
    assert "volume spike on aapl" in notification_text(a) and "negative" not in headline(a)
    assert "signal" not in alert("awful") and "*Negatives*" in fields(alert("awful"))  # the worker's alerts


def test_the_runbook_is_a_link_beside_grafana_in_the_root_message_only():
    """On-call gets what to do next next to the numbers; thread replies stay compact."""
    a = alert("awful")
    out = blocks(a, grafana_url="https://grafana.example/d/bw?var-brand=acme",
                 runbook_url="https://wiki.example/runbooks/acme?a=1&b=2", buttons=True)
    (actions,) = [b for b in out if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]][-2:] == ["grafana", "runbook"]
    runbook = actions["elements"][-1]
    assert runbook["url"] == "https://wiki.example/runbooks/acme?a=1&b=2" and runbook["text"]["text"] == "Runbook"
    assert "value" not in runbook  # a link: it sends the interactivity endpoint nothing to record
    # Without buttons (a webhook, no signing secret) the links are still there.
    (links,) = [b for b in blocks(a, runbook_url="https://wiki.example/r") if b["type"] == "actions"]
    assert [e["action_id"] for e in links["elements"]] == ["runbook"]
    compact = blocks({**a, "status": "escalated", "seq": 2}, runbook_url="https://wiki.example/r", compact=True)
    assert "runbook" not in json.dumps(compact)


def test_a_sample_without_a_follower_count_does_not_claim_zero():
    """Unknown (null or absent) is left out; a real 0 (and 1) is said as it is."""
    a = alert("awful")
    a["samples"] = [{"id": str(i), "text": f"t{i}", "negativity": 0.9, "author_id": f"u{i}", **extra}
                    for i, extra in enumerate([{"author_followers": None}, {}, {"author_followers": 0},
                                               {"author_followers": 1}, {"author_followers": 48_200}])]
    (text,) = [b["text"]["text"] for b in blocks(a) if "Top negative mentions" in str(b)]
    assert text.splitlines()[1:] == ["• *u0*: “t0”", "• *u1*: “t1”", "• *u2* (0 followers): “t2”",
                                     "• *u3* (1 follower): “t3”", "• *u4* (48,200 followers): “t4”"]


def test_absent_optional_fields_render_too():
    a = alert("awful")
    a["evidence"]["growth_doubling_minutes"] = None
    text = json.dumps(blocks(a, buttons=True))
    assert "no doubling time" in text and "Driving it" not in text and "grafana" not in text
    assert "runbook" not in text.lower()


def test_ack_replaces_the_acknowledge_button_and_a_verdict_removes_the_rest():
    a = alert("awful")
    acked = blocks(a, buttons=True, ack={"by": "U0ALICE", "at": 1772421720.0})
    assert "Acknowledged by <@U0ALICE> at <!date^1772421720^{time}|03:22 UTC>" in json.dumps(acked)
    (actions,) = [b for b in acked if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == ["not_a_crisis", "confirmed"]
    judged = blocks(a, buttons=True, ack={"by": "U0ALICE", "at": 1772421720.0, "action": "not_a_crisis",
                                          "verdict_by": "U0BOB"})
    assert "marked *not a crisis* by <@U0BOB>" in json.dumps(judged)
    assert not [b for b in judged if b["type"] == "actions"]
    forged = blocks(a, ack={"by": "<!channel>", "at": 0})
    assert "<!" not in without_dates(json.dumps(forged)) and "Acknowledged by someone" in json.dumps(forged)
    # The verdict's presser is checked as the acknowledger is: a forged one falls back to the acknowledger.
    forged_verdict = blocks(a, ack={"by": "U0ALICE", "at": 0, "action": "confirmed", "verdict_by": "<!channel>"})
    shown = without_dates(json.dumps(forged_verdict))
    assert "<!" not in shown and "marked *confirmed crisis* by <@U0ALICE>" in shown


def test_an_ack_from_another_day_shows_its_date():
    """The time alone reads as today's: acknowledged at 23:50 the night before, the date is shown."""
    a = alert("awful")  # at 2026-03-02T09:20:00Z
    yesterday = blocks(a, ack={"by": "U0ALICE", "at": 1772409000.0})  # 2026-03-01T23:50:00Z
    assert ("Acknowledged by <@U0ALICE> at <!date^1772409000^{date_short_pretty} {time}|2026-03-01 23:50 UTC>"
            in json.dumps(yesterday))


def test_a_resolution_says_how_long_the_incident_lasted_and_its_peak():
    a = {**alert("awful"), "status": "resolved", "severity": "critical", "at": "2026-03-02T10:45:00Z",
         "reason": "back to normal: 3 negative mentions in 20 min vs 2.4 expected"}
    told = "back to normal: 3 negative mentions in 20 min vs 2.4 expected; lasted 1 h 25 min, peaked at critical"
    assert headline(a, "Acme Air") == f"[RESOLVED] CRITICAL negative buzz on Acme Air: {told}"
    assert [b["text"]["text"] for b in blocks(a) if b.get("fields")] == [told]
    short = {**a, "at": "2026-03-02T09:58:00Z"}
    assert headline(short).endswith("; lasted 38 min, peaked at critical")
    unknown = {k: v for k, v in a.items() if k != "opened_at"}  # nothing to count from: no number invented
    assert headline(unknown).endswith("2.4 expected")


def test_resolved_has_no_buttons_samples_or_terms():
    a = {**alert("awful"), "status": "resolved", "terms": [{"term": "refund", "count": 3}]}
    out = blocks(a, buttons=True)
    assert not [b for b in out if b["type"] == "actions"] and "refund" not in json.dumps(out)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_terms_urls_and_authors_stay_inert(text):
    a = {**alert(text), "terms": [{"term": text[:60], "count": 3}]}
    a["samples"][0].update(url=f"https://x.example/{text[:20]}", author_id=text[:50])
    rendered = without_dates(json.dumps(blocks(a, buttons=True), ensure_ascii=False))
    for seq in ("<!", "<@", "<http://evil", "<#", "<mailto", "<tel"):
        assert seq not in rendered
    assert unescaped_lt(rendered) == []


def test_chart_is_a_png_of_plausible_size():
    from pipeline.notify.chart import PNG_SIGNATURE, render_chart, usable

    history = {"start": "2026-03-02T06:40:00Z", "bucket_s": 60, "negatives": [0, 1, 0, 0, 2] * 30 + [4, 7, 12, 20],
               "expected": [0.5] * 154}
    assert usable(history) and not usable({**history, "negatives": [1]}) and not usable(None)
    png = render_chart(history, "Acme Air", opened_at="2026-03-02T09:10:00Z")
    assert png.startswith(PNG_SIGNATURE) and 5_000 < len(png) < 200_000
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (640, 280)
    assert render_chart(history, "Acme Air") == render_chart(history, "Acme Air")  # reproducible bytes


def test_the_committed_example_incident_is_what_on_call_should_see(tmp_path):
    """docs/examples/incident-* (``make example``): current, complete, inert apart from the configured pings."""
    from pathlib import Path

    from pipeline.devtools import example_incident
    from pipeline.notify.chart import PNG_SIGNATURE

    examples = Path(__file__).resolve().parents[2] / "docs" / "examples"
    root = json.loads((examples / "incident-blocks.json").read_text())["blocks"]
    # They are what the demo produces today (``make example`` after a change to detection or rendering).
    fresh = tmp_path / "examples"
    assert example_incident.main(["--out", str(fresh)]) == 0
    for name in ("incident-slack.json", "incident-blocks.json", "incident-chart.png"):
        assert (fresh / name).read_bytes() == (examples / name).read_bytes(), f"docs/examples/{name} is stale: make example"
    calls = json.loads((examples / "incident-slack.json").read_text())
    assert [b["type"] for b in root][:2] == ["header", "section"] and any(b["type"] == "actions" for b in root)
    assert [c["method"] for c in calls][:2] == ["chat.postMessage", "files.uploadV2"]
    text = without_dates(json.dumps(calls)).replace("<!subteam^S0ACMECOMMS>", "").replace("<!subteam^S0ACMEEXEC>", "")
    assert "<!" not in text and "<@U0ONCALL>" in text
    assert (examples / "incident-chart.png").read_bytes().startswith(PNG_SIGNATURE)


def test_a_days_digest_fits_slacks_limits_however_many_brands_drifted():
    from pipeline.notify.render import digest_day_blocks, digest_day_text

    notices = [{"brand": f"b{i:02d}", "day": "2026-03-06", "negative_share": 0.3, "usual_share": 0.1,
                "ratio": 1.5 + i / 10, "negatives": 30, "mentions": 100, "p_value": 1e-9,
                "daily_shares": [["2026-03-05", 0.1], ["2026-03-06", 0.3]]} for i in range(60)]
    blocks = digest_day_blocks(notices, {"b59": "<!channel> & co"})
    assert len(blocks) <= 50 and blocks[0]["type"] == "header"
    assert "for 60 brands" in blocks[0]["text"]["text"]
    assert "&lt;!channel&gt; &amp; co" in blocks[2]["text"]["text"]  # the steepest first, escaped
    assert blocks[-1]["elements"][0]["text"].startswith("...and 15 more: b14, b13")
    assert len(digest_day_text(notices, {})) <= 600 and "<!" not in json.dumps(blocks)
    exactly = digest_day_blocks(notices[:45], {})  # every brand listed: no "...and 0 more"
    assert "more:" not in json.dumps(exactly) and len(exactly) == 2 + 45


def test_times_are_shown_in_each_readers_time_zone_with_utc_where_slack_cannot():
    """Slack's date token: on-call in Paris and in New York each read their own clock; a
    notification or an old client shows the UTC fallback. A time that cannot be read is shown as it came."""
    (context,) = [b for b in blocks(alert("awful")) if b["type"] == "context"]
    assert context["elements"][0]["text"] == (
        "incident acme-2026-03-02T09:20:00Z · opened <!date^1772443200^{date_short_pretty} {time}|2026-03-02 09:20 UTC>"
        " · at <!date^1772443200^{date_short_pretty} {time}|2026-03-02 09:20 UTC>")
    odd = {**alert("awful"), "opened_at": "<!channel> yesterday"}
    (context,) = [b for b in blocks(odd) if b["type"] == "context"]
    assert "opened &lt;!channel&gt; yesterday · at <!date^1772443200^" in context["elements"][0]["text"]
