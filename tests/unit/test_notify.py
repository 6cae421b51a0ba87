"""Slack delivery against the stand-in: one root message per incident, whatever crashes or retries."""

from __future__ import annotations

import copy
import json
import random
import threading
import time

import pytest

from pipeline.devtools.slack_standin import SlackStandIn
from pipeline.errors import DeliveryError
from pipeline.notify.slack import PRUNED, BotSink, Notifier, prune_ledger
from tests.unit.test_render import alert, without_dates


@pytest.fixture
def standin():
    with SlackStandIn() as s:
        yield s


def notifier(standin) -> Notifier:
    return Notifier(BotSink("xoxb-test", standin.api_url), channel_for=lambda b: "#acme")


def roots(standin):
    return [m for m in standin.messages() if m["kind"] == "post" and not m["thread_ts"]]


def test_open_then_escalate_updates_in_place_and_replays_are_skipped(standin):
    n, ledger = notifier(standin), {}
    opened = alert("awful")
    escalated = {**opened, "status": "escalated", "seq": 2, "severity": "critical"}
    assert n.deliver(opened, ledger) == "posted"
    assert n.deliver(escalated, ledger) == "updated"
    assert n.deliver(opened, ledger) == "duplicate" and n.deliver(escalated, ledger) == "duplicate"
    assert len(roots(standin)) == 1
    updates = [m for m in standin.messages() if m["kind"] == "update"]
    assert len(updates) == 1 and updates[0]["ts"] == roots(standin)[0]["ts"]
    assert [m["thread_ts"] for m in standin.messages() if m["thread_ts"]] == [roots(standin)[0]["ts"]]


def test_a_crash_between_post_and_record_does_not_post_twice(standin):
    n, ledger = notifier(standin), {}
    opened = alert("awful")
    n.mark_pending(opened, ledger)
    persisted = copy.deepcopy(ledger)  # what the changelog held when the process died
    n.deliver(opened, ledger)  # posted; its record never reached the changelog
    assert standin.requests("conversations.history") == []  # its own fresh mark: no need to ask Slack
    restarted = notifier(standin)
    assert restarted.deliver(opened, persisted) == "recovered"
    assert len(roots(standin)) == 1
    assert persisted[opened["incident_id"]]["ts"] == roots(standin)[0]["ts"]


def test_a_crash_before_the_post_still_posts(standin):
    n, ledger = notifier(standin), {}
    opened = alert("awful")
    n.mark_pending(opened, ledger)
    assert notifier(standin).deliver(opened, ledger) == "posted" and len(roots(standin)) == 1


def test_a_crash_between_an_escalations_reply_and_its_record_does_not_reply_twice(standin):
    """The escalation's reply in the thread (with its pings) is a post like the root: one taken by
    Slack before the process died is found in the thread by its metadata, not posted again."""
    n, ledger = notifier(standin), {}
    opened = alert("awful")
    escalated = {**opened, "status": "escalated", "seq": 2, "severity": "critical"}
    n.deliver(opened, ledger)
    n.mark_pending(escalated, ledger)
    persisted = copy.deepcopy(ledger)  # what the changelog held when the process died
    assert n.deliver(escalated, ledger) == "updated"  # replied; its record never reached the changelog
    assert standin.requests("conversations.replies") == []  # its own fresh mark: no need to ask Slack
    restarted = notifier(standin)
    assert restarted.deliver(escalated, persisted) == "recovered"
    root = roots(standin)[0]["ts"]
    assert len([m for m in standin.messages() if m["thread_ts"] == root]) == 1
    assert persisted[opened["incident_id"]]["seq"] == 2
    # A crash before the reply: asked, not found, replied.
    again = {**escalated, "seq": 3}
    n.mark_pending(again, persisted)
    assert notifier(standin).deliver(again, persisted) == "updated"
    assert len([m for m in standin.messages() if m["thread_ts"] == root]) == 2


def test_a_thread_reply_is_posted_when_slack_refuses_to_show_the_thread(standin):
    """After a crash, a step marked pending is looked for in the thread first; if Slack will not
    show it (a missing scope, say), the reply is posted again rather than taken as delivered."""
    n, ledger = notifier(standin), {}
    opened = alert("awful")
    escalated = {**opened, "status": "escalated", "seq": 2, "severity": "critical"}
    n.deliver(opened, ledger)
    n.mark_pending(escalated, ledger)  # by the process that died before trying it
    standin.fail_next(1, 400, method="conversations.replies")
    assert notifier(standin).deliver(escalated, ledger) == "updated"
    assert [r.status for r in standin.requests("conversations.replies")] == [400]
    (reply,) = [m for m in standin.messages() if m["thread_ts"] == roots(standin)[0]["ts"]]
    assert "[ESCALATED] CRITICAL" in reply["text"]


def test_an_incident_whose_root_was_refused_starts_its_thread_with_its_next_step(standin):
    """A refused root (a 4xx) leaves nothing to update or reply to: the escalation is posted as
    the incident's root, and the steps after it reply in that thread."""
    n, ledger = notifier(standin), {}
    opened = alert("awful")
    standin.fail_next(1, 400, method="chat.postMessage")
    assert n.deliver(opened, ledger) == "refused"
    assert n.deliver({**opened, "status": "escalated", "seq": 2, "severity": "critical"}, ledger) == "posted"
    (root,) = roots(standin)
    assert "[ESCALATED] CRITICAL" in root["text"] and ledger[opened["incident_id"]]["ts"] == root["ts"]
    assert n.deliver({**opened, "status": "resolved", "seq": 3}, ledger) == "updated"
    (reply,) = [m for m in standin.messages() if m["thread_ts"]]
    assert reply["thread_ts"] == root["ts"] and "RESOLVED" in reply["text"]


def test_slack_down_raises_delivery_error_and_nothing_is_recorded(standin):
    n, ledger = notifier(standin), {}
    standin.set_down(True)
    with pytest.raises(DeliveryError):
        n.deliver(alert("awful"), ledger)
    assert ledger == {}
    standin.set_down(False)
    assert n.deliver(alert("awful"), ledger) == "posted"


def test_slack_answering_500_after_the_retries_is_a_delivery_error_not_a_refusal(standin, slept):
    """A 500 that outlasts the client's retries is Slack being down, not Slack refusing the alert:
    the alert is raised for the worker to try again (nothing recorded), not counted refused and let go."""
    n, ledger = notifier(standin), {}
    standin.fail_next(5, 500, method="chat.postMessage")
    with pytest.raises(DeliveryError, match="500"):
        n.deliver(alert("awful"), ledger)
    assert ledger == {} and len(standin.requests("chat.postMessage")) == 5
    assert n.deliver(alert("awful"), ledger) == "posted"


def test_the_delivery_seconds_reported_are_the_time_slack_took(standin):
    """``on_result``'s seconds feed buzzwatch_slack_delivery_seconds."""
    seen = []
    n = Notifier(BotSink("xoxb-test", standin.api_url), channel_for=lambda b: "#acme", charts=False,
                 on_result=lambda r, s: seen.append((r, s)))
    standin.delay(0.2)
    n.deliver(alert("awful"), {})
    ((result, seconds),) = seen
    assert result == "posted" and 0.2 <= seconds < 5


def test_a_brand_without_a_channel_is_refused_once_and_later_alerts_still_go_out(standin):
    results = []
    n = Notifier(BotSink("xoxb-test", standin.api_url), channel_for=lambda b: "#acme" if b == "acme" else None,
                 on_result=lambda result, seconds: results.append(result))
    ledger = {}
    orphan = {**alert("awful"), "brand": "nochannel", "incident_id": "nochannel:1"}
    assert n.deliver(orphan, ledger) == "refused"  # not a DeliveryError: retrying would block the queue
    assert standin.requests("chat.postMessage") == []
    assert n.deliver(orphan, ledger) == "duplicate"  # a replay is not refused (and logged) twice
    assert n.deliver(alert("awful"), ledger) == "posted" and len(roots(standin)) == 1
    assert results == ["refused", "duplicate", "posted"]


@pytest.fixture
def slept(monkeypatch):
    """The client's retry waits, recorded instead of slept: a wait is asserted exactly, and fast."""
    waits: list[float] = []
    caller, real_sleep = threading.get_ident(), time.sleep

    def sleep(seconds: float) -> None:
        if threading.get_ident() == caller:  # the stand-in's threads keep their real clock
            waits.append(seconds)
        else:
            real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", sleep)
    return waits


def test_rate_limit_is_honoured_then_delivered(standin, slept):
    """Retry-After 3 s is well above any backoff wait of the first retry (0.5-1.5 s): only a client
    that reads the header waits that long."""
    standin.rate_limit_next(1, retry_after=3)
    assert notifier(standin).deliver(alert("awful"), {}) == "posted"
    attempts = standin.requests("chat.postMessage")
    assert [a.status for a in attempts] == [429, 200]
    assert len(slept) == 1 and 3 <= slept[0] < 4  # Retry-After, plus at most a second of jitter


def history(n: int = 150) -> dict:
    return {"start": "2026-03-02T06:50:00Z", "bucket_s": 60, "negatives": [0, 1, 0, 2, 0] * (n // 5),
            "expected": [0.6] * n}


def full(status: str = "open", seq: int = 1, severity: str = "high", text: str = "awful") -> dict:
    return {**alert(text), "status": status, "seq": seq, "severity": severity, "history": history(),
            "terms": [{"term": "#acmefail", "count": 7}]}


def test_root_has_buttons_and_grafana_link_and_the_chart_goes_to_its_thread(standin):
    n = Notifier(BotSink("xoxb-test", standin.api_url), channel_for=lambda b: "#acme",
                 grafana_template="https://grafana.example/d/bw?var-brand={brand}", buttons=True)
    assert n.deliver(full(), {}) == "posted"
    (root,) = roots(standin)
    (actions,) = [b for b in root["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == ["acknowledge", "not_a_crisis", "confirmed", "grafana"]
    assert actions["elements"][-1]["url"] == "https://grafana.example/d/bw?var-brand=acme"
    (chart,) = standin.files()
    assert chart["data"].startswith(b"\x89PNG\r\n\x1a\n") and chart["thread_ts"] == root["ts"]
    assert chart["channel"] == "#acme" and chart["name"].endswith(".png")
    assert chart["title"] == "acme: negatives/min vs baseline"  # the brand's id when it has no name


@pytest.mark.parametrize("secret, shown", [("shh", ["acknowledge", "not_a_crisis", "confirmed", "grafana"]),
                                           (None, ["grafana"])])
def test_the_worker_shows_buttons_only_when_it_can_verify_their_presses(standin, tmp_path, secret, shown):
    """Without SLACK_SIGNING_SECRET every press would be refused (401): no buttons, the Grafana link stays."""
    from pipeline.settings import Settings
    from pipeline.stream.app import build_app

    env = {"BUZZWATCH_DATA_DIR": str(tmp_path), "SLACK_DEFAULT_CHANNEL": "#acme",
           "BUZZWATCH_GRAFANA_URL_TEMPLATE": "https://grafana.example/d/bw?var-brand={brand}",
           **({"SLACK_SIGNING_SECRET": secret} if secret else {})}
    app = build_app(Settings.from_env(env), [], BotSink("xoxb-test", standin.api_url))
    assert app.buzzwatch_notifier.deliver(alert("awful"), {}) == "posted"
    (root,) = roots(standin)
    (actions,) = [b for b in root["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == shown


def test_the_worker_links_each_brands_runbook_its_own_before_the_default(standin, tmp_path):
    """BUZZWATCH_RUNBOOK_URL for every brand, ``{brand}`` filled in, unless the brands file gives one;
    still there once someone acknowledged (the root is re-drawn)."""
    from pipeline.core.brands import Brand
    from pipeline.settings import Settings
    from pipeline.stream.app import build_app

    env = {"BUZZWATCH_DATA_DIR": str(tmp_path), "SLACK_DEFAULT_CHANNEL": "#acme", "SLACK_SIGNING_SECRET": "shh",
           "BUZZWATCH_RUNBOOK_URL": "https://wiki.example/runbooks/{brand}"}
    brands = [Brand("acme", "Acme Air", handles=("@acme",), runbook_url="https://wiki.example/acme-crisis"),
              Brand("globex", "Globex", handles=("@globex",))]
    app = build_app(Settings.from_env(env), brands, BotSink("xoxb-test", standin.api_url))
    ledger = {}
    for brand in ("acme", "globex", "initech"):  # initech: not in the brands file
        a = {**alert("awful"), "brand": brand, "incident_id": f"{brand}:1"}
        assert app.buzzwatch_notifier.deliver(a, ledger) == "posted"
    links = {}
    for root in roots(standin):
        (actions,) = [b for b in root["blocks"] if b["type"] == "actions"]
        links[root["text"].split(" on ")[1].split(":")[0]] = actions["elements"][-1]["url"]
    assert links == {"Acme Air": "https://wiki.example/acme-crisis", "Globex": "https://wiki.example/runbooks/globex",
                     "initech": "https://wiki.example/runbooks/initech"}
    assert app.buzzwatch_notifier.acknowledge({**ACK, "incident_id": "acme:1"}, ledger) == "acknowledged"
    (update,) = [m for m in standin.messages() if m["kind"] == "update"]
    (actions,) = [b for b in update["blocks"] if b["type"] == "actions"]
    assert actions["elements"][-1]["url"] == "https://wiki.example/acme-crisis"


def test_a_failed_chart_upload_does_not_hold_the_alert(standin, caplog):
    results = []
    n = Notifier(BotSink("xoxb-test", standin.api_url), channel_for=lambda b: "#acme",
                 on_result=lambda r, s: results.append(r))
    standin.fail_next(5, 400, method="files.getUploadURLExternal")
    assert n.deliver(full(), {}) == "posted"
    assert standin.files() == [] and results == ["posted"] and "chart of incident" in caplog.text


ACK = {"source": "slack", "action": "acknowledge", "incident_id": full()["incident_id"], "brand": "acme",
       "user_id": "U0ALICE", "at": "2026-03-02T03:22:00Z"}


def test_acknowledged_incident_escalates_without_pinging_anyone_twice_and_still_resolves_in_thread(standin):
    n, ledger = Notifier(BotSink("xoxb-test", standin.api_url), channel_for=lambda b: "#acme",
                         ping_for=lambda b, sev, ts: "<!subteam^S0COMMS>"), {}
    n.deliver(full(), ledger)
    (root,) = roots(standin)
    assert root["text"].startswith("<!subteam^S0COMMS> ")
    assert n.acknowledge(ACK, ledger) == "acknowledged"
    shown = standin.message(root["ts"])
    assert "Acknowledged by <@U0ALICE> at <!date^1772421720^{time}|03:22 UTC>" in str(shown["blocks"])
    standin.clear()
    assert n.deliver(full("escalated", 2, "critical"), ledger) == "updated"
    update, reply = standin.messages()
    assert (update["kind"], reply["kind"], reply["thread_ts"]) == ("update", "post", root["ts"])
    assert "[ESCALATED] CRITICAL" in reply["text"] and standin.files() == []  # told in the thread, no chart
    assert "Acknowledged by <@U0ALICE>" in str(update["blocks"]) + str(reply["blocks"])
    assert "<!subteam" not in str(standin.messages())  # comms was pinged at the opening and is on it
    standin.clear()
    assert n.deliver(full("resolved", 3, "critical"), ledger) == "updated"
    reply = [m for m in standin.messages() if m["thread_ts"] == root["ts"]]
    assert len(reply) == 1 and "RESOLVED" in reply[0]["text"] and "<!subteam" not in reply[0]["text"]
    # A verdict pressed later is kept with who gave it; replaying the record changes nothing.
    verdict = {**ACK, "action": "not_a_crisis", "user_id": "U0BOB"}
    assert n.acknowledge(verdict, ledger) == n.acknowledge(verdict, ledger) == "acknowledged"
    ack = ledger[ACK["incident_id"]]["ack"]
    assert ack == {"by": "U0ALICE", "at": 1772421720.0, "action": "not_a_crisis", "verdict_by": "U0BOB"}


def test_after_an_ack_an_escalation_pings_the_groups_it_reaches_for_the_first_time(standin):
    """Comms acknowledged at high; the escalation to critical must still reach exec (not comms again),
    in the thread, with a chart for whoever arrives."""
    from pipeline.core.brands import Brand

    brand = Brand("acme", "Acme Air", handles=("@acme",),
                  mention_on=(("high", "<!subteam^S0COMMS>"), ("critical", "<!subteam^S0EXEC>")))
    n, ledger = Notifier(BotSink("xoxb-test", standin.api_url), channel_for=lambda b: "#acme",
                         ping_for=lambda b, sev, ts: brand.ping(sev, ts), clock=lambda: 1772449200.0), {}
    n.deliver(full(), ledger)
    (root,) = roots(standin)
    assert root["text"].startswith("<!subteam^S0COMMS> [NEW] HIGH")
    assert n.acknowledge(ACK, ledger) == "acknowledged"
    standin.clear()
    assert n.deliver(full("escalated", 2, "critical"), ledger) == "updated"
    (reply,) = [m for m in standin.messages() if m["thread_ts"] == root["ts"]]
    assert reply["text"].startswith("<!subteam^S0EXEC> [ESCALATED] CRITICAL")
    assert "<!subteam^S0COMMS>" not in str(standin.messages()) and len(standin.files()) == 1
    assert ledger[ACK["incident_id"]]["pinged"] == ["<!subteam^S0COMMS>", "<!subteam^S0EXEC>"]
    standin.clear()
    assert n.deliver(full("resolved", 3, "critical"), ledger) == "updated"
    assert "<!subteam" not in str(standin.messages())
    # A ledger written before pings were recorded: what its last step's severity pings counts as pinged.
    legacy = {k: v for k, v in ledger[ACK["incident_id"]].items() if k != "pinged"}
    ledger["acme-old"] = {**legacy, "seq": 1, "status": "open", "alert": {**full(), "incident_id": "acme-old"}}
    standin.clear()
    n.deliver({**full("escalated", 2, "critical"), "incident_id": "acme-old"}, ledger)
    (reply,) = [m for m in standin.messages() if m["thread_ts"]]
    assert reply["text"].startswith("<!subteam^S0EXEC> [ESCALATED]")


def test_unacknowledged_escalation_pings_in_thread_with_a_new_chart(standin):
    n, ledger = Notifier(BotSink("xoxb-test", standin.api_url), channel_for=lambda b: "#acme",
                         ping_for=lambda b, sev, ts: "<!subteam^S0EXEC>" if sev == "critical" else None), {}
    n.deliver(full(), ledger)
    assert "<!subteam" not in str(standin.messages())
    n.deliver(full("escalated", 2, "critical"), ledger)
    (reply,) = [m for m in standin.messages() if m["thread_ts"]]
    assert reply["text"].startswith("<!subteam^S0EXEC> ") and len(standin.files()) == 2


def test_the_ping_opens_the_message_shown_not_only_its_notification_text(standin):
    """Slack shows the blocks (``text`` is the notification): the mention is the message's first
    line, in the root and in an escalation's reply, and the root redrawn later does not ping again."""
    n, ledger = Notifier(BotSink("xoxb-test", standin.api_url), channel_for=lambda b: "#acme",
                         ping_for=lambda b, sev, ts: "<!subteam^S0EXEC>", charts=False), {}
    n.deliver(full(), ledger)
    n.deliver(full("escalated", 2, "critical"), ledger)
    (root,) = roots(standin)
    (update,) = [m for m in standin.messages() if m["kind"] == "update"]
    (reply,) = [m for m in standin.messages() if m["thread_ts"]]
    for shown in (root, reply):
        first = next(b for b in shown["blocks"] if b["type"] == "section")
        assert first["text"]["text"].startswith("<!subteam^S0EXEC>")
    assert "<!subteam" not in json.dumps(update["blocks"])


def test_an_escalations_reply_has_the_numbers_and_leaves_the_sample_posts_to_the_root(standin):
    """The thread gets the short form: the posts that made the incident are on the root (redrawn
    with the escalation's), not repeated in every reply."""
    n, ledger = notifier(standin), {}
    n.deliver(full(), ledger)
    n.deliver({**full("escalated", 2, "critical"), "samples": [{**full()["samples"][0], "text": "still down"}]},
              ledger)
    (update,) = [m for m in standin.messages() if m["kind"] == "update"]
    (reply,) = [m for m in standin.messages() if m["thread_ts"]]
    assert "still down" in json.dumps(update["blocks"]) and "still down" not in json.dumps(reply["blocks"])
    assert "#acmefail" in json.dumps(reply["blocks"])


def test_quiet_hours_post_without_the_ping(standin):
    from pipeline.core.brands import Brand, QuietHours

    brand = Brand("acme", "Acme Air", handles=("@acme",), mention_on=(("warning", "<!subteam^S0COMMS>"),),
                  quiet_hours=QuietHours("22:00", "07:00", "Europe/Paris", "critical"))
    paris_3am = 1772416800.0
    now = [paris_3am]
    n = Notifier(BotSink("xoxb-test", standin.api_url), channel_for=lambda b: "#acme",
                 ping_for=lambda b, sev, ts: brand.ping(sev, ts), clock=lambda: now[0])
    n.deliver(full(), {})
    assert "<!subteam" not in str(standin.messages()) and len(roots(standin)) == 1
    now[0] = paris_3am + 9 * 3600  # noon in Paris: the same kind of incident pings the team
    n.deliver({**full(), "incident_id": "acme-noon"}, {})
    assert len(roots(standin)) == 2 and roots(standin)[1]["text"].startswith("<!subteam^S0COMMS>")


def test_the_root_redrawn_on_a_press_still_shows_the_sample_posts(standin):
    """The ledger keeps the alert (without its history) to redraw the root: the posts that made
    the incident stay on it once someone acknowledged."""
    n, ledger = notifier(standin), {}
    n.deliver(full(text="the app ate my boarding pass"), ledger)
    assert n.acknowledge(ACK, ledger) == "acknowledged"
    (update,) = [m for m in standin.messages() if m["kind"] == "update"]
    assert "the app ate my boarding pass" in json.dumps(update["blocks"])
    assert "Acknowledged by <@U0ALICE>" in json.dumps(update["blocks"])


def test_a_press_for_an_incident_without_a_root_in_slack_is_recorded_and_nothing_redrawn(standin):
    """Its root was refused, or went out through a webhook (a worker switched from a bot, its
    feedback records still coming): the ack is kept for the next steps, and no update is tried -
    a webhook cannot update (it would stop the feedback agent), a refused root has no ts."""
    from pipeline.notify.slack import WebhookSink

    for sink, fault in ((WebhookSink(standin.webhook_url), None), (BotSink("xoxb-test", standin.api_url), 400)):
        n, ledger = Notifier(sink, channel_for=lambda b: "#acme"), {}
        if fault:
            standin.fail_next(1, fault, method="chat.postMessage")
        n.deliver(alert("awful"), ledger)
        standin.clear()
        assert n.acknowledge({**ACK, "incident_id": alert("awful")["incident_id"]}, ledger) == "acknowledged"
        assert ledger[alert("awful")["incident_id"]]["ack"] == {"by": "U0ALICE", "at": 1772421720.0}
        assert standin.requests() == []


def test_unknown_incident_ack_is_ignored(standin):
    n = notifier(standin)
    record = {"source": "slack", "action": "acknowledge", "incident_id": "nope", "brand": "acme",
              "user_id": "U0ALICE", "at": "2026-03-02T03:22:00Z"}
    assert n.acknowledge(record, {}) == "unknown" and standin.messages() == []


@pytest.mark.parametrize("status", [500, 502])
def test_server_errors_are_retried_with_backoff(standin, slept, monkeypatch, status):
    """Each retry waits, and longer than the one before (jitter fixed to 0 so the growth shows):
    hammering a failing Slack at a fixed pace would only keep it down. 500 is a server error too."""
    monkeypatch.setattr(random, "random", lambda: 0.0)
    standin.fail_next(3, status, method="chat.postMessage")
    assert notifier(standin).deliver(alert("awful"), {}) == "posted"
    assert [r.status for r in standin.requests("chat.postMessage")] == [status, status, status, 200]
    assert len(slept) == 3 and 0 < slept[0] < slept[1] < slept[2]


def test_a_permanent_refusal_is_refused_not_raised_and_later_alerts_still_go_out(standin):
    """A 4xx (a bad channel, a bad token) will not heal by retrying: raising it would hold every
    later alert behind this one."""
    n, ledger = notifier(standin), {}
    standin.fail_next(1, 400, method="chat.postMessage")
    assert n.deliver(alert("awful"), ledger) == "refused"
    assert n.deliver(alert("awful"), ledger) == "duplicate"  # recorded: a replay is not refused twice
    assert n.deliver({**alert("awful"), "incident_id": "acme-later"}, ledger) == "posted"
    assert len(roots(standin)) == 1


@pytest.mark.parametrize("fault", ["rate_limited", 500, 503])
def test_webhook_rate_limits_and_server_errors_raise_delivery_error(standin, slept, fault):
    """A webhook still answering 429 or 5xx after the client's retries must be tried again later
    (the offset stays uncommitted), not counted as delivered nor refused."""
    from pipeline.notify.slack import WebhookSink

    if fault == "rate_limited":
        standin.rate_limit_next(10, retry_after=1, method="webhook")
    else:
        standin.fail_next(10, fault, method="webhook")
    with pytest.raises(DeliveryError, match="webhook answered"):
        Notifier(WebhookSink(standin.webhook_url)).deliver(alert("awful"), {})
    assert standin.messages() == [] and len(standin.requests("webhook")) > 1  # retried first


@pytest.mark.parametrize("status", [400, 403, 404, 410])
def test_a_webhook_refusing_an_alert_is_refused_not_posted(standin, status):
    """A revoked webhook (404 no_service), an archived channel (410), a bad payload (400): the
    alert is not in Slack and will not be by retrying. Counted 'refused' (BuzzwatchSlackDeliveryFailing
    pages on it), recorded so a replay is not refused twice, and later alerts still go out."""
    from pipeline.notify.slack import WebhookSink

    results: list[str] = []
    n, ledger = Notifier(WebhookSink(standin.webhook_url), on_result=lambda r, s: results.append(r)), {}
    standin.fail_next(1, status, method="webhook")
    assert n.deliver(alert("awful"), ledger) == "refused"
    assert n.deliver(alert("awful"), ledger) == "duplicate"
    assert n.deliver({**alert("awful"), "incident_id": "acme-later"}, ledger) == "posted"
    assert results == ["refused", "duplicate", "posted"] and len(standin.messages()) == 1
    standin.fail_next(1, status, method="webhook")
    assert n.deliver_digest(NOTICE, {}) == "refused"


def test_links_in_an_alert_are_not_unfurled(standin):
    """A sample's URL is the public's: Slack must not fetch it and show its preview under the
    alert (a page of someone's choosing, and it buries the numbers). Bot root, reply and webhook."""
    from pipeline.notify.slack import WebhookSink

    linked = {**alert("awful"), "samples": [{**alert("awful")["samples"][0], "url": "https://x.example/status/1"}]}
    n, ledger = notifier(standin), {}
    n.deliver(linked, ledger)
    n.deliver({**linked, "status": "escalated", "seq": 2, "severity": "critical"}, ledger)
    Notifier(WebhookSink(standin.webhook_url)).deliver(linked, {})
    sent = standin.requests("chat.postMessage") + standin.requests("webhook")
    assert "https://x.example/status/1" in json.dumps([r.body for r in sent])
    assert [r.body.get("unfurl_links") for r in sent] == [False, False, False]


def test_webhook_mode_has_no_buttons(standin):
    """Not even when presses could be verified (the worker asks for buttons whenever
    SLACK_SIGNING_SECRET is set): a webhook's message cannot be updated with the ack."""
    from pipeline.notify.slack import WebhookSink

    Notifier(WebhookSink(standin.webhook_url), buttons=True).deliver(full(), {})
    (msg,) = standin.messages()
    assert msg["kind"] == "webhook" and not [b for b in msg["blocks"] if b["type"] == "actions"]


def test_hostile_corpus_through_the_real_client_and_stand_in(standin):
    """Every hostile text, as sample, author, term and URL, reaches 'Slack' inert: the configured
    ping is the only control sequence in what Slack received, and every block is within limits."""
    from tests.unit.test_render import HOSTILE, unescaped_lt

    n = Notifier(BotSink("xoxb-test", standin.api_url), channel_for=lambda b: "#acme",
                 ping_for=lambda b, sev, ts: "<!subteam^S0COMMS>", charts=False)
    for i, text in enumerate(HOSTILE):
        a = {**full(text=text), "incident_id": f"acme-hostile-{i}", "reason": text[:300],
             "terms": [{"term": text[:60], "count": 2}]}
        a["samples"] = [{**a["samples"][0], "author_id": text[:80], "url": f"http://evil|{text[:30]}"}] * 3
        assert n.deliver(a, {}) == "posted"
    sent = [r.body for r in standin.requests("chat.postMessage")]
    assert len(sent) == len(HOSTILE)
    for body in sent:
        rendered = without_dates(json.dumps(body, ensure_ascii=False)).replace("<!subteam^S0COMMS>", "")
        for seq in ("<!", "<@", "<http", "<#", "<mailto", "<tel"):
            assert seq not in rendered
        assert unescaped_lt(rendered) == []
        assert len(body["text"]) <= 4000
        for block in body["blocks"]:
            assert len(block.get("text", {}).get("text", "")) <= (150 if block["type"] == "header" else 3000)
            assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))


NOTICE = {"brand": "acme", "day": "2026-03-06", "at": "2026-03-07T00:00:00Z", "negatives": 275, "mentions": 937,
          "negative_share": 0.2935, "usual_share": 0.1233, "ratio": 2.38, "p_value": 1.25e-43, "usual_days": 3,
          "daily_shares": [["2026-03-04", 0.1308], ["2026-03-05", 0.1843], ["2026-03-06", 0.2935]],
          "reason": "negative share 29% on 2026-03-06 vs 12% over the 3 days before (2.4x, p=1.3e-43)"}


def test_a_days_digest_is_one_message_in_the_digest_channel_updated_as_brands_close_the_day(standin):
    from pipeline.notify.slack import digest_key

    n = Notifier(BotSink("xoxb-test", standin.api_url), channel_for=lambda b: "#acme",
                 name_for=lambda b: {"acme": "Acme Air"}.get(b), digest_channel="#digest")
    days: dict[str, dict] = {}  # the ledger: one entry per day (the digest topic's key)
    zeta = {**NOTICE, "brand": "zeta", "ratio": 3.1, "negative_share": 0.31}
    for notice, result in ((NOTICE, "posted"), (zeta, "updated"), (NOTICE, "duplicate"), (zeta, "duplicate"),
                           ({**NOTICE, "day": "2026-03-07"}, "posted")):
        assert n.deliver_digest(notice, days.setdefault(digest_key(notice), {})) == result
    posts = roots(standin)
    assert [(p["channel"], p["text"]) for p in posts] == [
        ("#digest", "Daily digest 2026-03-06: negativity rising for 1 brand - Acme Air"),
        ("#digest", "Daily digest 2026-03-07: negativity rising for 1 brand - Acme Air")]
    (update,) = [m for m in standin.messages() if m["kind"] == "update"]
    assert update["ts"] == posts[0]["ts"] and update["text"].endswith("for 2 brands - zeta, Acme Air")
    shown = json.dumps(update["blocks"])
    assert shown.index("zeta") < shown.index("Acme Air")  # the steepest rise first
    assert "Day by day: 03-04 *13%*" in shown and "actions" not in shown and "<!" not in shown  # nothing to press, no ping


def test_the_days_message_is_updated_when_each_brand_was_marked_pending_first(standin):
    """As the worker does it: mark the notice pending (persisted), then deliver it. The day's
    message lists every brand delivered once, not the marks of notices not delivered yet."""
    from pipeline.notify.slack import digest_key

    n = Notifier(BotSink("xoxb-test", standin.api_url), channel_for=lambda b: "#acme", digest_channel="#digest")
    day: dict = {}
    zeta, yoyo = {**NOTICE, "brand": "zeta"}, {**NOTICE, "brand": "yoyo"}
    n.mark_digest_pending(yoyo, day)  # read, its delivery still to come
    for notice, result in ((NOTICE, "posted"), (zeta, "updated")):
        n.mark_digest_pending(notice, day)
        assert n.deliver_digest(notice, day) == result
    (update,) = [m for m in standin.messages() if m["kind"] == "update"]
    assert update["text"].endswith("for 2 brands - acme, zeta") and digest_key(NOTICE) == "digest/2026-03-06"


def test_without_a_digest_channel_each_brand_is_told_in_its_own_channel(standin):
    from pipeline.notify.slack import digest_key

    n = Notifier(BotSink("xoxb-test", standin.api_url), channel_for=lambda b: f"#{b}")
    day: dict = {}
    assert n.deliver_digest(NOTICE, day) == "posted" and n.deliver_digest({**NOTICE, "brand": "zeta"}, day) == "posted"
    assert n.deliver_digest(NOTICE, day) == "duplicate"
    assert [(p["channel"], p["text"][:25]) for p in roots(standin)] == [("#acme", "Daily digest: acme negati"),
                                                                       ("#zeta", "Daily digest: zeta negati")]
    assert digest_key(NOTICE) == "digest/2026-03-06"


@pytest.mark.parametrize("digest_channel", ["#digest", None])
def test_a_crash_between_the_digest_post_and_its_record_does_not_post_twice(standin, digest_channel):
    def fresh() -> Notifier:
        return Notifier(BotSink("xoxb-test", standin.api_url), channel_for=lambda b: "#acme",
                        digest_channel=digest_channel)

    day: dict = {}
    n = fresh()
    n.mark_digest_pending(NOTICE, day)
    persisted = copy.deepcopy(day)  # what the changelog held when the process died
    assert n.deliver_digest(NOTICE, day) == "posted"
    assert standin.requests("conversations.history") == []  # its own fresh mark: no need to ask Slack
    assert fresh().deliver_digest(NOTICE, persisted) == "recovered"  # found by its metadata
    assert len(roots(standin)) == 1
    if digest_channel:  # the day's message is known again: the next brand updates it
        assert fresh().deliver_digest({**NOTICE, "brand": "zeta"}, persisted) == "updated"
        assert len(roots(standin)) == 1
    other: dict = {}
    fresh().mark_digest_pending({**NOTICE, "day": "2026-03-08"}, other)
    assert fresh().deliver_digest({**NOTICE, "day": "2026-03-08"}, other) == "posted"  # died before the post
    assert len(roots(standin)) == 2


def test_without_slack_a_digest_notice_is_one_terminal_line():
    from pipeline.notify.slack import TerminalSink

    lines: list[str] = []
    n = Notifier(TerminalSink(write=lines.append))
    assert n.deliver_digest(NOTICE, {}) == "posted"
    assert lines == ["DIGEST Daily digest: acme negativity rising - 29% negative on 2026-03-06 vs 12% usual (2.4x)"]


def test_the_worker_retries_a_delivery_until_slack_takes_it_honouring_retry_after(monkeypatch):
    """The worker's delivery loop (stream/app.py): Slack's Retry-After when it gives one, else a
    backoff doubling to 30 s, until the step returns - the alert's offset waits, nothing is dropped."""
    import asyncio

    from pipeline.stream import app as stream_app

    waits: list[float] = []
    calls: list[str] = []
    failures = [DeliveryError("429", retry_after=7), *[DeliveryError("502") for _ in range(6)]]

    def step(record: dict, entries: dict) -> str:
        calls.append(record["incident_id"])
        if failures:
            raise failures.pop(0)
        return "posted"

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(stream_app.asyncio, "sleep", sleep)
    asyncio.run(stream_app._until_done(step, {"incident_id": "acme-1"}, {}, "alert acme-1"))
    assert len(calls) == 8 and waits == [7.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_a_replayed_alert_of_an_incident_pruned_from_the_ledger_is_not_posted_again(standin):
    """The worker's ledger keeps a brand's 20 most recent incidents (``prune_ledger``). An alert of an older one read
    again (the alerts topic re-read from an old committed offset after a rebalance) is one already
    delivered: it is taken as such, not posted as a new incident."""
    n, ledger = Notifier(BotSink("xoxb-test", standin.api_url), channel_for=lambda b: "#acme", charts=False), {}
    incidents = [{**alert("awful"), "incident_id": f"acme-2026-03-{day:02d}T09:20:00Z"} for day in range(1, 24)]
    for a in incidents:  # as the worker's deliver_once does: mark, prune, deliver, prune
        n.mark_pending(a, ledger)
        ledger = prune_ledger(ledger)
        assert n.deliver(a, ledger) == "posted"
        ledger = prune_ledger(ledger)
    assert len(roots(standin)) == 23
    escalated = {**incidents[0], "status": "escalated", "seq": 2, "severity": "critical"}
    for a in [incidents[0], incidents[2], escalated, incidents[-1]]:  # replays: pruned, pruned, pruned, kept
        n.mark_pending(a, ledger)
        ledger = prune_ledger(ledger)
        assert n.deliver(a, ledger) == "duplicate", a["incident_id"]
        ledger = prune_ledger(ledger)
    assert len(roots(standin)) == 23 and not [m for m in standin.messages() if m["kind"] == "update"]
    assert len(ledger) == 21 and ledger[PRUNED] == incidents[2]["incident_id"]  # still small
    assert [k for k in ledger if k != PRUNED] == [a["incident_id"] for a in incidents[3:]]
