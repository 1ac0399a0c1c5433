"""Hot reload: an edited knowledge directory is served without a restart; a broken edit is refused and reported."""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from bot.app import create_app
from bot.config import Settings
from bot.engine import Engine
from bot.reload import KnowledgeReloader, RefusedEditNotice
from knowledge.loader import BUNDLED_DIR
from knowledge.model import Knowledge
from storage.db import Database
from tests.conftest import Chat

QUESTION = "奨学金の返還支援の概要を教えて"
ENTRY = "scholarship-repayment"


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    """Return a writable copy of the bundled knowledge directory."""
    target = tmp_path / "knowledge"
    shutil.copytree(BUNDLED_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__", "README.md", "tests"))
    return target


@pytest.fixture
def fake_slack(httpserver: HTTPServer) -> HTTPServer:
    """Return a local Slack Web API that accepts chat.postMessage."""
    httpserver.expect_request("/api/chat.postMessage", method="POST").respond_with_json({"ok": True, "ts": "1.0"})
    return httpserver


def _slack_settings(db: Database, kb_dir: Path, slack: HTTPServer) -> Settings:
    return Settings(database_url=db.url, knowledge_dir=str(kb_dir), slack_bot_token="xoxb-test",
                    slack_ops_channel="C0PS", slack_api_base_url=slack.url_for("/api/"))


def _rewrite_answer(kb_dir: Path, marker: str) -> None:
    """Put a marker at the start of the scholarship entry's answer, as an admin's edit would."""
    entry = Knowledge.load(kb_dir).entries[ENTRY]
    first_line = entry.entry.answer.strip().splitlines()[0]
    path = kb_dir / entry.file
    text = path.read_text(encoding="utf-8")
    assert first_line in text
    path.write_text(text.replace(first_line, marker + first_line, 1), encoding="utf-8")


def _break(kb_dir: Path) -> int:
    """Leave a quote unclosed in the first title of programs.yaml; return its line number."""
    path = kb_dir / "programs.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("title:"))
    lines[at] = lines[at].replace("title:", 'title: "unclosed', 1)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return at + 1


def _posts(slack: HTTPServer) -> list[dict]:
    return [dict(request.form) or json.loads(request.data) for request, _ in slack.log
            if request.path.endswith("chat.postMessage")]


def test_an_edit_is_served_after_the_check_interval_without_a_restart(db: Database, kb_dir: Path):
    clock = Clock()
    reloader = KnowledgeReloader(Knowledge.load(kb_dir), interval=3.0, clock=clock)
    chat = Chat(Engine(db, Settings(database_url=db.url), reloader))
    assert "【編集済み】" not in chat.say(QUESTION).text
    _rewrite_answer(kb_dir, "【編集済み】")
    clock.now += 1.0
    assert "【編集済み】" not in chat.say(QUESTION).text  # not checked yet: at most every 3 seconds
    clock.now += 3.0
    assert "【編集済み】" in chat.say(QUESTION).text


def test_a_broken_edit_is_refused_logged_with_its_line_and_the_last_good_knowledge_keeps_serving(
        db: Database, kb_dir: Path, fake_slack: HTTPServer, caplog: pytest.LogCaptureFixture):
    settings = _slack_settings(db, kb_dir, fake_slack)
    good = Knowledge.load(kb_dir)
    reloader = KnowledgeReloader(good, interval=3.0, on_refused=RefusedEditNotice(settings, db))
    chat = Chat(Engine(db, settings, reloader))
    line = _break(kb_dir)
    with caplog.at_level(logging.ERROR, logger="bot.reload"):
        assert reloader.check() is False
    assert reloader.current is good
    assert chat.say(QUESTION).entry_id == ENTRY
    assert f"programs.yaml:{line}" in caplog.text or f"programs.yaml:{line - 1}" in caplog.text
    posts = _posts(fake_slack)
    assert len(posts) == 1 and posts[0]["channel"] == "C0PS"
    assert "programs.yaml:" in posts[0]["text"] and "YAMLの書き方に誤りがあります" in posts[0]["text"]
    assert "これまでの内容で回答を続けています" in posts[0]["text"]

    assert reloader.check() is False  # the same broken edit is not loaded or reported again
    assert len(_posts(fake_slack)) == 1


def test_fixing_a_refused_edit_serves_the_fixed_version(db: Database, kb_dir: Path):
    reloader = KnowledgeReloader(Knowledge.load(kb_dir), interval=3.0)
    original = (kb_dir / "programs.yaml").read_text(encoding="utf-8")
    _break(kb_dir)
    assert reloader.check() is False
    (kb_dir / "programs.yaml").write_text(original.replace("奨学金返還支援", "奨学金返還支援（改）", 1), encoding="utf-8")
    assert reloader.check() is True
    assert reloader.current.version == Knowledge.load(kb_dir).version


def test_workers_reading_one_directory_converge_and_a_broken_edit_is_posted_once(
        db: Database, kb_dir: Path, fake_slack: HTTPServer):
    settings = _slack_settings(db, kb_dir, fake_slack)
    workers = [KnowledgeReloader(Knowledge.load(kb_dir), interval=3.0, on_refused=RefusedEditNotice(settings, db))
               for _ in range(3)]
    _rewrite_answer(kb_dir, "【版2】")
    assert all(w.check() for w in workers)
    assert len({w.current.version for w in workers}) == 1
    _break(kb_dir)
    assert not any(w.check() for w in workers)
    assert len(_posts(fake_slack)) == 1


def test_without_slack_a_refused_edit_is_only_logged(db: Database, kb_dir: Path, caplog: pytest.LogCaptureFixture):
    settings = Settings(database_url=db.url, knowledge_dir=str(kb_dir))
    reloader = KnowledgeReloader(Knowledge.load(kb_dir), interval=3.0, on_refused=RefusedEditNotice(settings, db))
    _break(kb_dir)
    with caplog.at_level(logging.ERROR, logger="bot.reload"):
        assert reloader.check() is False
    assert "knowledge edit refused" in caplog.text and "programs.yaml" in caplog.text


def test_the_web_app_serves_an_edited_directory_without_a_restart(db: Database, kb_dir: Path):
    settings = Settings(database_url=db.url, knowledge_dir=str(kb_dir), knowledge_reload_seconds=1e-9)
    client = create_app(settings).test_client()
    before = client.get("/healthz").get_json()["knowledge"]
    _rewrite_answer(kb_dir, "【編集済み】")
    after = client.get("/healthz").get_json()["knowledge"]
    assert before != after == Knowledge.load(kb_dir).version
