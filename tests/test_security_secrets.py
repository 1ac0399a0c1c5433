"""Secrets stay secret and YAML stays data: no credential in any log line (DEBUG included) or repr, no YAML tag runs code."""
from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from bot.app import create_app
from bot.config import Settings
from bot.engine import Engine
from bot.outbox import Worker
from handlers.base import CreateLead
from knowledge.loader import BUNDLED_DIR, KnowledgeError
from knowledge.model import Knowledge
from line_fake import FakeLine, encode, fixture, sign
from slack_fake import FakeSlack, event_body, signed_headers, slack_api, slack_server  # noqa: F401
from storage import repository
from storage.db import Database

from conftest import at

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [p for d in ("bot", "handlers", "knowledge", "storage", "bench") for p in (ROOT / d).rglob("*.py")]

LINE_SECRET = "f00dfeedf00dfeedf00dfeedf00dfeed"
LINE_TOKEN = "LINEtokenZZ9q8w7e6r5t4y3u2i1o0p"
SLACK_TOKEN = "xoxb-SLACKtokenZZ-1111-2222"
SLACK_SECRET = "SLACKsigningZZ0123456789abcdef01"
SALT = "HASHsaltZZ-do-not-log"
DB_PASSWORD = "DBpasswordZZ-42"
SECRETS = [LINE_SECRET, LINE_TOKEN, SLACK_TOKEN, SLACK_SECRET, SALT, DB_PASSWORD]


def test_yaml_is_only_ever_read_with_the_safe_loader() -> None:
    unsafe = re.compile(r"yaml\.(load|load_all|full_load|full_load_all|unsafe_load|unsafe_load_all)\(|"
                        r"\b(Full|Unsafe)?Loader=yaml\.(Loader|FullLoader|UnsafeLoader|CLoader|CFullLoader|CUnsafeLoader)\b|"
                        r"yaml\.(Loader|FullLoader|UnsafeLoader)\b")
    found = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in SOURCES
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if unsafe.search(line) and "SafeLoader" not in line]
    assert found == []
    assert any("SafeLoader" in p.read_text(encoding="utf-8") for p in SOURCES if p.parent.name == "knowledge")


@pytest.mark.parametrize("name", sorted(p.name for p in BUNDLED_DIR.glob("*.yaml")))
def test_a_python_tag_in_any_knowledge_file_runs_nothing_and_names_the_file(tmp_path: Path, name: str) -> None:
    copy = tmp_path / "kb"
    shutil.copytree(BUNDLED_DIR, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__", "tests", "*.md"))
    marker = tmp_path / "pwned"
    (copy / name).write_text(f'entries: !!python/object/apply:os.system ["touch {marker}"]\n', encoding="utf-8")
    with pytest.raises(KnowledgeError) as refused:
        Knowledge.load(copy)
    assert not marker.exists()
    assert any(p.file == name and p.line == 1 for p in refused.value.problems), [str(p) for p in refused.value.problems]


def test_settings_never_show_secrets_in_their_repr() -> None:
    settings = Settings.from_env({"LINE_CHANNEL_SECRET": LINE_SECRET, "LINE_CHANNEL_ACCESS_TOKEN": LINE_TOKEN,
                                  "SLACK_BOT_TOKEN": SLACK_TOKEN, "SLACK_SIGNING_SECRET": SLACK_SECRET,
                                  "USER_HASH_SALT": SALT, "DATABASE_URL": f"postgres://bot:{DB_PASSWORD}@db.example/x"})
    shown = repr(settings) + str(settings)
    assert [s for s in SECRETS if s in shown] == []
    assert settings.line_channel_secret == LINE_SECRET  # still there to be used


def test_no_secret_reaches_the_logs_even_at_debug(db: Database, kb: Knowledge, httpserver: HTTPServer,
                                                  slack_server: HTTPServer, slack_api: FakeSlack,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    line = FakeLine(httpserver)
    settings = Settings(database_url=db.url, user_hash_salt=SALT, line_channel_secret=LINE_SECRET,
                        line_channel_access_token=LINE_TOKEN, line_api_base_url=httpserver.url_for("/").rstrip("/"),
                        slack_bot_token=SLACK_TOKEN, slack_signing_secret=SLACK_SECRET, slack_handoff_channel="C0HANDOFF",
                        slack_api_base_url=slack_server.url_for("/api/"))
    client = create_app(settings, Engine(db, settings, kb)).test_client()

    body = encode(fixture("text"))
    headers = {"Content-Type": "application/json"}
    client.post("/line/webhook", data=body, headers={**headers, "X-Line-Signature": sign(body, LINE_SECRET)})
    client.post("/line/webhook", data=body, headers={**headers, "X-Line-Signature": sign(body, "wrong")})
    line.fail("/v2/bot/message/reply", 500)
    line.fail("/v2/bot/message/push", 401, {"message": "Authentication failed"})
    other = encode({**fixture("text"), "events": [{**fixture("text")["events"][0], "webhookEventId": "01SECRETS2"}]})
    client.post("/line/webhook", data=other, headers={**headers, "X-Line-Signature": sign(other, LINE_SECRET)})

    slack_body = event_body({"type": "message", "channel_type": "im", "user": "U0USER", "text": "補助金", "channel": "D0USER",
                             "ts": "1800000000.000100", "event_ts": "1800000000.000100"})
    client.post("/slack/events", data=slack_body.encode(), headers=signed_headers(slack_body, secret=SLACK_SECRET))
    client.post("/slack/events", data=slack_body.encode(), headers=signed_headers(slack_body, secret="wrong"))
    client.post("/slack/events", data=slack_body.encode(),
                headers=signed_headers(slack_body, timestamp=int(time.time()) - 3600, secret=SLACK_SECRET))

    now = at("2026-11-27T10:00")
    with db.transaction() as session:
        user = repository.lock_user(session, "line", "U-secret", now, SALT)
        repository.create_lead(session, user, CreateLead("磐城", "商店", "090-1111-2222", "相談", "午前"), [], now)
    slack_api.fail("chat.postMessage", 500)
    worker = Worker(db, settings, kb, clock=lambda: now)
    worker.run_once()

    logged = []
    for record in caplog.records:
        logged.append(record.getMessage())
        if record.exc_info:
            logged.append(logging.Formatter().formatException(record.exc_info))
    text = "\n".join(logged)
    assert len(caplog.records) > 10  # the DEBUG logs of the SDKs were captured too
    assert [s for s in SECRETS if s in text] == []


def test_a_database_that_cannot_be_reached_is_reported_without_its_password(tmp_path: Path) -> None:
    url = f"postgresql://sme:{DB_PASSWORD}@127.0.0.1:9/nowhere"
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "DEBUG"}
    done = subprocess.run([sys.executable, "-m", "bot.cli", "db", "upgrade"], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)
    assert done.returncode != 0
    assert DB_PASSWORD not in done.stdout + done.stderr
