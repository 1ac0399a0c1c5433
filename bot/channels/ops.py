"""The ops channel in Slack: notices for the people who run the bot (a refused knowledge edit, the weekly digest).

Several web workers and worker dynos may notice the same thing at once; a notice is claimed in
the database under an idempotency key first (the processed-events table), so it is posted once.
"""
from __future__ import annotations

import logging
from datetime import datetime

from slack_sdk.errors import SlackApiError

from bot.channels import slack
from bot.config import Settings
from storage import repository
from storage.db import Database

log = logging.getLogger(__name__)

PLATFORM = "ops"


def configured(settings: Settings) -> bool:
    """Tell whether notices can be posted (a bot token and SLACK_OPS_CHANNEL)."""
    return bool(settings.slack_bot_token and settings.slack_ops_channel)


def post_once(settings: Settings, db: Database, key: str, text: str, now: datetime) -> bool:
    """Post a notice to the ops channel unless one with this key was already posted; True if posted now.

    The claim and the post share a transaction: if Slack fails, the claim is rolled back and the
    next attempt (the next reload check, the next worker loop) tries again.
    """
    channel = settings.slack_ops_channel
    if channel is None or not configured(settings):
        return False
    client = slack.web_client(settings)
    try:
        with db.transaction() as session:
            if not repository.claim_event(session, PLATFORM, key, now):
                return False
            client.chat_postMessage(channel=channel, text=slack.escape(text),
                                    unfurl_links=False, unfurl_media=False)
    except (SlackApiError, OSError) as exc:
        log.warning("ops notice not posted key=%s error=%s", key, type(exc).__name__)
        return False
    log.info("ops notice posted key=%s", key)
    return True
