"""The delivery worker: posts leads to the secretariat's Slack, relays thread messages and pushes, each exactly once.

Each loop claims due outbox items (FOR UPDATE SKIP LOCKED on PostgreSQL, so several workers share
the queue; SQLite serialises writers) and leases them, then delivers them outside any
transaction and records the result. A worker killed after posting but before recording leaves
the item to be taken again when its lease ends; the retry first looks in Slack for the message
it posted (by message metadata) and records that instead of posting twice.
While Slack is down or rate-limits, items back off exponentially (honouring Retry-After).
With no Slack configured, Slack items are not taken at all: leads stay queued and visible in
`sme-bot leads list`.
"""
from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.channels import line, slack
from bot.config import TOKYO, Settings
from bot.engine import now_in_tokyo
from bot.housekeeping import Housekeeping
from bot.reload import KnowledgeReloader
from handlers import handoff, seminars
from handlers.replies import Reply, replies_from_json
from knowledge.handoff import HandoffFile
from knowledge.model import Knowledge
from storage import repository
from storage.db import Database
from storage.models import Lead, OutboxItem, User

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)  # far longer than one delivery (Slack calls time out after 15 s)
BACKOFF_FIRST = timedelta(seconds=15)
BACKOFF_MAX = timedelta(minutes=30)
NOT_READY_DELAY = timedelta(seconds=10)
BATCH = 20
PUSH_ATTEMPTS = 20  # about eight hours with the backoff above; a lead itself is never given up
REANNOUNCE_EVERY = timedelta(seconds=30)  # how often the worker looks for unclaimed leads


class NotReady(Exception):
    """The item cannot be delivered yet (e.g. a thread reply before its lead's card is posted)."""


class Undeliverable(Exception):
    """Sending again will not help (the platform refused the message)."""


@dataclass(frozen=True)
class Delivery:
    """How one kind of outbox item is delivered and recorded."""

    send: Callable[["Worker", OutboxItem], dict[str, Any]]
    record: Callable[["Worker", Session, OutboxItem, dict[str, Any]], None] | None = None
    needs_slack: bool = False
    gives_up_after: int | None = None  # attempts; None: retried until it goes through


# kind -> Delivery. Other features add their own kinds here (e.g. a seminar reminder).
DELIVERIES: dict[str, Delivery] = {}
# platform -> push(worker, user_id, replies, key, since, retry) -> result; "line" is added when its channel has push.
Pusher = Callable[["Worker", str, tuple[Reply, ...], OutboxItem], dict[str, Any]]
PUSHERS: dict[str, Pusher] = {}


class Worker:
    """Deliver what the outbox holds, again and again, until stopped."""

    def __init__(self, db: Database, settings: Settings, knowledge: Knowledge | Callable[[], Knowledge],
                 clock: Callable[[], datetime] = now_in_tokyo, slack_client: WebClient | None = None):
        self.db, self.settings, self.clock = db, settings, clock
        self._knowledge = knowledge if callable(knowledge) else (lambda: knowledge)
        self._slack_client = slack_client
        self._last_reannounce_check: datetime | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> "Worker":
        """Load the knowledge and open the database, ready to deliver."""
        db = Database(settings.database_url)
        knowledge = KnowledgeReloader.from_settings(settings, db)  # follows knowledge edits like the web workers
        db.prepare()
        return cls(db, settings, knowledge)

    @property
    def wording(self) -> HandoffFile:
        """Return the handoff wording (Slack cards, relays)."""
        return self._knowledge().section("handoff.yaml")

    @cached_property
    def slack(self) -> WebClient:
        """Return the Slack client (created on first use)."""
        return self._slack_client or slack.web_client(self.settings)

    @property
    def slack_ready(self) -> bool:
        """Tell whether leads can be posted to Slack."""
        return bool(self.settings.slack_bot_token and self.settings.slack_handoff_channel)

    # --- the loop -------------------------------------------------------------------------------

    def run(self, stop: threading.Event, poll_seconds: float = 1.0) -> None:
        """Deliver until stop is set; sleep a little whenever nothing was due."""
        if not self.slack_ready:
            log.warning("Slack is not configured (SLACK_BOT_TOKEN, SLACK_HANDOFF_CHANNEL): leads stay queued; "
                        "see `sme-bot leads list`")
        housekeeping = Housekeeping(self.db, self.settings, self._knowledge)  # daily purge, weekly digest
        while not stop.is_set():
            housekeeping.run_due(self.clock())
            try:
                taken = self.run_once()
            except Exception:  # a database hiccup must not end the worker; try again shortly
                log.exception("worker loop failed; retrying")
                taken = 0
            if not taken:
                stop.wait(poll_seconds)

    def run_once(self) -> int:
        """Queue what became due, then claim and deliver one batch; return how many items were taken."""
        now = self.clock()
        self._queue_due(now)
        kinds = [kind for kind, d in DELIVERIES.items() if self.slack_ready or not d.needs_slack]
        with self.db.transaction() as session:
            items = repository.claim_outbox(session, now, kinds, BATCH, now + LEASE)
        for item in items:
            self._deliver(item)
        return len(items)

    def _queue_due(self, now: datetime) -> None:
        with self.db.transaction() as session:
            repository.queue_due_reminders(session, now, seminars.reminder_renderer(self._knowledge()))
        if self.slack_ready and (self._last_reannounce_check is None
                                 or now - self._last_reannounce_check >= REANNOUNCE_EVERY):
            self._last_reannounce_check = now
            self.queue_reannouncements(now)

    def queue_reannouncements(self, now: datetime) -> int:
        """Announce again, once, every lead nobody claimed within the configured office minutes."""
        hours = self.wording.office_hours
        queued = 0
        with self.db.transaction() as session:
            for lead in repository.leads_to_reannounce(session):
                delivered = lead.delivered_at or lead.created_at
                if handoff.add_office_minutes(delivered, self.settings.slack_reannounce_minutes, hours) > now:
                    continue
                lead.reannounced_at = now
                repository.enqueue(session, "lead_reannounce", f"lead_reannounce:{lead.id}", {"lead_id": lead.id}, now)
                queued += 1
        return queued

    def _deliver(self, item: OutboxItem) -> None:
        delivery = DELIVERIES[item.kind]
        try:
            result = delivery.send(self, item)
        except Exception as exc:
            self._failed(item, delivery, exc)
            return
        now = self.clock()
        with self.db.transaction() as session:
            row = session.get(OutboxItem, item.id, with_for_update=True)
            if row is None:
                return
            row.status, row.result, row.done_at, row.last_error = "done", result, now, None
            if delivery.record is not None:
                delivery.record(self, session, row, result)
        log.info("delivered %s (attempt %d)", item.key, item.attempts)

    def _failed(self, item: OutboxItem, delivery: Delivery, exc: Exception) -> None:
        now = self.clock()
        retry_after, permanent = _retry_hint(exc)
        not_ready = isinstance(exc, NotReady)
        delay = NOT_READY_DELAY if not_ready else max(backoff(item.attempts), retry_after or timedelta(0))
        # A kind without gives_up_after (a lead) is retried whatever the error: it is never dropped.
        give_up = delivery.gives_up_after is not None and (permanent or item.attempts >= delivery.gives_up_after)
        with self.db.transaction() as session:
            row = session.get(OutboxItem, item.id, with_for_update=True)
            if row is None:
                return
            row.last_error = describe(exc)[:500]
            if not_ready:
                row.attempts = max(0, row.attempts - 1)
            if give_up:
                row.status = "dead"
                repository.settle_reminder(session, row.key, "failed")
                self._tell_secretariat_of_failure(session, row, now)
            else:
                row.next_attempt_at = now + delay
        level = logging.ERROR if give_up else logging.WARNING
        log.log(level, "delivery of %s failed (attempt %d)%s: %s", item.key, item.attempts,
                " - given up" if give_up else f", next in {int(delay.total_seconds())}s", describe(exc))

    def _tell_secretariat_of_failure(self, session: Session, item: OutboxItem, now: datetime) -> None:
        lead_id = (item.payload or {}).get("lead_id")
        if item.kind == "push" and lead_id is not None:
            text = self.wording.slack.relay_failed.format(error=item.last_error or "")
            repository.enqueue(session, "slack_thread", f"slack_thread:{lead_id}:failed:{item.id}",
                               {"lead_id": lead_id, "text": text, "note": True}, now)


def backoff(attempts: int) -> timedelta:
    """Return the wait after the n-th failed attempt: 15 s, 30 s, 1 min, … up to 30 min."""
    doublings = min(max(0, attempts - 1), 20)  # a lead retried for days must not overflow timedelta
    return min(BACKOFF_MAX, BACKOFF_FIRST * (2 ** doublings))


def _retry_hint(exc: Exception) -> tuple[timedelta | None, bool]:
    """Return (Retry-After, whether sending again is pointless) for a delivery error."""
    if isinstance(exc, Undeliverable):
        return None, True
    if isinstance(exc, SlackApiError):
        headers = exc.response.headers or {}
        value = headers.get("Retry-After") or headers.get("retry-after")
        try:
            return (timedelta(seconds=float(value)) if value is not None else None), False
        except ValueError:
            return None, False
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, (int, float)):
        return timedelta(seconds=retry_after), False
    return None, isinstance(exc, line.LineRejected)


def describe(exc: Exception) -> str:
    """Return a short, log-safe description of a delivery error (no user text)."""
    if isinstance(exc, SlackApiError):
        return f"Slack API HTTP {exc.response.status_code}: {exc.response.get('error') if isinstance(exc.response.data, dict) else ''}"
    return f"{type(exc).__name__}: {str(exc)[:300]}"


# --- deliveries ------------------------------------------------------------------------------------


def _lead(worker: Worker, item: OutboxItem) -> tuple[Lead | None, str | None]:
    with worker.db.transaction() as session:
        lead = session.get(Lead, int(item.payload["lead_id"]))
        if lead is None:
            return None, None
        user = session.get(User, lead.user_id) if lead.user_id is not None else None
        return lead, user.platform if user else None


def send_lead(worker: Worker, item: OutboxItem) -> dict[str, Any]:
    """Post the lead's card to the handoff channel (or find the one an earlier attempt posted)."""
    lead, platform = _lead(worker, item)
    if lead is None:
        return {"skipped": "lead no longer exists"}
    if lead.slack_ts and lead.slack_channel:  # recorded meanwhile (a button on the card was pressed)
        return {"channel": lead.slack_channel, "ts": lead.slack_ts}
    text, blocks = slack.lead_message(lead, platform, worker.wording)
    return slack.post_once(worker.slack, str(worker.settings.slack_handoff_channel), text, blocks, slack.LEAD_EVENT,
                           {"lead_id": lead.id}, lead.created_at, retry=item.attempts > 1)


def record_lead(worker: Worker, session: Session, item: OutboxItem, result: dict[str, Any]) -> None:
    """Remember where the card is, and mark the lead delivered."""
    if "ts" not in result:
        return
    lead = session.get(Lead, int(item.payload["lead_id"]), with_for_update=True)
    if lead is None:
        return
    lead.slack_channel, lead.slack_ts = result["channel"], result["ts"]
    if lead.status == "queued":
        lead.status = "delivered"
    lead.delivered_at = lead.delivered_at or worker.clock()


def send_thread(worker: Worker, item: OutboxItem) -> dict[str, Any]:
    """Post what the user wrote (or a notice) in the lead's thread."""
    lead, _ = _lead(worker, item)
    if lead is None:
        return {"skipped": "lead no longer exists"}
    if not (lead.slack_channel and lead.slack_ts):
        raise NotReady(f"the card of lead {lead.id} is not posted yet")
    s = worker.wording.slack
    text = str(item.payload.get("text") or "")
    body = f"_{slack.escape(text)}_" if item.payload.get("note") else f"*{slack.escape(s.from_user)}*\n{slack.escape(text)}"
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": body[:slack.SECTION_MAX]}}]
    return slack.post_once(worker.slack, lead.slack_channel, body[:slack.SECTION_MAX], blocks, slack.POSTED_EVENT,
                           {"key": item.key}, item.created_at, retry=item.attempts > 1, thread_ts=lead.slack_ts)


def send_reannouncement(worker: Worker, item: OutboxItem) -> dict[str, Any]:
    """Remind the channel of an unclaimed lead, in its thread and broadcast to the channel."""
    lead, _ = _lead(worker, item)
    if lead is None or lead.status != "delivered" or not (lead.slack_channel and lead.slack_ts):
        return {"skipped": "lead claimed, resolved or gone"}
    received = lead.created_at.astimezone(TOKYO).strftime("%m/%d %H:%M")
    text = slack.escape(worker.wording.slack.reannounce.format(id=lead.id, received=received))
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    return slack.post_once(worker.slack, lead.slack_channel, text, blocks, slack.POSTED_EVENT, {"key": item.key},
                           item.created_at, retry=item.attempts > 1, thread_ts=lead.slack_ts, reply_broadcast=True)


def send_card_refresh(worker: Worker, item: OutboxItem) -> dict[str, Any]:
    """Show the lead's current status on its card (after a button press whose update failed)."""
    lead, platform = _lead(worker, item)
    if lead is None:
        return {"skipped": "lead no longer exists"}
    slack.refresh_card(worker.slack, lead, platform, worker.wording)
    return {"ts": lead.slack_ts}


def send_push(worker: Worker, item: OutboxItem) -> dict[str, Any]:
    """Send replies to a user on their platform (a secretariat's answer, a resolution notice)."""
    platform, user_id = str(item.payload.get("channel")), str(item.payload.get("user_id"))
    with worker.db.transaction() as session:
        user = repository.find_user(session, platform, user_id)
        if user is not None and not user.active:
            return {"skipped": "user blocked or left"}
    pusher = PUSHERS.get(platform)
    if pusher is None:
        raise Undeliverable(f"no push for platform {platform!r}")
    replies = replies_from_json(item.payload.get("replies") or [])
    return pusher(worker, user_id, replies, item)


def record_push(worker: Worker, session: Session, item: OutboxItem, result: dict[str, Any]) -> None:
    """Mark a reminder sent once its push went through (cancelled if its user had left meanwhile)."""
    repository.settle_reminder(session, item.key, "cancelled" if "skipped" in result else "sent")


def push_to_slack(worker: Worker, user_id: str, replies: tuple[Reply, ...], item: OutboxItem) -> dict[str, Any]:
    """Send replies to a Slack user's direct messages."""
    if not worker.settings.slack_bot_token:
        raise NotReady("SLACK_BOT_TOKEN is not set")
    try:
        return slack.push(worker.settings, worker.slack, user_id, replies, item.key, item.created_at,
                          retry=item.attempts > 1)
    except SlackApiError as exc:
        if isinstance(exc.response.data, dict) and exc.response.data.get("error") in ("user_not_found", "cannot_dm_bot",
                                                                                      "user_disabled"):
            raise Undeliverable(str(exc.response.data.get("error"))) from exc
        raise


def push_to_line(worker: Worker, user_id: str, replies: tuple[Reply, ...], item: OutboxItem) -> dict[str, Any]:
    """Send replies by LINE push; the retry key makes LINE accept it once however often it is retried."""
    retry_key = str(item.payload.get("retry_key") or line.retry_key_for(item.key))
    line.push(worker.settings, user_id, replies, retry_key)
    return {"retry_key": retry_key}


DELIVERIES.update({
    "lead": Delivery(send_lead, record_lead, needs_slack=True),
    "slack_thread": Delivery(send_thread, needs_slack=True),
    "lead_reannounce": Delivery(send_reannouncement, needs_slack=True, gives_up_after=PUSH_ATTEMPTS),
    "lead_card": Delivery(send_card_refresh, needs_slack=True, gives_up_after=PUSH_ATTEMPTS),
    "push": Delivery(send_push, record_push, gives_up_after=PUSH_ATTEMPTS),
})
PUSHERS.update({"slack": push_to_slack, "line": push_to_line})


LEAD_STATUS_JA = {"queued": "送信待ち", "delivered": "未対応", "claimed": "対応中", "resolved": "対応済み"}


def lead_report(db: Database, status: str | None = None) -> list[dict[str, Any]]:
    """Return every lead (or those with this status) with its delivery state, newest first."""
    with db.transaction() as session:
        rows = repository.list_leads(session, status)
        return [{
            "id": lead.id, "status": lead.status, "created_at": lead.created_at.astimezone(TOKYO).isoformat(),
            "name": lead.name, "business": lead.business, "contact": lead.contact, "topic": lead.topic,
            "preferred_time": lead.preferred_time, "claimed_by": lead.claimed_by, "resolved_by": lead.resolved_by,
            "slack_channel": lead.slack_channel, "slack_ts": lead.slack_ts,
            "attempts": item.attempts if item else 0, "last_error": item.last_error if item else None,
            "next_attempt_at": item.next_attempt_at.astimezone(TOKYO).isoformat() if item and item.status == "pending" else None,
        } for lead, item in rows]


def format_lead_report(rows: list[dict[str, Any]], slack_ready: bool) -> str:
    """Render the lead report as a table for the terminal, in Japanese."""
    if not rows:
        return "ご相談（リード）はありません。"
    lines = ["番号\t状態\t受付日時\tお名前\t屋号・会社名\t相談内容\t送信試行\t最後のエラー"]
    for row in rows:
        topic = row["topic"] if len(row["topic"]) <= 20 else row["topic"][:19] + "…"
        lines.append("\t".join([
            f"#{row['id']}", f"{LEAD_STATUS_JA.get(row['status'], row['status'])}({row['status']})",
            row["created_at"][:16].replace("T", " "), row["name"], row["business"], topic.replace("\n", " "),
            str(row["attempts"]), (row["last_error"] or "-").replace("\n", " ")[:80],
        ]))
    if not slack_ready and any(row["status"] == "queued" for row in rows):
        lines.append("\n※ Slack が設定されていないため（SLACK_BOT_TOKEN、SLACK_HANDOFF_CHANNEL）、"
                     "送信待ちのご相談は Slack に送られていません。設定すると `sme-bot worker` が送信します。")
    return "\n".join(lines)


def run_forever(settings: Settings) -> None:
    """Run the worker until SIGTERM or SIGINT (Heroku stops dynos with SIGTERM)."""
    worker = Worker.from_settings(settings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    log.info("worker started (slack=%s)", "on" if worker.slack_ready else "off")
    worker.run(stop)
    log.info("worker stopped")
