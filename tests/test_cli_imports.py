"""`sme-bot chat` starts without the web stack (Flask and the LINE and Slack SDKs are only the web process's), and without Alembic once the schema is current."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from storage.db import Database

WEB_STACK = ("flask", "werkzeug", "slack_bolt", "slack_sdk", "linebot", "icalendar")

# Runs in a fresh interpreter: `sme-bot chat --jsonl` answers the lines on stdin, then the modules it loaded are listed.
CHAT_PROCESS = """
import json, sys
from bot.cli import main
status = main(["chat", "--jsonl"])
print(json.dumps({"status": status, "modules": sorted({name.split(".")[0] for name in sys.modules})}))
"""


def test_chat_answers_without_importing_the_web_stack(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'chat.db'}"}
    question = json.dumps({"user": "u1", "text": "補助金の上限はいくらですか"}, ensure_ascii=False) + "\n"
    done = subprocess.run([sys.executable, "-c", CHAT_PROCESS], input=question.encode(), capture_output=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    answer, result = (json.loads(line) for line in done.stdout.decode().splitlines())
    assert answer["intent"] == "faq" and result["status"] == 0, "the question was answered"
    assert not set(WEB_STACK) & set(result["modules"]), "chat imported part of the web stack"


def test_a_start_on_a_database_already_up_to_date_does_not_load_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'current.db'}"
    Database(url).upgrade()
    env = {**os.environ, "DATABASE_URL": url}
    question = json.dumps({"user": "u1", "text": "こんにちは"}, ensure_ascii=False) + "\n"
    done = subprocess.run([sys.executable, "-c", CHAT_PROCESS], input=question.encode(), capture_output=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    result = json.loads(done.stdout.decode().splitlines()[-1])
    assert "alembic" not in result["modules"], "checking the schema version loaded Alembic (~0.4 s of start-up)"
