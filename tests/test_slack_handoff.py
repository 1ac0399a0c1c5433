"""The secretariat's side in Slack: lead cards, claim and resolve, replies relayed to LINE, the chat handed back."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from bot.channels import slack
from bot.config import Settings
from bot.engine import Engine
from bot.messages import Incoming, TurnResult
from bot.outbox import Worker
from conftest import Clock, at
from knowledge.model import Knowledge
from line_fake import FakeLine, SECRET, TOKEN, message_texts, parse_push
from slack_fake import (HANDOFF_CHANNEL, FakeSlack, action_body, event_body, signed_headers, slack_api,  # noqa: F401
                        slack_server, slack_settings)
from storage.db import Database
from storage.models import Lead, OutboxItem

NOW = "2026-11-27T10:00:00"  # a Friday morning: the secretariat is at work
LINE_USER = "U0123456789abcdef0123456789abcdef"


@pytest.fixture
def line(httpserver: HTTPServer) -> FakeLine:
    return FakeLine(httpserver)


@pytest.fixture
def settings(db: Database, slack_server: HTTPServer, httpserver: HTTPServer) -> Settings:
    """Return settings with Slack (the fake Slack API) and LINE (the fake LINE API) both configured."""
    return slack_settings(db.url, slack_server, line_channel_secret=SECRET, line_channel_access_token=TOKEN,
                          line_api_base_url=httpserver.url_for("/").rstrip("/"))


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def client(engine: Engine, settings: Settings, slack_api: FakeSlack, line: FakeLine, clock: Clock) -> FlaskClient:
    """Return a test client of the Slack endpoint, on the test's clock like the worker."""
    app = Flask(__name__)
    app.register_blueprint(slack.blueprint(settings, engine, clock))
    return app.test_client()


@pytest.fixture
def worker(db: Database, settings: Settings, kb: Knowledge, clock: Clock) -> Worker:
    return Worker(db, settings, kb, clock=clock)


def say(engine: Engine, text: str, now: datetime | None = None, postback: str | None = None) -> TurnResult:
    return engine.handle(Incoming("line", LINE_USER, text, now or at(NOW), postback=postback))


def hand_over(engine: Engine, name: str = "山田太郎", topic: str = "経営発達補助金の申請について") -> int:
    """Go through the handoff on LINE and consent; return the lead id."""
    for text in ["担当者と話したい", name, "山田商店", "090-1234-5678", topic, "平日の午前"]:
        say(engine, text)
    [lead_id] = say(engine, "同意する", postback="handoff:consent").lead_ids
    return lead_id


def lead(db: Database, lead_id: int) -> Lead:
    with db.transaction() as session:
        found = session.get(Lead, lead_id)
        assert found is not None
        return found


def post(client: FlaskClient, body: str, form: bool = False) -> int:
    content_type = "application/x-www-form-urlencoded" if form else "application/json"
    return client.post("/slack/events", data=body.encode(),
                       headers=signed_headers(body, content_type=content_type)).status_code


def press(client: FlaskClient, slack_api: FakeSlack, action_id: str, lead_id: int, user: str) -> None:
    [card] = [c for c in slack_api.lead_cards() if c["metadata"]["event_payload"]["lead_id"] == lead_id]
    assert post(client, action_body(action_id, str(lead_id), user, HANDOFF_CHANNEL, card["ts"], message=card),
                form=True) == 200


def in_thread(client: FlaskClient, card_ts: str, text: str, user: str = "USECRET1", ts: str = "1800000100.000001",
              event_id: str = "EvTHREAD1") -> int:
    event = {"type": "message", "channel": HANDOFF_CHANNEL, "channel_type": "channel", "user": user, "text": text,
             "ts": ts, "thread_ts": card_ts}
    return post(client, event_body(event, event_id))


def pushes(line: FakeLine) -> list[tuple[str, str]]:
    """Return (to, text) of every push LINE received, each checked against LINE's model and limits."""
    for request in line.requests("/v2/bot/message/push"):
        parse_push(request)
    return [(body["to"], message_texts(body["messages"])) for body in line.bodies("/v2/bot/message/push")]


def card_text(card: dict[str, Any]) -> str:
    return json.dumps(card["blocks"], ensure_ascii=False)


def test_a_lead_is_posted_once_as_a_card_with_everything_the_secretariat_needs(
        engine: Engine, worker: Worker, slack_api: FakeSlack, db: Database) -> None:
    say(engine, "経営発達補助金の上限は？")
    lead_id = hand_over(engine)
    assert worker.run_once() == 1
    assert worker.run_once() == 0
    [card] = slack_api.lead_cards()
    text = card_text(card)
    for expected in ["山田太郎", "山田商店", "090-1234-5678", "経営発達補助金の申請について", "平日の午前", "LINE",
                     "経営発達補助金の上限は？", "担当する", "対応済み", f"ご相談 #{lead_id}"]:
        assert expected in text
    saved = lead(db, lead_id)
    assert (saved.status, saved.slack_channel, saved.slack_ts) == ("delivered", HANDOFF_CHANNEL, card["ts"])


def test_channel_pings_and_disguised_links_arrive_escaped(engine: Engine, worker: Worker, slack_api: FakeSlack) -> None:
    hand_over(engine, name="<!channel> 山田", topic="<https://evil.example|いわき市役所> & <@U999>")
    worker.run_once()
    [card] = slack_api.lead_cards()
    text = card_text(card) + card["text"]
    assert "&lt;!channel&gt; 山田" in text and "<!channel>" not in text
    assert "&lt;https://evil.example|いわき市役所&gt; &amp; &lt;@U999&gt;" in text and "<https://evil" not in text


def test_claim_then_resolve_update_the_card_and_hand_the_chat_back(
        engine: Engine, worker: Worker, client: FlaskClient, slack_api: FakeSlack, db: Database, line: FakeLine) -> None:
    lead_id = hand_over(engine)
    worker.run_once()
    press(client, slack_api, slack.CLAIM_ACTION, lead_id, "USECRET1")
    claimed = lead(db, lead_id)
    assert (claimed.status, claimed.claimed_by) == ("claimed", "USECRET1")
    [update] = slack_api.updates()
    assert update["ts"] == claimed.slack_ts and "<@USECRET1>" in card_text(update)
    assert "lead_claim" not in card_text(update) and "lead_resolve" in card_text(update)

    press(client, slack_api, slack.RESOLVE_ACTION, lead_id, "USECRET2")
    resolved = lead(db, lead_id)
    assert (resolved.status, resolved.resolved_by) == ("resolved", "USECRET2")
    last = slack_api.updates()[-1]
    assert "対応済み（<@USECRET2>）" in card_text(last) and '"actions"' not in card_text(last)

    worker.run_once()  # the user is told, on LINE, that the secretariat is done
    [(to, text)] = pushes(line)
    assert to == LINE_USER and "対応が完了しました" in text
    answered = say(engine, "経営発達補助金の上限は？")
    assert "50万円" in answered.text  # the bot answers again
    old_button = say(engine, "ボットに戻る", postback="handoff:release")
    assert old_button.intent == "handoff" and "ボットの案内に戻りました" in old_button.text


def test_a_thread_reply_reaches_the_user_on_line_as_from_the_secretariat(
        engine: Engine, worker: Worker, client: FlaskClient, slack_api: FakeSlack, line: FakeLine) -> None:
    hand_over(engine)
    worker.run_once()
    [card] = slack_api.lead_cards()
    assert in_thread(client, card["ts"], "お電話でご説明します。&lt;資料&gt;をご用意ください") == 200
    assert in_thread(client, card["ts"], "お電話でご説明します。&lt;資料&gt;をご用意ください") == 200  # Slack's retry
    assert in_thread(client, card["ts"], "// 内部メモ：来週対応", ts="1800000101.000001", event_id="EvMEMO") == 200
    worker.run_once()
    [(to, text)] = pushes(line)
    assert to == LINE_USER
    assert "【事務局より】" in text and "<資料>をご用意ください" in text and "内部メモ" not in text


def test_while_the_lead_is_open_the_user_talks_to_the_thread_not_the_bot(
        engine: Engine, worker: Worker, slack_api: FakeSlack, db: Database) -> None:
    lead_id = hand_over(engine)
    worker.run_once()
    first = say(engine, "明日の午後でも大丈夫です")
    assert "担当者にお伝えしました" in first.text and "ボットに戻る" in [c.label for c in first.choices]
    second = say(engine, "<!channel> よろしくお願いします")
    assert second.replies == ()  # a person answers now, not the bot
    worker.run_once()
    card_ts = lead(db, lead_id).slack_ts
    assert card_ts is not None
    thread = [m["text"] for m in slack_api.thread(card_ts)]
    assert len(thread) == 2 and "明日の午後でも大丈夫です" in thread[0]
    assert "&lt;!channel&gt; よろしくお願いします" in thread[1] and "<!channel>" not in thread[1]

    back = say(engine, "ボットに戻る")
    assert "ボットの案内に戻りました" in back.text
    assert "50万円" in say(engine, "経営発達補助金の上限は？").text
    worker.run_once()
    assert "ボットの案内に戻りました" in slack_api.thread(card_ts)[-1]["text"]


def test_without_slack_the_bot_keeps_answering_and_says_the_lead_is_queued(db: Database, kb: Knowledge) -> None:
    settings = Settings(database_url=db.url)
    engine = Engine(db, settings, kb)
    lead_id = hand_over(engine)
    assert "50万円" in say(engine, "経営発達補助金の上限は？").text
    worker = Worker(db, settings, kb, clock=lambda: at(NOW))
    assert worker.run_once() == 0
    saved = lead(db, lead_id)
    assert saved.status == "queued"
    with db.transaction() as session:
        item = session.execute(select(OutboxItem).where(OutboxItem.key == f"lead:{lead_id}")).scalar_one()
        assert (item.status, item.attempts) == ("pending", 0)


def test_an_unclaimed_lead_is_announced_again_once(engine: Engine, worker: Worker, slack_api: FakeSlack,
                                                   db: Database, clock: Clock) -> None:
    lead_id = hand_over(engine)
    worker.run_once()
    clock.advance(minutes=59)
    worker.run_once()
    card_ts = lead(db, lead_id).slack_ts
    assert card_ts is not None and slack_api.thread(card_ts) == []
    clock.advance(minutes=2)
    worker.run_once()
    worker.run_once()
    clock.advance(hours=5)
    worker.run_once()
    worker.run_once()
    [again] = slack_api.thread(card_ts)
    assert f"ご相談 #{lead_id}" in again["text"]
    assert [p for p in slack_api.posts() if p.get("reply_broadcast")]  # shown in the channel too


def test_a_lead_claimed_in_time_is_not_announced_again(engine: Engine, worker: Worker, client: FlaskClient,
                                                       slack_api: FakeSlack, db: Database, clock: Clock) -> None:
    lead_id = hand_over(engine)
    worker.run_once()
    press(client, slack_api, slack.CLAIM_ACTION, lead_id, "USECRET1")
    clock.advance(hours=3)
    worker.run_once()
    card_ts = lead(db, lead_id).slack_ts
    assert card_ts is not None and slack_api.thread(card_ts) == []


def test_an_evening_lead_is_announced_again_an_office_hour_after_opening(
        engine: Engine, db: Database, settings: Settings, kb: Knowledge, slack_api: FakeSlack) -> None:
    for text in ["担当者と話したい", "山田太郎", "山田商店", "090-1234-5678", "相談", "いつでもよい"]:
        say(engine, text, now=at("2026-11-27T19:00:00"))
    say(engine, "同意する", now=at("2026-11-27T19:00:00"), postback="handoff:consent")
    clock = Clock("2026-11-27T19:00:00")
    worker = Worker(db, settings, kb, clock=clock)
    worker.run_once()
    for moment in ["2026-11-28T10:00:00", "2026-11-30T09:29:00"]:  # Saturday; Monday before 9:30
        clock.now = at(moment)
        worker.run_once()
    [card] = slack_api.lead_cards()
    assert slack_api.thread(card["ts"]) == []
    clock.now = at("2026-11-30T09:31:00")
    worker.run_once()
    worker.run_once()
    assert len(slack_api.thread(card["ts"])) == 1
