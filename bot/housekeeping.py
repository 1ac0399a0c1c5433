"""Jobs the worker runs on a schedule: the daily purge of old data and the weekly digest of unanswered questions.

Every worker may run them; a key per day (purge) or per ISO week (digest) in the processed-events
table makes sure each happens once however many workers there are.
"""
from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Callable

from bot import gaps
from bot.config import Settings
from knowledge.model import Knowledge
from storage import repository, retention
from storage.db import Database

log = logging.getLogger(__name__)

# How often a worker looks whether a job is due; the jobs themselves run once a day or week.
CHECK_EVERY = timedelta(hours=1)
_AGE = re.compile(r"^\s*(\d+)\s*(d|days?|日)?\s*$", re.IGNORECASE)

LABELS = {
    "conversations": "会話の状態", "recorded_questions": "記録した質問", "turn_logs": "利用記録",
    "resolved_leads": "対応済みの取り次ぎ", "deliveries": "送信済みの記録", "processed_events": "受信済みの記録",
    "users": "長く利用のない利用者",
}


def parse_age(text: str) -> timedelta:
    """Read an age like "180d", "180" or "180日" as a number of days (ValueError otherwise)."""
    match = _AGE.match(text)
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"期間は日数で指定してください（例: 180d）: {text!r}")
    return timedelta(days=int(match.group(1)))


def purge(db: Database, older_than: timedelta, now: datetime) -> dict[str, int]:
    """Delete everything last touched more than older_than ago, in one transaction; return the counts."""
    with db.transaction() as session:
        counts = retention.purge(session, now - older_than)
    log.info("purged data older than %s days: %s", older_than.days, counts)
    return counts


def render_purge(counts: dict[str, int], older_than: timedelta) -> str:
    """Say in Japanese what was deleted."""
    done = "、".join(f"{LABELS.get(k, k)} {n}件" for k, n in counts.items())
    return f"{older_than.days}日より前のデータを削除しました：{done}。"


class Housekeeping:
    """Run the daily purge and the weekly digest when due; call run_due() from the worker's loop."""

    def __init__(self, db: Database, settings: Settings, knowledge: Callable[[], Knowledge]):
        self.db, self.settings, self._knowledge = db, settings, knowledge
        self._checked_at: datetime | None = None

    def run_due(self, now: datetime) -> None:
        """Run whichever job is due; cheap when none is (one check an hour)."""
        if self._checked_at is not None and now - self._checked_at < CHECK_EVERY:
            return
        self._checked_at = now
        try:
            self.purge_daily(now)
            gaps.post_weekly_digest(self.settings, self.db, self._knowledge(), now)
        except Exception:  # housekeeping must never stop deliveries; try again at the next check
            log.exception("housekeeping failed; retrying at the next check")

    def purge_daily(self, now: datetime) -> bool:
        """Purge once per day across all workers; True if this call did it."""
        older_than = timedelta(days=self.settings.purge_after_days)
        with self.db.transaction() as session:
            if not repository.claim_event(session, "housekeeping", f"purge:{now.date().isoformat()}", now):
                return False
            counts = retention.purge(session, now - older_than)
        log.info("daily purge of data older than %s days: %s", older_than.days, counts)
        return True
