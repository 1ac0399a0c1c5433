"""Time and SQL statements per engine turn (no HTTP), on SQLite and PostgreSQL.

    python bench/turn.py                       # both backends, 500 turns each
    python bench/turn.py --backends sqlite --turns 200

Questions come from the question sets shipped with the tests, asked by 200 users in turn, each
with a new event id, as the LINE webhook passes them to Engine.handle. On a PostgreSQL server on
this machine the server's CPU per turn is shown too (its backends' times in /proc): on the 2-core
bench machine it is as much as the bot's own. Run by hand; nothing asserts.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event

from answer import bundled_questions
from webhook import prepared_database

from bot.config import TOKYO, Settings
from bot.engine import Engine
from bot.messages import Incoming
from knowledge.model import Knowledge
from storage.db import Database


def cpu_seconds() -> float:
    """Return the CPU time this process used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def server_cpu_seconds(pids: set[int]) -> float | None:
    """Return the CPU time the PostgreSQL backends serving these connections used so far (None: not on this machine)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return total


def run(backend: str, turns: int, pg_url: str, kb: Knowledge, workdir: Path) -> None:
    """Answer `turns` questions on one backend and print the cost per turn."""
    url = prepared_database(backend, pg_url, workdir)
    db = Database(url)
    engine = Engine(db, Settings(database_url=url), kb)
    statements = 0
    server_pids: set[int] = set()

    def count(*_: object) -> None:
        nonlocal statements
        statements += 1

    # A turn runs its statements on the driver's connection (storage/db.py DriverConnection), past
    # SQLAlchemy's events: they are counted where the driver runs them, BEGIN and COMMIT included.
    @event.listens_for(db.engine, "connect")
    def trace(dbapi_connection: Any, _record: object) -> None:
        if db.is_sqlite:
            dbapi_connection.set_trace_callback(count)
        else:
            class CountingCursor(dbapi_connection.cursor_factory):  # type: ignore[name-defined, misc]
                def execute(self, *args: Any, **kwargs: Any) -> Any:
                    count()
                    return super().execute(*args, **kwargs)

            dbapi_connection.cursor_factory = CountingCursor
            server_pids.add(dbapi_connection.info.backend_pid)

    texts = bundled_questions()
    start_of_day = time.time()

    def turn(n: int) -> None:
        now = datetime.fromtimestamp(start_of_day + n, TOKYO)
        engine.handle(Incoming("line", f"U{n % 200:032x}", texts[n % len(texts)], now, event_id=f"bench-{n}"))

    for n in range(100):  # warm the caches and the connection pool
        turn(n)
    statements, samples = 0, []
    cpu, server_cpu = cpu_seconds(), server_cpu_seconds(server_pids)
    for n in range(100, 100 + turns):
        start = time.perf_counter()
        turn(n)
        samples.append((time.perf_counter() - start) * 1000)
    cpu = cpu_seconds() - cpu
    server_after = server_cpu_seconds(server_pids)
    server = ("" if db.is_sqlite else ", server CPU n/a (not on this machine)" if server_cpu is None or server_after is None
              else f", server CPU {1000 * (server_after - server_cpu) / turns:5.2f} ms/turn")
    ordered = sorted(samples)
    print(f"{backend:<10} {turns} turns: median {statistics.median(samples):6.2f} ms, "
          f"p99 {ordered[int(0.99 * (len(ordered) - 1))]:6.2f} ms, CPU {1000 * cpu / turns:6.2f} ms/turn, "
          f"{statements / turns:4.1f} SQL statements/turn{server}", flush=True)
    db.dispose()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="*", default=["sqlite", "postgresql"])
    parser.add_argument("--turns", type=int, default=500)
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_DATABASE_URL",
                                                           "postgresql+psycopg://postgres@127.0.0.1:5432/sme_bot_bench"))
    args = parser.parse_args(argv)
    kb = Knowledge.load()
    with tempfile.TemporaryDirectory(prefix="sme-bench-") as tmp:
        for backend in args.backends:
            run(backend, args.turns, args.pg_url, kb, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
