"""`sme-bot stats`: questions per day, top entries, fallback rate, questionnaires, leads and time to claim."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta

from bot.engine import Engine
from bot.stats import collect, render
from knowledge.model import Knowledge
from storage.db import Database
from storage.models import Lead, TurnLog
from tests.conftest import Chat, at


def _turns(db: Database, user: str, *turns: tuple[str, str, str | None, str | None, str | None]) -> None:
    """Log turns as (time, intent, flow, entry, verdict) for one hashed user."""
    with db.transaction() as session:
        for when, intent, flow, entry_id, verdict in turns:
            session.add(TurnLog(user_hash=user, channel="line", intent=intent, flow=flow, entry_id=entry_id,
                                score=None, verdict=verdict, created_at=at(when)))


def _lead(db: Database, status: str, created: str, claimed: str | None) -> None:
    with db.transaction() as session:
        session.add(Lead(status=status, name="n", business="b", contact="c", topic="t", preferred_time="p",
                         details={}, created_at=at(created), claimed_at=at(claimed) if claimed else None))


def _a_week_of_use(db: Database) -> None:
    _turns(db, "alice",
           ("2026-11-24T09:00:00", "faq", None, "scholarship-repayment", None),
           ("2026-11-24T09:01:00", "faq", None, "scholarship-repayment", None),
           ("2026-11-24T23:30:00", "fallback", None, None, None),  # still the 24th in Tokyo (14:30 UTC)
           ("2026-11-25T00:30:00", "faq", None, "management-development-subsidy", None))  # the 25th (15:30 UTC on the 24th)
    _turns(db, "bob",
           ("2026-11-24T10:00:00", "eligibility", "eligibility", None, None),
           ("2026-11-24T10:01:00", "eligibility", "eligibility", None, None),
           ("2026-11-24T10:02:00", "eligibility", None, None, "eligible"),
           ("2026-11-25T10:00:00", "eligibility", "eligibility", None, None),
           ("2026-11-25T10:01:00", "cancel", None, None, None),
           ("2026-11-26T10:00:00", "faq", None, None, None))  # closest entries offered
    _turns(db, "carol",
           ("2026-11-26T11:00:00", "eligibility", "eligibility", None, None),
           ("2026-11-26T11:05:00", "eligibility", None, None, "not_eligible"))
    _lead(db, "queued", "2026-11-24T10:00:00", None)
    _lead(db, "claimed", "2026-11-24T10:00:00", "2026-11-24T10:30:00")
    _lead(db, "resolved", "2026-11-25T10:00:00", "2026-11-25T11:30:00")


def test_questions_are_counted_per_tokyo_day_with_users_and_fallbacks(db: Database, kb: Knowledge):
    _a_week_of_use(db)
    days = {d.day: (d.messages, d.users, d.fallbacks) for d in collect(db, kb, None).days}
    assert days == {date(2026, 11, 24): (6, 2, 1), date(2026, 11, 25): (3, 2, 0), date(2026, 11, 26): (3, 2, 0)}


def test_top_entries_and_the_fallback_rate(db: Database, kb: Knowledge):
    _a_week_of_use(db)
    s = collect(db, kb, None)
    assert s.top_entries[0] == ("scholarship-repayment", kb.entries["scholarship-repayment"].entry.title, 2)
    assert [e for e, _, _ in s.top_entries] == ["scholarship-repayment", "management-development-subsidy"]
    assert (s.messages, s.answered, s.suggested, s.fallbacks) == (12, 3, 1, 1)
    assert s.fallback_rate == 1 / 12


def test_questionnaires_started_finished_and_their_verdicts(db: Database, kb: Knowledge):
    _a_week_of_use(db)
    s = collect(db, kb, None)
    assert (s.questionnaires_started, s.questionnaires_finished) == (3, 2)
    assert s.verdicts == {"eligible": 1, "not_eligible": 1}


def test_leads_by_status_and_time_to_claim(db: Database, kb: Knowledge):
    _a_week_of_use(db)
    s = collect(db, kb, None)
    assert s.leads == {"queued": 1, "claimed": 1, "resolved": 1}
    assert (s.claimed, s.minutes_to_claim_median, s.minutes_to_claim_mean) == (2, 60.0, 60.0)


def test_since_leaves_out_older_days(db: Database, kb: Knowledge):
    _a_week_of_use(db)
    s = collect(db, kb, at("2026-11-26T00:00:00"))
    assert [d.day for d in s.days] == [date(2026, 11, 26)]
    assert (s.questionnaires_started, s.questionnaires_finished, s.leads) == (1, 1, {})


def test_a_real_conversation_shows_up(engine: Engine, db: Database, kb: Knowledge):
    chat = Chat(engine, "dave")
    chat.say("奨学金の返還支援の概要を教えて")
    chat.say("パスポートの申請方法を教えてください")
    s = collect(db, kb, None)
    assert s.messages == 2 and s.days[0].day == date(2026, 11, 27) and s.days[0].users == 1
    assert s.top_entries[0][0] == "scholarship-repayment"
    assert s.fallbacks + s.suggested == 1


def test_the_table_and_the_json_say_the_same(db: Database, kb: Knowledge):
    _a_week_of_use(db)
    s = collect(db, kb, None)
    table = render(s)
    assert "2026-11-24" in table and "お答えできない 1件（8.3%）" in table
    assert "開始 3件、結果まで回答 2件" in table and "対象の見込み" in table
    assert "中央値 60.0分" in table
    env = {k: v for k, v in os.environ.items() if k != "KNOWLEDGE_DIR"}
    result = subprocess.run([sys.executable, "-m", "bot.cli", "stats", "--json"], capture_output=True, text=True,
                            env={**env, "DATABASE_URL": db.url}, timeout=120)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data == json.loads(json.dumps(s.as_json()))
    assert data["per_day"][0] == {"date": "2026-11-24", "messages": 6, "users": 2, "fallbacks": 1}
    assert data["questionnaires"] == {"started": 3, "finished": 2, "verdicts": {"eligible": 1, "not_eligible": 1}}


def test_an_empty_database_reports_nothing_yet(db: Database, kb: Knowledge):
    s = collect(db, kb, at("2026-11-01T00:00:00") - timedelta(days=1))
    assert s.messages == 0 and s.fallback_rate is None and s.minutes_to_claim_median is None
    assert "（まだありません）" in render(s)
