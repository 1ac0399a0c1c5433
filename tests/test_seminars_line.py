"""Seminar cards on LINE: a valid carousel LINE accepts, and its リマインド button stores the reminder."""
from datetime import datetime
from typing import Any, Iterator

import pytest
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from bot.app import create_app
from bot.config import TOKYO
from bot.engine import Engine
from knowledge.model import Knowledge
from line_fake import FakeLine, encode, fixture, line_settings, message_texts, parse_reply, sign
from storage.db import Database
from storage.models import Reminder

REPLY = "/v2/bot/message/reply"


@pytest.fixture
def line(httpserver: HTTPServer) -> FakeLine:
    return FakeLine(httpserver)


@pytest.fixture
def client(db: Database, kb: Knowledge, httpserver: HTTPServer, line: FakeLine) -> Iterator[FlaskClient]:
    settings = line_settings(db.url, httpserver)
    with create_app(settings, Engine(db, settings, kb)).test_client() as c:
        yield c


def event(name: str, when: str, event_id: str, **changes: Any) -> bytes:
    payload = fixture(name)
    payload["events"][0].update(webhookEventId=event_id,
                                timestamp=int(datetime.fromisoformat(when).replace(tzinfo=TOKYO).timestamp() * 1000), **changes)
    return encode(payload)


def post(client: FlaskClient, body: bytes) -> None:
    response = client.post("/line/webhook", data=body, headers={"Content-Type": "application/json", "X-Line-Signature": sign(body)})
    assert response.status_code == 200


def actions(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if isinstance(value.get("action"), dict):
            yield value["action"]
        for child in value.values():
            yield from actions(child)
    elif isinstance(value, list):
        for child in value:
            yield from actions(child)


def test_next_months_seminars_are_a_carousel_line_accepts_and_remind_stores_a_reminder(client, line, db):
    body = fixture("text")
    body["events"][0]["message"]["text"] = "来月のセミナーは？"
    post(client, event("text", "2017-10-15T09:00:00", "01SEMINAR00000000000000001", message=body["events"][0]["message"]))
    request = line.requests(REPLY)[-1]
    parse_reply(request)  # checks every message against the SDK models and LINE's limits
    messages = line.bodies(REPLY)[-1]["messages"]
    texts = message_texts(messages)
    assert "弁護士等無料相談会" in texts and "11/17(金)" in texts
    remind = next(a for a in actions(messages) if a.get("label") == "リマインド")
    assert remind["type"] == "postback"

    post(client, event("postback", "2017-10-15T09:01:00", "01SEMINAR00000000000000002", postback={"data": remind["data"]}))
    parse_reply(line.requests(REPLY)[-1])
    assert "リマインドを承りました" in message_texts(line.bodies(REPLY)[-1]["messages"])
    with db.transaction() as session:
        stored = session.execute(select(Reminder)).scalars().all()
    assert len(stored) == 1 and stored[0].starts_on.isoformat() == "2017-11-17"
