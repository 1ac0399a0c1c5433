"""A turn's statements on the driver's own connection: what they write reads back the same through the ORM, and back."""
from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import func, select

from bot.engine import Engine
from bot.messages import Incoming
from handlers.base import CreateLead
from storage import repository
from storage.db import Database, json_text
from storage.models import ConversationRow, Lead, OutboxItem, ProcessedEvent, Reminder, TurnLog, User

from conftest import at

STATE = {"flow": "eligibility", "flow_data": {"employees": 12, "sector": "小売業", "ok": True, "none": None},
         "memory": {"recent_questions": ["ほじょきん", "😀 ｾﾐﾅｰ"], "score": 0.5}}


def test_what_a_turn_writes_on_the_driver_reads_back_the_same_through_the_orm(db: Database) -> None:
    now = at("2026-11-27T10:00:00.123456")
    with db.driver_connection() as connection:
        read = repository.read_conversation(connection, "line", "U-driver", "salt")
        assert read.user_id is None
        with connection.transaction():
            assert repository.claim_event(connection, "line", "ev-driver", now)
            user = repository.save_conversation(connection, "line", "U-driver", read, STATE, now)
            repository.log_turn(connection, user, "line", repository.TurnLine("faq", entry_id="subsidy", score=0.875), now)
            assert repository.add_reminder(connection, user, "seminar-a", date(2026, 12, 1), at("2026-11-30T18:00"), now)
            lead_id = repository.create_lead(connection, user, CreateLead("山田", "山田商店", "090", "補助金", "午前"),
                                             ["ほじょきん"], now)
    with db.transaction() as session:
        stored = session.execute(select(User)).scalar_one()
        conversation = session.get(ConversationRow, stored.id)
        reminder = session.execute(select(Reminder)).scalar_one()
        lead = session.get(Lead, lead_id)
        outbox = session.execute(select(OutboxItem)).scalar_one()
        turn = session.execute(select(TurnLog)).scalar_one()
        event = session.execute(select(ProcessedEvent)).scalar_one()
    assert stored.active is True and stored.created_at == now == stored.last_seen_at and stored.created_at.tzinfo
    assert conversation is not None and conversation.state == STATE and conversation.version == 1
    assert (reminder.starts_on, reminder.remind_at, reminder.status) == (date(2026, 12, 1), at("2026-11-30T18:00"), "pending")
    assert lead is not None and lead.status == "queued" and lead.details == {"recent_questions": ["ほじょきん"]}
    assert (outbox.key, outbox.payload, outbox.next_attempt_at) == (f"lead:{lead_id}", {"lead_id": lead_id}, now)
    assert (turn.intent, turn.entry_id, turn.score, turn.created_at) == ("faq", "subsidy", 0.875, now)
    assert event.event_id == "ev-driver" and event.created_at == now


def test_what_the_orm_wrote_reads_back_the_same_on_the_driver(db: Database) -> None:
    now = at("2026-11-27T10:00:00.654321")
    with db.transaction() as session:
        user = repository.lock_user(session, "line", "U-orm", now, "salt")
        session.get(ConversationRow, user.id).state = STATE  # type: ignore[union-attr]
    with db.driver_connection() as connection:
        read = repository.read_conversation(connection, "line", "U-orm", "salt")
    assert (read.user_id, read.user_hash, read.state, read.version) == (user.id, user.user_hash, STATE, 0)
    assert read.seen == now and read.seen.tzinfo is not None and read.open_lead_id is None


def test_a_naive_time_is_refused_on_the_driver_too(db: Database) -> None:
    with db.driver_connection() as connection:
        with pytest.raises(ValueError, match="naive datetime"):
            with connection.transaction():
                repository.claim_event(connection, "line", "ev-naive", at("2026-11-27T10:00").replace(tzinfo=None))
    with db.transaction() as session:
        assert session.execute(select(func.count()).select_from(ProcessedEvent)).scalar_one() == 0


def test_a_failed_driver_transaction_writes_nothing_and_the_connection_goes_on(db: Database) -> None:
    now = at("2026-11-27T10:00")
    with db.driver_connection() as connection:
        with pytest.raises(RuntimeError):
            with connection.transaction():
                assert repository.claim_event(connection, "line", "ev-rolled-back", now)
                raise RuntimeError("the turn failed after claiming")
        with connection.transaction():
            assert repository.claim_event(connection, "line", "ev-rolled-back", now)
    with db.transaction() as session:
        assert session.execute(select(ProcessedEvent.event_id)).scalars().all() == ["ev-rolled-back"]


def test_a_session_after_a_turn_is_still_one_transaction(db: Database, engine: Engine) -> None:
    # A turn runs its connection in autocommit mode; the pool must get it back as sessions expect it,
    # or the statements of a failed session would stay written one by one.
    engine.handle(Incoming("line", "U-after", "補助金", at("2026-11-27T10:00"), event_id="ev-turn"))
    with pytest.raises(RuntimeError):
        with db.transaction() as session:
            assert repository.claim_event(session, "line", "ev-in-a-failed-session", at("2026-11-27T10:01"))
            raise RuntimeError("the unit of work failed")
    with db.transaction() as session:
        assert session.execute(select(ProcessedEvent.event_id)).scalars().all() == ["ev-turn"]


def test_a_statement_the_driver_cannot_run_is_refused_with_the_reason(db: Database) -> None:
    users = User.__table__
    expanding = select(users.c.id).where(users.c.id.in_([1, 2]))  # an IN list SQLAlchemy renders per execution
    with db.driver_connection() as connection, pytest.raises(ValueError, match="expanding IN parameter"):
        connection.run(expanding, {})


def test_json_columns_store_what_the_json_module_would_read_back_equal(db: Database) -> None:
    # orjson writes the JSON columns: keys that are not strings become strings as json.dumps made
    # them, and Japanese is kept as UTF-8 rather than escaped.
    value = {1: "一", "nested": [{"2": 2.5}, None, True], "text": "ｾﾐﾅｰ😀"}
    assert json.loads(json_text(value)) == json.loads(json.dumps(value))
    assert "ｾﾐﾅｰ😀" in json_text(value)
    with db.driver_connection() as connection, connection.transaction():
        read = repository.read_conversation(connection, "line", "U-json", "salt")
        user = repository.save_conversation(connection, "line", "U-json", read, {"answers": value}, at("2017-11-01T10:00"))
    with db.transaction() as session:
        stored = session.get(ConversationRow, user.id)
    assert stored is not None and stored.state == {"answers": json.loads(json.dumps(value))}
