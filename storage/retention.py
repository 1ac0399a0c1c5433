"""Delete what is older than the retention period: personal data is kept only as long as it is useful."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, delete, exists, func, or_, select
from sqlalchemy.orm import Session

from storage.models import ConversationRow, Lead, OutboxItem, ProcessedEvent, RecordedQuestion, Reminder, TurnLog, User

# Reminders still to be sent keep their user; sent, cancelled and failed ones go with the user.
_LIVE_REMINDERS = ("pending", "queued")


def purge(session: Session, cutoff: datetime) -> dict[str, int]:
    """Delete conversations, recorded questions, turn logs, resolved leads and more, last touched before cutoff.

    Also goes: finished deliveries (their payloads may quote users), delivery ids, and users last
    seen before cutoff who have no lead left and no reminder still to be sent (their platform id is
    personal data). Open leads and their users are never deleted. Returns how many rows went, per kind.
    """
    counts: dict[str, int] = {}

    def run(name: str, statement) -> None:  # type: ignore[no-untyped-def]
        result: CursorResult[Any] = session.execute(statement.execution_options(synchronize_session=False))  # type: ignore[assignment]
        counts[name] = result.rowcount or 0

    run("resolved_leads", delete(Lead).where(Lead.status == "resolved",
                                             func.coalesce(Lead.resolved_at, Lead.created_at) < cutoff))
    run("conversations", delete(ConversationRow).where(ConversationRow.updated_at < cutoff))
    run("recorded_questions", delete(RecordedQuestion).where(RecordedQuestion.created_at < cutoff))
    run("turn_logs", delete(TurnLog).where(TurnLog.created_at < cutoff))
    run("deliveries", delete(OutboxItem).where(
        OutboxItem.status.in_(("done", "dead")),
        or_(OutboxItem.done_at < cutoff, (OutboxItem.done_at.is_(None)) & (OutboxItem.created_at < cutoff))))
    run("processed_events", delete(ProcessedEvent).where(ProcessedEvent.created_at < cutoff))
    stale = select(User.id).where(
        User.last_seen_at < cutoff,
        ~exists().where(Lead.user_id == User.id),
        ~exists().where(Reminder.user_id == User.id, Reminder.status.in_(_LIVE_REMINDERS)),
    )
    stale_ids = list(session.execute(stale).scalars())
    counts["users"] = 0
    if stale_ids:
        session.execute(delete(Reminder).where(Reminder.user_id.in_(stale_ids)))
        run("users", delete(User).where(User.id.in_(stale_ids)))
    return counts
