"""What every handler receives and returns: one turn in, one outcome out."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Mapping

from handlers.replies import Reply
from knowledge.model import Knowledge


@dataclass(frozen=True)
class Conversation:
    """What the bot remembers of one user between turns (stored as JSON by storage/)."""

    flow: str | None = None  # the multi-turn flow in progress ("eligibility", "handoff") or None
    flow_data: Mapping[str, Any] = field(default_factory=dict)  # the flow's own answers so far
    updated_at: datetime | None = None  # last turn, for the idle timeout of a flow
    memory: Mapping[str, Any] = field(default_factory=dict)  # e.g. last entry, last topic tags

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return {
            "flow": self.flow,
            "flow_data": dict(self.flow_data),
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "memory": dict(self.memory),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> "Conversation":
        """Rebuild a conversation from what to_json() stored."""
        if not raw:
            return cls()
        updated = raw.get("updated_at")
        return cls(
            flow=raw.get("flow"),
            flow_data=dict(raw.get("flow_data") or {}),
            updated_at=datetime.fromisoformat(updated) if updated else None,
            memory=dict(raw.get("memory") or {}),
        )


@dataclass(frozen=True)
class Turn:
    """One user message with everything a handler may read."""

    text: str  # as the user typed it (or the tapped button's label)
    now: datetime  # aware, Asia/Tokyo unless the caller says otherwise
    kb: Knowledge
    conversation: Conversation = field(default_factory=Conversation)
    postback: str | None = None  # data of a tapped button
    channel: str = "console"
    is_group: bool = False
    handoff_live: bool = False  # leads go to the secretariat's Slack, which can answer in the chat
    open_lead_id: int | None = None  # the user's lead not yet resolved, if any

    @property
    def flow_data(self) -> Mapping[str, Any]:
        """Return the data of the flow in progress."""
        return self.conversation.flow_data

    @property
    def memory(self) -> Mapping[str, Any]:
        """Return what the bot remembers of this user outside flows."""
        return self.conversation.memory


# Effects: what a handler asks the engine to write, in the same transaction as the state.


@dataclass(frozen=True)
class RecordQuestion:
    """Record a question the bot could not answer confidently (text and time, no user id)."""

    text: str
    reason: str  # "fallback" or "low_confidence"
    best_entry_id: str | None = None
    score: float | None = None


@dataclass(frozen=True)
class CreateLead:
    """Create a lead for the secretariat and queue its delivery to Slack."""

    name: str
    business: str
    contact: str
    topic: str
    preferred_time: str
    details: Mapping[str, Any] = field(default_factory=dict)  # e.g. questionnaire answers


@dataclass(frozen=True)
class RelayToSecretariat:
    """Post what the user wrote into the Slack thread of their open lead."""

    lead_id: int
    text: str
    note: bool = False  # a notice about the chat (e.g. the user went back to the bot), not the user's words


@dataclass(frozen=True)
class AddReminder:
    """Remember that the user wants a reminder for a seminar occurrence."""

    seminar_id: str
    starts_on: str  # ISO date of the occurrence
    remind_at: datetime


@dataclass(frozen=True)
class ForgetUser:
    """Delete the user's conversation history and open reminders."""


Effect = RecordQuestion | CreateLead | AddReminder | ForgetUser | RelayToSecretariat


@dataclass(frozen=True)
class Outcome:
    """What a handler decided: the replies, the next state and what to write."""

    intent: str  # faq, seminars, eligibility, handoff, fallback, greeting, help, cancel, privacy
    replies: tuple[Reply, ...]
    flow: str | None = None  # flow still in progress after this turn
    flow_data: Mapping[str, Any] = field(default_factory=dict)
    entry_id: str | None = None
    score: float | None = None
    effects: tuple[Effect, ...] = ()
    memory: Mapping[str, Any] | None = None  # new memory; None keeps the old one
    text_is_answer: bool = False  # the text answered a flow's question (a name, a phone): not a question to keep
    verdict: str | None = None  # a finished questionnaire's result (eligible, needs_check, not_eligible), for statistics

    def with_prefix(self, *replies: Reply) -> "Outcome":
        """Return this outcome with messages put before its own."""
        return replace(self, replies=tuple(replies) + self.replies)
