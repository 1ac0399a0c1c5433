"""The LINE channel: the webhook, rendering replies as LINE messages, the API client and the rich menu."""
from bot.channels.line.client import LineClient, LineError, LineNotConfigured, LineRejected, LineUnavailable, ReplyTokenInvalid
from bot.channels.line.render import render
from bot.channels.line.webhook import CHANNEL, blueprint, push, retry_key_for

__all__ = [
    "CHANNEL", "LineClient", "LineError", "LineNotConfigured", "LineRejected", "LineUnavailable",
    "ReplyTokenInvalid", "blueprint", "push", "render", "retry_key_for",
]
