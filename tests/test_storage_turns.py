"""What a turn writes, on SQLite and PostgreSQL: the user, the conversation, the event claim, the time."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, func, select, text

from bot.config import Settings
from bot.engine import Engine
from bot.messages import Incoming, TurnResult
from knowledge.model import Knowledge
from storage import repository
from storage.db import Database
from storage.models import ConversationRow, ProcessedEvent, RecordedQuestion, TurnLog, User

from conftest import Chat, at


def count(db: Database, model: type) -> int:
    """Return the number of rows of a table."""
    with db.transaction() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_a_turn_stores_the_user_hashed_and_the_conversation_versioned(db: Database, chat: Chat) -> None:
    result = chat.say("こんにちは")
    chat.say("補助金について知りたい")
    assert result.replies
    with db.transaction() as session:
        user = session.execute(select(User)).scalar_one()
        row = session.get(ConversationRow, user.id)
        assert row is not None
        assert (user.platform, user.platform_user_id) == ("console", "u1")
        assert "u1" not in user.user_hash and len(user.user_hash) == 32
        assert row.version == 2
        assert row.state["memory"]["recent_questions"] == ["こんにちは", "補助金について知りたい"]
        logged = session.execute(select(TurnLog.user_hash)).scalars().all()
    assert logged == [user.user_hash, user.user_hash]


def test_a_redelivered_event_is_answered_once(db: Database, engine: Engine) -> None:
    first = engine.handle(Incoming("line", "U1", "補助金", at("2026-11-27T10:00"), event_id="ev-1"))
    again = engine.handle(Incoming("line", "U1", "補助金", at("2026-11-27T10:00:05"), event_id="ev-1"))
    assert first.replies and not first.duplicate
    assert again.duplicate and again.replies == ()
    assert count(db, ProcessedEvent) == 1
    assert count(db, TurnLog) == 1


def test_the_same_event_id_on_two_platforms_is_two_events(db: Database, engine: Engine) -> None:
    engine.handle(Incoming("line", "U1", "補助金", at("2026-11-27T10:00"), event_id="same"))
    other = engine.handle(Incoming("slack", "U1", "補助金", at("2026-11-27T10:00"), event_id="same"))
    assert not other.duplicate
    assert count(db, ProcessedEvent) == 2


def test_a_failed_turn_releases_its_event_claim_so_the_retry_is_processed(db: Database) -> None:
    now = at("2026-11-27T10:00")
    with pytest.raises(RuntimeError):
        with db.transaction() as session:
            assert repository.claim_event(session, "line", "ev-retry", now)
            raise RuntimeError("the turn failed after claiming")
    with db.transaction() as session:
        assert repository.claim_event(session, "line", "ev-retry", now)
    with db.transaction() as session:
        assert not repository.claim_event(session, "line", "ev-retry", now)
        # the failed claim rolled back to its savepoint only: the transaction goes on
        assert repository.claim_event(session, "line", "ev-next", now)
    assert count(db, ProcessedEvent) == 2


def test_times_come_back_aware_and_equal_on_every_backend(db: Database) -> None:
    now = at("2026-11-27T10:00:00.123456")
    with db.transaction() as session:
        user = repository.lock_user(session, "console", "u-time", now, "salt")
    with db.transaction() as session:
        stored = session.execute(select(User.created_at).where(User.id == user.id)).scalar_one()
    assert stored.tzinfo is not None
    assert stored == now
    assert stored.utcoffset() == timezone.utc.utcoffset(None)


def test_a_naive_time_is_refused_before_it_reaches_the_database(db: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        with db.transaction() as session:
            repository.lock_user(session, "console", "u-naive", datetime(2026, 11, 27, 10, 0), "salt")
    assert count(db, User) == 0


def test_outbox_items_are_queued_once_per_key(db: Database) -> None:
    now = at("2026-11-27T10:00")
    with db.transaction() as session:
        assert repository.enqueue(session, "lead", "lead:1", {"lead_id": 1}, now)
        assert not repository.enqueue(session, "lead", "lead:1", {"lead_id": 1}, now)
    with db.transaction() as session:
        assert not repository.enqueue(session, "lead", "lead:1", {"lead_id": 1}, now)


def test_a_long_event_id_is_cut_to_the_column_width_on_both_backends(db: Database, engine: Engine) -> None:
    long_id = "e" * 500
    first = engine.handle(Incoming("line", "U1", "補助金", at("2026-11-27T10:00"), event_id=long_id))
    again = engine.handle(Incoming("line", "U1", "補助金", at("2026-11-27T10:00"), event_id=long_id))
    assert not first.duplicate and again.duplicate


def test_a_reminder_is_stored_once_per_user_and_occurrence(db: Database) -> None:
    now = at("2026-11-27T10:00")
    with db.transaction() as session:
        user = repository.lock_user(session, "line", "U-remind", now, "salt")
        starts = now.date()
        assert repository.add_reminder(session, user, "seminar-a", starts, at("2026-11-26T18:00"), now)
        assert not repository.add_reminder(session, user, "seminar-a", starts, at("2026-11-26T18:00"), now)
        assert repository.add_reminder(session, user, "seminar-b", starts, at("2026-11-26T18:00"), now)


def test_a_returning_user_whose_conversation_was_purged_gets_a_new_one(db: Database, engine: Engine) -> None:
    engine.handle(Incoming("line", "U-purged", "補助金", at("2026-11-27T10:00"), event_id="p-1"))
    with db.transaction() as session:
        session.execute(ConversationRow.__table__.delete())
    result = engine.handle(Incoming("line", "U-purged", "こんにちは", at("2026-11-28T10:00"), event_id="p-2"))
    assert result.replies
    with db.transaction() as session:
        row = session.execute(select(ConversationRow)).scalar_one()
        user = session.execute(select(User)).scalar_one()
    assert row.version == 1 and row.state["memory"]["recent_questions"] == ["こんにちは"]
    assert user.last_seen_at == at("2026-11-28T10:00")


def test_a_user_who_comes_back_is_marked_seen_and_active_again(db: Database, engine: Engine) -> None:
    engine.handle(Incoming("line", "U-back", "補助金", at("2026-11-27T10:00"), event_id="b-1"))
    engine.deactivate("line", "U-back", at("2026-11-27T11:00"))
    engine.handle(Incoming("line", "U-back", "補助金", at("2026-11-27T12:00"), event_id="b-2"))
    with db.transaction() as session:
        user = session.execute(select(User)).scalar_one()
    assert user.active and user.last_seen_at == at("2026-11-27T12:00") and user.created_at == at("2026-11-27T10:00")


def test_last_seen_is_kept_to_the_hour(db: Database, engine: Engine) -> None:
    def last_seen() -> datetime:
        with db.transaction() as session:
            return session.execute(select(User.last_seen_at)).scalar_one()

    engine.handle(Incoming("line", "U-hour", "補助金", at("2026-11-27T10:00"), event_id="h-1"))
    engine.handle(Incoming("line", "U-hour", "融資", at("2026-11-27T10:59"), event_id="h-2"))
    assert last_seen() == at("2026-11-27T10:00")  # within the hour: not written again
    engine.handle(Incoming("line", "U-hour", "創業", at("2026-11-27T11:00"), event_id="h-3"))
    assert last_seen() == at("2026-11-27T11:00")
    engine.handle(Incoming("line", "U-hour", "補助金", at("2026-11-27T09:00"), event_id="h-4"))  # a clock set back
    assert last_seen() == at("2026-11-27T09:00")


@pytest.mark.parametrize("earlier", [[], ["こんにちは"]], ids=["new user", "known user"])
def test_a_turn_whose_conversation_changed_meanwhile_is_answered_again_from_the_newer_state(
        db: Database, engine: Engine, monkeypatch: pytest.MonkeyPatch, earlier: list[str]) -> None:
    # Another turn of the same user is saved while this one is being answered (as a second gunicorn
    # thread would do): this turn must not overwrite it, but be answered again on top of it.
    from handlers import router

    for n, said in enumerate(earlier):
        engine.handle(Incoming("line", "U-race", said, at("2026-11-27T09:00"), event_id=f"ev-earlier-{n}"))
    answered: list[str] = []
    respond = router.respond

    def respond_while_another_turn_lands(turn):  # type: ignore[no-untyped-def]
        answered.append(turn.text)
        if turn.text == "融資の相談" and answered.count("融資の相談") == 1:
            engine.handle(Incoming("line", "U-race", "補助金の相談", at("2026-11-27T10:00"), event_id="ev-other"))
        return respond(turn)

    monkeypatch.setattr(router, "respond", respond_while_another_turn_lands)
    result = engine.handle(Incoming("line", "U-race", "融資の相談", at("2026-11-27T10:00"), event_id="ev-this"))

    assert result.replies and not result.duplicate
    assert answered == ["融資の相談", "補助金の相談", "融資の相談"]
    with db.transaction() as session:
        row = session.execute(select(ConversationRow)).scalar_one()
        assert row.version == len(earlier) + 2
        assert row.state["memory"]["recent_questions"] == earlier + ["補助金の相談", "融資の相談"]
    assert count(db, ProcessedEvent) == count(db, TurnLog) == len(earlier) + 2


def test_a_turn_is_answered_when_the_database_dropped_the_pooled_connections(
        _postgres: Database | None, kb: Knowledge) -> None:
    # PostgreSQL restarted (or failed over) between two turns: the pooled connections are dead,
    # and the first statement of the next turn fails on one of them.
    if _postgres is None:
        pytest.skip("TEST_DATABASE_URL is unset: dropping connections needs a PostgreSQL server")
    from conftest import _truncate

    _truncate(_postgres)
    engine = Engine(_postgres, Settings(database_url=_postgres.url), kb)
    engine.handle(Incoming("line", "U-drop", "補助金", at("2026-11-27T10:00"), event_id="d-1"))
    with _postgres.driver_connection(), _postgres.driver_connection(), _postgres.driver_connection():
        pass  # three connections in the pool now: the retry must not take another dead one
    admin = Database(_postgres.url)  # its own pool: the turn's pooled connection is the one to drop
    with admin.engine.begin() as connection:
        dropped = connection.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                          "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
    admin.dispose()
    assert dropped >= 1
    result = engine.handle(Incoming("line", "U-drop", "融資の相談", at("2026-11-27T10:01"), event_id="d-2"))
    assert result.replies and not result.duplicate
    with _postgres.transaction() as session:
        row = session.execute(select(ConversationRow)).scalar_one()
    assert row.version == 2 and row.state["memory"]["recent_questions"] == ["補助金", "融資の相談"]


# A user's turns as (text, minutes after the first, event id): a fallback (a recorded question), a
# greeting (no score), a questionnaire started, a redelivered event, and a turn two hours later
# (last_seen_at updated again).
TURNS = [("補助金", 0, "1"), ("てんきはどう", 1, "2"), ("こんにちは", 2, "3"), ("こんにちは", 2, "3"),
         ("補助金の対象か診断したい", 3, "4"), ("やめる", 125, "5")]


def written(db: Database, user_id: str) -> dict[str, object]:
    """Return what the turns of one user wrote, without ids and hashes."""
    with db.transaction() as session:
        user = session.execute(select(User).where(User.platform_user_id == user_id)).scalar_one()
        row = session.get(ConversationRow, user.id)
        assert row is not None
        turns = session.execute(select(TurnLog.channel, TurnLog.intent, TurnLog.flow, TurnLog.entry_id, TurnLog.score,
                                       TurnLog.verdict, TurnLog.created_at)
                                .where(TurnLog.user_hash == user.user_hash).order_by(TurnLog.id)).all()
        events = session.execute(select(ProcessedEvent.event_id, ProcessedEvent.created_at)
                                 .where(ProcessedEvent.event_id.like(f"{user_id}-%")).order_by(ProcessedEvent.id)).all()
        questions = session.execute(select(RecordedQuestion.text, RecordedQuestion.reason, RecordedQuestion.best_entry_id,
                                           RecordedQuestion.score, RecordedQuestion.created_at)
                                    .order_by(RecordedQuestion.id)).all()
    return {"user": (user.active, user.created_at, user.last_seen_at), "conversation": (row.state, row.version, row.updated_at),
            "turns": turns, "events": [(event_id.removeprefix(f"{user_id}-"), when) for event_id, when in events],
            "questions": questions}


def test_a_turn_written_in_one_statement_writes_what_a_transaction_writes(
        db: Database, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite has no data-modifying WITH: every turn is written in a transaction there")
    one_statement = repository.save_turn_in_one_statement
    calls: list[str | None] = []

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(args[2])
        return one_statement(*args, **kwargs)

    def talk(user_id: str) -> list[TurnResult]:
        return [engine.handle(Incoming("line", user_id, said, at("2026-11-27T10:00") + timedelta(minutes=minutes),
                                       event_id=f"{user_id}-{event}")) for said, minutes, event in TURNS]

    monkeypatch.setattr(repository, "save_turn_in_one_statement", counted)
    in_one = talk("U-one")
    one_statement_written = written(db, "U-one")
    assert calls == ["U-one-2", "U-one-3", "U-one-3", "U-one-4", "U-one-5"]  # every turn but a new user's first
    with db.transaction() as session:  # the other user's run records its own questions
        session.execute(delete(RecordedQuestion))
    monkeypatch.setattr(repository, "saves_in_one_statement", lambda executor, read: False)
    in_transactions = talk("U-tx")

    assert [(r.intent, r.duplicate) for r in in_one] == [(r.intent, r.duplicate) for r in in_transactions]
    assert in_one[3].duplicate and not any(r.duplicate for r in in_one[:3] + in_one[4:])
    assert written(db, "U-tx") == one_statement_written
    assert len(one_statement_written["questions"]) == 1 and len(one_statement_written["turns"]) == 5  # type: ignore[arg-type]


def test_a_one_statement_turn_whose_event_another_turn_claims_meanwhile_is_a_duplicate(shared_db: Database,
                                                                                         kb: Knowledge) -> None:
    # A copy of the event claimed by a turn not yet committed, one that (unlike any real turn) left
    # the conversation alone: the statement waits on the unique key, is refused when the other
    # commits, and the turn, answered again, finds the event processed. Nothing of it is written.
    if shared_db.is_sqlite:
        pytest.skip("SQLite has no data-modifying WITH: every turn is written in a transaction there")
    engine = Engine(shared_db, Settings(database_url=shared_db.url), kb)
    engine.handle(Incoming("line", "U-claimed", "補助金", at("2026-11-27T10:00"), event_id="c-1"))
    other = Database(shared_db.url)
    with ThreadPoolExecutor(max_workers=1) as pool:
        try:
            with other.transaction() as session:
                repository.claim_event(session, "line", "c-2", at("2026-11-27T10:01"))
                session.flush()
                turn = pool.submit(engine.handle, Incoming("line", "U-claimed", "融資の相談", at("2026-11-27T10:01"),
                                                           event_id="c-2"))
                waiting = wait_for_lock(shared_db)
            result = turn.result(timeout=30)
        finally:
            other.dispose()
    assert waiting, "the turn's statement never waited on the uncommitted claim"
    assert result.duplicate and result.replies == ()
    assert count(db=shared_db, model=TurnLog) == 1
    with shared_db.transaction() as session:
        assert session.execute(select(ConversationRow.version)).scalar_one() == 1


def wait_for_lock(db: Database, timeout: float = 10) -> bool:
    """Wait until some session of this database waits for a lock; tell whether one did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.engine.connect() as connection:
            if connection.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                       "AND wait_event_type = 'Lock'")).scalar():
                return True
        time.sleep(0.02)
    return False
