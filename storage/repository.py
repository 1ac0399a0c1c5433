"""A small repository API over the models: what the engine, the worker and the CLI need."""
from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Callable

from sqlalchemy import String, cast, delete, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from handlers.base import CreateLead

from storage.models import ConversationRow, Lead, OutboxItem, ProcessedEvent, RecordedQuestion, Reminder, TurnLog, User


def user_hash(platform: str, platform_user_id: str, salt: str) -> str:
    """Return the pseudonymous id used in analytics and logs instead of the platform's user id."""
    return hashlib.sha256(f"{salt}:{platform}:{platform_user_id}".encode()).hexdigest()[:32]


def _insert(session: Session, model: type) -> Any:
    """Return an INSERT that can skip conflicts on this dialect.

    Whether a row was inserted is told by RETURNING, not rowcount: psycopg reports -1 for an
    INSERT … ON CONFLICT DO NOTHING run through SQLAlchemy, which would read as "inserted".
    """
    return (postgresql if session.bind.dialect.name == "postgresql" else sqlite).insert(model)  # type: ignore[union-attr]


def claim_event(session: Session, platform: str, event_id: str, now: datetime) -> bool:
    """Record a delivery id; False if it was already processed (redelivery or a concurrent twin).

    Runs in the caller's transaction: if the turn fails later, the claim is rolled back with it
    and the platform's retry is processed normally. A concurrent twin waits on the unique key
    until this transaction ends, then finds the id taken (or free again, after a rollback).
    """
    claimed = session.execute(
        _insert(session, ProcessedEvent).values(platform=platform, event_id=event_id[:128], created_at=now)
        .on_conflict_do_nothing(index_elements=["platform", "event_id"]).returning(ProcessedEvent.id)
    ).first()
    return claimed is not None


def lock_user(session: Session, platform: str, platform_user_id: str, now: datetime, salt: str) -> User:
    """Get or create the user (and a new user's conversation), seen now, holding the user's row lock.

    A known user costs one statement (an upsert returning the row) instead of insert, select and
    update: every round trip is paid on each turn. Two turns of the same user are serialised from here on.
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


def load_conversation(session: Session, user: User) -> ConversationRow:
    """Return the user's conversation row, locked for this transaction; an empty one if they have none yet.

    The lock (FOR UPDATE on PostgreSQL, the write lock taken at BEGIN on SQLite) serialises two
    turns of the same user, so no questionnaire answer is lost or interleaved.
    """
    locked = select(ConversationRow).where(ConversationRow.user_id == user.id).with_for_update()
    row = session.execute(locked).scalar_one_or_none()
    if row is None:  # a new user, or one whose conversation was purged
        session.execute(
            _insert(session, ConversationRow).values(user_id=user.id, state={}, version=0, updated_at=user.last_seen_at)
            .on_conflict_do_nothing(index_elements=["user_id"])
        )
        row = session.execute(locked).scalar_one()
    return row


def find_user(session: Session, platform: str, platform_user_id: str) -> User | None:
    """Return the user if known."""
    return session.execute(
        select(User).where(User.platform == platform, User.platform_user_id == platform_user_id)
    ).scalar_one_or_none()


def record_question(session: Session, text: str, reason: str, best_entry_id: str | None,
                    score: float | None, now: datetime) -> None:
    """Record a question the bot could not answer confidently (no user id)."""
    session.add(RecordedQuestion(text=text, reason=reason, best_entry_id=best_entry_id, score=score, created_at=now))


def log_turn(session: Session, user: User, channel: str, intent: str, flow: str | None,
             entry_id: str | None, score: float | None, now: datetime, verdict: str | None = None) -> None:
    """Log an answered turn for statistics (hashed user, no text)."""
    session.add(TurnLog(user_hash=user.user_hash, channel=channel, intent=intent, flow=flow,
                        entry_id=entry_id, score=score, verdict=verdict, created_at=now))


def enqueue(session: Session, kind: str, key: str, payload: dict[str, Any], now: datetime) -> bool:
    """Queue a delivery once per idempotency key; False if that key was already queued."""
    result = session.execute(
        _insert(session, OutboxItem).values(kind=kind, key=key, payload=payload, status="pending", attempts=0,
                                            next_attempt_at=now, created_at=now)
        .on_conflict_do_nothing(index_elements=["key"]).returning(OutboxItem.id)
    )
    return result.first() is not None


def add_reminder(session: Session, user: User, seminar_id: str, starts_on: date, remind_at: datetime,
                 now: datetime) -> bool:
    """Store a reminder wish once per user and occurrence; False if it existed already."""
    result = session.execute(
        _insert(session, Reminder).values(user_id=user.id, seminar_id=seminar_id, starts_on=starts_on,
                                          remind_at=remind_at, status="pending", created_at=now)
        .on_conflict_do_nothing(index_elements=["user_id", "seminar_id", "starts_on"]).returning(Reminder.id)
    )
    return result.first() is not None


def forget_user(session: Session, user: User) -> None:
    """Delete the user's conversation history and open reminders."""
    session.execute(delete(Reminder).where(Reminder.user_id == user.id, Reminder.status == "pending"))
    conversation = session.get(ConversationRow, user.id)
    if conversation is not None:
        conversation.state = {}
        conversation.version += 1


def cancel_reminders(session: Session, user: User) -> None:
    """Cancel the user's pending reminders (they unfollowed the bot)."""
    session.execute(update(Reminder).where(Reminder.user_id == user.id, Reminder.status == "pending")
                    .values(status="cancelled"))


# Renders a due reminder as serialised replies (handlers.replies.replies_to_json); None when its
# seminar is no longer in the calendar.
ReminderRender = Callable[[str, date], "list[dict[str, Any]] | None"]


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
        queued += enqueue(session, "push", f"reminder:{reminder.id}", payload, now)
        reminder.status = "queued"
    return queued


def create_lead(session: Session, user: User, request: "CreateLead", recent_questions: list[str],
                now: datetime) -> Lead:
    """Write a lead and queue its delivery to the secretariat, in the caller's transaction."""
    lead = Lead(user_id=user.id, status="queued", name=request.name, business=request.business,
                contact=request.contact, topic=request.topic, preferred_time=request.preferred_time,
                details={**dict(request.details), "recent_questions": recent_questions}, created_at=now)
    session.add(lead)
    session.flush()
    enqueue(session, "lead", f"lead:{lead.id}", {"lead_id": lead.id}, now)
    return lead


OPEN_LEAD_STATUSES = ("queued", "delivered", "claimed")


def open_lead_id(session: Session, user: User) -> int | None:
    """Return the id of the user's newest lead that is not resolved yet."""
    return session.execute(
        select(Lead.id).where(Lead.user_id == user.id, Lead.status.in_(OPEN_LEAD_STATUSES))
        .order_by(Lead.id.desc()).limit(1)
    ).scalar_one_or_none()


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
