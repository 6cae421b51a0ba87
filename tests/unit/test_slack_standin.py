"""The Slack stand-in must behave like Slack for the real slack_sdk clients, faults included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_sdk import WebClient, WebhookClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_handlers
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from pipeline.devtools.slack_standin import SlackStandIn, describe

TOKEN = "xoxb-test-token"
# Smallest valid PNG (1x1 transparent pixel).
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082"
)


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        yield standin


def client(slack: SlackStandIn, **kwargs: object) -> WebClient:
    return WebClient(token=TOKEN, base_url=slack.api_url, timeout=5, **kwargs)  # type: ignore[arg-type]


def test_url_matches_what_webclient_expects(slack: SlackStandIn) -> None:
    assert slack.api_url == slack.url + "/api/"
    assert client(slack).auth_test()["user_id"] == "U0STANDIN"
    req = slack.requests("auth.test")[0]
    assert req.headers["authorization"] == f"Bearer {TOKEN}"
    assert not req.faulted


def test_post_then_update(slack: SlackStandIn) -> None:
    web = client(slack)
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": "Buzz rising: Acme"}}]
    first = web.chat_postMessage(channel="C1", text="alert", blocks=blocks)
    second = web.chat_postMessage(channel="C1", text="another")
    assert first["channel"] == "C1"
    assert first["message"]["text"] == "alert"
    assert float(second["ts"]) > float(first["ts"])
    web.chat_update(channel="C1", ts=first["ts"], text="resolved")
    with pytest.raises(SlackApiError) as err:
        web.chat_update(channel="C1", ts="1.000001", text="nope")
    assert err.value.response["error"] == "message_not_found"
    msgs = slack.messages()
    assert [(m["kind"], m["ts"], m["text"]) for m in msgs] == [
        ("post", first["ts"], "alert"),
        ("post", second["ts"], "another"),
        ("update", first["ts"], "resolved"),
    ]
    assert msgs[0]["blocks"] == blocks
    assert "Buzz rising: Acme" in describe(msgs[0])


def test_thread_reply(slack: SlackStandIn) -> None:
    web = client(slack)
    parent = web.chat_postMessage(channel="C1", text="parent")
    reply = web.chat_postMessage(channel="C1", text="detail", thread_ts=parent["ts"])
    assert reply["message"]["thread_ts"] == parent["ts"]
    assert slack.messages()[-1]["thread_ts"] == parent["ts"]


def test_form_encoded_calls_are_parsed(slack: SlackStandIn) -> None:
    web = client(slack)
    web.api_call("chat.postMessage", params={"channel": "C2", "text": "form", "blocks": "[]"})
    req = slack.requests("chat.postMessage")[0]
    assert req.body == {"channel": "C2", "text": "form", "blocks": []}


def test_rate_limit_honours_retry_after(slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(builtin_handlers, "time", types.SimpleNamespace(sleep=sleeps.append))
    slack.rate_limit_next(2, retry_after=3)
    web = client(slack, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)])
    assert web.chat_postMessage(channel="C1", text="hi")["ok"]
    attempts = slack.requests("chat.postMessage")
    assert [(r.status, r.faulted) for r in attempts] == [(429, True), (429, True), (200, False)]
    assert len(sleeps) == 2 and all(3 <= s < 4 for s in sleeps)
    assert len(slack.messages()) == 1


def test_rate_limit_without_retry_surfaces_429(slack: SlackStandIn) -> None:
    slack.rate_limit_next(1, retry_after=7)
    with pytest.raises(SlackApiError) as err:
        client(slack, retry_handlers=[]).chat_postMessage(channel="C1", text="hi")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "7"


def test_server_error_then_success(slack: SlackStandIn) -> None:
    fast = FixedValueRetryIntervalCalculator(0.01)
    slack.fail_next(1, status=500)
    web = client(slack, retry_handlers=[ServerErrorRetryHandler(max_retry_count=1, interval_calculator=fast)])
    assert web.chat_postMessage(channel="C1", text="hi")["ok"]
    assert [r.status for r in slack.requests()] == [500, 200]


def test_fault_can_target_one_method(slack: SlackStandIn) -> None:
    slack.fail_next(1, method="chat.postMessage")
    web = client(slack, retry_handlers=[])
    assert web.auth_test()["ok"]
    with pytest.raises(SlackApiError):
        web.chat_postMessage(channel="C1", text="hi")


def test_set_down_answers_503_until_up(slack: SlackStandIn) -> None:
    fast = FixedValueRetryIntervalCalculator(0.01)
    web = client(slack, retry_handlers=[ServerErrorRetryHandler(max_retry_count=2, interval_calculator=fast)])
    slack.set_down(True)
    with pytest.raises(SlackApiError) as err:
        web.chat_postMessage(channel="C1", text="hi")
    assert err.value.response.status_code == 503
    assert [r.status for r in slack.requests()] == [503, 503, 503]
    slack.set_down(False)
    slack.clear()
    assert web.chat_postMessage(channel="C1", text="hi")["ok"]
    assert len(slack.requests()) == 1


def test_missing_or_bad_auth(slack: SlackStandIn) -> None:
    with pytest.raises(SlackApiError) as err:
        WebClient(base_url=slack.api_url).chat_postMessage(channel="C1", text="hi")
    assert err.value.response["error"] == "not_authed"
    with pytest.raises(SlackApiError) as err:
        WebClient(token="xoxp-user", base_url=slack.api_url).chat_postMessage(channel="C1", text="hi")
    assert err.value.response["error"] == "invalid_auth"
    assert slack.messages() == []


def test_delay_slows_responses(slack: SlackStandIn) -> None:
    slack.delay(0.2)
    started = time.monotonic()
    client(slack).auth_test()
    assert time.monotonic() - started >= 0.2


def test_files_upload_v2(slack: SlackStandIn) -> None:
    web = client(slack)
    parent = web.chat_postMessage(channel="C1", text="alert")
    resp = web.files_upload_v2(
        channel="C1", content=PNG, filename="chart.png", title="Chart", thread_ts=parent["ts"]
    )
    assert resp["file"]["name"] == "chart.png"
    assert [r.method for r in slack.requests()][1:] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    assert slack.requests("files.getUploadURLExternal")[0].body["length"] == str(len(PNG))
    (uploaded,) = slack.files()
    assert uploaded["data"] == PNG
    assert (uploaded["channel"], uploaded["thread_ts"], uploaded["title"]) == ("C1", parent["ts"], "Chart")


def test_webhook(slack: SlackStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    slack.echo = True
    hook = WebhookClient(slack.webhook_url)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Acme* buzz up 40%"}}]
    resp = hook.send(text="fallback", blocks=blocks)
    assert (resp.status_code, resp.body) == (200, "ok")
    assert slack.messages() == [
        {
            "kind": "webhook",
            "channel": None,
            "ts": None,
            "thread_ts": None,
            "text": "fallback",
            "blocks": blocks,
            "attachments": None,
            "metadata": None,
        }
    ]
    assert "*Acme* buzz up 40%" in capsys.readouterr().out
    slack.fail_next(1)
    assert hook.send(text="again").status_code == 500
    assert hook.send_dict({}).status_code == 400


def test_wait_for(slack: SlackStandIn) -> None:
    with pytest.raises(TimeoutError):
        slack.wait_for(slack.messages, timeout=0.05)
    client(slack).chat_postMessage(channel="C1", text="hi")
    assert slack.wait_for(slack.messages, timeout=1)[0]["text"] == "hi"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_main_prints_url_echoes_and_stops_on_signal(sig: signal.Signals) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
    }
    cmd = [sys.executable, "-m", "pipeline.devtools.slack_standin", "--port", "0"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env) as proc:
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            web = WebClient(token=TOKEN, base_url=url + "/api/")
            web.chat_postMessage(channel="C9", text="from make run")
            assert proc.stdout.readline().startswith("[slack] post C9")
            proc.send_signal(sig)
            assert proc.wait(timeout=5) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


def test_history_returns_root_messages_newest_first_with_metadata_if_asked():
    with SlackStandIn() as standin:
        client = WebClient(token="xoxb-test", base_url=standin.api_url)
        first = client.chat_postMessage(channel="#c", text="one",
                                        metadata={"event_type": "x", "event_payload": {"incident_id": "i1"}})
        client.chat_postMessage(channel="#c", text="reply", thread_ts=first["ts"])
        client.chat_postMessage(channel="#c", text="two")
        history = client.conversations_history(channel="#c", include_all_metadata=True)
        assert [m["text"] for m in history["messages"]] == ["two", "one"]
        assert history["messages"][1]["metadata"]["event_payload"] == {"incident_id": "i1"}
        # As Slack: without include_all_metadata, only the event types the app subscribes to (none).
        assert all("metadata" not in m for m in client.conversations_history(channel="#c")["messages"])
        replies = client.conversations_replies(channel="#c", ts=first["ts"])["messages"]
        assert [m["text"] for m in replies] == ["one", "reply"] and all("metadata" not in m for m in replies)
        replies = client.conversations_replies(channel="#c", ts=first["ts"], include_all_metadata=True)["messages"]
        assert replies[0]["metadata"]["event_payload"] == {"incident_id": "i1"}


def test_the_terminal_echo_shows_a_date_token_as_its_fallback():
    """``make run`` shows what Slack shows where it cannot use the reader's clock."""
    msg = {"kind": "post", "channel": "#acme-oncall", "ts": "1.000001", "blocks": [
        {"type": "context", "elements": [{"type": "mrkdwn", "text":
                                          "opened <!date^1772440080^{date_short_pretty} {time}|2026-03-02 08:28 UTC> · ok"}]}]}
    assert describe(msg).splitlines()[1] == "    opened 2026-03-02 08:28 UTC · ok"
