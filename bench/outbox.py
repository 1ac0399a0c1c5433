"""Lead delivery throughput of the outbox worker against a local fake Slack API that answers at once.

    python bench/outbox.py                                  # 300 leads, SQLite, 1 and 2 workers
    python bench/outbox.py --leads 1000 --database postgresql+psycopg://postgres@127.0.0.1:5432/bench

Leads are created through the engine (the full handoff flow and consent), then delivered. Reported:
leads per second for one worker and for two workers sharing the queue, the share of cards posted
exactly once (must be 100%), and the reference of a bare chat.postMessage loop to the same fake in
the same run (what the worker costs on top of Slack itself). Run by hand; nothing asserts.
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

from pytest_httpserver import HTTPServer
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from bot.config import TOKYO  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.messages import Incoming  # noqa: E402
from bot.outbox import Worker  # noqa: E402
from bot.channels import slack  # noqa: E402
from knowledge.model import Knowledge  # noqa: E402
from slack_fake import HANDOFF_CHANNEL, FakeSlack, slack_settings  # noqa: E402
from storage.db import Database  # noqa: E402

ANSWERS = ["担当者と話したい", "山田太郎", "山田商店", "090-1234-5678", "補助金の申請", "平日の午前"]


def fresh_database(url: str | None) -> Database:
    """Return an empty, migrated database (a temporary SQLite file unless a URL is given)."""
    if url is None:
        return _migrated(Database(f"sqlite:///{tempfile.mkdtemp()}/bench.db"))
    db = Database(url)
    with db.engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    return _migrated(db)


def _migrated(db: Database) -> Database:
    db.upgrade()
    return db


def create_leads(engine: Engine, count: int, prefix: str) -> None:
    now = datetime(2026, 11, 27, 10, 0, tzinfo=TOKYO)
    for n in range(count):
        for answer in ANSWERS:
            engine.handle(Incoming("console", f"{prefix}{n}", answer, now))
        engine.handle(Incoming("console", f"{prefix}{n}", "同意する", now, postback="handoff:consent"))


def deliver(workers: list[Worker]) -> float:
    start = time.perf_counter()

    def run(worker: Worker) -> None:
        while worker.run_once():
            pass

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=300)
    parser.add_argument("--database", default=None, help="PostgreSQL URL (emptied!); SQLite by default")
    args = parser.parse_args()
    kb = Knowledge.load()
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        for n_workers in (1, 2):
            fake = FakeSlack(server)
            db = fresh_database(args.database)
            settings = slack_settings(db.url, server)
            create_leads(Engine(db, settings, kb), args.leads, f"w{n_workers}-")
            workers = [Worker(db, settings, kb, clock=lambda: datetime(2026, 11, 27, 10, 5, tzinfo=TOKYO))
                       for _ in range(n_workers)]
            seconds = deliver(workers)
            cards = [c["metadata"]["event_payload"]["lead_id"] for c in fake.lead_cards()]
            once = len(set(cards)) == len(cards) == args.leads
            print(f"{db.engine.dialect.name:10s} workers={n_workers} leads={args.leads} "
                  f"{args.leads / seconds:7.1f} leads/s  exactly once: {'yes' if once else 'NO'}")
            server.clear()
            db.dispose()
        fake = FakeSlack(server)
        client = slack.web_client(slack_settings("sqlite://", server))
        start = time.perf_counter()
        for n in range(args.leads):
            client.chat_postMessage(channel=HANDOFF_CHANNEL, text=f"lead {n}")
        seconds = time.perf_counter() - start
        print(f"reference: bare chat.postMessage loop {args.leads / seconds:7.1f} posts/s")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
