"""Seminar reminders: a tap stores one wish; the day before at 9:00 the worker pushes it once, even with several workers."""
import threading
from datetime import date, datetime
from typing import Callable

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from bot.engine import Engine
from bot.messages import Incoming
from bot.outbox import Worker
from conftest import at
from handlers import seminars
from handlers.replies import replies_from_json
from knowledge.model import Knowledge
from line_fake import FakeLine, line_settings, message_texts, parse_push
from storage import repository
from storage.db import Database
from storage.models import OutboxItem, Reminder, User

LINE_USER = "U0123456789abcdef0123456789abcdef"
REMIND = "seminars:remind:lawyer-free-consultation:2017-11-17"
PUSH = "/v2/bot/message/push"


def tap_remind(engine: Engine, now: str, postback: str = REMIND, channel: str = "line", user: str = LINE_USER):
    return engine.handle(Incoming(channel, user, "リマインド", at(now), postback=postback))


def reminders(db: Database) -> list[Reminder]:
    with db.transaction() as session:
        return list(session.execute(select(Reminder).order_by(Reminder.id)).scalars())


def outbox(db: Database) -> list[OutboxItem]:
    with db.transaction() as session:
        return list(session.execute(select(OutboxItem).order_by(OutboxItem.id)).scalars())


def render(kb: Knowledge):
    return seminars.reminder_renderer(kb)


def queue(db: Database, kb: Knowledge, now: str) -> int:
    with db.transaction() as session:
        return repository.queue_due_reminders(session, at(now), render(kb))


def test_tapping_remind_stores_one_wish_for_the_day_before_at_nine(engine, db):
    result = tap_remind(engine, "2017-11-01T10:00:00")
    assert result.intent == "seminars" and "リマインドを承りました" in result.text and "11/16(木)" in result.text
    tap_remind(engine, "2017-11-02T10:00:00")  # tapped again: still one wish
    stored = reminders(db)
    assert len(stored) == 1
    assert (stored[0].seminar_id, stored[0].starts_on, stored[0].status) == ("lawyer-free-consultation", date(2017, 11, 17), "pending")
    assert stored[0].remind_at == at("2017-11-16T09:00:00")


def test_a_reminder_too_late_or_for_a_past_seminar_is_not_stored(engine, db):
    too_late = tap_remind(engine, "2017-11-16T12:00:00")
    assert "間に合いません" in too_late.text
    past = tap_remind(engine, "2017-11-18T09:00:00")
    assert "開催済み" in past.text
    assert reminders(db) == []


def test_a_channel_that_cannot_push_says_so_and_stores_nothing(engine, db):
    result = tap_remind(engine, "2017-11-01T10:00:00", channel="console", user="c1")
    assert "LINEでのみ" in result.text
    assert reminders(db) == []


def test_a_due_reminder_is_queued_once_as_a_push_with_the_seminar(engine, db, kb):
    tap_remind(engine, "2017-11-01T10:00:00")
    assert queue(db, kb, "2017-11-16T08:59:00") == 0  # not due yet
    assert queue(db, kb, "2017-11-16T09:00:00") == 1
    assert queue(db, kb, "2017-11-16T09:01:00") == 0  # already queued
    items = outbox(db)
    assert len(items) == 1
    item = items[0]
    assert item.kind == "push" and item.key == f"reminder:{reminders(db)[0].id}"
    assert item.payload["channel"] == "line" and item.payload["user_id"] == LINE_USER
    replies = replies_from_json(item.payload["replies"])
    assert "明日2017年11月17日(金)は「弁護士等無料相談会」の開催日です" in replies[0].text
    assert replies[0].cards[0].kind == "seminar"
    assert reminders(db)[0].status == "queued"


def test_a_user_who_unfollowed_gets_no_reminder(engine, db, kb):
    tap_remind(engine, "2017-11-01T10:00:00")
    engine.deactivate("line", LINE_USER, at("2017-11-10T10:00:00"))
    assert queue(db, kb, "2017-11-16T09:00:00") == 0
    assert outbox(db) == [] and reminders(db)[0].status == "cancelled"


def test_an_inactive_user_with_a_pending_reminder_is_skipped(engine, db, kb):
    tap_remind(engine, "2017-11-01T10:00:00")
    with db.transaction() as session:
        session.execute(select(User)).scalar_one().active = False
    assert queue(db, kb, "2017-11-16T09:00:00") == 0
    assert outbox(db) == [] and reminders(db)[0].status == "pending"


def test_a_reminder_of_a_seminar_removed_from_the_calendar_is_cancelled(engine, db):
    tap_remind(engine, "2017-11-01T10:00:00")
    with db.transaction() as session:
        assert repository.queue_due_reminders(session, at("2017-11-16T09:00:00"), lambda *_: None) == 0
    assert outbox(db) == [] and reminders(db)[0].status == "cancelled"


def test_several_workers_queue_each_reminder_once(engine, db, kb):
    for i in range(6):
        tap_remind(engine, "2017-11-01T10:00:00", user=f"U{i:032d}")
    counts: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def work() -> None:
        try:
            start.wait()
            counts.append(queue(db, kb, "2017-11-16T09:00:00"))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sum(counts) == 6
    assert len(outbox(db)) == 6 and {r.status for r in reminders(db)} == {"queued"}


def test_a_locked_reminder_is_skipped_by_another_worker_on_postgresql(engine, db, kb):
    if db.is_sqlite:
        pytest.skip("SQLite takes the write lock at BEGIN: a second worker waits instead of skipping")
    tap_remind(engine, "2017-11-01T10:00:00")
    with db.transaction() as first:
        assert repository.queue_due_reminders(first, at("2017-11-16T09:00:00"), render(kb)) == 1
        with db.transaction() as second:  # the first worker has not committed yet
            assert repository.queue_due_reminders(second, at("2017-11-16T09:00:00"), render(kb)) == 0
    assert len(outbox(db)) == 1


def remind_and_run_worker(db: Database, kb: Knowledge, httpserver: HTTPServer, line: FakeLine,
                          before_the_day: Callable[[Engine], None] = lambda engine: None) -> None:
    """Tap remind, run the worker the day before it is due and then when it is (twice)."""
    settings = line_settings(db.url, httpserver)
    engine = Engine(db, settings, kb)
    tap_remind(engine, "2017-11-01T10:00:00")
    clock = {"now": at("2017-11-15T09:00:00")}
    worker = Worker(db, settings, kb, clock=lambda: clock["now"])
    worker.run_once()
    assert line.requests(PUSH) == []
    before_the_day(engine)
    clock["now"] = at("2017-11-16T09:00:30")
    worker.run_once()
    worker.run_once()


def test_the_worker_pushes_the_reminder_on_line_the_day_before(db: Database, kb: Knowledge, httpserver: HTTPServer):
    line = FakeLine(httpserver)
    remind_and_run_worker(db, kb, httpserver, line)
    pushes = line.requests(PUSH)
    assert len(pushes) == 1
    pushed = parse_push(pushes[0])
    assert pushed.to == LINE_USER
    assert "弁護士等無料相談会" in message_texts([m.to_dict() for m in pushed.messages])
    assert outbox(db)[0].status == "done"
    assert reminders(db)[0].status == "sent"  # settled: no longer keeps its user from the retention purge


def test_a_reminder_whose_push_line_refuses_for_good_is_failed(db: Database, kb: Knowledge, httpserver: HTTPServer):
    line = FakeLine(httpserver)
    line.fail(PUSH, 400, {"message": "The property, 'to', in the request body is invalid"})
    remind_and_run_worker(db, kb, httpserver, line)
    assert len(line.requests(PUSH)) == 1  # a 400 is not retried
    assert outbox(db)[0].status == "dead" and reminders(db)[0].status == "failed"


def test_a_reminder_queued_for_a_user_who_then_left_is_cancelled(db: Database, kb: Knowledge, httpserver: HTTPServer):
    line = FakeLine(httpserver)

    def queue_then_leave(engine: Engine) -> None:
        queue(db, kb, "2017-11-16T09:00:00")
        engine.deactivate("line", LINE_USER, at("2017-11-16T09:00:10"))

    remind_and_run_worker(db, kb, httpserver, line, before_the_day=queue_then_leave)
    assert line.requests(PUSH) == []
    assert outbox(db)[0].status == "done" and reminders(db)[0].status == "cancelled"


def test_remind_at_is_the_day_before_at_nine_in_tokyo():
    assert seminars.remind_at(date(2018, 1, 1)) == datetime.fromisoformat("2017-12-31T09:00:00+09:00")
