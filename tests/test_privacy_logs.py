"""Logs at INFO carry no names, phone numbers, e-mail addresses, message text or platform user ids; analytics are hashed."""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from bot.app import create_app
from bot.engine import Engine
from knowledge.model import Knowledge
from line_fake import FakeLine, encode, fixture, line_settings, sign
from storage.db import Database
from storage.models import Lead, TurnLog

LINE_USER = "U4af4980629a1b2c3d4e5f60718293a4b"  # the user id in tests/fixtures/line/text.json
NAME, BUSINESS, PHONE, EMAIL = "磐城花子", "花子食堂", "090-8765-4321", "hanako@example.jp"
QUESTION = "奨学金の返還支援の概要を教えて"
TOPIC = "店舗改装の補助金について相談したい"
# A whole conversation: a question, an unanswerable one, a handoff with personal details, a deletion.
CONVERSATION = [QUESTION, "駅前のおいしいラーメン屋", "担当者と話したい", NAME, BUSINESS, PHONE, TOPIC,
                "平日の午前", "同意する", "データを削除", "はい、削除する"]
SECRETS = [NAME, BUSINESS, PHONE, PHONE.replace("-", ""), EMAIL, QUESTION, TOPIC, "ラーメン", LINE_USER]


def _info_text(records: list[logging.LogRecord]) -> str:
    """Return everything logged at INFO or above, as a reader of the logs would see it."""
    lines = []
    for record in records:
        if record.levelno < logging.INFO:
            continue
        lines.append(record.getMessage())
        if record.exc_info:
            lines.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(lines)


def _assert_nothing_personal(caplog: pytest.LogCaptureFixture, db: Database) -> None:
    with db.transaction() as session:  # the personal details really went through (into a lead)
        name, contact = session.execute(select(Lead.name, Lead.contact)).one()
    assert name == NAME and (PHONE in contact or EMAIL in contact)
    logged = _info_text(caplog.records)
    assert logged, "nothing was logged: the test would prove nothing"
    for secret in SECRETS:
        assert secret not in logged, f"{secret!r} appears in the INFO logs"


def _line_message(text: str, i: int) -> dict[str, Any]:
    payload = fixture("text")
    event = payload["events"][0]
    event["webhookEventId"] = f"01JD5Y1B2C3D4E5F6G7H8J9K{i:02d}"
    event["replyToken"] = f"reply-token-{i}"
    event["message"]["text"] = text
    return payload


def test_a_line_conversation_with_a_handoff_logs_nothing_personal(
        db: Database, kb: Knowledge, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture):
    FakeLine(httpserver)
    settings = line_settings(db.url, httpserver)
    client = create_app(settings, Engine(db, settings, kb)).test_client()
    with caplog.at_level(logging.INFO):
        for i, text in enumerate(CONVERSATION):
            body = encode(_line_message(text.replace(PHONE, f"{PHONE}（{EMAIL}）"), i))
            response = client.post("/line/webhook", data=body,
                                   headers={"Content-Type": "application/json", "X-Line-Signature": sign(body)})
            assert response.status_code == 200
    _assert_nothing_personal(caplog, db)


def test_a_web_chat_conversation_with_a_handoff_logs_nothing_personal(
        engine: Engine, caplog: pytest.LogCaptureFixture):
    client = create_app(replace(engine.settings, web_chat_enabled=True), engine).test_client()
    with caplog.at_level(logging.INFO):
        for text in CONVERSATION:
            assert client.post("/web/chat", json={"text": text}).status_code == 200
    _assert_nothing_personal(caplog, engine.db)


def test_analytics_know_users_only_by_a_salted_hash(db: Database, kb: Knowledge, httpserver: HTTPServer):
    FakeLine(httpserver)
    settings = line_settings(db.url, httpserver)
    client = create_app(settings, Engine(db, settings, kb)).test_client()
    body = encode(_line_message(QUESTION, 0))
    client.post("/line/webhook", data=body, headers={"Content-Type": "application/json", "X-Line-Signature": sign(body)})
    with db.transaction() as session:
        hashes = session.execute(select(TurnLog.user_hash)).scalars().all()
    assert hashes and all(LINE_USER not in h and len(h) >= 16 for h in hashes)
