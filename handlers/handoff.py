"""Hand a business owner over to the secretariat: ask who they are and what it is about, get consent, create a lead.

While a lead is open and the secretariat answers from Slack, what the user writes goes to the
lead's Slack thread instead of being answered by the bot, until the lead is resolved or the
user asks to go back to the bot.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Mapping
from zoneinfo import ZoneInfo

import holidays

from handlers import faq
from handlers.base import CreateLead, Outcome, RelayToSecretariat, Turn
from handlers.replies import Card, Choice, Reply
from handlers.smalltalk import menu_choices
from knowledge.handoff import HandoffFile, OfficeHours
from knowledge.text import counterparts, has_any, surface_key, word_keys

NAME = "handoff"
START = f"{NAME}:start"
RESUME = f"{NAME}:resume"
CONSENT = f"{NAME}:consent"
DECLINE = f"{NAME}:decline"
RESTART = f"{NAME}:restart"
NO_BUSINESS = f"{NAME}:no_business"
RELEASE = f"{NAME}:release"

TOKYO = ZoneInfo("Asia/Tokyo")
STEPS = ("name", "business", "contact", "topic", "preferred_time", "confirm")
MAX_LENGTH = {"name": 50, "business": 100, "contact": 100, "topic": 1000, "preferred_time": 100}
# "経営のことで相談したい" is a handoff; "信用組合に相談したいです" is a question the FAQ answers.
_MAYBE_START_MAX_CHARS = 40


def wording(turn: Turn) -> HandoffFile:
    """Return the handoff wording and office hours from the knowledge."""
    return turn.kb.section("handoff.yaml")


# --- entry -------------------------------------------------------------------------------------


def wants(turn: Turn) -> bool:
    """Tell whether the user asks to talk to a person at the secretariat."""
    if turn.postback == START:
        return True
    if turn.postback:
        return False
    w = wording(turn)
    if has_any(turn.text, w.start_words):
        return True
    if len(turn.text) <= _MAYBE_START_MAX_CHARS and has_any(turn.text, w.maybe_start_words):
        # "Xに(経営)相談したい" names whom to ask (a desk the FAQ knows); "Xについて相談したい" names the topic.
        return not counterparts(turn.text) and not _asks_what_the_faq_answers(turn)
    return False


def _asks_what_the_faq_answers(turn: Turn) -> bool:
    """Tell whether the message also asks outright what the FAQ answers, if only as a guess ("補助金のことで問い合わせ
    たい。電話番号は？", "…問い合わせたいんだけど、どこに電話すればいい？"): the person stays one tap away."""
    return bool(faq.QUESTION_MARK.search(turn.text)) and faq.answers(turn.kb, turn.text)


def start(turn: Turn) -> Outcome:
    """Explain the handoff and ask the first question (the router keeps it out of group chats)."""
    w = wording(turn)
    intro = w.intro
    if turn.open_lead_id is not None and not turn.handoff_live:
        intro = f"{w.queued_note}\n{intro}"
    return _ask(turn, "name", {}, prefix=intro)


def cancel(turn: Turn) -> Outcome:
    """Stop without sending anything."""
    return Outcome("cancel", (Reply(wording(turn).cancelled, choices=menu_choices(turn.kb.messages)),))


# --- the questions -----------------------------------------------------------------------------


def step(turn: Turn) -> Outcome | None:
    """Take the answer to the pending question; None if the message is not an answer to it."""
    data = dict(turn.flow_data)
    current: str = data["step"] if data.get("step") in STEPS else "name"
    if turn.postback in (RESUME, START):
        return _ask(turn, current, data)
    if current == "confirm":
        return _confirm(turn, data)
    if turn.postback == NO_BUSINESS and current == "business":
        return _next(turn, data, current, wording(turn).no_business_value)
    if turn.postback or _is_menu_text(turn) or (current != "topic" and _looks_like_question(turn.text)):
        return None
    answer = " ".join(turn.text.split())
    w = wording(turn)
    if not answer:
        return _ask(turn, current, data, prefix=w.empty_answer)
    if len(answer) > MAX_LENGTH[current]:
        return _ask(turn, current, data, prefix=w.too_long.format(max=MAX_LENGTH[current]))
    if current == "contact":
        contact = normalise_contact(answer)
        if contact is None:
            return _ask(turn, current, data, prefix=w.invalid_contact, repeat_question=False)
        answer = contact
    return _next(turn, data, current, answer)


def _next(turn: Turn, data: dict[str, Any], current: str, answer: str) -> Outcome:
    data[current] = answer
    following = STEPS[STEPS.index(current) + 1]
    return _ask(turn, following, data)


def _ask(turn: Turn, which: str, data: Mapping[str, Any], prefix: str | None = None,
         repeat_question: bool = True) -> Outcome:
    """Ask one question (or show the summary and consent), keeping the flow open."""
    w = wording(turn)
    data = {**data, "step": which}
    cancel_choice = Choice(turn.kb.messages.cancel_words[0], "cancel")
    if which == "confirm":
        replies = _summary(turn, data)
        if prefix:
            replies = (Reply(prefix),) + replies
        return Outcome(NAME, replies, flow=NAME, flow_data=data, text_is_answer=True)
    question = {"name": w.ask_name, "business": w.ask_business, "contact": w.ask_contact,
                "topic": w.ask_topic, "preferred_time": w.ask_time}[which]
    choices: tuple[Choice, ...] = ()
    if which == "business":
        choices = (Choice(w.no_business_label, NO_BUSINESS),)
    elif which == "preferred_time":
        choices = tuple(Choice(label) for label in w.time_choices)
    text = "\n".join(part for part in (prefix, question if repeat_question else None) if part)
    return Outcome(NAME, (Reply(text, choices=choices + (cancel_choice,)),), flow=NAME, flow_data=data,
                   text_is_answer=True)


def _summary(turn: Turn, data: Mapping[str, Any]) -> tuple[Reply, ...]:
    w = wording(turn)
    labels = w.summary_labels
    rows = [(labels.name, data["name"]), (labels.business, data["business"]), (labels.contact, data["contact"]),
            (labels.topic, data["topic"]), (labels.preferred_time, data["preferred_time"])]
    eligibility = turn.memory.get("eligibility")
    if eligibility:
        headline = eligibility.get("headline") if isinstance(eligibility, Mapping) else None
        rows.append((labels.eligibility, str(headline or " / ".join(describe_answers(eligibility)))[:300]))
    card = Card(kind="lead", title=w.summary, alt_text=w.summary, rows=tuple(rows))
    choices = (Choice(w.consent_label, CONSENT), Choice(w.decline_label, DECLINE), Choice(w.restart_label, RESTART))
    return (Reply(cards=(card,)), Reply(w.consent, choices=choices))


def _confirm(turn: Turn, data: dict[str, Any]) -> Outcome | None:
    w = wording(turn)
    key = surface_key(turn.text)
    if turn.postback == CONSENT or (not turn.postback and key == surface_key(w.consent_label)):
        return _create(turn, data)
    if turn.postback == DECLINE or (not turn.postback and key == surface_key(w.decline_label)):
        return Outcome(NAME, (Reply(w.declined, choices=menu_choices(turn.kb.messages)),), text_is_answer=True)
    if turn.postback == RESTART or (not turn.postback and key == surface_key(w.restart_label)):
        return _ask(turn, "name", {})
    return None


def _create(turn: Turn, data: Mapping[str, Any]) -> Outcome:
    w = wording(turn)
    details: dict[str, Any] = {"channel": turn.channel}
    if turn.memory.get("eligibility"):
        details["eligibility"] = turn.memory["eligibility"]
    lead = CreateLead(name=data["name"], business=data["business"], contact=data["contact"], topic=data["topic"],
                      preferred_time=data["preferred_time"], details=details)
    when = expected_answer(turn.now, w)
    if turn.handoff_live:
        reply = Reply(w.done_live.format(when=when), choices=(Choice(w.release_label, RELEASE),))
    else:
        reply = Reply(w.done_queued.format(when=when), choices=menu_choices(turn.kb.messages))
    memory = {k: v for k, v in turn.memory.items() if k not in ("handoff_released", "handoff_acked")}
    return Outcome(NAME, (reply,), effects=(lead,), memory=memory, text_is_answer=True)


def _is_menu_text(turn: Turn) -> bool:
    key = surface_key(turn.text)
    return key in word_keys(item.text for item in turn.kb.messages.menu)


def _looks_like_question(text: str) -> bool:
    return "?" in text or "？" in text


# --- contact -----------------------------------------------------------------------------------

_DASHES = re.compile(r"(?<=\d)\s*[‐‑‒–—―−ーｰ-]\s*(?=\d)")
_PHONE = re.compile(r"(?:\+81|0)[\d\-() ]{8,16}\d")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
_MOBILE_PREFIXES = ("020", "050", "060", "070", "080", "090", "0800")


def normalise_contact(text: str) -> str | None:
    """Return the contact written in ASCII if it holds a Japanese phone number or an e-mail address, else None."""
    normal = _DASHES.sub("-", unicodedata.normalize("NFKC", text).strip())
    email = _EMAIL.search(normal)
    if email and len(email.group()) <= 254:
        return email.group() if email.group() == normal else normal
    for match in _PHONE.finditer(normal):
        phone = phone_number(match.group())
        if phone is not None:
            return phone if match.group() == normal else normal
    return None


def phone_number(text: str) -> str | None:
    """Return a Japanese phone number in its written form (separators as hyphens; mobiles hyphenated), or None."""
    if text.startswith("+81"):
        text = "0" + text[3:].lstrip(" -")
    digits = re.sub(r"\D", "", text)
    if not digits.startswith("0") or digits.startswith("00"):
        return None
    if not (len(digits) == 10 or (len(digits) == 11 and digits.startswith(_MOBILE_PREFIXES))):
        return None
    if digits != text:
        return re.sub(r"\D+", "-", text).strip("-")
    if len(digits) == 11:
        return f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"
    return digits


# --- what to tell about the answer time ----------------------------------------------------------


@lru_cache(maxsize=16)
def _public_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("JP", years=year).keys())


def is_office_day(day: date, hours: OfficeHours) -> bool:
    """Tell whether the secretariat works on this day (a weekday, no public holiday, no closure)."""
    return day.weekday() < 5 and day not in _public_holidays(day.year) and f"{day:%m-%d}" not in hours.closed_days


def is_open(at: datetime, hours: OfficeHours) -> bool:
    """Tell whether the secretariat is at work at this moment."""
    local = at.astimezone(TOKYO)
    return is_office_day(local.date(), hours) and hours.opens <= local.time() < hours.closes


def next_opening(at: datetime, hours: OfficeHours) -> datetime:
    """Return the moment the secretariat is next at work (this moment if it is now)."""
    local = at.astimezone(TOKYO)
    if is_open(local, hours):
        return local
    day = local.date()
    if not (is_office_day(day, hours) and local.time() < hours.opens):
        day += timedelta(days=1)
        while not is_office_day(day, hours):
            day += timedelta(days=1)
    return datetime.combine(day, hours.opens, tzinfo=TOKYO)


def add_office_minutes(start: datetime, minutes: float, hours: OfficeHours) -> datetime:
    """Return the moment when this many minutes of office time have passed since start."""
    moment, left = next_opening(start, hours), timedelta(minutes=minutes)
    while True:
        closing = datetime.combine(moment.date(), hours.closes, tzinfo=TOKYO)
        if moment + left <= closing:
            return moment + left
        left -= closing - moment
        moment = next_opening(closing, hours)


def expected_answer(now: datetime, w: HandoffFile) -> str:
    """Say when the secretariat will get back: today within office hours, else the next office day."""
    hours = w.office_hours
    if is_open(now, hours):
        return w.expect_today.format(closes=_clock(hours.closes))
    opening = next_opening(now, hours)
    return w.expect_next_day.format(date=f"{opening.month}月{opening.day}日", weekday=w.weekday_names[opening.weekday()],
                                    opens=_clock(hours.opens))


def _clock(value: time) -> str:
    return f"{value.hour}:{value.minute:02d}"


# --- while the secretariat answers in Slack ------------------------------------------------------


def intercept(turn: Turn) -> Outcome | None:
    """Pass what the user writes to the secretariat while a person handles their open lead."""
    lead_id = turn.open_lead_id
    w = wording(turn)
    if (not turn.handoff_live or lead_id is None or turn.is_group or turn.conversation.flow is not None
            or turn.memory.get("handoff_released") == lead_id):
        if turn.postback == RELEASE:  # an old "ボットに戻る" button, tapped after the chat was handed back
            return Outcome(NAME, (Reply(w.released, choices=menu_choices(turn.kb.messages)),), text_is_answer=True)
        return None
    memory = dict(turn.memory)
    if turn.postback == RELEASE or (not turn.postback and has_exact(turn.text, w.release_words + [w.release_label])):
        memory["handoff_released"] = lead_id
        return Outcome(NAME, (Reply(w.released, choices=menu_choices(turn.kb.messages)),),
                       effects=(RelayToSecretariat(lead_id, w.slack.user_released, note=True),), memory=memory,
                       text_is_answer=True)
    if not turn.text.strip():
        return Outcome(NAME, (), memory=memory, text_is_answer=True)
    replies: tuple[Reply, ...] = ()
    if memory.get("handoff_acked") != lead_id:
        memory["handoff_acked"] = lead_id
        replies = (Reply(w.relay_ack, choices=(Choice(w.release_label, RELEASE),)),)
    return Outcome(NAME, replies, effects=(RelayToSecretariat(lead_id, turn.text),), memory=memory,
                   text_is_answer=True)


def has_exact(text: str, words: list[str]) -> bool:
    """Tell whether the text is one of the words, compared by surface key."""
    key = surface_key(text)
    return bool(key) and key in word_keys(words)


def describe_answers(value: Any) -> list[str]:
    """Render stored questionnaire answers as short lines (the eligibility summary, or any JSON shape)."""
    if isinstance(value, Mapping) and isinstance(value.get("answers"), Mapping):
        lines = [f"{question}：{answer}" for question, answer in value["answers"].items()]
        lines.extend(str(value[key]) for key in ("headline", "estimate") if value.get(key))
        return lines
    if isinstance(value, Mapping):
        lines = []
        for key, item in value.items():
            if isinstance(item, (Mapping, list)):
                lines.extend(f"{key}: {line}" for line in describe_answers(item))
            else:
                lines.append(f"{key}: {item}")
        return lines
    if isinstance(value, list):
        lines = []
        for item in value:
            if isinstance(item, Mapping) and {"question", "answer"} <= set(item):
                lines.append(f"{item['question']}: {item['answer']}")
            elif isinstance(item, (list, tuple)) and len(item) == 2:
                lines.append(f"{item[0]}: {item[1]}")
            else:
                lines.extend(describe_answers(item))
        return lines
    return [str(value)]
