"""The LINE webhook end to end: signed real-shaped bodies through Flask, replies captured by a local fake LINE."""
from __future__ import annotations

import json
import logging
import threading
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any, Iterator

import pytest
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from bot.app import create_app
from bot.channels.line import LineClient, retry_key_for
from bot.channels.line import webhook
from bot.channels.line.webhook import LOADING_SECONDS, LineWebhook, LoadingAnimation
from bot.messages import Incoming, TurnResult
from bot.config import Settings
from bot.engine import Engine
from handlers import router
from handlers.base import Outcome
from handlers.replies import Reply, replies_from_json
from knowledge.model import Knowledge
from line_fake import FakeLine, encode, fixture, line_settings, message_texts, parse_push, parse_reply, sign
from storage import repository
from storage.db import Database
from storage.models import OutboxItem, ProcessedEvent, Reminder, User

from conftest import at

REPLY = "/v2/bot/message/reply"
PUSH = "/v2/bot/message/push"
LOADING = "/v2/bot/chat/loading/start"
USER = "U4af4980629a1b2c3d4e5f60718293a4b"
GROUP = "Ca56f94637c1b2a3d4e5f60718293a4b5"
# How long a test waits for something that happens at once, before it gives up (never reached when it passes).
SAFETY_TIMEOUT = 30.0


@pytest.fixture
def line(httpserver: HTTPServer) -> FakeLine:
    """Return the fake LINE API."""
    return FakeLine(httpserver)


@pytest.fixture
def app_client(db: Database, kb: Knowledge, httpserver: HTTPServer, line: FakeLine) -> Iterator[FlaskClient]:
    """Return a test client of the web app, its LINE client pointed at the fake."""
    settings = line_settings(db.url, httpserver)
    app = create_app(settings, Engine(db, settings, kb))
    with app.test_client() as client:
        yield client


def post(client: FlaskClient, payload: dict[str, Any] | bytes, signature: str | None = "sign") -> Any:
    """Post a webhook body, signed correctly unless another signature (or None) is given."""
    body = payload if isinstance(payload, bytes) else encode(payload)
    headers = {"Content-Type": "application/json"}
    if signature == "sign":
        headers["X-Line-Signature"] = sign(body)
    elif signature is not None:
        headers["X-Line-Signature"] = signature
    return client.post("/line/webhook", data=body, headers=headers)


def with_event(name: str, **changes: Any) -> dict[str, Any]:
    """Return a fixture body with the first event's top-level fields changed."""
    payload = fixture(name)
    payload["events"][0].update(changes)
    return payload


def with_text(name: str, text: str, event_id: str) -> dict[str, Any]:
    """Return a text-message fixture with another text and event id."""
    payload = with_event(name, webhookEventId=event_id)
    payload["events"][0]["message"]["text"] = text
    return payload


def count(db: Database, model: type) -> int:
    with db.transaction() as session:
        return len(session.execute(select(model)).scalars().all())


def test_verify_request_without_events_is_accepted(app_client: FlaskClient, line: FakeLine) -> None:
    response = post(app_client, fixture("verify"))
    assert response.status_code == 200
    assert line.paths() == []


@pytest.mark.parametrize("signature", [None, "", "bm90IHRoZSBzaWduYXR1cmU=", sign(b"another body")])
def test_missing_or_wrong_signature_is_refused_and_nothing_processed(
        app_client: FlaskClient, line: FakeLine, db: Database, signature: str | None) -> None:
    response = post(app_client, fixture("text"), signature=signature)
    assert response.status_code == 400
    assert line.paths() == []
    assert count(db, User) == 0 and count(db, ProcessedEvent) == 0


def test_signature_is_checked_on_the_raw_body(app_client: FlaskClient, line: FakeLine) -> None:
    payload = fixture("text")
    raw = encode(payload)
    reformatted = json.dumps(payload, ensure_ascii=True, indent=1).encode()  # same JSON, other bytes
    response = post(app_client, reformatted, signature=sign(raw))
    assert response.status_code == 400
    assert line.paths() == []


@pytest.mark.parametrize("body", [b"{not json", b"", b"[]", b'{"destination": "U0"}', b'{"events": {}}',
                                  b"\xff\xfe broken utf-8"])
def test_malformed_body_is_refused_with_400(app_client: FlaskClient, line: FakeLine, body: bytes) -> None:
    response = post(app_client, body, signature=sign(body))
    assert response.status_code == 400
    assert line.paths() == []


def test_empty_unsigned_body_is_refused(app_client: FlaskClient) -> None:
    assert post(app_client, b"", signature=None).status_code == 400


def test_ten_megabyte_body_is_refused_with_413(app_client: FlaskClient, line: FakeLine) -> None:
    payload = fixture("text")
    payload["events"][0]["message"]["text"] = "あ" * (10 * 1024 * 1024 // 3)
    response = post(app_client, payload)
    assert response.status_code == 413
    assert line.paths() == []


def test_text_message_is_answered_by_reply_without_a_loading_animation(app_client: FlaskClient,
                                                                        line: FakeLine) -> None:
    response = post(app_client, fixture("text"))
    assert response.status_code == 200
    assert line.paths() == [REPLY], "a turn answered within LOADING_DELAY shows no loading animation"
    reply = parse_reply(line.requests(REPLY)[0])
    assert reply.reply_token == "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA"
    messages = line.bodies(REPLY)[0]["messages"]
    assert any(m["type"] == "flex" for m in messages), "a program answer is a Flex bubble"
    assert "quickReply" in messages[-1]


@pytest.mark.parametrize("loading_status", [202, 500, 400])
def test_a_slow_turn_shows_the_loading_animation_once_then_answers(db: Database, kb: Knowledge, httpserver: HTTPServer,
                                                                   line: FakeLine, monkeypatch: pytest.MonkeyPatch,
                                                                   loading_status: int) -> None:
    if loading_status != 202:  # the animation fails: the answer is sent all the same
        line.fail(LOADING, loading_status)
    settings = line_settings(db.url, httpserver)
    engine = Engine(db, settings, kb)
    answer = engine.handle
    loading_seen: list[bool] = []

    def slow_handle(incoming: Incoming) -> TurnResult:
        """Answer only once LINE has been asked for the loading animation: a turn slower than the delay."""
        loading_seen.append(line.wait_for(LOADING, SAFETY_TIMEOUT))
        return answer(incoming)

    monkeypatch.setattr(engine, "handle", slow_handle)
    body = encode(fixture("text"))
    with LineClient.from_settings(settings) as client:
        assert LineWebhook(settings, engine, client, loading_delay=0.01).receive(body, sign(body)) == ("OK", 200)
    assert loading_seen == [True]
    assert line.paths() == [LOADING, REPLY]
    assert line.bodies(LOADING) == [{"chatId": USER, "loadingSeconds": LOADING_SECONDS}]
    assert parse_reply(line.requests(REPLY)[0]).reply_token == "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA"


def test_an_answer_waits_for_a_loading_animation_already_under_way() -> None:
    under_way, release = threading.Event(), threading.Event()
    order: list[str] = []

    class SlowLine:
        """A LINE that takes its time to start the animation."""

        def show_loading(self, chat_id: str, seconds: int) -> None:
            under_way.set()
            release.wait(SAFETY_TIMEOUT)
            order.append("loading")

    loading = LoadingAnimation(SlowLine(), delay=0.0)  # type: ignore[arg-type]
    with loading.while_slow(USER):
        assert under_way.wait(SAFETY_TIMEOUT)
        threading.Thread(target=release.set).start()
    order.append("answer")
    assert order == ["loading", "answer"], "an animation arriving after the answer would spin with nothing to come"


def test_the_animation_still_shows_after_its_watcher_idled_away(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhook, "WATCHER_IDLE_SECONDS", 0.0)  # the watcher ends as soon as no turn is left
    shown = threading.Semaphore(0)

    class Line:
        def show_loading(self, chat_id: str, seconds: int) -> None:
            shown.release()

    loading = LoadingAnimation(Line(), delay=0.0)  # type: ignore[arg-type]
    for _ in range(2):
        with loading.while_slow(USER):
            assert shown.acquire(timeout=SAFETY_TIMEOUT), "a slow turn shows the animation"


def test_redelivered_event_is_answered_once(app_client: FlaskClient, line: FakeLine) -> None:
    assert post(app_client, fixture("text")).status_code == 200
    redelivery = with_event("text", deliveryContext={"isRedelivery": True})
    assert post(app_client, redelivery).status_code == 200
    assert len(line.requests(REPLY)) == 1
    assert line.requests(PUSH) == []


def test_spent_reply_token_falls_back_to_push_with_a_stable_retry_key(app_client: FlaskClient, line: FakeLine) -> None:
    line.fail(REPLY, 400, {"message": "Invalid reply token"})
    assert post(app_client, fixture("text")).status_code == 200
    pushes = line.requests(PUSH)
    assert len(pushes) == 1
    push = parse_push(pushes[0])
    assert push.to == USER
    assert pushes[0].headers["X-Line-Retry-Key"] == retry_key_for("01JD5Y1B2C3D4E5F6G7H8J9K0A")
    # LINE redelivers the event: the engine has it already, nothing is sent again.
    post(app_client, with_event("text", deliveryContext={"isRedelivery": True}))
    assert len(line.requests(PUSH)) == 1


def test_retry_key_is_a_uuid_derived_from_the_event_id() -> None:
    key = retry_key_for("01JD5Y1B2C3D4E5F6G7H8J9K0A")
    assert key == retry_key_for("01JD5Y1B2C3D4E5F6G7H8J9K0A") != retry_key_for("01JD5Y1B2C3D4E5F6G7H8J9K0B")
    assert len(key) == 36 and key.count("-") == 4


@pytest.mark.parametrize("status,headers", [(500, {}), (503, {}), (429, {"Retry-After": "30"})])
def test_push_failure_is_queued_for_the_worker(app_client: FlaskClient, line: FakeLine, db: Database,
                                                status: int, headers: dict[str, str]) -> None:
    line.fail(REPLY, 400, {"message": "Invalid reply token"})
    line.fail(PUSH, status, {"message": "busy"}, headers=headers)
    assert post(app_client, fixture("text")).status_code == 200
    with db.transaction() as session:
        items = session.execute(select(OutboxItem)).scalars().all()
    assert [(i.kind, i.status) for i in items] == [("push", "pending")]
    payload = items[0].payload
    retry_key = retry_key_for("01JD5Y1B2C3D4E5F6G7H8J9K0A")
    assert payload["channel"] == "line" and payload["user_id"] == USER and payload["retry_key"] == retry_key
    assert replies_from_json(payload["replies"]), "the queued answer can be rebuilt by the worker"


def test_unreachable_line_queues_the_answer(db: Database, kb: Knowledge, httpserver: HTTPServer) -> None:
    settings = Settings(database_url=db.url, line_channel_secret="0123456789abcdef0123456789abcdef",
                        line_channel_access_token="test-channel-access-token", line_api_base_url="http://127.0.0.1:9")
    client = create_app(settings, Engine(db, settings, kb)).test_client()
    assert post(client, fixture("text")).status_code == 200
    with db.transaction() as session:
        items = session.execute(select(OutboxItem)).scalars().all()
    assert [i.kind for i in items] == ["push"]


def test_reply_rejected_for_another_reason_is_not_pushed(app_client: FlaskClient, line: FakeLine,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    line.fail(REPLY, 400, {"message": "The request body has 1 error(s)",
                           "details": [{"message": "May not be empty", "property": "messages[0].text"}]})
    with caplog.at_level(logging.ERROR):
        assert post(app_client, fixture("text")).status_code == 200
    assert line.requests(PUSH) == []
    assert "messages[0].text" in caplog.text


def test_postback_is_a_turn_with_the_tapped_label_and_data(app_client: FlaskClient, line: FakeLine, kb: Knowledge) -> None:
    assert post(app_client, fixture("postback")).status_code == 200
    assert line.paths() == [REPLY]
    parse_reply(line.requests(REPLY)[0])


def test_follow_greets_and_a_refollow_is_welcomed_back(app_client: FlaskClient, line: FakeLine, db: Database,
                                                       kb: Knowledge) -> None:
    assert post(app_client, fixture("follow")).status_code == 200
    first = line.bodies(REPLY)[0]["messages"]
    assert kb.messages.greeting in message_texts(first)
    assert [i["action"]["label"] for i in first[-1]["quickReply"]["items"]] == [m.label for m in kb.messages.menu]

    assert post(app_client, fixture("unfollow")).status_code == 200
    refollow = with_event("follow", webhookEventId="01JD5Y1B2C3D4E5F6G7H8J9K1F", follow={"isUnblocked": True},
                          replyToken="5b1c4c3c1d2e4f5a8b9c0d1e2f3a4b5c")
    assert post(app_client, refollow).status_code == 200
    assert kb.messages.welcome_back in message_texts(line.bodies(REPLY)[1]["messages"])
    for request in line.requests(REPLY):
        parse_reply(request)


def test_redelivered_follow_is_greeted_once(app_client: FlaskClient, line: FakeLine) -> None:
    post(app_client, fixture("follow"))
    post(app_client, with_event("follow", deliveryContext={"isRedelivery": True}))
    assert len(line.requests(REPLY)) == 1


def test_unfollow_marks_the_user_inactive_and_cancels_reminders(app_client: FlaskClient, db: Database,
                                                                line: FakeLine) -> None:
    post(app_client, fixture("follow"))
    now = at("2026-11-27T10:00:00")
    with db.transaction() as session:
        user = repository.find_user(session, "line", USER)
        assert user is not None and user.active
        repository.add_reminder(session, user, "seminar-a", date(2026, 12, 3), now + timedelta(days=5), now)
    assert post(app_client, fixture("unfollow")).status_code == 200
    with db.transaction() as session:
        user = repository.find_user(session, "line", USER)
        assert user is not None and not user.active
        assert [r.status for r in session.execute(select(Reminder)).scalars()] == ["cancelled"]
    assert len(line.requests(REPLY)) == 1  # nothing is sent to a user who blocked the bot


@pytest.mark.parametrize("kind", ["sticker", "image", "video", "audio", "file", "location"])
def test_non_text_message_gets_a_polite_note_with_the_menu(app_client: FlaskClient, line: FakeLine, kb: Knowledge,
                                                           kind: str) -> None:
    assert post(app_client, fixture(kind)).status_code == 200
    reply = parse_reply(line.requests(REPLY)[0])
    messages = line.bodies(REPLY)[0]["messages"]
    assert reply.messages[0].text == kb.messages.non_text
    assert [i["action"]["label"] for i in messages[-1]["quickReply"]["items"]] == [m.label for m in kb.messages.menu]


@pytest.mark.parametrize("name", ["group_plain", "group_other_mention", "group_sticker"])
def test_group_message_not_mentioning_the_bot_is_not_answered(app_client: FlaskClient, line: FakeLine, db: Database,
                                                              name: str) -> None:
    assert post(app_client, fixture(name)).status_code == 200
    assert line.paths() == []
    assert count(db, User) == 0


def test_group_message_mentioning_the_bot_is_answered_in_the_group(app_client: FlaskClient, line: FakeLine,
                                                                   db: Database, kb: Knowledge) -> None:
    assert post(app_client, fixture("group_mention")).status_code == 200
    assert line.paths() == [REPLY], "no loading animation in a group"
    texts = message_texts(line.bodies(REPLY)[0]["messages"])
    assert kb.messages.fallback not in texts, "the @name is removed before the question is matched"
    parse_reply(line.requests(REPLY)[0])
    with db.transaction() as session:
        assert repository.find_user(session, "line", GROUP) is not None, "a group shares one conversation"


def test_personal_flow_asked_in_a_group_continues_one_to_one(app_client: FlaskClient, line: FakeLine, kb: Knowledge,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    asked = Outcome("eligibility", (Reply("従業員数を教えてください。"),), flow="eligibility")
    eligibility = SimpleNamespace(NAME="eligibility", wants=lambda turn: "補助金診断" in turn.text,
                                  start=lambda turn: asked, step=lambda turn: None, cancel=lambda turn: asked)
    monkeypatch.setattr(router, "FLOWS", [eligibility, *router.FLOWS])
    assert post(app_client, fixture("room_mention")).status_code == 200
    texts = message_texts(line.bodies(REPLY)[0]["messages"])
    assert kb.messages.group_only_mentions in texts
    assert "従業員数" not in texts


def test_joining_a_group_says_how_to_talk_and_leaving_deactivates_it(app_client: FlaskClient, line: FakeLine,
                                                                      db: Database, kb: Knowledge) -> None:
    assert post(app_client, fixture("join")).status_code == 200
    assert kb.messages.group_greeting in message_texts(line.bodies(REPLY)[0]["messages"])
    assert post(app_client, fixture("group_mention")).status_code == 200
    assert post(app_client, fixture("leave")).status_code == 200
    with db.transaction() as session:
        group = repository.find_user(session, "line", GROUP)
        assert group is not None and not group.active


@pytest.mark.parametrize("name", ["ignored", "unknown"])
def test_other_and_unknown_events_are_skipped_without_error(app_client: FlaskClient, line: FakeLine, name: str) -> None:
    assert post(app_client, fixture(name)).status_code == 200
    assert line.paths() == []


def test_event_in_standby_mode_is_left_to_the_active_channel(app_client: FlaskClient, line: FakeLine) -> None:
    assert post(app_client, with_event("text", mode="standby")).status_code == 200
    assert line.paths() == []


def test_several_events_in_one_body_are_answered_in_order(app_client: FlaskClient, line: FakeLine) -> None:
    payload = fixture("text")
    second = with_text("text", "ありがとうございます", "01JD5Y1B2C3D4E5F6G7H8J9K2A")["events"][0]
    second["replyToken"] = "e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6"
    payload["events"].append(second)
    payload["events"].insert(1, fixture("unknown")["events"][0])
    assert post(app_client, payload).status_code == 200
    assert [r["replyToken"] for r in line.bodies(REPLY)] == ["nHuyWiB7yP5Zw52FIkcQobQuGDXCTA", "e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6"]


def test_long_and_emoji_messages_are_answered(app_client: FlaskClient, line: FakeLine) -> None:
    post(app_client, with_text("text", "補助金🙇‍♂️" * 1000, "01JD5Y1B2C3D4E5F6G7H8J9K2B"))
    post(app_client, with_text("text", "😀🎉", "01JD5Y1B2C3D4E5F6G7H8J9K2C"))
    assert len(line.requests(REPLY)) == 2
    for request in line.requests(REPLY):
        parse_reply(request)


def test_missing_credentials_answer_503_and_the_app_still_works(db: Database, kb: Knowledge,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(database_url=db.url)
    with caplog.at_level(logging.WARNING):
        client = create_app(settings, Engine(db, settings, kb)).test_client()
        response = post(client, fixture("text"))
    assert response.status_code == 503
    assert "LINE_CHANNEL_SECRET" in caplog.text and "LINE_CHANNEL_ACCESS_TOKEN" in caplog.text
    assert client.get("/healthz").status_code == 200


def test_no_user_id_or_text_is_logged_at_info(app_client: FlaskClient, line: FakeLine,
                                              caplog: pytest.LogCaptureFixture) -> None:
    line.fail(REPLY, 400, {"message": "Invalid reply token"})
    line.fail(PUSH, 500)
    with caplog.at_level(logging.INFO):
        post(app_client, fixture("text"))
        post(app_client, fixture("group_mention"))
    assert USER not in caplog.text and GROUP not in caplog.text
    assert "補助金の上限" not in caplog.text


def tap(action: dict[str, Any], n: int, timestamp: int) -> dict[str, Any]:
    """Return the webhook body LINE sends when this quick reply or button is tapped."""
    if action["type"] == "postback":
        return with_event("postback", postback={"data": action["data"]}, webhookEventId=f"01JD5Y1B2C3D4E5F6G7H8J{n:04d}",
                          replyToken=f"tap{n:029d}", timestamp=timestamp)
    payload = with_text("text", action["text"], f"01JD5Y1B2C3D4E5F6G7H8J{n:04d}")
    payload["events"][0].update(replyToken=f"tap{n:029d}", timestamp=timestamp)
    return payload


def test_seminars_and_the_questionnaire_through_line_stay_valid(app_client: FlaskClient, line: FakeLine,
                                                                db: Database) -> None:
    timestamp = int(at("2017-10-02T10:00:00").timestamp() * 1000)  # while the bundled seminar calendar runs
    seminars = with_text("text", "これからのセミナー", "01JD5Y1B2C3D4E5F6G7H8J9000")
    seminars["events"][0]["timestamp"] = timestamp
    post(app_client, seminars)
    messages = line.bodies(REPLY)[-1]["messages"]
    carousel = next(m for m in messages if m["type"] == "flex" and m["contents"]["type"] == "carousel")
    buttons = [b["action"] for b in carousel["contents"]["contents"][0]["footer"]["contents"] if b["type"] == "button"]
    for n, action in enumerate(buttons[:2], start=1):  # 詳細, リマインド
        post(app_client, tap(action, n, timestamp))
    with db.transaction() as session:
        assert len(session.execute(select(Reminder)).scalars().all()) == 1, "the reminder button stored a reminder"

    start = with_text("text", "補助金の対象になるか診断したい", "01JD5Y1B2C3D4E5F6G7H8J9001")
    start["events"][0]["timestamp"] = timestamp
    post(app_client, start)
    for n in range(10, 30):
        last = line.bodies(REPLY)[-1]["messages"]
        if any(m["type"] == "flex" and "診断" in m["altText"] for m in last) or "quickReply" not in last[-1]:
            break
        post(app_client, tap(last[-1]["quickReply"]["items"][0]["action"], n, timestamp))
    assert any(m["type"] == "flex" for m in line.bodies(REPLY)[-1]["messages"]), "the verdict is a Flex bubble"
    assert line.requests(PUSH) == []
    for request in line.requests(REPLY):
        parse_reply(request)


def test_a_bare_mention_in_a_group_is_answered_with_the_help(app_client: FlaskClient, line: FakeLine,
                                                            kb: Knowledge) -> None:
    payload = with_text("group_mention", "@いわき支援ボット", "01JD5Y1B2C3D4E5F6G7H8J9K3A")
    assert post(app_client, payload).status_code == 200
    assert post(app_client, payload).status_code == 200  # redelivered
    [reply] = line.requests(REPLY)
    assert parse_reply(reply).messages[0].text == kb.messages.help
