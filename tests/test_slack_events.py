"""Slack as a user channel: signed events through the Flask app, answers as Block Kit, retries answered once."""
from __future__ import annotations

import json
import time
from typing import Any

import pytest
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select

from bot.app import create_app
from bot.channels import slack
from bot.config import Settings
from bot.engine import Engine
from knowledge.model import Knowledge
from slack_fake import (BOT_ID, BOT_USER, FakeSlack, action_body, event_body, signed_headers, slack_api,  # noqa: F401
                        slack_server, slack_settings)
from storage.db import Database
from storage.models import TurnLog


@pytest.fixture
def settings(db: Database, slack_server: HTTPServer) -> Settings:
    """Return settings with Slack configured against the fake API."""
    return slack_settings(db.url, slack_server)


@pytest.fixture
def client(engine: Engine, settings: Settings, slack_api: FakeSlack) -> FlaskClient:
    return create_app(settings, engine).test_client()


def post(client: FlaskClient, body: str, headers: dict[str, str] | None = None,
         content_type: str = "application/json") -> Any:
    return client.post("/slack/events", data=body.encode(), headers=headers or signed_headers(body, content_type=content_type))


def dm(text: str, user: str = "UOWNER01", ts: str = "1700000000.000100") -> dict[str, Any]:
    return {"type": "message", "channel": "DOWNER01", "channel_type": "im", "user": user, "text": text, "ts": ts}


def turns(db: Database) -> int:
    with db.transaction() as session:
        return session.execute(select(func.count()).select_from(TurnLog)).scalar_one()


def buttons(post_args: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for block in post_args["blocks"] if block["type"] == "actions" for e in block["elements"]]


def test_bad_signature_is_refused_with_401_and_nothing_is_processed(client: FlaskClient, slack_api: FakeSlack,
                                                                    db: Database) -> None:
    body = event_body(dm("こんにちは"))
    headers = signed_headers(body, secret="not-the-secret")
    assert post(client, body, headers).status_code == 401
    assert turns(db) == 0 and slack_api.posts() == []


def test_stale_timestamp_is_refused_with_401(client: FlaskClient, slack_api: FakeSlack, db: Database) -> None:
    body = event_body(dm("こんにちは"))
    assert post(client, body, signed_headers(body, timestamp=int(time.time()) - 600)).status_code == 401
    assert turns(db) == 0 and slack_api.posts() == []


def test_unsigned_or_garbage_body_is_refused(client: FlaskClient, slack_api: FakeSlack) -> None:
    assert client.post("/slack/events", data=b"{not json").status_code == 401
    assert post(client, "{not json").status_code in (400, 401, 404)
    assert slack_api.posts() == []


def test_without_slack_settings_the_route_answers_503_and_the_app_still_runs(db: Database, kb: Knowledge) -> None:
    settings = Settings(database_url=db.url)
    app = create_app(settings, Engine(db, settings, kb)).test_client()
    body = event_body(dm("こんにちは"))
    assert post(app, body).status_code == 503
    assert app.get("/healthz").status_code == 200


def test_url_verification_is_answered_with_the_challenge(client: FlaskClient) -> None:
    body = json.dumps({"token": "t", "challenge": "abc123", "type": "url_verification"})
    response = post(client, body)
    assert response.status_code == 200 and "abc123" in response.get_data(as_text=True)


def test_direct_message_is_answered_as_block_kit_with_buttons(client: FlaskClient, slack_api: FakeSlack,
                                                             kb: Knowledge) -> None:
    assert post(client, event_body(dm("こんにちは"))).status_code == 200
    [sent] = slack_api.posts()
    assert sent["channel"] == "DOWNER01" and "thread_ts" not in sent
    assert any(b["type"] == "section" and "チャットボット" in b["text"]["text"] for b in sent["blocks"])
    menu = {item.label: item.text for item in kb.messages.menu}
    assert {b["text"]["text"]: b["value"] for b in buttons(sent)} == menu


def test_a_retry_and_a_duplicate_event_id_are_answered_once(client: FlaskClient, slack_api: FakeSlack,
                                                           db: Database) -> None:
    body = event_body(dm("こんにちは"), event_id="EvRETRY1")
    assert post(client, body).status_code == 200
    retry = {**signed_headers(body), "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert post(client, body, retry).status_code == 200
    assert post(client, body).status_code == 200
    assert len(slack_api.posts()) == 1 and turns(db) == 1


@pytest.mark.parametrize("event", [
    {**dm("こんにちは"), "bot_id": BOT_ID, "user": BOT_USER},  # the bot itself
    {**dm("こんにちは"), "bot_id": "BOTHER01", "subtype": "bot_message"},  # another bot
    {**dm("こんにちは"), "subtype": "message_changed"},  # an edit
    {**dm("こんにちは"), "subtype": "channel_join"},
])
def test_bot_messages_and_edits_are_not_answered(client: FlaskClient, slack_api: FakeSlack, db: Database,
                                                event: dict[str, Any]) -> None:
    assert post(client, event_body(event)).status_code == 200
    assert slack_api.posts() == [] and turns(db) == 0


def test_tapping_a_button_is_the_next_turn(client: FlaskClient, slack_api: FakeSlack) -> None:
    post(client, event_body(dm("こんにちは")))
    handoff_button = next(b for b in buttons(slack_api.posts()[0]) if b["text"]["text"] == "担当者に相談")
    body = action_body(handoff_button["action_id"], handoff_button["value"], "UOWNER01", "DOWNER01",
                       slack_api.posts()[0].get("ts", "1700000000.000200"), label="担当者に相談")
    assert post(client, body, content_type="application/x-www-form-urlencoded").status_code == 200
    asked = slack_api.posts()[-1]
    assert "お名前" in asked["text"]
    cancel = next(b for b in buttons(asked) if b["value"] == "cancel")
    body = action_body(cancel["action_id"], cancel["value"], "UOWNER01", "DOWNER01", "1700000000.000300",
                       label=cancel["text"]["text"])
    post(client, body, content_type="application/x-www-form-urlencoded")
    assert "中止しました" in slack_api.posts()[-1]["text"]


def test_a_mention_in_a_channel_is_answered_in_its_thread(client: FlaskClient, slack_api: FakeSlack) -> None:
    event = {"type": "app_mention", "channel": "C0GENERAL", "user": "UOWNER01", "ts": "1700000000.000400",
             "text": f"<@{BOT_USER}> 経営発達補助金の上限は？"}
    post(client, event_body(event, "EvMENTION1"))
    [sent] = slack_api.posts()
    assert sent["channel"] == "C0GENERAL" and sent["thread_ts"] == "1700000000.000400"
    assert "50万円" in sent["text"]


def test_personal_details_are_not_asked_in_a_channel(client: FlaskClient, slack_api: FakeSlack) -> None:
    event = {"type": "app_mention", "channel": "C0GENERAL", "user": "UOWNER01", "ts": "1700000000.000500",
             "text": f"<@{BOT_USER}> 担当者と話したい"}
    post(client, event_body(event, "EvMENTION2"))
    assert "1対1" in slack_api.posts()[0]["text"]


def test_what_a_user_typed_is_escaped_when_the_bot_shows_it_back(client: FlaskClient, slack_api: FakeSlack) -> None:
    # As Slack sends them: a typed "<!channel>" arrives entity-encoded, a link as <url|label>.
    for i, text in enumerate(["担当者と話したい", "&lt;!channel&gt; 山田", "<https://evil.example|いわき市>", "090-1234-5678",
                              "相談 &amp; 質問", "平日の午前"]):
        post(client, event_body(dm(text, ts=f"1700000001.00{i}"), f"EvESC{i}"))
    summary = json.dumps(slack_api.posts()[-2]["blocks"], ensure_ascii=False)
    assert "&lt;!channel&gt; 山田" in summary and "<!channel>" not in summary
    assert "いわき市 (https://evil.example)" in summary and "<https://evil" not in summary
    assert "相談 &amp; 質問" in summary


def test_slack_markup_in_a_users_text_reaches_the_engine_as_plain_text() -> None:
    assert slack.plain("&lt;b&gt; &amp; <https://example.jp|市のページ> <@U123> <!here>") == \
        "<b> & 市のページ (https://example.jp)  @here"


def test_reply_is_queued_for_the_worker_when_slack_is_down(client: FlaskClient, slack_api: FakeSlack,
                                                          db: Database) -> None:
    from storage.models import OutboxItem

    slack_api.fail("chat.postMessage", 503, times=5)
    assert post(client, event_body(dm("こんにちは"), "EvDOWN1")).status_code == 200
    with db.transaction() as session:
        [item] = session.execute(select(OutboxItem)).scalars().all()
        assert item.kind == "push" and item.payload["channel"] == "slack" and item.payload["user_id"] == "UOWNER01"


def test_a_direct_message_is_answered_even_when_slack_fails_to_say_who_the_bot_is(
        client: FlaskClient, slack_api: FakeSlack) -> None:
    slack_api.fail("auth.test", 500)
    assert post(client, event_body(dm("こんにちは"), "EvAUTH1")).status_code == 200
    assert len(slack_api.posts()) == 1
    assert post(client, event_body({**dm("こんにちは"), "bot_id": BOT_ID, "user": BOT_USER}, "EvAUTH2")).status_code == 200
    assert len(slack_api.posts()) == 1
