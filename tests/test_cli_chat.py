"""`sme-bot chat --jsonl`: one JSON line out for each line in, state per user, a clock per turn, errors as lines."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def run_jsonl(tmp_path_factory):
    """Return a function that feeds lines to one `sme-bot chat --jsonl` process and returns its output lines."""
    db = tmp_path_factory.mktemp("cli") / "chat.db"

    def run(lines: list[str]) -> list[dict]:
        env = dict(os.environ, DATABASE_URL=f"sqlite:///{db}")
        for key in ("LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
            env.pop(key, None)
        done = subprocess.run([sys.executable, "-m", "bot.cli", "chat", "--jsonl"], input="\n".join(lines) + "\n",
                              capture_output=True, text=True, env=env, timeout=180)
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in done.stdout.splitlines()]

    return run


def test_each_line_gets_exactly_one_answer_with_every_field(run_jsonl):
    out = run_jsonl([json.dumps({"user": "a", "text": "補助金はいくらまで出る？"}, ensure_ascii=False),
                     json.dumps({"user": "b", "text": "こんにちは"}, ensure_ascii=False)])
    assert len(out) == 2
    for line in out:
        assert set(line) == {"user", "intent", "text", "choices", "flow", "entry_id", "score"}
    assert out[0]["user"] == "a" and out[0]["intent"] == "faq" and "50万" in out[0]["text"]
    assert out[0]["entry_id"] == "management-development-subsidy" and isinstance(out[0]["score"], float)
    assert out[1]["intent"] == "greeting" and out[1]["flow"] is None and "補助金診断" in out[1]["choices"]


def test_bad_lines_get_an_error_line_and_the_session_goes_on(run_jsonl):
    out = run_jsonl(['{"user": "a", "text": ', '[1, 2]', '{"text": "no user"}', '{"user": "a", "text": 5}',
                     '{"user": "a", "text": "x", "now": "yesterday"}',
                     json.dumps({"user": "a", "text": "浜魂"}, ensure_ascii=False)])
    assert [("error" in line) for line in out] == [True, True, True, True, True, False]
    assert out[-1]["intent"] == "faq"


def test_now_sets_the_clock_of_the_turn(run_jsonl):
    question = "経営発達補助金について教えて"
    out = run_jsonl([json.dumps({"user": "c", "text": question, "now": "2017-10-01T09:00:00+09:00"}, ensure_ascii=False),
                     json.dumps({"user": "d", "text": question, "now": "2026-11-27T09:00:00+09:00"}, ensure_ascii=False)])
    assert "有効期限" not in out[0]["text"]
    assert "有効期限" in out[1]["text"]


def test_typing_a_choice_label_works_like_tapping_it(run_jsonl):
    out = run_jsonl([json.dumps({"user": "e", "text": "こんにちは"}, ensure_ascii=False),
                     json.dumps({"user": "e", "text": "使い方"}, ensure_ascii=False)])
    assert out[1]["intent"] == "help"


def test_emoji_huge_and_empty_messages_get_a_reply(run_jsonl):
    out = run_jsonl([json.dumps({"user": "f", "text": t}, ensure_ascii=False)
                     for t in ("🙂👍🏽👨‍👩‍👧", "あ" * 5000, "   ", "\u202e\u0000")])
    assert len(out) == 4
    assert all("error" not in line and line["text"] for line in out)


def test_interactive_chat_numbers_choices_and_accepts_a_number(tmp_path: Path):
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path / 'i.db'}")
    done = subprocess.run([sys.executable, "-m", "bot.cli", "chat"], input="こんにちは\n5\n", capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "[5] 使い方" in done.stdout
    assert "使い方のご案内です" in done.stdout
