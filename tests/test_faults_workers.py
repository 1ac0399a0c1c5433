"""Real `sme-bot worker` processes: two share the queue, and workers killed with SIGKILL mid-delivery lose and duplicate nothing.

Leads go to a local fake Slack (which keeps what was posted, with its metadata, as Slack does);
pushes (answers and seminar reminders) go to a local fake LINE that, like LINE, accepts a push once
per X-Line-Retry-Key and answers 409 to a repeat. "Exactly once" is counted at the fakes.
"""
from __future__ import annotations

import ctypes
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Callable

from pytest_httpserver import HTTPServer
from sqlalchemy import func, select, update
from werkzeug import Request, Response

from bot.channels.line import retry_key_for
from bot.engine import now_in_tokyo
from handlers.base import CreateLead
from handlers.replies import Reply, replies_to_json
from knowledge.model import Knowledge
from slack_fake import HANDOFF_CHANNEL, SIGNING_SECRET, TOKEN as SLACK_TOKEN, FakeSlack, slack_api, slack_server  # noqa: F401
from storage import repository
from storage.db import Database
from storage.models import Lead, OutboxItem, Reminder


ROOT = Path(__file__).resolve().parent.parent
LINE_TOKEN = "worker-test-line-token"


class AcceptingLine:
    """LINE's push endpoint: the first push under a retry key is accepted, a repeat is answered 409."""

    def __init__(self, server: HTTPServer, delay: float = 0.0):
        self.delay = delay
        self.accepted: Counter[str] = Counter()
        self.repeats: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.after_accepting: Callable[[], None] | None = None  # runs once a push is accepted, before LINE answers
        server.expect_request("/v2/bot/message/push", method="POST").respond_with_handler(self._push)

    def _push(self, request: Request) -> Response:
        time.sleep(self.delay)  # a delivery in flight, for a kill to land in
        key = request.headers.get("X-Line-Retry-Key", "")
        sent = json.loads(request.get_data())["messages"]
        with self.lock:
            if key in self.accepted:
                self.repeats[key] += 1
                return Response(json.dumps({"message": "The retry key is already accepted"}), status=409,
                                content_type="application/json",
                                headers={"x-line-accepted-request-id": str(uuid.uuid5(uuid.NAMESPACE_URL, key))})
            self.accepted[key] += 1
        if self.after_accepting is not None:
            self.after_accepting()
        return Response(json.dumps({"sentMessages": [{"id": str(i), "quoteToken": "q"} for i, _ in enumerate(sent)]}),
                        status=200, content_type="application/json")


def fill_queue(db: Database, kb: Knowledge, leads: int, pushes: int, reminders: int) -> dict[str, set]:
    """Queue leads, LINE pushes and due seminar reminders; return what must arrive."""
    now = now_in_tokyo()
    expected: dict[str, set] = {"leads": set(), "push_keys": set(), "reminders": set()}
    occurrences = [(s.id, o.first) for s in kb.section("seminars.yaml").seminars.values() for o in s.occurrences]
    with db.transaction() as session:
        for n in range(leads):
            user = repository.lock_user(session, "line", f"U-lead-{n}", now, "salt")
            expected["leads"].add(repository.create_lead(session, user, CreateLead(f"利用者{n}", "山田商店", "090-1234-5678",
                                                                                 "補助金の申請", "平日の午前"), [], now))
        for n in range(pushes):
            key = str(uuid.uuid4())
            repository.enqueue(session, "push", f"line:push:{key}",
                               {"channel": "line", "user_id": f"U-push-{n}", "retry_key": key,
                                "replies": replies_to_json([Reply(f"ご回答です（{n}）")])}, now)
            expected["push_keys"].add(key)
        for n in range(reminders):
            user = repository.lock_user(session, "line", f"U-remind-{n}", now, "salt")
            seminar_id, starts_on = occurrences[n % len(occurrences)]
            assert repository.add_reminder(session, user, seminar_id, starts_on, now - timedelta(hours=1), now)
    with db.transaction() as session:
        expected["reminders"] = set(session.execute(select(Reminder.id)).scalars())
    return expected


def start_worker(db: Database, slack: HTTPServer, line: HTTPServer, log: Path) -> subprocess.Popen[bytes]:
    """Start `sme-bot worker` (the Procfile's worker line) against the fakes."""
    env = {**os.environ, "DATABASE_URL": db.url, "SLACK_BOT_TOKEN": SLACK_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "SLACK_HANDOFF_CHANNEL": HANDOFF_CHANNEL, "SLACK_API_BASE_URL": slack.url_for("/api/"),
           "LINE_CHANNEL_SECRET": "worker-test-secret", "LINE_CHANNEL_ACCESS_TOKEN": LINE_TOKEN,
           "LINE_API_BASE_URL": line.url_for("/").rstrip("/"), "LOG_LEVEL": "INFO"}
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"], env=env, cwd=ROOT,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT, preexec_fn=_die_with_this_process)


def _die_with_this_process() -> None:
    """In the worker before it starts: be killed when the test process ends, however it ends.

    A test run stopped part-way would otherwise leave its workers delivering from the test
    database, where they take the next run's outbox items (Linux prctl PR_SET_PDEATHSIG).
    """
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def pending(db: Database) -> int:
    """Return the number of outbox items and reminders still to deliver."""
    with db.transaction() as session:
        items = session.execute(select(func.count()).select_from(OutboxItem).where(OutboxItem.status == "pending")).scalar_one()
        reminders = session.execute(select(func.count()).select_from(Reminder).where(Reminder.status == "pending")).scalar_one()
    return items + reminders


def wait_until_drained(db: Database, workers: list[subprocess.Popen[bytes]], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while pending(db):
        assert all(w.poll() is None for w in workers), log.read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, f"{pending(db)} still pending\n" + log.read_text(errors="replace")[-3000:]
        time.sleep(0.2)


def stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        worker.wait(timeout=30)


def end_the_leases_of_dead_workers(db: Database) -> None:
    """Move the clock past the lease of what a killed worker had taken (5 minutes), so another takes it now."""
    with db.transaction() as session:
        session.execute(update(OutboxItem).where(OutboxItem.status == "pending").values(next_attempt_at=now_in_tokyo()))


def assert_everything_arrived_once(db: Database, expected: dict[str, set], slack: FakeSlack, line: AcceptingLine) -> None:
    cards = Counter(c["metadata"]["event_payload"]["lead_id"] for c in slack.lead_cards())
    assert set(cards) == expected["leads"] and set(cards.values()) == {1}, cards
    reminder_keys = {retry_key_for(f"reminder:{r}") for r in expected["reminders"]}
    assert set(line.accepted) == expected["push_keys"] | reminder_keys
    assert set(line.accepted.values()) == {1}
    with db.transaction() as session:
        statuses = Counter(session.execute(select(OutboxItem.status)).scalars())
        reminders = set(session.execute(select(Reminder.status)).scalars())
        leads = session.execute(select(Lead)).scalars().all()
    assert set(statuses) == {"done"}, statuses
    assert reminders == {"sent"}  # handed to the outbox once, and settled once its push was done
    assert all(lead.status == "delivered" and lead.slack_ts for lead in leads)


def test_two_worker_processes_deliver_every_lead_push_and_reminder_exactly_once(
        shared_db: Database, kb: Knowledge, slack_server: HTTPServer, slack_api: FakeSlack, httpserver: HTTPServer,
        tmp_path: Path) -> None:
    line = AcceptingLine(httpserver, delay=0.01)
    slack_api.on_call = lambda method, args: time.sleep(0.01)  # let the two workers overlap
    expected = fill_queue(shared_db, kb, leads=20, pushes=20, reminders=6)
    log = tmp_path / "workers.log"
    workers = [start_worker(shared_db, slack_server, httpserver, log) for _ in range(2)]
    try:
        wait_until_drained(shared_db, workers, log)
    finally:
        stop(workers)
    assert_everything_arrived_once(shared_db, expected, slack_api, line)
    assert sum(line.repeats.values()) == 0  # no push was even tried twice


def kill_at(count: int) -> tuple[Callable[[], None], Callable[[subprocess.Popen[bytes]], None]]:
    """Return a hook that kills the current worker the `count`-th time it runs, and a way to set the worker."""
    state: dict = {"calls": 0, "worker": None}

    def hook() -> None:
        state["calls"] += 1
        worker = state["worker"]
        if state["calls"] == count and worker is not None and worker.poll() is None:
            os.kill(worker.pid, signal.SIGKILL)

    return hook, lambda worker: state.update(worker=worker)


def test_workers_killed_with_sigkill_mid_delivery_lose_nothing_and_duplicate_nothing(
        shared_db: Database, kb: Knowledge, slack_server: HTTPServer, slack_api: FakeSlack, httpserver: HTTPServer,
        tmp_path: Path) -> None:
    line = AcceptingLine(httpserver, delay=0.02)
    expected = fill_queue(shared_db, kb, leads=12, pushes=12, reminders=4)
    log = tmp_path / "workers.log"

    # 1. killed after Slack took a lead's card, before the worker heard back: the card is never recorded
    on_post, watch = kill_at(3)
    slack_api.on_call = lambda method, args: on_post() if method == "chat.postMessage" else None
    # 2. killed after LINE accepted a push, before the worker heard back
    on_push, watch_push = kill_at(2)
    # 3. killed at an arbitrary moment while it delivers
    for round_ in ("after a Slack post", "after a LINE push", "at any moment"):
        if round_ == "after a LINE push":
            slack_api.on_call, line.after_accepting = None, on_push
        elif round_ == "at any moment":
            line.after_accepting = None
        worker = start_worker(shared_db, slack_server, httpserver, log)
        watch(worker)
        watch_push(worker)
        if round_ == "at any moment":
            started = len(slack_api.calls) + sum(line.accepted.values())
            deadline = time.monotonic() + 60
            while len(slack_api.calls) + sum(line.accepted.values()) == started and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(random.Random(7).uniform(0.05, 0.3))
            worker.send_signal(signal.SIGKILL)
        assert worker.wait(timeout=90) == -signal.SIGKILL, (round_, log.read_text(errors="replace")[-3000:])
        end_the_leases_of_dead_workers(shared_db)
    assert pending(shared_db) > 0, "the kills came too late to interrupt anything"

    last = start_worker(shared_db, slack_server, httpserver, log)
    try:
        wait_until_drained(shared_db, [last], log)
    finally:
        stop([last])
    assert_everything_arrived_once(shared_db, expected, slack_api, line)
    assert sum(line.repeats.values()) >= 1  # the push LINE had accepted was retried and taken as sent
    assert len(slack_api.posts(HANDOFF_CHANNEL)) == len(expected["leads"])  # the posted card was found, not posted again
