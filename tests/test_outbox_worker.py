"""The delivery worker: every lead reaches Slack exactly once, through outages, rate limits and a killed worker."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from bot import cli
from bot.config import Settings
from bot.engine import Engine, now_in_tokyo
from bot.messages import Incoming
from bot.outbox import BACKOFF_MAX, LEASE, Worker, backoff
from conftest import Clock, at
from handlers.replies import Reply, replies_to_json
from knowledge.model import Knowledge
from line_fake import SECRET, TOKEN, FakeLine
from slack_fake import (HANDOFF_CHANNEL, SIGNING_SECRET, FakeSlack, slack_api, slack_server,  # noqa: F401
                        slack_settings)
from storage import repository
from storage.db import Database
from storage.models import Lead, OutboxItem

NOW = "2026-11-27T10:00:00"


@pytest.fixture
def settings(db: Database, slack_server: HTTPServer) -> Settings:
    return slack_settings(db.url, slack_server)


def create_leads(engine: Engine, count: int, now: datetime, prefix: str = "u") -> list[int]:
    """Have `count` users go through the handoff and consent; return the lead ids."""
    ids = []
    for n in range(count):
        user = f"{prefix}{n}"
        for text in ["担当者と話したい", f"利用者{n}", "山田商店", "090-1234-5678", "補助金の申請", "平日の午前"]:
            engine.handle(Incoming("console", user, text, now))
        ids.extend(engine.handle(Incoming("console", user, "同意する", now, postback="handoff:consent")).lead_ids)
    return ids


def outbox(db: Database, key: str) -> OutboxItem:
    with db.transaction() as session:
        return session.execute(select(OutboxItem).where(OutboxItem.key == key)).scalar_one()


def leads(db: Database) -> list[Lead]:
    with db.transaction() as session:
        return list(session.execute(select(Lead).order_by(Lead.id)).scalars())


def carded(slack_api: FakeSlack) -> list[int]:
    return sorted(c["metadata"]["event_payload"]["lead_id"] for c in slack_api.lead_cards())


def drain(worker: Worker, clock: Clock, db: Database, step: timedelta = BACKOFF_MAX, rounds: int = 40) -> None:
    """Run the worker, moving the clock on, until nothing is pending."""
    for _ in range(rounds):
        worker.run_once()
        with db.transaction() as session:
            if not session.execute(select(OutboxItem).where(OutboxItem.status == "pending")).first():
                return
        clock.now += step
    raise AssertionError("the outbox never drained")


def test_backoff_doubles_up_to_half_an_hour() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [15, 30, 60, 120]
    assert backoff(50) == BACKOFF_MAX == timedelta(minutes=30)


def test_a_slack_outage_of_several_attempts_delivers_every_lead_exactly_once(
        engine: Engine, db: Database, settings: Settings, kb: Knowledge, slack_api: FakeSlack) -> None:
    ids = create_leads(engine, 3, at(NOW))
    slack_api.fail("chat.postMessage", 500, times=4)
    slack_api.fail("conversations.history", 503, times=2)
    clock = Clock(at(NOW))
    worker = Worker(db, settings, kb, clock=clock)
    worker.run_once()
    first = outbox(db, f"lead:{ids[0]}")
    assert first.status == "pending" and first.attempts == 1 and "500" in (first.last_error or "")
    assert first.next_attempt_at == clock.now + timedelta(seconds=15)
    assert all(lead.status == "queued" for lead in leads(db))
    drain(worker, clock, db, step=timedelta(minutes=1))
    assert carded(slack_api) == ids
    assert all(lead.status == "delivered" and lead.slack_ts for lead in leads(db))
    assert len(slack_api.posts(HANDOFF_CHANNEL)) == 3 + 4  # the 4 failed posts never reached the channel


def test_retry_after_of_a_rate_limit_is_honoured(engine: Engine, db: Database, settings: Settings, kb: Knowledge,
                                                 slack_api: FakeSlack) -> None:
    [lead_id] = create_leads(engine, 1, at(NOW))
    slack_api.fail("chat.postMessage", 429, body={"ok": False, "error": "ratelimited"}, headers={"Retry-After": "120"})
    clock = Clock(at(NOW))
    worker = Worker(db, settings, kb, clock=clock)
    worker.run_once()
    item = outbox(db, f"lead:{lead_id}")
    assert item.next_attempt_at == at(NOW) + timedelta(seconds=120) and "429" in (item.last_error or "")
    clock.now = at(NOW) + timedelta(seconds=119)
    assert worker.run_once() == 0
    clock.now = at(NOW) + timedelta(seconds=120)
    assert worker.run_once() == 1
    assert carded(slack_api) == [lead_id]


def test_a_worker_killed_after_posting_does_not_post_twice(
        engine: Engine, db: Database, settings: Settings, kb: Knowledge, slack_api: FakeSlack, tmp_path: Path) -> None:
    now = now_in_tokyo()  # the subprocess runs on the real clock
    [lead_id] = create_leads(engine, 1, now)
    env = {**os.environ, "DATABASE_URL": db.url, "SLACK_BOT_TOKEN": str(settings.slack_bot_token),
           "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_HANDOFF_CHANNEL": HANDOFF_CHANNEL,
           "SLACK_API_BASE_URL": settings.slack_api_base_url, "LOG_LEVEL": "WARNING"}
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "worker", "--once"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    posted = threading.Event()

    def kill_on_post(method: str, args: dict[str, Any]) -> None:
        # Slack has the message now; the worker dies before it hears back, so it never records the ts.
        if method == "chat.postMessage" and not posted.is_set():
            posted.set()
            os.kill(process.pid, signal.SIGKILL)

    slack_api.on_call = kill_on_post
    _, stderr = process.communicate(timeout=120)
    assert posted.is_set() and process.returncode == -signal.SIGKILL, stderr.decode(errors="replace")
    slack_api.on_call = None
    assert len(slack_api.lead_cards()) == 1  # it did post
    item = outbox(db, f"lead:{lead_id}")
    assert item.status == "pending" and item.attempts == 1 and leads(db)[0].slack_ts is None

    lease_end = item.next_attempt_at
    assert now + LEASE <= lease_end <= now_in_tokyo() + LEASE
    clock = Clock(lease_end - timedelta(seconds=1))
    worker = Worker(db, settings, kb, clock=clock)
    assert worker.run_once() == 0  # still leased to the dead worker
    clock.now = lease_end
    assert worker.run_once() == 1
    [card] = slack_api.lead_cards()
    assert len(slack_api.posts(HANDOFF_CHANNEL)) == 1
    [lead] = leads(db)
    assert (lead.status, lead.slack_ts) == ("delivered", card["ts"])
    assert outbox(db, f"lead:{lead_id}").status == "done"


def test_two_workers_never_post_the_same_lead(engine: Engine, db: Database, settings: Settings, kb: Knowledge,
                                              slack_api: FakeSlack) -> None:
    ids = create_leads(engine, 12, at(NOW))
    workers = [Worker(db, settings, kb, clock=lambda: at(NOW)) for _ in range(2)]
    barrier = threading.Barrier(2)

    def run(worker: Worker) -> None:
        barrier.wait()
        while worker.run_once():
            pass

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert carded(slack_api) == ids and len(slack_api.posts(HANDOFF_CHANNEL)) == 12


def test_a_thread_message_waits_for_its_lead_card(engine: Engine, db: Database, settings: Settings, kb: Knowledge,
                                                  slack_api: FakeSlack) -> None:
    [lead_id] = create_leads(engine, 1, at(NOW))
    with db.transaction() as session:
        repository.enqueue(session, "slack_thread", "slack_thread:test", {"lead_id": lead_id, "text": "追伸です"}, at(NOW))
    slack_api.fail("chat.postMessage", 500, times=1)
    clock = Clock(at(NOW))
    worker = Worker(db, settings, kb, clock=clock)
    worker.run_once()
    assert outbox(db, "slack_thread:test").status == "pending"
    drain(worker, clock, db, step=timedelta(seconds=20))
    [card] = slack_api.lead_cards()
    assert [m["text"] for m in slack_api.thread(card["ts"])] == ["*利用者より*\n追伸です"]


def test_a_push_to_a_slack_user_goes_to_their_direct_messages(db: Database, settings: Settings, kb: Knowledge,
                                                              slack_api: FakeSlack) -> None:
    with db.transaction() as session:
        repository.enqueue(session, "push", "push:test", {"channel": "slack", "user_id": "UOWNER01",
                                                          "replies": replies_to_json([Reply("【事務局より】\nお待たせしました")])},
                           at(NOW))
    assert Worker(db, settings, kb, clock=lambda: at(NOW)).run_once() == 1
    [sent] = slack_api.posts()
    assert sent["channel"] == "DOWNER01" and "お待たせしました" in sent["text"]


def test_a_push_line_refuses_is_given_up_and_the_secretariat_is_told(
        engine: Engine, db: Database, kb: Knowledge, slack_server: HTTPServer, slack_api: FakeSlack,
        httpserver: HTTPServer) -> None:
    line = FakeLine(httpserver)
    settings = slack_settings(db.url, slack_server, line_channel_secret=SECRET, line_channel_access_token=TOKEN,
                              line_api_base_url=httpserver.url_for("/").rstrip("/"))
    [lead_id] = create_leads(engine, 1, at(NOW))
    worker = Worker(db, settings, kb, clock=lambda: at(NOW))
    worker.run_once()
    with db.transaction() as session:
        repository.enqueue(session, "push", "push:refused", {"channel": "line", "user_id": "Ublocked", "lead_id": lead_id,
                                                             "replies": replies_to_json([Reply("返信です")])}, at(NOW))
    line.fail("/v2/bot/message/push", 400, {"message": "The request body has 1 error(s)"})
    worker.run_once()
    worker.run_once()
    assert outbox(db, "push:refused").status == "dead"
    [card] = slack_api.lead_cards()
    assert "利用者に届けられませんでした" in slack_api.thread(card["ts"])[0]["text"]


def test_without_slack_leads_stay_queued_and_visible_in_leads_list(
        engine: Engine, db: Database, kb: Knowledge, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    ids = create_leads(engine, 2, at(NOW))
    assert Worker(db, Settings(database_url=db.url), kb, clock=lambda: at(NOW)).run_once() == 0
    for name in ("SLACK_BOT_TOKEN", "SLACK_HANDOFF_CHANNEL", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", db.url)
    assert cli.main(["leads", "list"]) == 0
    table = capsys.readouterr().out
    assert table.count("送信待ち(queued)") == 2 and "Slack が設定されていない" in table and "利用者1" in table
    assert cli.main(["leads", "list", "--json", "--status", "queued"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == sorted(ids, reverse=True)
    assert {(r["status"], r["attempts"], r["last_error"]) for r in rows} == {("queued", 0, None)}
    assert cli.main(["leads", "list", "--json", "--status", "resolved"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_leads_list_shows_attempts_and_the_last_error(engine: Engine, db: Database, settings: Settings, kb: Knowledge,
                                                      slack_api: FakeSlack, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    [lead_id] = create_leads(engine, 1, at(NOW))
    slack_api.fail("chat.postMessage", 500, times=2)
    clock = Clock(at(NOW))
    worker = Worker(db, settings, kb, clock=clock)
    worker.run_once()
    clock.now += timedelta(minutes=1)
    worker.run_once()
    monkeypatch.setenv("DATABASE_URL", db.url)
    cli.main(["leads", "list", "--json"])
    [row] = json.loads(capsys.readouterr().out)
    assert (row["id"], row["status"], row["attempts"]) == (lead_id, "queued", 2) and "HTTP 500" in row["last_error"]
    clock.now += timedelta(minutes=1)
    worker.run_once()
    cli.main(["leads", "list", "--json", "--status", "delivered"])
    [row] = json.loads(capsys.readouterr().out)
    assert (row["attempts"], row["last_error"], row["slack_channel"]) == (3, None, HANDOFF_CHANNEL)
