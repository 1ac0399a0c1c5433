"""SQLite writers of several processes and threads take turns in the writer queue, not in SQLite's busy handler.

The busy handler sleeps and retries (up to 100 ms between tries), which made a short write wait
seconds under load. Here SQLite's busy timeout is set to zero: a writer that reached SQLite while
another held the write lock would fail at once with "database is locked".
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from storage.db import Database
from storage.models import TurnLog

ROOT = Path(__file__).resolve().parent.parent

WRITER = """
import sys, threading
from datetime import datetime, timezone
from sqlalchemy import event, func, select
from storage.db import Database
from storage.models import TurnLog

database = Database(sys.argv[1])

@event.listens_for(database.engine, "connect")
def no_busy_wait(dbapi_connection, _record):
    dbapi_connection.execute("PRAGMA busy_timeout=0")

def write(thread):
    for n in range(40):
        with database.transaction() as session:  # reads, then writes what it read
            seen = session.execute(select(func.count()).select_from(TurnLog)).scalar_one()
            session.add(TurnLog(user_hash=f"{sys.argv[2]}-{thread}-{n}", channel="line", intent=f"seen{seen}",
                                created_at=datetime.now(timezone.utc)))

threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
for t in threads: t.start()
for t in threads: t.join()
"""


def test_writers_of_several_processes_never_meet_in_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'writers.db'}"
    database = Database(url)
    database.upgrade()
    processes = [subprocess.Popen([sys.executable, "-c", WRITER, url, f"p{p}"], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for p in range(3)]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err  # "database is locked" if two writers reached SQLite at once
    with database.transaction() as session:
        intents = session.execute(select(TurnLog.intent)).scalars().all()
        assert session.execute(select(func.count()).select_from(TurnLog)).scalar_one() == 3 * 4 * 40
    assert sorted(intents) == sorted(f"seen{n}" for n in range(3 * 4 * 40))  # each saw every earlier write
    database.dispose()
