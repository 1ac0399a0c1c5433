"""Seminar suggestions: what is on and when, by topic, a few at a time, with details, reminders and honest "nothing ahead"."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import Any, Callable, Container

from handlers import faq
from handlers.base import AddReminder, Outcome, Turn
from handlers.dates import TOKYO, Period, find_period, long_date, month_span, short_date, today_in_tokyo
from handlers.replies import Card, CardButton, Choice, Reply, replies_to_json
from knowledge.index import Hit
from knowledge.model import Knowledge
from knowledge.seminars import FILE, Occurrence, Seminar, SeminarCalendar, TopicMatch
from knowledge.text import has_any, nfkc, reading_key, surface_key, word_keys

INTENT = "seminars"
PREFIX = "seminars:"
HANDOFF = "handoff:start"
PAGE_SIZE = 5
# Reminders are pushed the day before at this hour (Asia/Tokyo); only LINE can push to a user today.
REMIND_HOUR = 9
REMINDER_CHANNELS = frozenset({"line"})
# A month-only period says nothing about single days or weeks: shorter windows list dated occurrences only.
SHORT_WINDOW_DAYS = 28
MAX_DATES_ON_CARD = 6
# Seminars of a topic said to be over when asked when they were held (いつだった？), the most matching first.
MAX_HELD = 3
_MEMORY_KEY = "seminar_results"
# With nothing ahead, the one program that held a topic's seminars follows if the FAQ ranks it this high.
PROGRAM_AMONG = 3
# A seminar keyword this long ("ネットで集客", "SNS活用") is specific enough to make a question about seminars.
SPECIFIC_KEYWORD = 4


@dataclass(frozen=True)
class Question:
    """What a message asks of the calendar: its time, topics and kind of request, each read when first needed."""

    text: str
    now: datetime
    calendar: SeminarCalendar

    @cached_property
    def period(self) -> Period | None:
        """Return the time the message names, if any."""
        return find_period(self.text, self.now)

    @cached_property
    def match(self) -> TopicMatch:
        """Return the seminars, categories and organisers the message names."""
        return self.calendar.match(self.text)

    @cached_property
    def seminar_word(self) -> bool:
        """Tell whether the message says seminar (セミナー, 講座 …), or one's sound in other kanji (検収会), or
        mistypes one beside what a seminar is about ("経営計画 口座 こんどいつ"; not "口座振替できる？")."""
        words = self.calendar.file.words
        return (has_any(self.text, words.seminar) or self.calendar.sounds_like_a_seminar_word(self.text)
                or (has_any(self.text, words.slip) and _about_something(self)))

    @cached_property
    def event_word(self) -> bool:
        """Tell whether the message has an everyday word for an event (教室, 塾 …)."""
        return has_any(self.text, self.calendar.file.words.event)

    @cached_property
    def when_word(self) -> bool:
        """Tell whether the message asks when."""
        return has_any(self.text, self.calendar.file.words.when)

    @cached_property
    def held_word(self) -> bool:
        """Tell whether the message asks when it was held (いつだった？), not "if it is" (だったら)."""
        surface = surface_key(self.text)
        return any(word and re.search(re.escape(word) + "(?!ら)", surface)
                   for word in word_keys(self.calendar.file.words.held))

    @cached_property
    def organisers_programs(self) -> set[str | None]:
        """Return the programs (None for a seminar of no program) of the organisers the message names."""
        return {s.program for s in self.calendar.seminars.values() if s.organiser in self.match.organisers}

    @cached_property
    def learn_word(self) -> bool:
        """Tell whether the message wants to learn something."""
        return has_any(self.text, self.calendar.file.words.learn)

    @cached_property
    def whats_on(self) -> bool:
        """Tell whether the message asks what is on (何かある)."""
        return has_any(self.text, self.calendar.file.words.whats_on)

    @cached_property
    def recommend(self) -> bool:
        """Tell whether the message asks for a recommendation."""
        return has_any(self.text, self.calendar.file.words.recommend)


def calendar(kb: Knowledge) -> SeminarCalendar:
    """Return the loaded seminar calendar."""
    return kb.section(FILE)


def understand(turn: Turn) -> Question:
    """Read the time, topics and kind of request in a message (each part when first needed)."""
    return Question(turn.text[:500], turn.now, calendar(turn.kb))


def wants(turn: Turn) -> bool:
    """Tell whether the message asks about seminars (and is not better answered by the FAQ)."""
    if turn.postback:
        return turn.postback.startswith(PREFIX)
    q = understand(turn)
    if not q.seminar_word and has_any(q.text, q.calendar.file.words.where_to_ask):
        return False  # "来年独立したいんですが、どこに相談すればいい？": whom to ask, not when
    if q.seminar_word or q.match.named or (q.event_word and _about_something(q)):
        return not _faq_knows_better(turn, q)
    # Without a seminar word, a wish to learn a seminar topic ("簿記を勉強したい"), a seminar's own
    # phrase ("ネットで集客"), or a period with a topic or a "what is on" ("ちざい 今月", "来週なにか
    # ある？") is ours only when the FAQ has no sure answer. A topic with only a question of when
    # ("確定申告の締め切りはいつ？") is not: it is rarely about a seminar.
    if q.match.is_topical and (q.when_word or q.period is not None) and _scheduled(turn, q):
        # "知財の相談 次いつ", "弁護士の無料相談はいつ？": a date of the topic's sessions is asked and there
        # is one to give, which an organiser's contact card would not.
        return not _faq_knows_better(turn, q)
    if _only_the_topic(q):
        # A topic typed alone ("簿記", "経営計画") is ours while such a seminar is ahead, unless the FAQ is sure
        # of a program of its seminars: the entry it is surest of otherwise (創業支援事業計画 for 経営計画) is
        # not what the word asks. With none ahead, so it is where a seminar's title has the word: that there
        # were such ("簿記": よくわかる3級簿記講座, "展示会") tells more than a fallback or another entry. Not a word
        # of a category only (確定申告 is no seminar's subject, though a tax seminar is in its category), nor
        # the name of an entry the FAQ is sure of (創業支援事業計画).
        selected = q.calendar.select(q.match)
        hits = faq.search(turn.kb, turn.text, limit=2)
        if not _scheduled(turn, q) and (not any(_titled_by(s, q) for s in selected)
                                         or (hits and hits[0].score >= faq.SURE_AT)):
            return False
        return not (faq.is_confident(hits) and hits[0].entry_id in {s.program for s in selected})
    # So is a seminar's own phrase alone: "消費税の軽減税率って外食は何%？" names the 軽減税率 seminar's keyword,
    # and "none is scheduled" would not answer it.
    specific = any(len(k) >= SPECIFIC_KEYWORD for k in word_keys(q.match.keywords)) and _scheduled(turn, q)
    dated = q.period is not None and (q.match.is_topical or q.whats_on)
    if (q.match.is_topical and q.learn_word) or specific or dated:
        hits = faq.search(turn.kb, turn.text, limit=2)
        # The calendar's own entry is no surer answer to "今月なんかある？" than the month's seminars.
        return not faq.is_confident(hits) or _asks_what_is_on_not_the_calendar(q, hits[0].entry_id)
    return False


def _only_the_topic(q: Question) -> bool:
    """Tell whether the message is nothing but the calendar's words for a topic ("簿記", "ちざい")."""
    if not q.match.is_topical:
        return False
    said = len(reading_key(q.text))
    # Each sound once: 経営の相談 and 経営相談 are one word found twice in "ｺｰﾃﾞｨﾈｰﾀｰに経営相談したい".
    return said > 0 and said <= sum(len(sound) for sound in {reading_key(w) for w in q.match.words})


def _asks_what_is_on_not_the_calendar(q: Question, entry_id: str) -> bool:
    """Tell whether the FAQ's calendar entry was found for a question of what is on, not of the calendar itself."""
    return entry_id == q.calendar.file.calendar_entry and not has_any(q.text, q.calendar.file.words.calendar)


def _scheduled(turn: Turn, q: Question) -> bool:
    """Tell whether a seminar the question is about takes place in its period (from today when it names none)."""
    today = today_in_tokyo(turn.now)
    return bool(_upcoming(q.calendar.select(q.match), q.period or Period(today, None, ""), today))


def _about_something(q: Question) -> bool:
    """Tell whether the message names a topic, an organiser or a time."""
    return q.match.is_topical or bool(q.match.organisers) or q.period is not None


def _faq_knows_better(turn: Turn, q: Question) -> bool:
    """Leave to the FAQ what it answers better: a program's own facts, or what the calendar itself is.

    A program the question's seminars belong to is left to the FAQ while such a seminar is ahead; with
    none ahead, the answer says so first, and the FAQ's follows (_answer).
    """
    if q.recommend:
        return False
    hits = faq.search(turn.kb, turn.text, limit=2)
    if not hits:
        return False
    if _asks_a_programs_fact(turn, q, hits):
        # But a question of a topic's seminars with none ahead is told so first, and the FAQ's answer follows
        # ("6次化の新商品の事例が出てるセミナーってある？").
        return not (q.match.is_topical and q.seminar_word and not q.held_word and not _scheduled(turn, q))
    if q.period is not None:
        return False
    cal = calendar(turn.kb)
    entry_id = hits[0].entry_id
    # A seminar the question names or is about, or the one program of the organiser it names
    # ("いわき信組のセミナー"), has an FAQ entry of its own, and the FAQ found it: it tells what the
    # program is, and answers "いつ" when it has a schedule fact.
    about = {s.program for s in cal.seminars.values() if q.match.scores.get(s.id)}
    if (entry_id in about or q.organisers_programs == {entry_id}) and hits[0].score >= faq.SUGGEST_AT:
        when_untold = q.when_word and not faq.asked_facts(turn.text, turn.kb.entries[entry_id], turn.kb.index)
        return not when_untold and _scheduled(turn, q)
    if not (q.match.is_topical or q.match.named or q.match.organisers) and entry_id != cal.file.calendar_entry:
        # A seminar word and nothing the calendar knows ("ﾊﾟﾗｵ研修はいつ行われましたか"): the FAQ's answer,
        # even a guess, tells more than a list of every seminar.
        return faq.answers(turn.kb, turn.text)
    if entry_id == cal.file.calendar_entry and has_any(turn.text, cal.file.words.calendar) and not q.match.is_topical:
        # The calendar itself ("セミナーカレンダーはどこで見られる？"), answered or guessed with the fact asked
        # ("セミナーカレンダーに新しく追加されたのは何編？").
        return faq.answers(turn.kb, turn.text)
    if not faq.is_confident(hits) or entry_id == cal.file.calendar_entry:
        return False
    if q.when_word:
        return False
    selected = cal.select(q.match) if q.match.is_topical or q.match.organisers else []
    return all(s.program is not None for s in selected)


def _asks_a_programs_fact(turn: Turn, q: Question, hits: list[Hit]) -> bool:
    """Tell whether the FAQ is sure of a program that runs seminars (of any entry, without a seminar word)
    and the question asks one of its facts other than when ("企業活性化プロジェクトは今年どこの会社が参加して
    ますか", "パラオ研修っていつ行ったの", "よろず 相談件数 今年度")."""
    if (q.seminar_word and hits[0].entry_id not in q.calendar.programs) or not faq.is_confident(hits):
        return False
    asked = nfkc(turn.text)
    for word in q.calendar.file.words.when:
        asked = asked.replace(nfkc(word), " ")
    return bool(faq.asked_facts(asked, turn.kb.entries[hits[0].entry_id], turn.kb.index))


def respond(turn: Turn) -> Outcome:
    """Answer with the matching seminars still ahead, or say plainly that none is scheduled."""
    cal = calendar(turn.kb)
    if turn.postback and turn.postback.startswith(PREFIX):
        return _tap(turn, cal, turn.postback[len(PREFIX):])
    return _answer(turn, cal, understand(turn))


# --------------------------------------------------------------------------- answering a question

Listing = list[tuple[Seminar, list[Occurrence]]]


def _answer(turn: Turn, cal: SeminarCalendar, q: Question) -> Outcome:
    w = cal.wording
    today = today_in_tokyo(turn.now)
    seminars = cal.select(q.match)
    kind = q.match.kind or w.seminar_word
    what = w.topic_word.format(topic=q.match.topic, kind=kind) if q.match.topic else kind
    period = q.period or Period(today, None, "")
    lines: list[str] = []
    if period.end is not None and period.end < today:
        lines.append(w.past_range.format(when=period.label))
        period = Period(today, None, "")
    preferred_tags: tuple[str, ...] = ()
    if q.recommend and not q.match.is_topical:
        context = _context_tags(turn, cal)
        if context:
            liked = [s for s in seminars if set(s.tags) & set(context)]
            topic = "・".join(context)
            if _upcoming(liked, period, today):
                lines.append(w.recommend_intro.format(topic=topic))
                preferred_tags = context
            else:
                lines.append(w.recommend_none.format(topic=topic))
    listing = _upcoming(seminars, period, today, prefer=preferred_tags)
    memory = _remember_topic(turn, q)
    if listing:
        if q.match.is_topical and (q.when_word or period.is_open):
            seminar, occurrences = listing[0]
            lines.append(w.next_intro.format(when=_when_short(_primary(occurrences, today)), title=seminar.title))
        return _list_page(turn, cal, listing, _scope(period) + what, 0, period, lines, memory)

    # Nothing matching in the window.
    # A seminar named, or the topic's when asked when they were, or asked about without a seminar word or
    # a time (a wish to learn or to consult: "ろぼっとの べんきょう"): said to be over, with their dates. A
    # question of seminars ("IT関係のセミナーある？") is not told of seminars of the past.
    recalls_the_topic = q.match.is_topical and (q.held_word or (not q.seminar_word and q.period is None))
    past_named = sorted((s for s in seminars if (s.id in q.match.named or recalls_the_topic)
                         and not _upcoming([s], Period(today, None, ""), today)),
                        key=lambda s: not _titled_by(s, q))[:MAX_HELD]  # 経営計画作成支援セミナー first for 経営計画
    for seminar in past_named:
        lines.append(w.past_named.format(title=seminar.title, held=_held(seminar, today)))
    if past_named and not _upcoming(seminars, Period(today, None, ""), today):
        lines.append(w.no_next)
    elsewhere = _upcoming(seminars, Period(today, None, ""), today) if not period.is_open else []
    if not past_named or elsewhere:
        lines.append(w.none_upcoming.format(when=f"{period.label}に" if period.label else "", what=what))
    if period.is_open:
        # Nothing of the topic is ahead, and the FAQ knows a program that held such seminars ("事業承継の
        # セミナーある？", "6次化の事例が聞けるセミナーってある？", "いわき信組のセミナーってどんなの"): its
        # answer follows ours.
        guessed, answered = _programs_behind(turn.kb, cal, q)
        known = faq.known_answer(turn, "\n".join(lines), guessed, answered, told=cal.file.calendar_entry)
        program = _the_topics_program(q, seminars) if known is None else None
        if program is not None and program in {hit.entry_id for hit in faq.search(turn.kb, turn.text, PROGRAM_AMONG)}:
            # The FAQ is unsure, but among its closest is the one program that held the topic's seminars
            # ("跡を継ぐ息子が勉強できる講座あっぺか": いわき後継者アカデミー).
            known = faq.entry_answer(turn, program, "\n".join(lines))
        if known is not None:
            changed = {k: v for k, v in (known.memory or {}).items() if turn.memory.get(k) != v}
            return replace(known, memory={**memory, **changed})
    if elsewhere:
        lines.append(w.elsewhere_intro.format(what=what))
        return _list_page(turn, cal, elsewhere, _scope(Period(today, None, "")) + what, 0,
                          Period(today, None, ""), lines, memory)
    lines.append(w.calendar_note.format(calendar=cal.file.calendar_name, as_of=cal.file.as_of,
                                        url=cal.file.calendar_url))
    lines.append(w.organisers_line.format(phones=_phones(seminars or list(cal.seminars.values()))))
    reply = Reply("\n".join(lines), choices=(faq.handoff_choice(turn),))
    return Outcome(INTENT, (reply,), memory=memory)


def _titled_by(seminar: Seminar, q: Question) -> bool:
    """Tell whether the seminar's title has one of the calendar's words the question names (簿記 in 3級簿記講座)."""
    title = surface_key(seminar.title)
    return any(word and word in title for word in word_keys(q.match.words))


def _programs_behind(kb: Knowledge, cal: SeminarCalendar, q: Question) -> tuple[Container[str], Container[str]]:
    """Return the FAQ entries that may follow "none is ahead": those a guess will do for, and those the FAQ
    must be sure of.

    For a topic or a named seminar, the programs that run seminars; without a seminar word (a wish to
    learn or to consult: "経営の悩みを専門家に相談したい"; not a topic typed alone, "展示会", whose seminars
    are what it asks), any entry the FAQ is sure of that names none of the calendar's seminars too (a
    desk's card names its seminars of the past: "担当：飲食店経営者のための…セミナー"). For an organiser,
    its one program.
    """
    if q.match.is_topical or q.match.named:
        return cal.programs, (frozenset() if q.seminar_word or _only_the_topic(q) else _NamingNoSeminar(kb, cal))
    organisers_programs = q.organisers_programs
    return ({program for program in organisers_programs if program} if len(organisers_programs) == 1 else set()), ()


def _the_topics_program(q: Question, seminars: list[Seminar]) -> str | None:
    """Return the one program the seminars of the question's topic belong to (a seminar of no program aside)."""
    if not q.match.is_topical or q.match.named:
        return None
    programs = {s.program for s in seminars if s.program is not None}
    return programs.pop() if len(programs) == 1 else None


@dataclass(frozen=True)
class _NamingNoSeminar:
    """The entries whose answer and facts name none of the calendar's seminars (asked of one entry at a time)."""

    kb: Knowledge
    cal: SeminarCalendar

    def __contains__(self, entry_id: object) -> bool:
        entry = self.kb.entries.get(entry_id) if isinstance(entry_id, str) else None
        if entry is None:
            return False
        texts = [entry.entry.answer, *(fact.value for fact in entry.entry.facts)]
        return not any(s.title in text for s in self.cal.seminars.values() for text in texts)


def _scope(period: Period) -> str:
    return f"{period.label}の" if period.label else "今後の"


def _upcoming(seminars: list[Seminar], period: Period, today: date, prefer: tuple[str, ...] = ()) -> Listing:
    """Return each seminar with its occurrences in the period that have not ended, soonest first."""
    short = period.days is not None and period.days < SHORT_WINDOW_DAYS
    listing: Listing = []
    for seminar in seminars:
        occurrences = [
            o for o in seminar.occurrences
            if o.last >= today and o.last >= period.start and (period.end is None or o.first <= period.end)
            and not (short and o.is_period)
        ]
        if occurrences:
            listing.append((seminar, occurrences))

    def order(item: tuple[Seminar, list[Occurrence]]) -> tuple[bool, bool, tuple[int, int], bool, int, str]:
        seminar, occurrences = item
        first = _primary(occurrences, today)
        # Preferred topics first; what has not begun before a series already running; month by
        # month, the dated days before the series known only by their month. Of the series already
        # running, the one begun most recently first: one begun months ago is the least news.
        running = first.first < today
        start = -first.first.toordinal() if running else first.first.toordinal()
        return (not (set(seminar.tags) & set(prefer)), running, (first.first.year, first.first.month) if not running else (0, 0),
                first.is_period, start, seminar.title)

    listing.sort(key=order)
    return listing


def _primary(occurrences: list[Occurrence], today: date) -> Occurrence:
    """Return the occurrence a card leads with: the first not yet begun, else the one running."""
    return next((o for o in occurrences if o.first >= today), occurrences[0])


def _list_page(turn: Turn, cal: SeminarCalendar, listing: Listing, what: str, offset: int, period: Period,
               lines: list[str], memory: dict[str, Any]) -> Outcome:
    w = cal.wording
    today = today_in_tokyo(turn.now)
    count = len(listing)
    page = listing[offset:offset + PAGE_SIZE]
    first, last = offset + 1, offset + len(page)
    if offset == 0:
        intro = w.list_intro.format(what=what, count=count)
        if count > PAGE_SIZE:
            intro += w.page_note.format(first=first, last=last, count=count)
        lines = [*lines, intro]
    else:
        lines = [*lines, w.more_intro.format(what=what, first=first, last=last, count=count)]
    lines.append(w.list_note.format(url=cal.file.calendar_url))
    cards = tuple(seminar_card(cal, seminar, occurrences, today) for seminar, occurrences in page)
    choices: tuple[Choice, ...] = ()
    if last < count:
        choices = (Choice(w.more_label, f"{PREFIX}more:{last}"),)
    memory = dict(memory)
    memory[_MEMORY_KEY] = {"ids": [s.id for s, _ in listing], "start": period.start.isoformat(),
                           "end": period.end.isoformat() if period.end else None, "what": what}
    return Outcome(INTENT, (Reply("\n".join(lines), cards=cards, choices=choices + (faq.handoff_choice(turn),)),),
                   memory=memory)


def _remember_topic(turn: Turn, q: Question) -> dict[str, Any]:
    """Keep the categories asked about, and which FAQ entry was the last then, for later recommendations."""
    memory = dict(turn.memory)
    if q.match.tags:
        memory["seminar_tags"] = list(q.match.tags)
        memory["seminar_tags_entry"] = turn.memory.get("last_entry")
    return memory


def _context_tags(turn: Turn, cal: SeminarCalendar) -> tuple[str, ...]:
    """Return the categories of what the user asked about last (a seminar topic or an FAQ entry)."""
    remembered = tuple(turn.memory.get("seminar_tags") or ())
    last_entry = turn.memory.get("last_entry")
    if remembered and turn.memory.get("seminar_tags_entry") == last_entry:
        return remembered  # no FAQ question since the seminar question
    entry = turn.kb.entries.get(last_entry) if isinstance(last_entry, str) else None
    if entry is None:
        return remembered
    e = entry.entry
    return cal.tags_of(f"{e.title} {e.short_title}") or cal.tags_of(" ".join(e.keywords[:5])) or remembered


# --------------------------------------------------------------------------- cards and wording


def seminar_card(cal: SeminarCalendar, seminar: Seminar, occurrences: list[Occurrence], today: date,
                 detailed: bool = False) -> Card:
    """Render a seminar with the occurrences asked about: dates, sessions, organiser, phone, what it is about.

    The detailed card (詳細) shows every date with the past ones marked, the series' schedule, and buttons
    to call, to open the city's calendar page and (when feed_url is set) to add the event to a calendar app.
    """
    w = cal.wording
    ahead = [o for o in occurrences if o.last >= today]
    primary = _primary(ahead, today) if ahead else occurrences[-1]
    shown = occurrences if detailed else occurrences[:MAX_DATES_ON_CARD]
    dates = "、".join(_when_short(o) + _status(cal, o, today) for o in shown)
    rows: list[tuple[str, str]] = [(w.row_date, dates + (" ほか" if len(shown) < len(occurrences) else ""))]
    if detailed and seminar.schedule:
        rows.append((w.row_schedule, seminar.schedule))
    sessions = "、".join(dict.fromkeys(s for s in (seminar.sessions_of(o) for o in occurrences) if s))
    if sessions:
        rows.append((w.row_sessions, sessions))
    rows.append((w.row_organiser, seminar.organiser))
    if seminar.phone:
        rows.append((w.row_phone, seminar.phone))
    rows.append((w.row_tags, "・".join(seminar.tags)))
    body = seminar.about
    notes = [o.note for o in occurrences if o.note]
    if notes:
        body += "\n" + "、".join(dict.fromkeys(notes))
    if any(o.is_period for o in occurrences):
        body += "\n" + w.period_note
    remind = CardButton(w.remind_label, data=f"{PREFIX}remind:{seminar.id}:{primary.first.isoformat()}")
    consult = CardButton(w.consult_label, data=HANDOFF)
    if detailed:
        buttons = [CardButton(w.call_label, tel=seminar.phone)] if seminar.phone else []
        buttons.append(CardButton(w.calendar_label, url=cal.file.calendar_url))
        if cal.file.feed_url:
            buttons.append(CardButton(w.add_to_calendar_label, url=f"{cal.file.feed_url.rstrip('/')}/{seminar.id}.ics"))
        buttons.extend([remind, consult] if ahead else [consult])
    else:
        buttons = [CardButton(w.detail_label, data=f"{PREFIX}detail:{seminar.id}"), remind, consult]
    return Card(
        kind="seminar",
        title=seminar.title,
        alt_text=f"{seminar.title}の詳細" if detailed else f"{_when_short(primary)} {seminar.title}",
        subtitle=_when_long(primary) + _status(cal, primary, today),
        rows=tuple(rows),
        body=body,
        footer=w.footer.format(source=seminar.source, as_of=cal.file.as_of),
        buttons=tuple(buttons),
    )


def _when_short(o: Occurrence) -> str:
    return month_span(o.first, o.last) if o.is_period else short_date(o.first)


def _when_long(o: Occurrence) -> str:
    return month_span(o.first, o.last) if o.is_period else long_date(o.first)


def _status(cal: SeminarCalendar, o: Occurrence, today: date) -> str:
    w = cal.wording
    if o.last < today:
        return f"（{w.status_past}）"
    if not o.is_period and o.first == today:
        return f"（{w.status_today}）"
    if o.is_period and o.first < today:
        return f"（{w.status_ongoing}）"
    return ""


def _held(seminar: Seminar, today: date) -> str:
    """Say when a past seminar was held: 2017年9月28日, 2017年9月25日、10月25日, 2017年8月～9月."""
    past = [o for o in seminar.occurrences if o.last < today]
    if len(past) > 3:
        return f"{_plain(past[0])}～{_plain(past[-1])}（全{len(past)}回）"
    parts, year = [], None
    for o in past:
        text = _plain(o)
        if year == o.first.year:
            text = text.split("年", 1)[1]
        sessions = _ONE_COURSE.sub(r"\1", seminar.sessions_of(o) or "")
        if o.is_period and sessions:  # a course of several sessions: how many ("知財の講座って全部で何回？")
            text += f"（{sessions}）"
        parts.append(text)
        year = o.last.year
    return "、".join(parts)


_ONE_COURSE = re.compile(r"^1講座（(.+)）$")  # "1講座（全8回）" said of one course: 全8回


def _plain(o: Occurrence) -> str:
    return month_span(o.first, o.last) if o.is_period else f"{o.first.year}年{o.first.month}月{o.first.day}日"


def _phones(seminars: list[Seminar]) -> str:
    """List organisers with their phones (organisers without one only when nobody has one)."""
    by_organiser: dict[str, list[str]] = {}
    for seminar in seminars:
        phones = by_organiser.setdefault(seminar.organiser, [])
        if seminar.phone and seminar.phone not in phones:
            phones.append(seminar.phone)
    with_phone = {name: phones for name, phones in by_organiser.items() if phones}
    if not with_phone:
        return "、".join(by_organiser)
    return "、".join(f"{name}（{'・'.join(phones)}）" for name, phones in with_phone.items())


# --------------------------------------------------------------------------- taps: more, detail, remind


def _tap(turn: Turn, cal: SeminarCalendar, data: str) -> Outcome:
    action, _, rest = data.partition(":")
    if action == "more":
        return _more(turn, cal, rest)
    if action == "detail":
        return _detail(turn, cal, rest)
    if action == "remind":
        seminar_id, _, day = rest.partition(":")
        return _remind(turn, cal, seminar_id, day)
    return _not_found(turn, cal)


def _more(turn: Turn, cal: SeminarCalendar, offset_text: str) -> Outcome:
    """Show the next page of the last list, recomputed against now (what has passed meanwhile drops out)."""
    saved = turn.memory.get(_MEMORY_KEY)
    expired = Outcome(INTENT, (Reply(cal.wording.more_expired, choices=(faq.handoff_choice(turn),)),))
    if not isinstance(saved, dict):
        return expired
    try:
        offset = int(offset_text)
        start = date.fromisoformat(saved["start"])
        end = date.fromisoformat(saved["end"]) if saved.get("end") else None
        ids, what = [str(i) for i in saved["ids"]], str(saved["what"])
    except (TypeError, KeyError, ValueError):
        return expired
    today = today_in_tokyo(turn.now)
    period = Period(start, end, "")
    listing: Listing = []
    for seminar_id in ids:  # kept in the order first shown
        seminar = cal.get(seminar_id)
        if seminar is not None:
            listing.extend(_upcoming([seminar], period, today))
    if not listing:
        return expired
    if not 0 <= offset < len(listing):
        offset = max(0, len(listing) - PAGE_SIZE)
    return _list_page(turn, cal, listing, what, offset, period, [], dict(turn.memory))


def _detail(turn: Turn, cal: SeminarCalendar, seminar_id: str) -> Outcome:
    seminar = cal.get(seminar_id)
    if seminar is None:
        return _not_found(turn, cal)
    card = seminar_card(cal, seminar, list(seminar.occurrences), today_in_tokyo(turn.now), detailed=True)
    return Outcome(INTENT, (Reply(cal.wording.detail_intro.format(title=seminar.title), cards=(card,),
                                  choices=(faq.handoff_choice(turn),)),))


def remind_at(starts_on: date) -> datetime:
    """Return when a reminder is pushed: the day before, at REMIND_HOUR in Asia/Tokyo."""
    return datetime.combine(starts_on - timedelta(days=1), time(REMIND_HOUR), tzinfo=TOKYO)


def _remind(turn: Turn, cal: SeminarCalendar, seminar_id: str, day: str) -> Outcome:
    w = cal.wording
    seminar = cal.get(seminar_id)
    try:
        starts_on = date.fromisoformat(day)
    except ValueError:
        return _not_found(turn, cal)
    occurrence = next((o for o in seminar.occurrences if o.first == starts_on), None) if seminar else None
    if seminar is None or occurrence is None:
        return _not_found(turn, cal)
    today = today_in_tokyo(turn.now)
    when = _when_long(occurrence)
    choices = (faq.handoff_choice(turn),)
    if occurrence.last < today:
        return Outcome(INTENT, (Reply(w.remind_past.format(title=seminar.title, when=_plain(occurrence)), choices=choices),))
    if turn.channel not in REMINDER_CHANNELS:
        return Outcome(INTENT, (Reply(w.remind_channel.format(url=cal.file.calendar_url), choices=choices),))
    at = remind_at(starts_on)
    if at <= turn.now:
        return Outcome(INTENT, (Reply(w.remind_too_late.format(title=seminar.title, when=when), choices=choices),))
    effect = AddReminder(seminar_id=seminar.id, starts_on=starts_on.isoformat(), remind_at=at)
    text = w.remind_saved.format(title=seminar.title, when=when, day_before=short_date(starts_on - timedelta(days=1)))
    return Outcome(INTENT, (Reply(text, choices=choices),), effects=(effect,))


def _not_found(turn: Turn, cal: SeminarCalendar) -> Outcome:
    return Outcome(INTENT, (Reply(cal.wording.not_found.format(url=cal.file.calendar_url),
                                  choices=(faq.handoff_choice(turn),)),))


# --------------------------------------------------------------------------- reminder delivery


def reminder_replies(kb: Knowledge, seminar_id: str, starts_on: date) -> tuple[Reply, ...] | None:
    """Return the reminder pushed the day before an occurrence; None if it is no longer in the calendar."""
    cal = calendar(kb)
    seminar = cal.get(seminar_id)
    occurrence = next((o for o in seminar.occurrences if o.first == starts_on), None) if seminar else None
    if seminar is None or occurrence is None:
        return None
    w = cal.wording
    template = w.remind_push_period if occurrence.is_period else w.remind_push
    text = template.format(title=seminar.title, when=_when_long(occurrence), organiser=seminar.organiser,
                           phone=f"（☎{seminar.phone}）" if seminar.phone else "")
    card = seminar_card(cal, seminar, [occurrence], starts_on - timedelta(days=1))
    return (Reply(text, cards=(card,)),)


def reminder_renderer(kb: Knowledge) -> Callable[[str, date], list[dict] | None]:
    """Return the render function storage.repository.queue_due_reminders() takes: replies as JSON."""

    def render(seminar_id: str, starts_on: date) -> list[dict] | None:
        replies = reminder_replies(kb, seminar_id, starts_on)
        return replies_to_json(replies) if replies is not None else None

    return render
