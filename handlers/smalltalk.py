"""Greetings, thanks and help: short friendly replies with the menu."""
from __future__ import annotations

from handlers.base import Outcome, Turn
from handlers.replies import Choice, Reply
from knowledge.schema import MessagesFile
from knowledge.text import surface_key, word_keys

# A greeting is short; "こんにちは、補助金の上限は？" is a question, not a greeting.
_MAX_EXTRA_CHARS = 4


def menu_choices(messages: MessagesFile) -> tuple[Choice, ...]:
    """Return the main menu as choices (typing a label works like tapping it)."""
    return tuple(Choice(item.label, item.text) for item in messages.menu)


def _is(text: str, words: list[str]) -> bool:
    key = surface_key(text)
    if not key:
        return False
    for w in word_keys(words):
        if w and w in key and len(key) - len(w) <= _MAX_EXTRA_CHARS:
            return True
    return False


def wants(turn: Turn) -> bool:
    """Tell whether the message is a greeting, thanks or a request for help."""
    m = turn.kb.messages
    return _is(turn.text, m.greeting_words) or _is(turn.text, m.thanks_words) or _is(turn.text, m.help_words)


def respond(turn: Turn) -> Outcome:
    """Answer a greeting, thanks or help request."""
    m = turn.kb.messages
    menu = menu_choices(m)
    if _is(turn.text, m.help_words):
        return Outcome("help", (Reply(m.help, choices=menu),))
    if _is(turn.text, m.thanks_words):
        return Outcome("greeting", (Reply(m.thanks, choices=menu),))
    return Outcome("greeting", (Reply(m.greeting, choices=menu),))


def greet(turn: Turn, returning: bool) -> Outcome:
    """Return the greeting for a new friend (or a welcome back for a returning one)."""
    m = turn.kb.messages
    return Outcome("greeting", (Reply(m.welcome_back if returning else m.greeting, choices=menu_choices(m)),))
