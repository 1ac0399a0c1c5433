"""A user deletes their own conversation history and open reminders, only after confirming."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from bot.engine import Engine
from storage import repository
from storage.models import ConversationRow, Reminder, User
from tests.conftest import Chat, at


def _remember_a_seminar(engine: Engine, user: str) -> None:
    with engine.db.transaction() as session:
        row = repository.find_user(session, "console", user)
        assert row is not None
        repository.add_reminder(session, row, "seminar-x", date(2026, 12, 10), at("2026-12-09T09:00:00"),
                                at("2026-11-27T10:00:00"))


def _state(engine: Engine, user: str) -> tuple[dict, list[str]]:
    with engine.db.transaction() as session:
        row = repository.find_user(session, "console", user)
        assert row is not None
        conversation = session.get(ConversationRow, row.id)
        reminders = session.execute(select(Reminder.status).where(Reminder.user_id == row.id)).scalars().all()
        return dict(conversation.state), list(reminders)


def test_delete_request_asks_for_confirmation_before_deleting(chat: Chat, engine: Engine):
    chat.say("補助金の上限は？")
    _remember_a_seminar(engine, "u1")
    asked = chat.say("データを削除")
    assert asked.intent == "privacy" and asked.flow == "privacy"
    assert [c.label for c in asked.choices] == ["はい、削除する", "やめる"]
    assert "よろしいですか" in asked.text
    state, reminders = _state(engine, "u1")
    assert reminders == ["pending"]
    assert state["memory"]["recent_questions"]


def test_confirmed_delete_removes_history_and_open_reminders(chat: Chat, engine: Engine):
    chat.say("奨学金の返還支援について")
    _remember_a_seminar(engine, "u1")
    done = chat.tap(chat.say("履歴を消して"), "はい、削除する")
    assert "削除しました" in done.text and done.flow is None
    state, reminders = _state(engine, "u1")
    assert reminders == []
    assert "recent_questions" not in state["memory"] and "last_entry" not in state["memory"]


def test_typed_yes_label_deletes_like_a_tap(chat: Chat, engine: Engine):
    chat.say("奨学金の返還支援について")
    chat.say("データを削除")
    done = chat.say("はい、削除する")
    assert "削除しました" in done.text
    state, _ = _state(engine, "u1")
    assert "recent_questions" not in state["memory"]


def test_declining_keeps_everything(chat: Chat, engine: Engine):
    chat.say("奨学金の返還支援について")
    _remember_a_seminar(engine, "u1")
    kept = chat.tap(chat.say("データを削除"), "やめる")
    assert kept.intent == "privacy" and "削除は行いませんでした" in kept.text and kept.flow is None
    state, reminders = _state(engine, "u1")
    assert reminders == ["pending"]
    assert state["memory"]["recent_questions"]


def test_a_question_instead_of_an_answer_is_answered_and_nothing_is_deleted(chat: Chat, engine: Engine):
    chat.say("データを削除")
    answered = chat.say("奨学金の返還支援について")
    assert answered.intent == "faq" and answered.flow == "privacy"
    assert "続ける" in [c.label for c in answered.choices]
    resumed = chat.tap(answered, "続ける")
    assert "よろしいですか" in resumed.text
    _, reminders = _state(engine, "u1")
    assert reminders == []  # none were ever added; the point is that nothing failed


def test_other_users_are_untouched(engine: Engine):
    alice, bob = Chat(engine, "alice"), Chat(engine, "bob")
    alice.say("奨学金の返還支援について")
    bob.say("奨学金の返還支援について")
    _remember_a_seminar(engine, "bob")
    alice.tap(alice.say("データを削除"), "はい、削除する")
    state, reminders = _state(engine, "bob")
    assert reminders == ["pending"] and state["memory"]["recent_questions"]
    with engine.db.transaction() as session:
        assert session.execute(select(User).where(User.platform_user_id == "alice")).scalar_one().active
