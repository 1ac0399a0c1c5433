"""Questions about another municipality's programs ("仙台市の融資制度"): not ours, and said so plainly."""
from __future__ import annotations

from handlers import faq
from handlers.base import Outcome, Turn
from knowledge.text import municipalities


def _other_place(turn: Turn) -> str | None:
    """Return the first municipality or prefecture the message names that the bot does not serve."""
    if turn.postback:
        return None
    home = turn.kb.messages.home_places
    return next((place for place in municipalities(turn.text) if place not in home), None)


def wants(turn: Turn) -> bool:
    """Tell whether the message asks about a place the bot does not serve."""
    return _other_place(turn) is not None


def respond(turn: Turn) -> Outcome:
    """Say which city the bot knows and where to ask instead; the question is recorded like any fallback."""
    place = _other_place(turn)
    return faq.fallback(turn, None, turn.kb.messages.elsewhere.format(place=place))
