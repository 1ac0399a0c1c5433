"""`sme-bot kb gaps` and the weekly digest: what the bot could not answer, grouped, most frequent first."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from pytest_httpserver import HTTPServer

from bot.config import Settings
from bot.engine import Engine
from bot.gaps import find_gaps, post_weekly_digest, render
from knowledge.model import Knowledge
from storage import repository
from storage.db import Database
from tests.conftest import Chat, at


def _record(db: Database, *questions: tuple[str, str | None, float | None, str]) -> None:
    with db.transaction() as session:
        for text, entry_id, score, when in questions:
            repository.record_question(session, text, "fallback" if score is None or score < 0.45 else "low_confidence",
                                       entry_id, score, at(when))


def _weather_ramen_and_passport(db: Database) -> None:
    _record(db,
            ("今日の天気は？", None, None, "2026-11-20T09:00:00"),
            ("きょうのてんき", "program-overview", 0.31, "2026-11-21T09:00:00"),
            ("今日の天気は？", None, None, "2026-11-26T09:00:00"),
            ("ラーメン屋を教えて", None, None, "2026-11-22T09:00:00"),
            ("ラーメン", "startup-school", 0.2, "2026-11-23T09:00:00"),
            ("パスポートの申請方法", None, None, "2026-11-24T09:00:00"))


def test_similar_questions_form_one_group_most_frequent_first(db: Database, kb: Knowledge):
    _weather_ramen_and_passport(db)
    gaps = find_gaps(db, kb, None)
    assert [g.count for g in gaps] == [3, 2, 1]
    weather, ramen, passport = gaps
    assert weather.example == "今日の天気は？" and set(weather.texts) == {"今日の天気は？", "きょうのてんき"}
    assert weather.closest_entry == "program-overview" and weather.best_score == 0.31
    assert set(ramen.texts) == {"ラーメン屋を教えて", "ラーメン"}
    assert passport.closest_entry is None


def test_questions_about_different_things_stay_apart(db: Database, kb: Knowledge):
    _record(db, ("今日の天気は？", None, None, "2026-11-20T09:00:00"),
            ("今日の為替レート", None, None, "2026-11-20T10:00:00"))
    assert len(find_gaps(db, kb, None)) == 2


def test_since_keeps_only_recent_questions(db: Database, kb: Knowledge):
    _weather_ramen_and_passport(db)
    gaps = find_gaps(db, kb, at("2026-11-24T00:00:00"))
    assert sorted((g.example, g.count) for g in gaps) == [("パスポートの申請方法", 1), ("今日の天気は？", 1)]


def test_the_report_shows_an_example_other_wordings_and_the_closest_entry(db: Database, kb: Knowledge):
    _weather_ramen_and_passport(db)
    text = render(find_gaps(db, kb, None), kb, None)
    assert "1. 3件「今日の天気は？」" in text
    assert "ほかの言い方：「きょうのてんき」" in text
    assert f"いちばん近かった項目：program-overview（{kb.entries['program-overview'].entry.title}）" in text
    assert "近い項目：なし" in text


def test_a_question_the_bot_could_not_answer_is_recorded_without_who_asked(engine: Engine, db: Database, kb: Knowledge):
    Chat(engine, "someone").say("パスポートの申請方法を教えてください")
    gaps = find_gaps(db, kb, None)
    assert [g.example for g in gaps] == ["パスポートの申請方法を教えてください"]
    assert "someone" not in json.dumps([g.as_json(kb) for g in gaps], ensure_ascii=False)


def test_the_command_prints_json(db: Database):
    _weather_ramen_and_passport(db)
    env = {k: v for k, v in os.environ.items() if k != "KNOWLEDGE_DIR"}
    result = subprocess.run([sys.executable, "-m", "bot.cli", "kb", "gaps", "--json", "--since", "2026-11-01"],
                            capture_output=True, text=True, env={**env, "DATABASE_URL": db.url}, timeout=120)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert rows[0]["count"] == 3 and rows[0]["variants"] == ["きょうのてんき"]
    assert rows[0]["closest_entry"] == "program-overview"


def test_the_weekly_digest_is_posted_once_a_week(db: Database, kb: Knowledge, httpserver: HTTPServer):
    httpserver.expect_request("/api/chat.postMessage", method="POST").respond_with_json({"ok": True, "ts": "1.0"})
    settings = Settings(database_url=db.url, slack_bot_token="xoxb-test", slack_ops_channel="C0PS",
                        slack_api_base_url=httpserver.url_for("/api/"))
    _weather_ramen_and_passport(db)
    monday = at("2026-11-30T09:00:00")
    assert post_weekly_digest(settings, db, kb, monday)
    assert not post_weekly_digest(settings, db, kb, at("2026-11-30T10:00:00"))  # another worker, same week
    posts = [r for r, _ in httpserver.log if r.path.endswith("chat.postMessage")]
    assert len(posts) == 1
    body = posts[0].form or json.loads(posts[0].data)
    assert body["channel"] == "C0PS" and "今日の天気は？" in body["text"] and "【週次】" in body["text"]
    assert post_weekly_digest(settings, db, kb, at("2026-12-07T09:00:00"))


def test_without_an_ops_channel_the_digest_is_not_posted(db: Database, kb: Knowledge):
    assert not post_weekly_digest(Settings(database_url=db.url, slack_bot_token="xoxb-test"), db, kb,
                                  at("2026-11-30T09:00:00"))
