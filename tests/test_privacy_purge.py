"""`sme-bot purge`: data past the retention period is deleted; open leads and reminders to come are kept."""
from __future__ import annotations

import os
import threading
import subprocess
import sys
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from bot.config import Settings
from bot.housekeeping import Housekeeping, parse_age, purge
from knowledge.model import Knowledge
from storage import repository
from storage.db import Database
from storage.models import ConversationRow, Lead, OutboxItem, ProcessedEvent, RecordedQuestion, Reminder, TurnLog, User
from tests.conftest import at

NOW = at("2026-11-27T03:00:00")
OLD = NOW - timedelta(days=200)
RECENT = NOW - timedelta(days=10)


def _user(session, name: str, seen) -> User:  # type: ignore[no-untyped-def]
    user = repository.lock_user(session, "line", name, seen, "salt")
    user.last_seen_at = seen
    session.get(ConversationRow, user.id).updated_at = seen
    return user


def _lead(session, user: User, status: str, created, resolved=None) -> None:  # type: ignore[no-untyped-def]
    session.add(Lead(user_id=user.id, status=status, name="山田", business="山田商店", contact="090-1234-5678",
                     topic="t", preferred_time="p", details={}, created_at=created, resolved_at=resolved))


def _populate(db: Database) -> None:
    with db.transaction() as session:
        gone = _user(session, "U-gone", OLD)  # nothing left to keep them for
        _lead(session, gone, "resolved", OLD, OLD + timedelta(days=1))
        waiting = _user(session, "U-open-lead", OLD)  # the secretariat still owes them an answer
        _lead(session, waiting, "claimed", OLD)
        reminded = _user(session, "U-reminder", OLD)  # a seminar reminder is still to be sent
        repository.add_reminder(session, reminded, "s1", date(2027, 1, 10), at("2027-01-09T09:00:00"), OLD)
        active = _user(session, "U-active", RECENT)
        _lead(session, active, "resolved", RECENT, RECENT)
        for when in (OLD, RECENT):
            repository.record_question(session, "天気", "fallback", None, None, when)
            repository.log_turn(session, active, "line", repository.TurnLine("faq"), when)
            session.add(ProcessedEvent(platform="line", event_id=f"ev-{when.date()}", created_at=when))
            repository.enqueue(session, "push", f"push-{when.date()}", {"text": "こんにちは"}, when)
        session.execute(OutboxItem.__table__.update().values(status="done", done_at=OutboxItem.created_at))


def _count(db: Database, model) -> int:  # type: ignore[no-untyped-def]
    with db.transaction() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_data_older_than_the_period_is_deleted_and_recent_data_kept(db: Database):
    _populate(db)
    counts = purge(db, timedelta(days=180), NOW)
    assert counts["recorded_questions"] == counts["turn_logs"] == counts["processed_events"] == 1
    assert counts["deliveries"] == 1 and counts["resolved_leads"] == 1
    assert _count(db, RecordedQuestion) == _count(db, TurnLog) == _count(db, ProcessedEvent) == _count(db, OutboxItem) == 1
    with db.transaction() as session:
        users = set(session.execute(select(User.platform_user_id)).scalars())
        leads = session.execute(select(Lead.status, Lead.created_at)).all()
        conversations = session.execute(select(func.count()).select_from(ConversationRow)).scalar_one()
        reminders = session.execute(select(Reminder.status)).scalars().all()
    assert users == {"U-open-lead", "U-reminder", "U-active"}
    assert sorted(status for status, _ in leads) == ["claimed", "resolved"]  # the open one, and the recent one
    assert conversations == 1  # only the active user's; the others' were idle for 200 days
    assert reminders == ["pending"]


def test_purging_twice_deletes_nothing_more(db: Database):
    _populate(db)
    purge(db, timedelta(days=180), NOW)
    assert sum(purge(db, timedelta(days=180), NOW).values()) == 0


def test_a_shorter_period_deletes_more(db: Database):
    _populate(db)
    purge(db, timedelta(days=5), NOW)
    assert _count(db, TurnLog) == _count(db, RecordedQuestion) == 0


def test_the_command_uses_the_period_given_or_the_setting(db: Database):
    _populate(db)
    env = {k: v for k, v in os.environ.items() if k not in ("KNOWLEDGE_DIR", "PURGE_AFTER_DAYS")}
    run = lambda *args, **extra: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "bot.cli", "purge", *args], capture_output=True, text=True,
        env={**env, "DATABASE_URL": db.url, **extra}, timeout=120)
    result = run("--older-than", "100000d")
    assert result.returncode == 0, result.stderr
    assert "100000日より前のデータを削除しました" in result.stdout and "記録した質問 0件" in result.stdout
    result = run(PURGE_AFTER_DAYS="1")
    assert result.returncode == 0 and "1日より前のデータを削除しました" in result.stdout
    assert _count(db, RecordedQuestion) == 0
    bad = run("--older-than", "six months")
    assert bad.returncode == 2 and "例: 180d" in bad.stderr


@pytest.mark.parametrize("text, days", [("180d", 180), ("180", 180), ("30日", 30), (" 7 days ", 7)])
def test_an_age_is_read_in_days(text: str, days: int):
    assert parse_age(text) == timedelta(days=days)


@pytest.mark.parametrize("text", ["", "0d", "-5d", "6m", "abc"])
def test_a_bad_age_is_refused(text: str):
    with pytest.raises(ValueError):
        parse_age(text)


def test_the_worker_purges_once_a_day_however_many_workers_run(db: Database, kb: Knowledge):
    _populate(db)
    settings = Settings(database_url=db.url, purge_after_days=180)
    first, second = (Housekeeping(db, settings, lambda: kb) for _ in range(2))
    assert first.purge_daily(NOW) is True
    assert second.purge_daily(NOW + timedelta(hours=2)) is False
    assert _count(db, TurnLog) == 1
    assert second.purge_daily(NOW + timedelta(days=1)) is True


def test_the_worker_loop_checks_at_most_hourly(db: Database, kb: Knowledge):
    _populate(db)
    housekeeping = Housekeeping(db, Settings(database_url=db.url), lambda: kb)
    housekeeping.run_due(NOW)
    assert _count(db, TurnLog) == 1
    with db.transaction() as session:  # more old data arrives (as if restored); not looked at within the hour
        session.add(TurnLog(user_hash="h", channel="line", intent="faq", created_at=OLD))
    housekeeping.run_due(NOW + timedelta(minutes=5))
    assert _count(db, TurnLog) == 2


def test_the_delivery_worker_runs_the_daily_purge(db: Database, kb: Knowledge):
    from bot.outbox import Worker

    _populate(db)
    stop = threading.Event()

    def clock():  # type: ignore[no-untyped-def]
        stop.set()  # one pass of the loop, then stop
        return NOW

    Worker(db, Settings(database_url=db.url), kb, clock=clock).run(stop, poll_seconds=0)
    assert _count(db, TurnLog) == _count(db, RecordedQuestion) == 1
