"""The web process exactly as the Procfile starts it: gunicorn builds the app once, then forks its workers.

Nothing the master opened while building the app may be shared by the workers it forks: several
signed LINE webhooks, sent at once so that every worker and several threads answer, are
each answered and their turns stored. A database connection inherited by two workers would mix
their traffic; a Sudachi tokenizer shared by threads would refuse to tokenise.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from line_fake import SECRET, TOKEN, FakeLine, encode, fixture, message_texts, sign
from storage.db import Database
from storage.models import ProcessedEvent, TurnLog

ROOT = Path(__file__).resolve().parent.parent
REPLY = "/v2/bot/message/reply"
QUESTION = "補助金の上限はいくらですか"
ANSWER = "50万円"  # the subsidy's upper limit, in the answer to QUESTION
WORKERS = 2 * len(os.sched_getaffinity(0))  # WEB_CONCURRENCY unset: the config's default, two per core
AT_ONCE = 8  # webhooks sent together: more than one worker's threads (the config's `threads = 2`)
MAX_BATCHES = 20  # batches sent at most while waiting for the second worker to answer one
# How long to wait for something that happens at once, before giving up (never reached when it passes).
SAFETY_TIMEOUT = 120.0


def procfile_command(process: str) -> str:
    """Return the command the Procfile gives for a process type."""
    for line in (ROOT / "Procfile").read_text(encoding="utf-8").splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            return command.strip()
    raise AssertionError(f"the Procfile has no {process}: line")


def free_port() -> int:
    """Return a free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebProcess:
    """The Procfile's `web:` command running in a shell, as the platform runs it, with its log in a file."""

    def __init__(self, env: dict[str, str], log: Path):
        self.port = int(env["PORT"])
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(["/bin/sh", "-c", "exec " + procfile_command("web")], cwd=ROOT, env=env,
                                            stdout=out, stderr=subprocess.STDOUT)

    @property
    def url(self) -> str:
        """Return the base URL on loopback."""
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, workers: int) -> None:
        """Wait until /healthz answers and this many workers are running (the master forks them one after another)."""
        deadline = time.monotonic() + SAFETY_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"gunicorn exited:\n{self.log.read_text(errors='replace')}"
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=5):
                    if len(self.worker_pids()) >= workers:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"gunicorn did not get ready:\n{self.log.read_text(errors='replace')}")

    def worker_pids(self) -> set[int]:
        """Return the process ids of the master's children, its workers."""
        pid = self.process.pid
        return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}

    def webhook_pids(self) -> set[int]:
        """Return the process ids that answered a webhook, from the access log (the config logs `worker=<pid>`)."""
        found = re.findall(r'"POST /line/webhook HTTP/1\.1" 200 .* worker=<(\d+)>', self.log.read_text(errors="replace"))
        return {int(pid) for pid in found}

    def open_files(self) -> set[str]:
        """Return the paths of the files the master has open."""
        fds = Path(f"/proc/{self.process.pid}/fd")
        return {os.readlink(fd) for fd in fds.iterdir() if os.path.exists(fd)}

    def stop(self) -> int:
        """Stop gunicorn gracefully; return its exit status."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=SAFETY_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


@pytest.fixture
def line(httpserver: HTTPServer) -> FakeLine:
    """Return the fake LINE API."""
    return FakeLine(httpserver)


@pytest.fixture
def web(shared_db: Database, httpserver: HTTPServer, line: FakeLine, tmp_path: Path) -> Iterator[WebProcess]:
    """Start the Procfile's web process on the test database, LINE pointed at the fake, and wait until it answers."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "LINE_", "WEB_", "GUNICORN_")) and k not in ("KNOWLEDGE_DIR", "DATABASE_URL")}
    env |= {"PORT": str(free_port()), "DATABASE_URL": shared_db.url, "LINE_CHANNEL_SECRET": SECRET,
            "LINE_CHANNEL_ACCESS_TOKEN": TOKEN, "LINE_API_BASE_URL": httpserver.url_for("/").rstrip("/"),
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])}
    server = WebProcess(env, tmp_path / "gunicorn.log")
    try:
        server.wait_ready(WORKERS)
        yield server
    finally:
        if server.process.poll() is None:
            server.stop()


def text_event(n: int) -> bytes:
    """Return a signed-to-be webhook body: user n asks QUESTION, with its own event id and reply token."""
    payload = fixture("text")
    payload["events"][0] |= {"webhookEventId": f"01GUNICORN{n:016d}", "replyToken": f"reply-{n}",
                             "source": {"type": "user", "userId": f"U{n:032x}"}}
    payload["events"][0]["message"] |= {"id": str(10**12 + n), "text": QUESTION}
    return encode(payload)


def post_webhook(url: str, body: bytes) -> int:
    """Post a signed webhook body; return the status."""
    request = urllib.request.Request(url + "/line/webhook", data=body, method="POST",
                                     headers={"Content-Type": "application/json", "X-Line-Signature": sign(body)})
    with urllib.request.urlopen(request, timeout=SAFETY_TIMEOUT) as response:  # a 4xx or 5xx raises HTTPError
        return response.status


def test_the_procfile_web_process_preloads_and_every_worker_answers_and_stores_turns(
        web: WebProcess, line: FakeLine, shared_db: Database) -> None:
    workers = web.worker_pids()
    assert len(workers) == WORKERS
    sent = 0
    with ThreadPoolExecutor(AT_ONCE) as pool:
        for _ in range(MAX_BATCHES):
            bodies = [text_event(sent + i) for i in range(AT_ONCE)]
            assert list(pool.map(lambda body: post_webhook(web.url, body), bodies)) == [200] * AT_ONCE
            sent += AT_ONCE
            if web.webhook_pids() == workers:
                break
    assert web.webhook_pids() == workers, "every worker answered webhooks"

    replies = {body["replyToken"]: message_texts(body["messages"]) for body in line.bodies(REPLY)}
    assert set(replies) == {f"reply-{n}" for n in range(sent)}, "every webhook was replied to, once"
    assert all(ANSWER in text for text in replies.values()), "every reply is the answer, not an apology"
    with shared_db.transaction() as session:
        events = set(session.scalars(select(ProcessedEvent.event_id)))
        turns = session.scalars(select(TurnLog)).all()
    assert events == {f"01GUNICORN{n:016d}" for n in range(sent)}
    assert len(turns) == sent and {(t.channel, t.intent) for t in turns} == {("line", "faq")}
    assert len({t.user_hash for t in turns}) == sent, "each user's turn is their own"

    if shared_db.is_sqlite:
        database_file = str(Path(shared_db.engine.url.database or "").resolve())
        assert not any(path.startswith(database_file) for path in web.open_files()), \
            "the master closed the connection it checked the schema with before forking"
    assert web.stop() == 0
    log = web.log.read_text(errors="replace")
    assert "Traceback" not in log and "[ERROR]" not in log, log
    turns_logged = re.findall(r"\[INFO\] bot\.engine: turn channel=line user=[0-9a-f]{12} intent=faq ", log)
    assert len(turns_logged) == sent, "the app's own log reaches the web process's output, at INFO"
    assert QUESTION not in log, "what users write stays out of the log"
