"""Platform-neutral messages: what comes in from a channel and what goes back out."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Incoming:
    """One message (or button tap) from a user on any channel."""

    channel: str  # "line", "slack", "console", "web"
    user_id: str  # the platform's own user id
    text: str  # what the user typed, or the label of the button they tapped
    now: datetime  # aware datetime; the clock for this turn
    postback: str | None = None  # data carried by a tapped button, if any
    event_id: str | None = None  # the platform's delivery id, for de-duplication
    is_group: bool = False  # sent in a group/room/channel rather than 1:1


# Reply, Choice and Card are defined next to the handlers that build them, so that
# handlers/ never imports bot/ (dependency direction: bot -> handlers -> knowledge).
from handlers.replies import Card, CardButton, Choice, Reply  # noqa: E402


@dataclass(frozen=True)
class TurnResult:
    """Everything one turn produced, as the channels and the CLI need it."""

    intent: str
    replies: tuple[Reply, ...]
    flow: str | None = None
    entry_id: str | None = None
    score: float | None = None
    duplicate: bool = False  # the event was already processed; nothing to send
    lead_ids: tuple[int, ...] = field(default_factory=tuple)

    @property
    def text(self) -> str:
        """Render every reply as the text a user would read."""
        return "\n\n".join(r.as_text() for r in self.replies)

    @property
    def choices(self) -> tuple[Choice, ...]:
        """Return the choices offered at the end of this turn."""
        for reply in reversed(self.replies):
            if reply.choices:
                return reply.choices
        return ()


__all__ = ["Incoming", "Reply", "Choice", "Card", "CardButton", "TurnResult"]
