"""Hot reload of the knowledge: serve an edited directory within seconds, keep the last good one if the edit is broken.

Every process checks the directory's fingerprint (a hash of its YAML files, ~1 ms) at most once
per interval; all workers reading the same directory therefore end up on the same version.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Callable

from bot.config import TOKYO, Settings
from knowledge.loader import KnowledgeError, fingerprint
from knowledge.model import Knowledge
from storage.db import Database

log = logging.getLogger(__name__)

# Called with the problems of a refused edit and its fingerprint, once per broken version.
Refused = Callable[[KnowledgeError, str], None]


class KnowledgeReloader:
    """A knowledge provider for the engine: the current knowledge, reloaded when its directory changes."""

    def __init__(self, knowledge: Knowledge, interval: float, on_refused: Refused | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self._current = knowledge
        self.interval = interval
        self._on_refused = on_refused
        self._clock = clock
        self._checked_at = clock()
        self._refused: str | None = None  # fingerprint of the broken edit already reported
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, db: Database) -> "KnowledgeReloader":
        """Load the knowledge now (raising KnowledgeError if broken) and watch its directory."""
        knowledge = Knowledge.load(settings.knowledge_dir)
        return cls(knowledge, settings.knowledge_reload_seconds, RefusedEditNotice(settings, db))

    @property
    def current(self) -> Knowledge:
        """Return the knowledge served now, without checking the directory."""
        return self._current

    def __call__(self) -> Knowledge:
        """Return the knowledge to answer with, first reloading it if the interval has passed and it changed."""
        if self.interval > 0 and self._clock() - self._checked_at >= self.interval:
            self.check()
        return self._current

    def check(self) -> bool:
        """Reload if the directory changed and the edit is valid; True if a new version is now served.

        Only one thread loads; the others keep answering with the current knowledge meanwhile.
        """
        if not self._lock.acquire(blocking=False):
            return False
        try:
            self._checked_at = self._clock()
            directory = self._current.directory
            try:
                version = fingerprint(directory)
            except OSError as exc:  # a file removed while being read; look again next time
                log.warning("knowledge directory unreadable, keeping version %s: %s", self._current.version, exc)
                return False
            if version in (self._current.version, self._refused):
                return False
            try:
                knowledge = Knowledge.load(directory)
            except KnowledgeError as exc:
                self._refused = version
                self._refuse(exc, version)
                return False
            log.info("knowledge reloaded version=%s (was %s) entries=%d",
                     knowledge.version, self._current.version, len(knowledge.entries))
            self._current = knowledge
            self._refused = None
            return True
        finally:
            self._lock.release()

    def _refuse(self, error: KnowledgeError, version: str) -> None:
        log.error("knowledge edit refused (version %s); still serving %s. Fix these and save again:\n%s",
                  version, self._current.version, error)
        if self._on_refused is not None:
            try:
                self._on_refused(error, version)
            except Exception:  # a failed notice must not stop the bot from answering
                log.exception("could not report the refused knowledge edit")


class RefusedEditNotice:
    """Tell the ops channel once (across all workers) that an edit was refused, with what to fix."""

    def __init__(self, settings: Settings, db: Database):
        self.settings = settings
        self.db = db

    def __call__(self, error: KnowledgeError, version: str) -> None:
        """Post the problems of a refused edit to SLACK_OPS_CHANNEL if Slack is configured."""
        from bot.channels import ops  # here: the Slack channel imports the engine, which imports this module

        if not ops.configured(self.settings):
            return
        directory = Path(self.settings.knowledge_dir) if self.settings.knowledge_dir else None
        where = f"（{directory}）" if directory else ""
        text = (f"知識ベースの変更{where}に誤りがあるため、読み込みませんでした。これまでの内容で回答を続けています。\n"
                "次の箇所を直して保存し直してください（`sme-bot kb check` でも確認できます）：\n"
                + "\n".join(f"・{problem}" for problem in error.problems))
        ops.post_once(self.settings, self.db, f"knowledge-refused:{version}", text, datetime.now(TOKYO))
