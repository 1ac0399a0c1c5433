"""Throughput and latency of the full LINE webhook path under gunicorn, against a bare signature-checking endpoint.

    python bench/webhook.py                              # SQLite and PostgreSQL, 8 and 32 connections
    python bench/webhook.py --backends sqlite --duration 10

The full path is signature, parse, dedupe, conversation state, answer, and the reply to a local
fake LINE API that answers at once (in its own process; the loading animation is requested only
for a turn still running after a second, so none is here). The reference is bench/bare_webhook.py
under the same gunicorn settings (gunicorn.conf.py), measured in the same run: both serve at
once and take turns under load, round after round, and the ratio reported is the median of the
rounds' ratios. Load comes from wrk (Debian package `wrk`) on loopback; every request carries a
new, signed event so that nothing is answered as a duplicate. Run by hand; nothing asserts.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from answer import bundled_questions
from fake_line import FakeLineApi, free_port
from sqlalchemy import func, select, text

from storage.db import Database
from storage.models import ProcessedEvent

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SECRET = "bench0123456789abcdef0123456789ab"
GUNICORN_CONFIG = ROOT / "gunicorn.conf.py"  # what the Procfile's web process runs with


@dataclass(frozen=True)
class Run:
    """What wrk measured in one run."""

    app: str
    connections: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def sign(body: bytes) -> str:
    """Return the X-Line-Signature of a body."""
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


def write_bodies(path: Path, count: int, users: int) -> None:
    """Write `count` signed webhook bodies, one text message each, with unique event ids."""
    texts = bundled_questions()  # realistic: the question sets shipped with the tests
    start_ms = int(time.time() * 1000)
    with path.open("w", encoding="utf-8") as f:
        for n in range(count):
            event = {
                "type": "message", "mode": "active", "timestamp": start_ms + n,
                "source": {"type": "user", "userId": f"U{hashlib.md5(str(n % users).encode()).hexdigest()}"},
                "webhookEventId": f"01BENCH{n:019d}", "deliveryContext": {"isRedelivery": False},
                "replyToken": hashlib.md5(f"reply{n}".encode()).hexdigest(),
                "message": {"type": "text", "id": str(10**12 + n), "quoteToken": f"q{n}", "text": texts[n % len(texts)]},
            }
            body = json.dumps({"destination": "Ubench", "events": [event]}, ensure_ascii=False).encode()
            f.write(f"{sign(body)}\t{body.decode()}\n")


class Gunicorn:
    """A gunicorn serving one app on loopback with the Procfile's settings (its config file; WEB_CONCURRENCY from env)."""

    def __init__(self, app: str, env: dict[str, str], log: Path):
        self.port = free_port()
        command = [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONFIG),
                   "--bind", f"127.0.0.1:{self.port}", "--pythonpath", str(BENCH), app]
        self.log = log.open("ab")
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log, stderr=self.log)

    @property
    def url(self) -> str:
        """Return the base URL."""
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 90) -> float:
        """Wait until /healthz answers; return the seconds it took."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2):
                    return time.monotonic() - start
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not become ready")

    def worker_pids(self) -> list[int]:
        """Return the process ids of the workers."""
        return [int(pid) for pid in Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()]

    def worker_rss_mb(self) -> list[float]:
        """Return the resident memory of each worker process."""
        sizes = []
        for pid in self.worker_pids():
            status = Path(f"/proc/{pid}/status").read_text()
            sizes.append(int(re.search(r"VmRSS:\s+(\d+)", status)[1]) / 1024)  # type: ignore[index]
        return sizes

    def stop(self) -> None:
        """Stop gunicorn gracefully."""
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def wrk(url: str, connections: int, seconds: int, bodies: Path, offset: int, app: str) -> Run:
    """Load the webhook with wrk and parse what it reports."""
    threads = 2
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s",
         "-s", str(BENCH / "webhook.lua"), url + "/line/webhook", "--", str(bodies), str(offset), str(threads)],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    ).stdout
    requests, took = re.search(r"(\d+) requests in ([\d.]+(?:us|ms|s|m))", out).groups()  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non_2xx[1]) if non_2xx else 0) + (sum(int(g) for g in sockets.groups()) if sockets else 0)
    return Run(app, connections, int(requests), _ms(took) / 1000,
               float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]),  # type: ignore[index]
               _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M)[1]), _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M)[1]),  # type: ignore[index]
               errors)


def prepared_database(backend: str, pg_url: str, workdir: Path) -> str:
    """Return the URL of an empty, migrated database for this backend."""
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'bench.db'}"
    else:
        url = pg_url
        name = url.rsplit("/", 1)[1]
        admin = Database(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.engine.connect() as connection:
            if not connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        database = Database(url)
        with database.engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        database.dispose()
    database = Database(url)
    database.upgrade()
    database.dispose()
    return url


def processed_events(url: str) -> int:
    """Return how many webhook events the full path stored."""
    database = Database(url)
    with database.transaction() as session:
        count = session.execute(select(func.count()).select_from(ProcessedEvent)).scalar_one()
    database.dispose()
    return count


def bench_backend(backend: str, args: argparse.Namespace, workdir: Path, bodies: Path, fake: FakeLineApi) -> Iterator[Run]:
    """Run bare and full in alternating rounds at each connection count on one backend.

    Both servers run throughout and take turns under load, so that a change in the machine's speed
    (a shared host's neighbours) falls on both alike rather than on whichever ran second.
    """
    url = prepared_database(backend, args.pg_url, workdir)
    env = {**os.environ, "DATABASE_URL": url, "LINE_CHANNEL_SECRET": SECRET,
           "LINE_CHANNEL_ACCESS_TOKEN": "bench-token", "LINE_API_BASE_URL": fake.url, "LOG_LEVEL": args.log_level,
           "WEB_CHAT_ENABLED": "false"}
    for key in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
        env.pop(key, None)
    servers = {label: Gunicorn(app, env, workdir / f"gunicorn-{backend}-{label}.log")
               for label, app in (("bare", "bare_webhook:create_app()"), ("full", "bot.app:create_app()"))}
    # The bare endpoint stores nothing, so it may send the bodies the full path sends; the full path
    # must never send one twice, or it would be answered as a duplicate.
    offsets = dict.fromkeys(servers, 0)
    try:
        for label, server in servers.items():
            server.wait_ready()
            offsets[label] += wrk(server.url, 8, args.warmup, bodies, 0, label).requests  # warm every worker and thread
        for connections in args.connections:
            for _ in range(args.rounds):
                for label, server in servers.items():
                    run = wrk(server.url, connections, args.duration, bodies, offsets[label], label)
                    offsets[label] += run.requests
                    yield run
        for label, server in servers.items():
            print(f"  {backend} {label}: worker RSS {', '.join(f'{r:.0f}' for r in server.worker_rss_mb())} MB", flush=True)
    finally:
        for server in servers.values():
            server.stop()
    if offsets["full"] > args.bodies:
        print(f"  WARNING: {offsets['full']} requests for {args.bodies} bodies; some full-path events were duplicates")
    calls = fake.calls
    print(f"  {backend}: events stored {processed_events(url)}, replies sent to fake LINE "
          f"{calls['/v2/bot/message/reply']}, pushes {calls['/v2/bot/message/push']}, "
          f"loading animations {calls['/v2/bot/chat/loading/start']}", flush=True)
    fake.reset()


def report(backend: str, runs: list[Run]) -> None:
    """Print each run, then per connection count the median of each round's full/bare ratio and the full path's p99."""
    for run in runs:
        print(f"{backend:<10} {run.app:<4} c={run.connections:<3} {run.rps:8.1f} req/s  p50={run.p50_ms:7.1f}ms "
              f"p99={run.p99_ms:7.1f}ms  errors={run.errors}  ({run.requests} requests)", flush=True)
    for connections in sorted({run.connections for run in runs}):
        bare = [r for r in runs if r.connections == connections and r.app == "bare"]
        full = [r for r in runs if r.connections == connections and r.app == "full"]
        ratios = sorted(100 * f.rps / b.rps for b, f in zip(bare, full))
        print(f"{backend:<10} full/bare at c={connections}: median {statistics.median(ratios):.0f}% of throughput "
              f"(rounds {', '.join(f'{r:.0f}%' for r in ratios)}), full median "
              f"{statistics.median(r.rps for r in full):.0f} req/s, p99 median {statistics.median(r.p99_ms for r in full):.0f} ms "
              f"(worst {max(r.p99_ms for r in full):.0f} ms)", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one line per run and the full/bare ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="*", default=["sqlite", "postgresql"])
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_DATABASE_URL",
                                                           "postgresql+psycopg://postgres@127.0.0.1:5432/sme_bot_bench"))
    parser.add_argument("--connections", type=int, nargs="*", default=[8, 32])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating bare/full rounds per connection count")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--bodies", type=int, default=100_000)
    parser.add_argument("--log-level", default="INFO", help="the app's LOG_LEVEL (production logs at INFO)")
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="sme-bench-") as tmp, FakeLineApi() as fake:
        workdir = Path(tmp)
        bodies = workdir / "bodies.tsv"
        write_bodies(bodies, args.bodies, users=2000)
        for backend in args.backends:
            runs = list(bench_backend(backend, args, workdir, bodies, fake))
            report(backend, runs)
            if any(run.errors for run in runs):
                for log in sorted(workdir.glob(f"gunicorn-{backend}-*.log")):
                    print(f"--- last lines of {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
