"""Greetings, thanks and help: short friendly replies with the menu."""
from __future__ import annotations

import re

from handlers.base import Outcome, Turn
from handlers.replies import Choice, Reply
from knowledge.schema import MessagesFile
from knowledge.text import nfkc, surface_key, to_katakana, word_keys

# A greeting is short; "こんにちは、補助金の上限は？" is a question, not a greeting.
_MAX_EXTRA_CHARS = 4
_CONTENT = re.compile(r"[\u4e00-\u9fff\u30a1-\u30fa]{2,}")  # a word of a topic (補助金, セミナー), not 教(えて)


def menu_choices(messages: MessagesFile) -> tuple[Choice, ...]:
    """Return the main menu as choices (typing a label works like tapping it)."""
    return tuple(Choice(item.label, item.text) for item in messages.menu)


def _is(text: str, words: list[str], topic_free: bool = False) -> bool:
    """Tell whether the text is one of the words, give or take a few characters (and, `topic_free`, no
    word in kanji or katakana among them: "補助金で何ができる" asks about the subsidy, not how to use the bot)."""
    key = surface_key(text)
    if not key:
        return False
    for w in word_keys(words):
        if w and w in key and len(key) - len(w) <= _MAX_EXTRA_CHARS:
            if not topic_free:
                return True
            # The key is in hiragana: the rest is looked at as written, the word left out in either kana.
            return not _CONTENT.search(nfkc(text).replace(w, "").replace(to_katakana(w), ""))
    return False


def _is_help(text: str, m: MessagesFile) -> bool:
    return _is(text, m.help_words, topic_free=True)


def wants(turn: Turn) -> bool:
    """Tell whether the message is a greeting, thanks or a request for help."""
    m = turn.kb.messages
    return _is(turn.text, m.greeting_words) or _is(turn.text, m.thanks_words) or _is_help(turn.text, m)


def respond(turn: Turn) -> Outcome:
    """Answer a greeting, thanks or help request."""
    m = turn.kb.messages
    menu = menu_choices(m)
    if _is_help(turn.text, m):
        return Outcome("help", (Reply(m.help, choices=menu),))
    if _is(turn.text, m.thanks_words):
        return Outcome("greeting", (Reply(m.thanks, choices=menu),))
    return Outcome("greeting", (Reply(m.greeting, choices=menu),))


def greet(turn: Turn, returning: bool) -> Outcome:
    """Return the greeting for a new friend (or a welcome back for a returning one)."""
    m = turn.kb.messages
    return Outcome("greeting", (Reply(m.welcome_back if returning else m.greeting, choices=menu_choices(m)),))
