"""Questions about programs the bot does not cover: another municipality's ("仙台市の融資制度") or the
state's ("持続化給付金ってまだ申請できる？"). Not ours, and said so plainly, not answered with Iwaki's."""
from __future__ import annotations

from handlers import faq
from handlers.base import Outcome, Turn
from knowledge.text import municipalities, reading_key, surface_key, word_keys, word_readings


def _other_place(turn: Turn) -> str | None:
    """Return the first municipality or prefecture the message names that the bot does not serve."""
    home = turn.kb.messages.home_places
    return next((place for place in municipalities(turn.text) if place not in home), None)


def _other_program(turn: Turn) -> str | None:
    """Return the (longest) name of another's program the message names, in writing or in kana."""
    names = sorted(turn.kb.messages.other_programs, key=len, reverse=True)
    surface, reading = surface_key(turn.text), reading_key(turn.text)
    return next((name for name, key, sound in zip(names, word_keys(names), word_readings(names))
                 if key in surface or sound in reading), None)


def wants(turn: Turn) -> bool:
    """Tell whether the message asks about a place or a program the bot does not serve."""
    return not turn.postback and (_other_place(turn) is not None or _other_program(turn) is not None)


def respond(turn: Turn) -> Outcome:
    """Say what the bot covers and where to ask instead; the question is recorded like any fallback."""
    messages = turn.kb.messages
    place = _other_place(turn)
    if place is not None:
        return faq.fallback(turn, None, messages.elsewhere.format(place=place))
    return faq.fallback(turn, None, messages.other_program.format(program=_other_program(turn)))
