"""Questions about programs the bot does not cover: another municipality's ("仙台市の融資制度"), the
state's ("持続化給付金ってまだ申請できる？"), or one's own life's ("自宅をリフォームしたい。市から補助金出る？").
Not ours, and said so plainly, not answered with Iwaki's programs for businesses."""
from __future__ import annotations

from itertools import chain
from typing import Iterator

from handlers import faq
from handlers.base import Outcome, Turn
from knowledge.text import (has_any, has_syllables, municipalities, owner_places, reading_key, spoken_reading,
                            surface_key, word_keys, word_readings)


def _other_place(turn: Turn) -> str | None:
    """Return the first municipality or prefecture the message names that the bot does not serve.

    Named with its suffix (仙台市), or without one as the owner of what is asked (郡山の創業支援) unless
    the knowledge names that place itself (東京 of the head offices moved to Iwaki, パラオ of a study trip).
    Typed in kana, a place is known by its sound, if it is one of the knowledge's other places ("ふくしましの
    ゆうし": 福島市), in whole syllables (not the フクシマシ of ふくしましんきん).
    """
    messages = turn.kb.messages
    named = chain(municipalities(turn.text),
                  (place for place in owner_places(turn.text) if not turn.kb.index.mentions(place)),
                  _places_sounded(turn.text, messages.other_places))  # looked at only while nothing else is found
    return next((place for place in named if place not in messages.home_places), None)


def _places_sounded(text: str, places: list[str]) -> Iterator[str]:
    """Yield the places whose sound the text has in whole syllables."""
    sounds = spoken_reading(text[:500])
    return (place for place, sound in zip(places, word_readings(places)) if sound and has_syllables(sounds, sound))


def _other_program(turn: Turn) -> str | None:
    """Return the (longest) name of another's program the message names, in writing or in kana."""
    names = sorted(turn.kb.messages.other_programs, key=len, reverse=True)
    surface, reading = surface_key(turn.text), reading_key(turn.text)
    return next((name for name, key, sound in zip(names, word_keys(names), word_readings(names))
                 if key in surface or sound in reading), None)


def _personal_matter(turn: Turn) -> bool:
    """Tell whether the message is about a matter of one's own life, with nothing of a business in it.

    A word of business is looked for as written and, of three sounds or more, as sounded: typed in kana,
    "けいえいはったつほじょきんはなんけんしんせいあった" has 経営 (ケイエイ), though also けんしん (健診).
    """
    messages = turn.kb.messages
    if not has_any(turn.text, messages.personal_matters) or has_any(turn.text, messages.business_words):
        return False
    reading = reading_key(turn.text)
    return not any(len(sound) >= 3 and sound in reading for sound in word_readings(messages.business_words))


def wants(turn: Turn) -> bool:
    """Tell whether the message asks about a place, a program or a matter the bot does not serve."""
    return not turn.postback and (_other_place(turn) is not None or _other_program(turn) is not None
                                  or _personal_matter(turn))


def respond(turn: Turn) -> Outcome:
    """Say what the bot covers and where to ask instead; the question is recorded like any fallback."""
    messages = turn.kb.messages
    place = _other_place(turn)
    if place is not None:
        return faq.fallback(turn, None, messages.elsewhere.format(place=place))
    program = _other_program(turn)
    if program is not None:
        return faq.fallback(turn, None, messages.other_program.format(program=program))
    return faq.fallback(turn, None, messages.personal_matter)
