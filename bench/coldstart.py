"""Cold start to the first answer, and memory per worker.

    python bench/coldstart.py                 # SQLite, 3 rounds
    python bench/coldstart.py --rounds 5 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/sme_bot_bench

1. `sme-bot chat --jsonl`: from starting the process to the first answer line (new SQLite file,
   so the schema is created on the way, as on the README's first run).
2. gunicorn with the Procfile's settings: from starting it to the first LINE webhook answered
   (a signed text message, replied to a local fake LINE API); then the resident (RSS) and
   proportional (PSS: shared pages split between processes) memory of each worker after the
   first answer and after 300 more. Run by hand; nothing asserts.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from fake_line import FakeLineApi
from webhook import ROOT, SECRET, Gunicorn, prepared_database, write_bodies


def memory_mb(pid: int) -> tuple[float, float]:
    """Return (RSS, PSS) of a process in MB."""
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    rss = int(re.search(r"^Rss:\s+(\d+)", rollup, re.M)[1])  # type: ignore[index]
    pss = int(re.search(r"^Pss:\s+(\d+)", rollup, re.M)[1])  # type: ignore[index]
    return rss / 1024, pss / 1024


def chat_first_answer(workdir: Path, n: int) -> float:
    """Return the seconds from starting `sme-bot chat --jsonl` on a new SQLite file to its first answer."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{workdir / f'chat-{n}.db'}", "LOG_LEVEL": "WARNING"}
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "chat", "--jsonl"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    assert process.stdin and process.stdout
    process.stdin.write(json.dumps({"user": "u1", "text": "補助金について知りたい"}, ensure_ascii=False) + "\n")
    process.stdin.flush()
    line = process.stdout.readline()
    took = time.perf_counter() - start
    process.stdin.close()
    process.wait(timeout=30)
    assert "error" not in json.loads(line), line
    return took


def post(url: str, line: str) -> int:
    """Post one signed webhook body; return the status (0 when nothing listens yet)."""
    signature, body = line.split("\t", 1)
    request = urllib.request.Request(url + "/line/webhook", data=body.encode(), method="POST",
                                     headers={"Content-Type": "application/json", "X-Line-Signature": signature})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def gunicorn_first_answer(database_url: str, workdir: Path, bodies: list[str], fake: FakeLineApi,
                          preload: bool) -> tuple[float, list[tuple[float, float]], list[tuple[float, float]]]:
    """Return seconds to the first webhook answered, and worker memory after it and after 300 more."""
    env = {**os.environ, "DATABASE_URL": database_url, "LINE_CHANNEL_SECRET": SECRET,
           "LINE_CHANNEL_ACCESS_TOKEN": "bench-token", "LINE_API_BASE_URL": fake.url, "LOG_LEVEL": "WARNING",
           "WEB_CHAT_ENABLED": "false"}
    app = "bot.app:create_app()"
    start = time.perf_counter()
    server = Gunicorn(app, env, workers=2, threads=4, log=workdir / "coldstart.log", preload=preload)
    try:
        while (status := post(server.url, bodies.pop())) != 200:
            if server.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {workdir / 'coldstart.log'}")
            if status not in (0, 502, 503):
                raise RuntimeError(f"webhook answered {status}")
            time.sleep(0.02)
        took = time.perf_counter() - start
        workers = server.worker_pids()
        first = [memory_mb(pid) for pid in workers]
        for _ in range(300):
            post(server.url, bodies.pop())
        warm = [memory_mb(pid) for pid in workers]
        return took, first, warm
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", help="PostgreSQL URL (emptied); default: a new SQLite file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sme-cold-") as tmp, FakeLineApi() as fake:
        workdir = Path(tmp)
        chat = [chat_first_answer(workdir, n) for n in range(args.rounds)]
        print(f"sme-bot chat --jsonl, new SQLite file: first answer after median {statistics.median(chat):.2f} s "
              f"(rounds: {', '.join(f'{t:.2f}' for t in chat)})", flush=True)
        # each round polls while gunicorn starts (one body per poll) and then sends 300 more
        write_bodies(workdir / "bodies.tsv", 1000 * 2 * args.rounds, users=500)
        bodies = (workdir / "bodies.tsv").read_text(encoding="utf-8").splitlines()
        for preload in (False, True):
            label = "gunicorn --preload" if preload else "gunicorn (Procfile)"
            for n in range(args.rounds):
                backend = "postgresql" if args.database_url else "sqlite"
                url = prepared_database(backend, args.database_url or "", workdir / f"g{int(preload)}{n}")
                took, first, warm = gunicorn_first_answer(url, workdir, bodies, fake, preload)
                print(f"{label:<20} round {n + 1}: first webhook answered after {took:.2f} s; workers RSS/PSS MB "
                      f"after it {', '.join(f'{r:.0f}/{p:.0f}' for r, p in first)}, after 300 more "
                      f"{', '.join(f'{r:.0f}/{p:.0f}' for r, p in warm)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
