"""Concurrent turns against a real database: no lost update, no interleaving, each event processed once.

Real threads (each with its own connection) and real processes race on the same user. A turn
saves its conversation only if the version it read is still current (else it is answered again
from the newer state); the unique key on event ids lets one copy of an event through.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, TypeVar

from sqlalchemy import func, select

from bot.config import Settings
from bot.engine import Engine
from bot.messages import Incoming, TurnResult
from knowledge.model import Knowledge
from storage import repository
from storage.db import Database
from storage.models import ConversationRow, ProcessedEvent, TurnLog

from conftest import at

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def together(count: int, work: Callable[[int], T]) -> list[T]:
    """Run work(0..count-1) on as many threads, released at the same instant; re-raise any error."""
    barrier = threading.Barrier(count)

    def run(i: int) -> T:
        barrier.wait(timeout=30)
        return work(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def scalar(db: Database, stmt: Any) -> Any:
    """Return the single value of a query."""
    with db.transaction() as session:
        return session.execute(stmt).scalar_one()


def test_concurrent_turns_of_one_user_are_all_counted(shared_db: Database, kb: Knowledge) -> None:
    engine = Engine(shared_db, Settings(database_url=shared_db.url), kb)
    rounds, threads = 4, 8
    texts = ["補助金", "融資の相談", "セミナーはありますか", "こんにちは", "創業したい", "経営相談", "奨学金", "雇用の助成"]

    def turn(n: int) -> TurnResult:
        incoming = Incoming("line", "U-busy", texts[n % len(texts)] + f" {n}", at("2026-11-27T10:00"), event_id=f"ev-{n}")
        return engine.handle(incoming)

    results = []
    for r in range(rounds):
        results += together(threads, lambda i: turn(r * threads + i))

    assert all(result.replies and not result.duplicate for result in results)
    total = rounds * threads
    with shared_db.transaction() as session:
        row = session.execute(select(ConversationRow)).scalar_one()
        assert row.version == total
        recent = row.state["memory"]["recent_questions"]
        assert len(recent) == len(set(recent)) == 5
    assert scalar(shared_db, select(func.count()).select_from(TurnLog)) == total
    assert scalar(shared_db, select(func.count()).select_from(ProcessedEvent)) == total


def test_concurrent_turns_of_different_users_all_get_answers(shared_db: Database, kb: Knowledge) -> None:
    # gunicorn runs 4 threads per worker (gunicorn.conf.py): turns of different users run at once in one process,
    # sharing the loaded knowledge and the tokenizer.
    engine = Engine(shared_db, Settings(database_url=shared_db.url), kb)
    rounds, threads = 5, 8

    def turn(n: int) -> TurnResult:
        # new texts each time, so no cache spares the tokenizer
        text = f"創業したばかりの会社で設備投資の補助金を{n}件探しています"
        return engine.handle(Incoming("line", f"U-many-{n}", text, at("2026-11-27T10:00"), event_id=f"many-{n}"))

    results = []
    for r in range(rounds):
        results += together(threads, lambda i: turn(r * threads + i))
    assert all(result.replies for result in results)
    assert scalar(shared_db, select(func.count()).select_from(TurnLog)) == rounds * threads


def test_the_same_event_delivered_concurrently_is_processed_once(shared_db: Database, kb: Knowledge) -> None:
    engine = Engine(shared_db, Settings(database_url=shared_db.url), kb)
    events, copies = 12, 4

    for e in range(events):
        results = together(copies, lambda i: engine.handle(
            Incoming("line", f"U{e % 3}", "補助金の相談", at("2026-11-27T10:00"), event_id=f"redelivered-{e}")))
        processed = [r for r in results if not r.duplicate]
        assert len(processed) == 1, f"event {e} was processed {len(processed)} times"
        assert all(r.replies == () for r in results if r.duplicate)

    assert scalar(shared_db, select(func.count()).select_from(ProcessedEvent)) == events
    assert scalar(shared_db, select(func.count()).select_from(TurnLog)) == events
    assert scalar(shared_db, select(func.sum(ConversationRow.version))) == events


def test_concurrent_claims_of_one_event_id_let_exactly_one_through(shared_db: Database) -> None:
    copies, events = 8, 10
    now = at("2026-11-27T10:00")

    def claim(event_id: str) -> bool:
        with shared_db.transaction() as session:
            return repository.claim_event(session, "slack", event_id, now)

    for e in range(events):
        assert sum(together(copies, lambda i: claim(f"Ev{e}"))) == 1
    assert scalar(shared_db, select(func.count()).select_from(ProcessedEvent)) == events


def test_sqlite_transactions_that_read_before_writing_wait_instead_of_failing(tmp_path: Path) -> None:
    # A deferred BEGIN would take a read snapshot first and fail with "database is locked" when it
    # then writes behind another writer; BEGIN IMMEDIATE makes it wait its turn instead.
    database = Database(f"sqlite:///{tmp_path / 'deferred.db'}")
    database.upgrade()
    now = at("2026-11-27T10:00")

    def read_then_write(n: int) -> None:
        with database.transaction() as session:
            seen = session.execute(select(func.count()).select_from(TurnLog)).scalar_one()
            time.sleep(0.002)
            session.add(TurnLog(user_hash=f"h{n}", channel="line", intent=f"seen{seen}", created_at=now))

    for r in range(5):
        together(8, lambda i: read_then_write(r * 8 + i))
    with database.transaction() as session:
        intents = session.execute(select(TurnLog.intent)).scalars().all()
    assert sorted(intents) == sorted(f"seen{n}" for n in range(40))  # each saw every earlier write
    database.dispose()


def test_processes_answering_the_same_user_at_once_lose_no_turn(shared_db: Database) -> None:
    processes, lines = 4, 12
    script = "".join(
        json.dumps({"user": "shared-user", "text": f"補助金の質問 {n}", "now": "2026-11-27T10:00:00"}, ensure_ascii=False) + "\n"
        for n in range(lines)
    )
    env = {**os.environ, "DATABASE_URL": shared_db.url, "LOG_LEVEL": "WARNING"}
    running = [
        subprocess.Popen([sys.executable, "-m", "bot.cli", "chat", "--jsonl"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        for _ in range(processes)
    ]
    outputs = [p.communicate(script, timeout=180) for p in running]
    for p, (out, err) in zip(running, outputs):
        assert p.returncode == 0, err
        replies = [json.loads(line) for line in out.splitlines()]
        assert len(replies) == lines
        assert all("error" not in r and r["text"] for r in replies), replies
    with shared_db.transaction() as session:
        assert session.execute(select(ConversationRow.version)).scalar_one() == processes * lines
    assert scalar(shared_db, select(func.count()).select_from(TurnLog)) == processes * lines
