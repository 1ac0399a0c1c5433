"""LINE and Slack down for a while: every answer, reminder and lead waits in the outbox and arrives exactly once after recovery."""
from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import datetime, timedelta

import pytest
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from werkzeug import Request, Response

from bot.app import create_app
from bot.channels.line import retry_key_for
from bot.config import Settings
from bot.engine import Engine, now_in_tokyo
from bot.outbox import Worker
from handlers.base import CreateLead
from knowledge.model import Knowledge
from line_fake import SECRET, TOKEN, encode, fixture, sign
from slack_fake import FakeSlack, slack_api, slack_server, slack_settings  # noqa: F401
from storage import repository
from storage.db import Database
from storage.models import Lead, OutboxItem, Reminder

USERS = [f"U{n:032x}" for n in range(8)]


class LineThatFails:
    """The Messaging API with an outage switch: down (5xx/429), slow (replies fail; a push is accepted, then answered too late) or up.

    Like LINE, a push is accepted once per X-Line-Retry-Key; a repeat is answered 409.
    """

    def __init__(self, server: HTTPServer):
        self.mode = "up"
        self.accepted: Counter[str] = Counter()
        self.replies = 0
        self.lock = threading.Lock()
        server.expect_request("/v2/bot/message/reply").respond_with_handler(self._reply)
        server.expect_request("/v2/bot/message/push").respond_with_handler(self._push)
        server.expect_request("/v2/bot/chat/loading/start").respond_with_handler(self._loading)

    @staticmethod
    def _json(status: int, body: dict, headers: dict[str, str] | None = None) -> Response:
        return Response(json.dumps(body), status=status, content_type="application/json", headers=headers or {})

    def _loading(self, request: Request) -> Response:
        return self._json(500, {"message": "down"}) if self.mode == "down" else self._json(202, {})

    def _reply(self, request: Request) -> Response:
        if self.mode in ("down", "slow"):
            return self._json(500, {"message": "Internal Server Error"})
        with self.lock:
            self.replies += 1
        return self._json(200, {"sentMessages": [{"id": "1", "quoteToken": "q"}]})

    def _push(self, request: Request) -> Response:
        if self.mode == "down":
            return self._json(429, {"message": "Too Many Requests"}, {"Retry-After": "60"})
        key = request.headers.get("X-Line-Retry-Key", "")
        with self.lock:
            if key in self.accepted:
                return self._json(409, {"message": "The retry key is already accepted"})
            self.accepted[key] += 1
        if self.mode == "slow":
            time.sleep(10.5)  # longer than the client waits for an answer: it never hears it was accepted
        return self._json(200, {"sentMessages": [{"id": "1", "quoteToken": "q"}]})


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def settings(db: Database, httpserver: HTTPServer, slack_server: HTTPServer) -> Settings:
    return slack_settings(db.url, slack_server, line_channel_secret=SECRET, line_channel_access_token=TOKEN,
                          line_api_base_url=httpserver.url_for("/").rstrip("/"))


@pytest.fixture
def line(httpserver: HTTPServer) -> LineThatFails:
    return LineThatFails(httpserver)


@pytest.fixture
def client(db: Database, kb: Knowledge, settings: Settings, line: LineThatFails) -> FlaskClient:
    return create_app(settings, Engine(db, settings, kb)).test_client()


def message(user: str, event_id: str, text: str = "補助金について知りたい", redelivery: bool = False) -> bytes:
    payload = fixture("text")
    event = payload["events"][0]
    event.update(webhookEventId=event_id, source={"type": "user", "userId": user},
                 deliveryContext={"isRedelivery": redelivery}, timestamp=int(time.time() * 1000))
    event["message"]["text"] = text
    return encode(payload)


def post(client: FlaskClient, body: bytes) -> int:
    return client.post("/line/webhook", data=body,
                       headers={"Content-Type": "application/json", "X-Line-Signature": sign(body)}).status_code


def drain(worker: Worker, clock: Clock, db: Database) -> None:
    for _ in range(60):
        worker.run_once()
        with db.transaction() as session:
            if not session.execute(select(OutboxItem).where(OutboxItem.status == "pending")).first():
                return
        clock.now += timedelta(minutes=2)
    raise AssertionError("the outbox never drained")


def test_after_a_line_and_slack_outage_every_answer_reminder_and_lead_arrives_once(
        db: Database, kb: Knowledge, settings: Settings, client: FlaskClient, line: LineThatFails,
        slack_api: FakeSlack) -> None:
    line.mode = "down"
    slack_api.fail("*", 503, times=1000)
    for n, user in enumerate(USERS):
        assert post(client, message(user, f"01OUTAGE{n:018d}")) == 200  # LINE gets its 200 at once
    # LINE redelivers one event it thinks was lost: still one answer
    assert post(client, message(USERS[0], f"01OUTAGE{0:018d}", redelivery=True)) == 200

    now = now_in_tokyo()
    occurrences = [(s.id, o.first) for s in kb.section("seminars.yaml").seminars.values() for o in s.occurrences]
    with db.transaction() as session:
        for n, (seminar_id, starts_on) in enumerate(occurrences[:3]):
            user = repository.lock_user(session, "line", USERS[n], now, "salt")
            repository.add_reminder(session, user, seminar_id, starts_on, now - timedelta(minutes=5), now)
        lead_user = repository.lock_user(session, "line", USERS[-1], now, "salt")
        lead_ids = [repository.create_lead(session, lead_user, CreateLead(f"利用者{n}", "商店", "090-1111-2222",
                                                                          "補助金", "午前"), [], now)
                    for n in range(3)]

    clock = Clock(now)
    worker = Worker(db, settings, kb, clock=clock)
    for _ in range(3):  # the outage lasts several attempts
        worker.run_once()
        clock.now += timedelta(minutes=3)
    assert line.accepted == Counter() and line.replies == 0 and slack_api.lead_cards() == []
    with db.transaction() as session:
        items = session.execute(select(OutboxItem)).scalars().all()
    assert Counter(i.kind for i in items) == {"push": len(USERS) + 3, "lead": 3}
    assert all(i.status == "pending" and i.attempts >= 2 for i in items)

    line.mode = "up"
    slack_api._failures.clear()  # Slack is back (the fake has no public switch for an open-ended outage)
    drain(worker, clock, db)

    answers = {retry_key_for(f"01OUTAGE{n:018d}") for n in range(len(USERS))}
    with db.transaction() as session:
        reminder_ids = session.execute(select(Reminder.id)).scalars().all()
        leads = session.execute(select(Lead).order_by(Lead.id)).scalars().all()
    reminders = {retry_key_for(f"reminder:{r}") for r in reminder_ids}
    assert set(line.accepted) == answers | reminders and set(line.accepted.values()) == {1}
    cards = Counter(c["metadata"]["event_payload"]["lead_id"] for c in slack_api.lead_cards())
    assert cards == Counter({lead_id: 1 for lead_id in lead_ids})
    assert all(lead.status == "delivered" for lead in leads)


def test_a_push_line_accepted_but_answered_too_late_is_not_sent_twice(
        db: Database, kb: Knowledge, settings: Settings, client: FlaskClient, line: LineThatFails) -> None:
    line.mode = "slow"
    body = message(USERS[0], "01SLOWPUSH000000000000000")
    started = time.monotonic()
    assert post(client, body) == 200
    assert time.monotonic() - started >= 10  # the client gave up waiting
    key = retry_key_for("01SLOWPUSH000000000000000")
    assert line.accepted == Counter({key: 1})
    with db.transaction() as session:
        [item] = session.execute(select(OutboxItem)).scalars().all()
    assert item.status == "pending" and item.payload["retry_key"] == key

    line.mode = "up"
    clock = Clock(now_in_tokyo())
    drain(Worker(db, settings, kb, clock=clock), clock, db)
    assert line.accepted == Counter({key: 1})  # the retry met a 409 and counted as sent
    with db.transaction() as session:
        assert session.execute(select(OutboxItem.status)).scalar_one() == "done"
