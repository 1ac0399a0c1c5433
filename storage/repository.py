"""A small repository API over the models: what the engine, the worker and the CLI need."""
from __future__ import annotations

import functools
import hashlib
import typing
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Protocol

from sqlalchemy import (CursorResult, String, Table, bindparam, cast, delete, exists, false, func, insert, literal, or_,
                        select, update)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from handlers.base import CreateLead, RecordQuestion

from storage.db import DriverConnection
from storage.models import (ConversationRow, Lead, OutboxItem, ProcessedEvent, RecordedQuestion, Reminder, TurnLog,
                            User, UTCDateTime)

OPEN_LEAD_STATUSES = ("queued", "delivered", "claimed")

_users, _conversations, _leads, _reminders, _events, _outbox, _questions, _turns = (
    typing.cast(Table, model.__table__)
    for model in (User, ConversationRow, Lead, Reminder, ProcessedEvent, OutboxItem, RecordedQuestion, TurnLog))

# What writes run on: the driver's connection in a turn (the hot path, see DriverConnection) or a
# Session elsewhere; both run the same Core statements.
Executor = Session | DriverConnection


def _rows(executor: Executor, statement: Any, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Run a Core statement with these parameters; return its rows (those of RETURNING included)."""
    if isinstance(executor, DriverConnection):
        return executor.run(statement, params)
    result: CursorResult[Any] = executor.execute(statement, params)  # type: ignore[assignment]
    return [tuple(row) for row in result] if result.returns_rows else []


def _dialect(executor: Executor) -> str:
    """Return the name of the database dialect ("sqlite" or "postgresql")."""
    return (executor.dialect if isinstance(executor, DriverConnection) else executor.get_bind().dialect).name


class UserRef(Protocol):
    """What writing on a user's behalf needs: a User row, or the TurnUser of a saved turn."""

    @property
    def id(self) -> int: ...

    @property
    def user_hash(self) -> str: ...


def user_hash(platform: str, platform_user_id: str, salt: str) -> str:
    """Return the pseudonymous id used in analytics and logs instead of the platform's user id."""
    return hashlib.sha256(f"{salt}:{platform}:{platform_user_id}".encode()).hexdigest()[:32]


def _insert(session: Executor, model: type) -> Any:
    """Return an INSERT that can skip conflicts on this dialect.

    Whether a row was inserted is told by RETURNING, not rowcount: psycopg reports -1 for an
    INSERT … ON CONFLICT DO NOTHING run through SQLAlchemy, which would read as "inserted".
    """
    return (postgresql if _dialect(session) == "postgresql" else sqlite).insert(model)


@dataclass(frozen=True)
class _Inserts:
    """Inserts that skip a row written first (by a concurrent turn, or a redelivery), built once per dialect."""

    event: Any
    user: Any
    conversation: Any
    outbox: Any
    reminder: Any


@functools.cache
def _inserts_for(dialect: str) -> _Inserts:
    module = postgresql if dialect == "postgresql" else sqlite
    return _Inserts(
        event=module.insert(_events).on_conflict_do_nothing(index_elements=["platform", "event_id"])
        .returning(_events.c.id),
        user=module.insert(_users).on_conflict_do_nothing(index_elements=["platform", "platform_user_id"])
        .returning(_users.c.id),
        conversation=module.insert(_conversations).on_conflict_do_nothing(index_elements=["user_id"])
        .returning(_conversations.c.user_id),
        outbox=module.insert(_outbox).on_conflict_do_nothing(index_elements=["key"]).returning(_outbox.c.id),
        reminder=module.insert(_reminders).on_conflict_do_nothing(index_elements=["user_id", "seminar_id", "starts_on"])
        .returning(_reminders.c.id),
    )


def _inserts(executor: Executor) -> _Inserts:
    return _inserts_for(_dialect(executor))


def _event_key(event_id: str) -> str:
    """Return a delivery id as processed_events keeps it: cut to the column's width."""
    return event_id[:_events.c.event_id.type.length]  # type: ignore[attr-defined]


def claim_event(session: Executor, platform: str, event_id: str, now: datetime) -> bool:
    """Record a delivery id; False if it was already processed (redelivery or a concurrent twin).

    Runs in the caller's transaction: if the turn fails later, the claim is rolled back with it
    and the platform's retry is processed normally. A concurrent twin waits on the unique key
    until this transaction ends, then finds the id taken (or free again, after a rollback).
    """
    return bool(_rows(session, _inserts(session).event, {"platform": platform, "event_id": _event_key(event_id),
                                                          "created_at": now}))


def lock_user(session: Session, platform: str, platform_user_id: str, now: datetime, salt: str) -> User:
    """Get or create the user (and a new user's conversation), seen now, holding the user's row lock.

    For what is not a turn (a follow, a test's set-up): turns read and save with read_conversation
    and save_conversation. A known user costs one statement (an upsert returning the row).
    """
    stmt = _insert(session, User).values(
        platform=platform, platform_user_id=platform_user_id,
        user_hash=user_hash(platform, platform_user_id, salt), active=True, created_at=now, last_seen_at=now,
    )
    stmt = stmt.on_conflict_do_update(index_elements=["platform", "platform_user_id"],
                                      set_={"last_seen_at": stmt.excluded.last_seen_at}).returning(User)
    user: User = session.execute(stmt, execution_options={"populate_existing": True}).scalar_one()
    if user.created_at == now:  # created by this statement
        session.execute(
            _insert(session, ConversationRow).values(user_id=user.id, state={}, version=0, updated_at=now)
            .on_conflict_do_nothing(index_elements=["user_id"])
        )
    return user


@dataclass(frozen=True)
class ConversationSnapshot:
    """A user's conversation as read before a turn; the turn is saved only if nobody saved one since."""

    user_id: int | None  # None: a user never seen before
    user_hash: str
    state: dict[str, Any]
    version: int | None  # None: no conversation row yet
    open_lead_id: int | None  # the user's newest lead not resolved yet
    seen: datetime | None = None  # the user's last_seen_at, if active


@dataclass(frozen=True)
class TurnUser:
    """The user a saved turn belongs to."""

    id: int
    user_hash: str


class ConversationChanged(Exception):
    """Another turn of the same user was saved after this one read the conversation: answer it again."""


# or_ of equalities rather than in_(): an IN list is re-rendered on every execution (an "expanding" parameter).
_open_lead = (select(_leads.c.id).where(_leads.c.user_id == _users.c.id,
                                        or_(*(_leads.c.status == s for s in OPEN_LEAD_STATUSES)))
              .order_by(_leads.c.id.desc()).limit(1).scalar_subquery())
_READ_CONVERSATION = (
    select(_users.c.id, _users.c.user_hash, _users.c.active, _users.c.last_seen_at, _conversations.c.state,
           _conversations.c.version, _open_lead.label("open_lead_id"))
    .outerjoin(_conversations, _conversations.c.user_id == _users.c.id)
    .where(_users.c.platform == bindparam("platform"), _users.c.platform_user_id == bindparam("platform_user_id"))
)
# users.last_seen_at (kept for retention: users gone longer than PURGE_AFTER_DAYS are deleted) is
# updated at most this often by turns, sparing a statement on most turns.
LAST_SEEN_RESOLUTION = timedelta(hours=1)
_TOUCH_USER = (update(_users).where(_users.c.id == bindparam("uid"))
               .values(last_seen_at=bindparam("now"), active=True))
_SAVE_CONVERSATION = (update(_conversations)
                      .where(_conversations.c.user_id == bindparam("uid"), _conversations.c.version == bindparam("read"))
                      .values(state=bindparam("state"), version=bindparam("read") + 1, updated_at=bindparam("now"))
                      .returning(_conversations.c.user_id))


def read_conversation(session: Executor, platform: str, platform_user_id: str, salt: str) -> ConversationSnapshot:
    """Read the user's conversation, version and open lead in one statement, without locking anything."""
    rows = _rows(session, _READ_CONVERSATION, {"platform": platform, "platform_user_id": platform_user_id})
    if not rows:
        return ConversationSnapshot(None, user_hash(platform, platform_user_id, salt), {}, None, None)
    user_id, hashed, active, last_seen_at, state, version, open_lead_id = rows[0]
    return ConversationSnapshot(user_id, hashed, state or {}, version, open_lead_id, last_seen_at if active else None)


def save_conversation(session: Executor, platform: str, platform_user_id: str, read: ConversationSnapshot,
                      state: dict[str, Any], now: datetime) -> TurnUser:
    """Save a turn's new state if the conversation is still as `read` saw it; else raise ConversationChanged.

    A version check instead of a lock held while the turn is answered: two turns of one user
    never lose or interleave an answer (the second is answered again from the first's state), and
    turns of different users never wait for each other's answering. On SQLite the write lock is
    held only for these few statements.
    """
    inserts = _inserts(session)
    user_id = read.user_id
    if user_id is None:
        created = _rows(session, inserts.user, {
            "platform": platform, "platform_user_id": platform_user_id, "user_hash": read.user_hash,
            "active": True, "created_at": now, "last_seen_at": now})
        if not created:
            raise ConversationChanged("the user was created by a concurrent turn")
        user_id = created[0][0]
    elif _needs_touch(read, now):
        _rows(session, _TOUCH_USER, {"uid": user_id, "now": now})
    if read.version is None:
        saved = _rows(session, inserts.conversation, {"user_id": user_id, "state": state, "version": 1,
                                                      "updated_at": now})
    else:
        saved = _rows(session, _SAVE_CONVERSATION, {"uid": user_id, "read": read.version, "state": state, "now": now})
    if not saved:
        raise ConversationChanged("the conversation was saved by a concurrent turn")
    return TurnUser(user_id, read.user_hash)


def _needs_touch(read: ConversationSnapshot, now: datetime) -> bool:
    """Tell whether a turn must update the user's last_seen_at (and make them active again)."""
    return read.seen is None or not timedelta(0) <= now - read.seen < LAST_SEEN_RESOLUTION


@dataclass(frozen=True)
class TurnLine:
    """An answered turn's line in turn_log, for statistics: what was answered, never the text."""

    intent: str
    flow: str | None = None
    entry_id: str | None = None
    score: float | None = None
    verdict: str | None = None  # a finished questionnaire's result


def saves_in_one_statement(executor: Executor, read: ConversationSnapshot) -> bool:
    """Tell whether save_turn_in_one_statement can write this turn: on PostgreSQL, for a user whose conversation exists."""
    return isinstance(executor, DriverConnection) and executor.dialect.name == "postgresql" and read.version is not None


def save_turn_in_one_statement(connection: DriverConnection, platform: str, event_id: str | None,
                               read: ConversationSnapshot, state: dict[str, Any], line: TurnLine,
                               question: "RecordQuestion | None", now: datetime) -> TurnUser | None:
    """Write a turn of a known user as one statement of its own; None if the event was processed already.

    What claim_event, save_conversation, log_turn and record_question write in a transaction, this
    writes in a single PostgreSQL statement, with no BEGIN and COMMIT: five round trips become one.
    On the 2-core bench machine (`python3 bench/turn.py`) a turn went from 6.3 statements to 2.5,
    from 2.0 to 1.0 ms of the bot's CPU and from 0.9 to 0.46 ms of the server's. A statement is
    atomic by itself; the order inside it keeps the turn's guarantees:

    - The conversation is updated only if its version is still the one read, and the event id is
      not among those processed (as of the statement's start). Every other write is made from that
      update's row: without it nothing is written, and the turn is a duplicate (the id is taken) or
      must be answered again (another turn saved first).
    - A concurrent copy of the same event is a turn of the same user: whichever updates the
      conversation row first holds its lock until it commits, and the other then finds the version
      changed and answers again, which finds the id taken. Should a copy still claim the id first,
      the unique key refuses this insert and the whole statement with it: answered again too.
    """
    claims, touches = event_id is not None, _needs_touch(read, now)
    # Parameter names are not those of a column of an updated table: SQLAlchemy would take them as
    # more columns to set (its column_keys), as it does for Connection.execute.
    params: dict[str, Any] = {"uid": read.user_id, "read": read.version, "state": state, "now": now,
                              "log_user_hash": read.user_hash, "log_channel": platform, "log_intent": line.intent,
                              "log_flow": line.flow, "log_entry_id": line.entry_id, "log_score": line.score,
                              "log_verdict": line.verdict}
    if claims:
        params.update(event_platform=platform, event_id=_event_key(event_id))  # type: ignore[arg-type]
    if question is not None:
        params.update(question_text=question.text, question_reason=question.reason,
                      question_entry_id=question.best_entry_id, question_score=question.score)
    try:
        [(saved, seen)] = connection.run(_one_statement_turn(claims, touches, question is not None), params)
    except connection.dialect.loaded_dbapi.IntegrityError as exc:
        raise ConversationChanged("the event was claimed by a concurrent turn") from exc
    if saved:
        return TurnUser(read.user_id, read.user_hash)  # type: ignore[arg-type]
    if seen:
        return None
    raise ConversationChanged("the conversation was saved by a concurrent turn")


def _insert_from(source: Any, table: Table, **binds: str) -> Any:
    """Return an INSERT of one row per row of `source`, its columns given as {column: bind parameter name}."""
    values = [bindparam(name, type_=table.c[column].type).label(column) for column, name in binds.items()]
    return insert(table).from_select(list(binds), select(*values).select_from(source))


@functools.cache
def _one_statement_turn(claims: bool, touches: bool, records: bool) -> Any:
    """Build save_turn_in_one_statement's statement (PostgreSQL: data-modifying WITH); it returns (saved, seen)."""
    now = bindparam("now", type_=UTCDateTime())
    seen = exists().where(_events.c.platform == bindparam("event_platform"), _events.c.event_id == bindparam("event_id"))
    saved = (update(_conversations)
             .where(_conversations.c.user_id == bindparam("uid"), _conversations.c.version == bindparam("read"),
                    *([~seen] if claims else []))
             .values(state=bindparam("state"), version=bindparam("read") + 1, updated_at=now)
             .returning(_conversations.c.user_id).cte("saved"))
    writes = [_insert_from(saved, _turns, user_hash="log_user_hash", channel="log_channel", intent="log_intent",
                           flow="log_flow", entry_id="log_entry_id", score="log_score", verdict="log_verdict",
                           created_at="now").cte("logged")]
    if claims:
        writes.append(_insert_from(saved, _events, platform="event_platform", event_id="event_id",
                                   created_at="now").cte("claimed"))
    if records:
        writes.append(_insert_from(saved, _questions, text="question_text", reason="question_reason",
                                   best_entry_id="question_entry_id", score="question_score",
                                   created_at="now").cte("recorded"))
    if touches:
        writes.append(update(_users).where(_users.c.id == bindparam("uid"), exists(saved.select()))
                      .values(last_seen_at=now, active=True).cte("touched"))
    return select(select(func.count()).select_from(saved).scalar_subquery(), seen if claims else false()).add_cte(*writes)


def find_user(session: Session, platform: str, platform_user_id: str) -> User | None:
    """Return the user if known."""
    return session.execute(
        select(User).where(User.platform == platform, User.platform_user_id == platform_user_id)
    ).scalar_one_or_none()


# inline(): no RETURNING of the new row's id, which nothing reads.
_RECORD_QUESTION = insert(_questions).inline()
_LOG_TURN = insert(_turns).inline()
_CREATE_LEAD = insert(_leads).returning(_leads.c.id)
_FORGET_REMINDERS = delete(_reminders).where(_reminders.c.user_id == bindparam("uid"), _reminders.c.status == "pending")


def record_question(session: Executor, text: str, reason: str, best_entry_id: str | None,
                    score: float | None, now: datetime) -> None:
    """Record a question the bot could not answer confidently (no user id)."""
    _rows(session, _RECORD_QUESTION, {"text": text, "reason": reason, "best_entry_id": best_entry_id,
                                      "score": score, "created_at": now})


def log_turn(session: Executor, user: UserRef, channel: str, line: TurnLine, now: datetime) -> None:
    """Log an answered turn for statistics (hashed user, no text)."""
    _rows(session, _LOG_TURN, {"user_hash": user.user_hash, "channel": channel, "intent": line.intent, "flow": line.flow,
                               "entry_id": line.entry_id, "score": line.score, "verdict": line.verdict,
                               "created_at": now})


def enqueue(session: Executor, kind: str, key: str, payload: dict[str, Any], now: datetime) -> bool:
    """Queue a delivery once per idempotency key; False if that key was already queued."""
    return bool(_rows(session, _inserts(session).outbox, {
        "kind": kind, "key": key, "payload": payload, "status": "pending", "attempts": 0, "next_attempt_at": now,
        "created_at": now}))


def add_reminder(session: Executor, user: UserRef, seminar_id: str, starts_on: date, remind_at: datetime,
                 now: datetime) -> bool:
    """Store a reminder wish once per user and occurrence; False if it existed already."""
    return bool(_rows(session, _inserts(session).reminder, {
        "user_id": user.id, "seminar_id": seminar_id, "starts_on": starts_on, "remind_at": remind_at,
        "status": "pending", "created_at": now}))


def forget_user(session: Executor, user: UserRef) -> None:
    """Delete the user's open reminders (the engine saves their conversation emptied)."""
    _rows(session, _FORGET_REMINDERS, {"uid": user.id})


def cancel_reminders(session: Session, user: User) -> None:
    """Cancel the user's pending reminders (they unfollowed the bot)."""
    session.execute(update(Reminder).where(Reminder.user_id == user.id, Reminder.status == "pending")
                    .values(status="cancelled"))


# Renders a due reminder as serialised replies (handlers.replies.replies_to_json); None when its
# seminar is no longer in the calendar.
ReminderRender = Callable[[str, date], "list[dict[str, Any]] | None"]
# The outbox key of a reminder's push: REMINDER_KEY_PREFIX and the reminder's id (queued once per reminder).
REMINDER_KEY_PREFIX = "reminder:"


def queue_due_reminders(session: Session, now: datetime, render: ReminderRender, limit: int = 100) -> int:
    """Queue a push for each pending reminder now due whose user is still active; return how many were queued.

    FOR UPDATE SKIP LOCKED (PostgreSQL) lets several workers run this at once without taking the
    same reminder; the outbox key reminder:{id} makes a second enqueue of one reminder a no-op.
    """
    rows = session.execute(
        select(Reminder, User).join(User, User.id == Reminder.user_id)
        .where(Reminder.status == "pending", Reminder.remind_at <= now, User.active.is_(True))
        .order_by(Reminder.remind_at, Reminder.id).limit(limit)
        .with_for_update(of=Reminder, skip_locked=True)
    ).all()
    queued = 0
    for reminder, user in rows:
        replies = render(reminder.seminar_id, reminder.starts_on)
        if replies is None:
            reminder.status = "cancelled"
            continue
        payload = {"channel": user.platform, "user_id": user.platform_user_id, "replies": replies}
        queued += enqueue(session, "push", f"{REMINDER_KEY_PREFIX}{reminder.id}", payload, now)
        reminder.status = "queued"
    return queued


def settle_reminder(session: Session, push_key: str, status: str) -> None:
    """Give the reminder a push was queued for (if the push was one) its final status: sent, cancelled or failed."""
    if not push_key.startswith(REMINDER_KEY_PREFIX):
        return
    reminder_id = int(push_key[len(REMINDER_KEY_PREFIX):])
    session.execute(update(Reminder).where(Reminder.id == reminder_id, Reminder.status == "queued").values(status=status))


def create_lead(session: Executor, user: UserRef, request: "CreateLead", recent_questions: list[str],
                now: datetime) -> int:
    """Write a lead and queue its delivery to the secretariat, in the caller's transaction; return its id."""
    [(lead_id,)] = _rows(session, _CREATE_LEAD, {
        "user_id": user.id, "status": "queued", "name": request.name, "business": request.business,
        "contact": request.contact, "topic": request.topic, "preferred_time": request.preferred_time,
        "details": {**dict(request.details), "recent_questions": recent_questions}, "created_at": now,
    })
    enqueue(session, "lead", f"lead:{lead_id}", {"lead_id": lead_id}, now)
    return int(lead_id)


def find_lead_by_thread(session: Session, slack_channel: str, slack_ts: str) -> Lead | None:
    """Return the lead whose Slack card is the message at this channel and ts."""
    return session.execute(
        select(Lead).where(Lead.slack_ts == slack_ts, Lead.slack_channel == slack_channel)
    ).scalars().first()


def claim_outbox(session: Session, now: datetime, kinds: list[str], limit: int, lease_until: datetime) -> list[OutboxItem]:
    """Take due deliveries of these kinds for this worker until lease_until; another worker skips them.

    FOR UPDATE SKIP LOCKED (PostgreSQL) keeps two workers off the same rows while they claim;
    the lease then keeps them off while the delivery runs outside any transaction. A worker that
    dies mid-delivery leaves the item to be taken again when the lease ends.
    """
    items = list(session.execute(
        select(OutboxItem).where(OutboxItem.status == "pending", OutboxItem.next_attempt_at <= now,
                                 OutboxItem.kind.in_(kinds))
        .order_by(OutboxItem.next_attempt_at, OutboxItem.id).limit(limit)
        .with_for_update(skip_locked=True)
    ).scalars())
    for item in items:
        item.attempts += 1
        item.next_attempt_at = lease_until
    return items


def leads_to_reannounce(session: Session) -> list[Lead]:
    """Return delivered leads nobody has claimed and that were not announced again yet."""
    return list(session.execute(
        select(Lead).where(Lead.status == "delivered", Lead.reannounced_at.is_(None)).order_by(Lead.id)
        .with_for_update(skip_locked=True)
    ).scalars())


def list_leads(session: Session, status: str | None = None) -> list[tuple[Lead, OutboxItem | None]]:
    """Return every lead (or those with this status), newest first, with its delivery record."""
    stmt = (select(Lead, OutboxItem).outerjoin(OutboxItem, OutboxItem.key == literal("lead:") + cast(Lead.id, String))
            .order_by(Lead.id.desc()))
    if status:
        stmt = stmt.where(Lead.status == status)
    return [(lead, item) for lead, item in session.execute(stmt).all()]
