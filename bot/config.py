"""Settings from the environment; the only module that reads os.environ."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, TextIO
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")


def default_database_url() -> str:
    """Return the SQLite file used when DATABASE_URL is not set."""
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return f"sqlite:///{base / 'sme-bot' / 'sme-bot.db'}"


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with defaults that run locally without any account."""

    # repr=False: settings may be printed (a traceback, a debugger); a password or token must not be.
    database_url: str = field(default_factory=default_database_url, repr=False)  # may hold a password
    knowledge_dir: str | None = None  # None: the knowledge bundled with the package
    user_hash_salt: str = field(default="iwaki-sme-bot", repr=False)
    line_channel_secret: str | None = field(default=None, repr=False)
    line_channel_access_token: str | None = field(default=None, repr=False)
    line_api_base_url: str = "https://api.line.me"
    line_data_api_base_url: str | None = None  # None: the same host as LINE_API_BASE_URL when overridden
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_handoff_channel: str | None = None
    slack_ops_channel: str | None = None
    slack_api_base_url: str = "https://slack.com/api/"
    slack_reannounce_minutes: int = 60  # business minutes a lead may stay unclaimed before it is announced again
    web_chat_enabled: bool = True
    knowledge_reload_seconds: float = 3.0  # how often a process looks for an edited knowledge directory; 0: never
    purge_after_days: int = 180  # conversations, recorded questions, turn logs and resolved leads older than this are deleted
    max_body_bytes: int = 1_000_000
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """Read settings from environment variables."""
        env = os.environ if env is None else env
        production = bool(env.get("DYNO")) or env.get("APP_ENV", "").lower() == "production"
        defaults = cls()
        return cls(
            database_url=env.get("DATABASE_URL") or defaults.database_url,
            knowledge_dir=env.get("KNOWLEDGE_DIR") or None,
            user_hash_salt=env.get("USER_HASH_SALT") or defaults.user_hash_salt,
            line_channel_secret=env.get("LINE_CHANNEL_SECRET") or None,
            line_channel_access_token=env.get("LINE_CHANNEL_ACCESS_TOKEN") or None,
            line_api_base_url=(env.get("LINE_API_BASE_URL") or defaults.line_api_base_url).rstrip("/"),
            line_data_api_base_url=(env.get("LINE_DATA_API_BASE_URL") or "").rstrip("/") or None,
            slack_bot_token=env.get("SLACK_BOT_TOKEN") or None,
            slack_signing_secret=env.get("SLACK_SIGNING_SECRET") or None,
            slack_handoff_channel=env.get("SLACK_HANDOFF_CHANNEL") or None,
            slack_ops_channel=env.get("SLACK_OPS_CHANNEL") or None,
            slack_api_base_url=env.get("SLACK_API_BASE_URL") or defaults.slack_api_base_url,
            slack_reannounce_minutes=int(env.get("SLACK_REANNOUNCE_MINUTES") or defaults.slack_reannounce_minutes),
            web_chat_enabled=_flag(env.get("WEB_CHAT_ENABLED"), not production),
            knowledge_reload_seconds=float(env.get("KNOWLEDGE_RELOAD_SECONDS") or defaults.knowledge_reload_seconds),
            purge_after_days=int(env.get("PURGE_AFTER_DAYS") or defaults.purge_after_days),
            max_body_bytes=int(env.get("MAX_BODY_BYTES") or defaults.max_body_bytes),
            log_level=env.get("LOG_LEVEL") or defaults.log_level,
        )

    @property
    def slack_handoff_enabled(self) -> bool:
        """Tell whether leads go to Slack and the secretariat can answer from there."""
        return bool(self.slack_bot_token and self.slack_signing_secret and self.slack_handoff_channel)


def configure_logging(level: str, stream: TextIO) -> None:
    """Send the log of every module to `stream` at `level`: the time, the process, the level and the logger's name."""
    logging.basicConfig(level=level, stream=stream,
                        format="%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s")
    # Every turn logs a line: what the format does not show is not gathered for each record either
    # (the logging HOWTO, "Optimization": the thread, the multiprocessing name, the caller's frame).
    logging.logThreads = False
    logging.logMultiprocessing = False
    logging._srcfile = None  # type: ignore[attr-defined]  # the documented switch for the caller lookup
    logging.getLogger("alembic").setLevel(logging.WARNING)  # migration chatter is not news
