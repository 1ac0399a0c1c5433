"""Cold start to the first answer, and memory per worker.

    python bench/coldstart.py                 # SQLite, 5 rounds
    python bench/coldstart.py --rounds 7 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/sme_bot_bench

1. `sme-bot chat --jsonl`: from starting the process to the first answer line (new SQLite file,
   so the schema is created on the way, as on the README's first run), and its resident memory then.
2. gunicorn as the Procfile runs it (gunicorn.conf.py), LINE configured, then LINE and Slack (as in
   production): from starting it to the first LINE webhook answered (a signed text message,
   replied to a local fake LINE API); then the memory of each worker after the first answer and
   after 300 more, from /proc/PID/smaps_rollup and /proc/PID/status: RSS, PSS (shared pages split
   between the processes sharing them), RssAnon (the process's own heap) and RssFile (mapped files:
   libraries, the Sudachi dictionary), and the PSS of master and workers together (what the web
   process costs the machine).
Medians over the rounds; run by hand, nothing asserts.
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
from dataclasses import dataclass
from pathlib import Path

from fake_line import FakeLineApi
from webhook import ROOT, SECRET, Gunicorn, prepared_database, write_bodies

MORE_REQUESTS = 300
SLACK = {"SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": "bench-signing-secret"}


@dataclass(frozen=True)
class Memory:
    """The memory of one process, in MB."""

    rss: float
    pss: float
    anon: float
    file: float

    @classmethod
    def of(cls, pid: int) -> "Memory":
        """Read it from /proc."""
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        status = Path(f"/proc/{pid}/status").read_text()

        def kb(text: str, field: str) -> int:
            return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.M)[1])  # type: ignore[index]

        return cls(kb(rollup, "Rss") / 1024, kb(rollup, "Pss") / 1024, kb(status, "RssAnon") / 1024,
                   kb(status, "RssFile") / 1024)

    def __str__(self) -> str:
        return f"{self.rss:.0f}/{self.pss:.0f}/{self.anon:.0f}/{self.file:.0f}"


@dataclass(frozen=True)
class Round:
    """One gunicorn start: seconds to the first answer, worker memory after it and after more, the PSS of all processes."""

    seconds: float
    first: list[Memory]
    warm: list[Memory]
    total_pss: float


def chat_first_answer(workdir: Path, n: int) -> tuple[float, Memory]:
    """Return the seconds from starting `sme-bot chat --jsonl` on a new SQLite file to its first answer, and its memory then."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{workdir / f'chat-{n}.db'}", "LOG_LEVEL": "WARNING"}
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "chat", "--jsonl"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    assert process.stdin and process.stdout
    process.stdin.write(json.dumps({"user": "u1", "text": "補助金について知りたい"}, ensure_ascii=False) + "\n")
    process.stdin.flush()
    line = process.stdout.readline()
    took = time.perf_counter() - start
    memory = Memory.of(process.pid)
    process.stdin.close()
    process.wait(timeout=30)
    assert "error" not in json.loads(line), line
    return took, memory


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


def gunicorn_first_answer(env: dict[str, str], log: Path, bodies: list[str]) -> Round:
    """Start gunicorn; return the seconds to the first webhook answered, and the memory after it and after more."""
    start = time.perf_counter()
    server = Gunicorn("bot.app:create_app()", env, log)
    try:
        while (status := post(server.url, bodies.pop())) != 200:
            if server.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {log}")
            if status not in (0, 502, 503):
                raise RuntimeError(f"webhook answered {status}")
            time.sleep(0.02)
        took = time.perf_counter() - start
        first = [Memory.of(pid) for pid in server.worker_pids()]  # the second worker may not be forked yet
        for _ in range(MORE_REQUESTS):
            post(server.url, bodies.pop())
        warm = [Memory.of(pid) for pid in server.worker_pids()]
        total = Memory.of(server.process.pid).pss + sum(m.pss for m in warm)
        return Round(took, first, warm, total)
    finally:
        server.stop()


def median_memory(memories: list[Memory]) -> Memory:
    """Return the median of each figure."""
    return Memory(*(statistics.median(getattr(m, f) for m in memories) for f in ("rss", "pss", "anon", "file")))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", help="PostgreSQL URL (emptied); default: a new SQLite file")
    args = parser.parse_args(argv)
    backend = "postgresql" if args.database_url else "sqlite"
    with tempfile.TemporaryDirectory(prefix="sme-cold-") as tmp, FakeLineApi() as fake:
        workdir = Path(tmp)
        chat = [chat_first_answer(workdir, n) for n in range(args.rounds)]
        print(f"sme-bot chat --jsonl, new SQLite file: first answer after median "
              f"{statistics.median(t for t, _ in chat):.2f} s (rounds: {', '.join(f'{t:.2f}' for t, _ in chat)}); "
              f"RSS/PSS/RssAnon/RssFile MB then {median_memory([m for _, m in chat])}", flush=True)
        # each round polls while gunicorn starts (one body per poll) and then sends MORE_REQUESTS more
        write_bodies(workdir / "bodies.tsv", 1000 * 2 * args.rounds, users=500)
        bodies = (workdir / "bodies.tsv").read_text(encoding="utf-8").splitlines()
        base = {k: v for k, v in os.environ.items() if k not in SLACK}
        base |= {"LINE_CHANNEL_SECRET": SECRET, "LINE_CHANNEL_ACCESS_TOKEN": "bench-token",
                 "LINE_API_BASE_URL": fake.url, "SLACK_API_BASE_URL": fake.url + "/slack/", "LOG_LEVEL": "WARNING",
                 "WEB_CHAT_ENABLED": "false"}
        for label, channels in (("LINE", {}), ("LINE+Slack", SLACK)):
            rounds = []
            for n in range(args.rounds):
                url = prepared_database(backend, args.database_url or "", workdir / f"{label}-{n}")
                one = gunicorn_first_answer({**base, **channels, "DATABASE_URL": url}, workdir / "gunicorn.log", bodies)
                rounds.append(one)
                print(f"gunicorn, {label:<10} {backend} round {n + 1}: first webhook answered after {one.seconds:.2f} s; "
                      f"workers RSS/PSS/RssAnon/RssFile MB after it {', '.join(map(str, one.first))}, after "
                      f"{MORE_REQUESTS} more {', '.join(map(str, one.warm))}; PSS of master and workers {one.total_pss:.0f} "
                      f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)",
                      flush=True)
            print(f"gunicorn, {label:<10} {backend} median of {args.rounds}: first webhook answered after "
                  f"{statistics.median(r.seconds for r in rounds):.2f} s; per worker RSS/PSS/RssAnon/RssFile MB after it "
                  f"{median_memory([m for r in rounds for m in r.first])}, after {MORE_REQUESTS} more "
                  f"{median_memory([m for r in rounds for m in r.warm])} (largest RSS "
                  f"{max(m.rss for r in rounds for m in r.warm):.0f}); PSS of master and workers "
                  f"{statistics.median(r.total_pss for r in rounds):.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
