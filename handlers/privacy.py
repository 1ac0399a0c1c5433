"""Let a user delete their own conversation history and open reminders, after a confirmation.

A flow rather than a single-turn capability: the confirmation is a pending question, so "やめる"
(a cancel word) reaches cancel() here instead of cancelling some other flow or meeting
"nothing to cancel".
"""
from __future__ import annotations

from handlers.base import ForgetUser, Outcome, Turn
from handlers.replies import Choice, Reply
from handlers.smalltalk import menu_choices
from knowledge.text import has_any, surface_key, word_keys

NAME = "privacy"
FORGET = f"{NAME}:forget"
_YES_WORDS = ("はい",)


def wants(turn: Turn) -> bool:
    """Tell whether the user asks to delete their data."""
    return has_any(turn.text, turn.kb.messages.forget_words)


def start(turn: Turn) -> Outcome:
    """Say what will be deleted and ask for a confirmation."""
    m = turn.kb.messages
    choices = (Choice(m.forget_yes_label, FORGET), Choice(m.forget_no_label, "cancel"))
    return Outcome("privacy", (Reply(m.forget_confirm, choices=choices),), flow=NAME, flow_data={"asked": True})


def step(turn: Turn) -> Outcome | None:
    """Delete on a yes; re-ask on resume; anything else is not an answer."""
    if turn.postback == FORGET or _is_yes(turn):
        return Outcome("privacy", (Reply(turn.kb.messages.forget_done, choices=menu_choices(turn.kb.messages)),),
                       effects=(ForgetUser(),))
    if turn.postback == f"{NAME}:resume":
        return start(turn)
    return None


def cancel(turn: Turn) -> Outcome:
    """Keep everything and say so."""
    return Outcome("privacy", (Reply(turn.kb.messages.forget_kept, choices=menu_choices(turn.kb.messages)),))


def _is_yes(turn: Turn) -> bool:
    key = surface_key(turn.text)
    return bool(key) and key in word_keys((turn.kb.messages.forget_yes_label, *_YES_WORDS))
