"""One turn: de-duplicate, load the conversation, route to a handler, save state and effects in one transaction."""
from __future__ import annotations

import dataclasses
import logging
import uuid
from datetime import date, datetime
from typing import Any, Callable

from bot.config import TOKYO, Settings
from bot.messages import Incoming, TurnResult
from bot.reload import KnowledgeReloader
from handlers import router, smalltalk
from handlers.base import (AddReminder, Conversation, CreateLead, Effect, ForgetUser, Outcome, RecordQuestion,
                           RelayToSecretariat, Turn)
from handlers.replies import Reply
from knowledge.model import Knowledge
from storage import repository
from storage.db import ConnectionLost, Database, DriverConnection

log = logging.getLogger(__name__)

# Longer messages are cut before matching: nobody asks a question in 2,000 characters, and the
# cost of tokenising must stay bounded whatever is sent.
MAX_TEXT = 2000
# The last questions a user asked are kept so a lead can show the secretariat what led to it.
RECENT_QUESTIONS = 5
# A turn is answered again when another turn of the same user was saved first; each retry follows
# such a save, so this bound is reached only by a user sending this many messages at the same instant.
MAX_ATTEMPTS = 20


class Engine:
    """The same conversation logic for every channel."""

    def __init__(self, db: Database, settings: Settings, knowledge: Knowledge | Callable[[], Knowledge]):
        self.db = db
        self.settings = settings
        self._knowledge = knowledge if callable(knowledge) else (lambda: knowledge)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Engine":
        """Load the knowledge (refusing a broken one) and open the database, ready to answer."""
        db = Database(settings.database_url)  # connects lazily: a broken knowledge base stops us first
        knowledge = KnowledgeReloader.from_settings(settings, db)  # picks up edits; refuses broken ones
        db.prepare()
        return cls(db, settings, knowledge)

    @property
    def kb(self) -> Knowledge:
        """Return the knowledge currently served."""
        return self._knowledge()

    def handle(self, incoming: Incoming) -> TurnResult:
        """Answer one message; a redelivered event returns a duplicate result with no replies.

        The conversation is read without a lock, the turn is answered, and the new state is saved
        only if no other turn of the same user was saved in between; otherwise the turn is answered
        again from the newer state. Every retry follows another turn's commit, so they all end.
        """
        kb = self.kb
        incoming = well_formed(incoming)
        reconnected = False
        for _ in range(MAX_ATTEMPTS):
            try:
                return self._attempt(kb, incoming)
            except repository.ConversationChanged:
                log.debug("conversation changed meanwhile; answering again channel=%s", incoming.channel)
            except ConnectionLost:
                if reconnected:
                    raise
                # The database dropped a pooled connection (a restart, a failover): nothing of this
                # turn was written, and the stale connections have been replaced.
                log.warning("database connection lost; answering again on a new one channel=%s", incoming.channel)
                reconnected = True
        raise RuntimeError(f"the conversation kept changing during {MAX_ATTEMPTS} attempts at one turn")

    def _attempt(self, kb: Knowledge, incoming: Incoming) -> TurnResult:
        now = incoming.now
        text = incoming.text[:MAX_TEXT]
        salt = self.settings.user_hash_salt
        with self.db.driver_connection() as connection:  # one pool checkout for the read and the write
            read = repository.read_conversation(connection, incoming.channel, incoming.user_id, salt)
            conversation = Conversation.from_json(read.state)
            turn = Turn(text=text, now=now, kb=kb, conversation=conversation, postback=incoming.postback,
                        channel=incoming.channel, is_group=incoming.is_group,
                        handoff_live=self.settings.slack_handoff_enabled, open_lead_id=read.open_lead_id)
            outcome = router.respond(turn)
            saved = self._saved_state(incoming, text, outcome, conversation)
            user, lead_ids = self._save(connection, incoming, read, outcome, conversation, saved)
        if user is None:
            log.info("duplicate event skipped channel=%s event=%s", incoming.channel, incoming.event_id)
            return TurnResult("duplicate", (), duplicate=True)
        log.info("turn channel=%s user=%s intent=%s entry=%s score=%s flow=%s",
                 incoming.channel, user.user_hash[:12], outcome.intent, outcome.entry_id, outcome.score, outcome.flow)
        return TurnResult(outcome.intent, outcome.replies, outcome.flow, outcome.entry_id, outcome.score,
                          lead_ids=tuple(lead_ids))

    def _save(self, connection: DriverConnection, incoming: Incoming, read: repository.ConversationSnapshot,
              outcome: Outcome, conversation: Conversation, state: dict[str, Any]) -> tuple[repository.TurnUser | None, list[int]]:
        """Write the turn (its event id claimed, its state, effects and log line); the user is None for a duplicate.

        A turn that only answers (the most common: a question, a questionnaire step) is written in one
        statement where the database can (PostgreSQL); any other in a transaction.
        """
        now = incoming.now
        line = repository.TurnLine(outcome.intent, outcome.flow, outcome.entry_id, outcome.score, outcome.verdict)
        questions = [effect for effect in outcome.effects if isinstance(effect, RecordQuestion)]
        if len(questions) == len(outcome.effects) <= 1 and repository.saves_in_one_statement(connection, read):
            return repository.save_turn_in_one_statement(connection, incoming.channel, incoming.event_id, read, state,
                                                         line, questions[0] if questions else None, now), []
        with connection.transaction():
            if incoming.event_id and not repository.claim_event(connection, incoming.channel, incoming.event_id, now):
                return None, []
            user = repository.save_conversation(connection, incoming.channel, incoming.user_id, read, state, now)
            lead_ids = self._apply(connection, user, outcome.effects, conversation, now)
            repository.log_turn(connection, user, incoming.channel, line, now)
        return user, lead_ids

    @staticmethod
    def _saved_state(incoming: Incoming, text: str, outcome: Outcome, conversation: Conversation) -> dict[str, Any]:
        """Return the conversation to store after this turn, as JSON."""
        if any(isinstance(e, ForgetUser) for e in outcome.effects):
            memory: dict[str, Any] = {}
        else:
            memory = dict(outcome.memory if outcome.memory is not None else conversation.memory)
            if not incoming.postback and text.strip() and not outcome.text_is_answer:
                memory["recent_questions"] = (list(memory.get("recent_questions", [])) + [text[:200]])[-RECENT_QUESTIONS:]
        memory = router.remember_choices(outcome, memory)
        return Conversation(flow=outcome.flow, flow_data=dict(outcome.flow_data) if outcome.flow else {},
                            updated_at=incoming.now, memory=memory).to_json()

    def greet(self, channel: str, user_id: str, now: datetime) -> TurnResult:
        """Greet a user who added the bot; a returning user is welcomed back."""
        with self.db.transaction() as session:
            existing = repository.find_user(session, channel, user_id)
            returning = existing is not None
            user = repository.lock_user(session, channel, user_id, now, self.settings.user_hash_salt)
            user.active = True
            user.last_seen_at = now
        outcome = smalltalk.greet(Turn(text="", now=now, kb=self.kb), returning)
        return TurnResult(outcome.intent, outcome.replies)

    def deactivate(self, channel: str, user_id: str, now: datetime) -> None:
        """Mark a user inactive (they blocked or unfollowed the bot): nothing more is pushed to them."""
        with self.db.transaction() as session:
            user = repository.find_user(session, channel, user_id)
            if user is not None:
                user.active = False
                user.last_seen_at = now
                repository.cancel_reminders(session, user)

    def canned(self, intent: str, text: str) -> TurnResult:
        """Return a fixed reply with the menu (e.g. for a sticker or an image)."""
        return TurnResult(intent, (Reply(text, choices=smalltalk.menu_choices(self.kb.messages)),))

    def _apply(self, connection: repository.Executor, user: repository.UserRef, effects: tuple[Effect, ...],
               conversation: Conversation, now: datetime) -> list[int]:
        lead_ids = []
        for effect in effects:
            if isinstance(effect, RecordQuestion):
                repository.record_question(connection, effect.text, effect.reason, effect.best_entry_id, effect.score, now)
            elif isinstance(effect, CreateLead):
                lead_ids.append(repository.create_lead(connection, user, effect,
                                                       list(conversation.memory.get("recent_questions", [])), now))
            elif isinstance(effect, AddReminder):
                repository.add_reminder(connection, user, effect.seminar_id, date.fromisoformat(effect.starts_on), effect.remind_at, now)
            elif isinstance(effect, ForgetUser):
                repository.forget_user(connection, user)
            elif isinstance(effect, RelayToSecretariat):
                repository.enqueue(connection, "slack_thread", f"slack_thread:{effect.lead_id}:{uuid.uuid4().hex}",
                                   {"lead_id": effect.lead_id, "text": effect.text, "note": effect.note}, now)
        return lead_ids


def well_formed(incoming: Incoming) -> Incoming:
    """Drop what a JSON body may escape but the layers below cannot carry: lone surrogates and NUL."""
    def fix(value: str) -> str:
        value = value.replace("\x00", "")  # PostgreSQL text cannot hold NUL
        if value.isascii():
            return value
        # UTF-8 (Sudachi, the database drivers) cannot encode a lone surrogate: make it U+FFFD.
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")

    def fix_optional(value: str | None) -> str | None:
        return None if value is None else fix(value)

    return dataclasses.replace(incoming, text=fix(incoming.text), postback=fix_optional(incoming.postback),
                               user_id=fix(incoming.user_id), event_id=fix_optional(incoming.event_id))


def now_in_tokyo() -> datetime:
    """Return the current time in Asia/Tokyo."""
    return datetime.now(TOKYO)


