"""The seminar calendar (seminars.yaml): its schema, its loader with file:line problems, and topic matching."""
from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path

from pydantic import Field, model_validator

from knowledge.loader import Problem, load_file
from knowledge.schema import EntryId, Label, NonEmpty, Phone, Strict
from knowledge.text import has_hiragana, has_kanji, reading_key, spoken_reading, surface_key

FILE = "seminars.yaml"


class Occurrence(Strict):
    """One date of a seminar, or the period of a series when the calendar gives only months."""

    day: date | None = None  # the day it is held (not "on": YAML reads on as true)
    start: date | None = None  # or a period: first day …
    end: date | None = None  # … and last day (a "～12月" series ends on 12/31)
    sessions: NonEmpty | None = None  # e.g. 全4回, 月6回; the seminar's own `sessions` when absent
    note: NonEmpty | None = None

    @model_validator(mode="after")
    def _a_day_or_a_period(self) -> "Occurrence":
        if self.day is not None and (self.start is not None or self.end is not None):
            raise ValueError("開催日「day」と期間「start」「end」は、どちらか一方だけを書いてください")
        if self.day is None and (self.start is None or self.end is None):
            raise ValueError("開催日「day」か、期間の「start」と「end」の両方を書いてください")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"期間の終わり（end: {self.end}）が始まり（start: {self.start}）より前になっています")
        return self

    @property
    def first(self) -> date:
        """Return the first day (the day itself for a dated occurrence)."""
        return self.day or self.start  # type: ignore[return-value]

    @property
    def last(self) -> date:
        """Return the last day (the day itself for a dated occurrence)."""
        return self.day or self.end  # type: ignore[return-value]

    @property
    def is_period(self) -> bool:
        """Tell whether only a period is known, not the days."""
        return self.day is None


class Seminar(Strict):
    """One seminar, course or consultation day of the calendar, with every date it is held."""

    id: EntryId
    title: NonEmpty
    organiser: NonEmpty
    phone: Phone | None = None
    tags: list[NonEmpty] = Field(min_length=1)
    names: list[NonEmpty] = []  # other names users call it by (a name asked about is answered even when past)
    keywords: list[NonEmpty] = []  # topic words beyond its tags
    about: NonEmpty
    sessions: NonEmpty | None = None
    schedule: NonEmpty | None = None  # how the source describes a series, e.g. 4月～3月に毎月1回
    program: EntryId | None = None  # the FAQ entry about the same program, if any
    source: NonEmpty
    occurrences: list[Occurrence] = Field(min_length=1)

    def sessions_of(self, occurrence: Occurrence) -> str | None:
        """Return the number of sessions of an occurrence (its own, else the seminar's)."""
        return occurrence.sessions or self.sessions


class Tag(Strict):
    """A category seminars are tagged with, and the words that mean it in a question."""

    name: NonEmpty
    words: list[NonEmpty] = []
    kind: bool = False  # a kind of event (相談会) rather than a subject: "知財に関する相談会"


class Organiser(Strict):
    """An organiser and the short names users write for it."""

    name: NonEmpty
    words: list[NonEmpty] = []


class Words(Strict):
    """Words that tell a question is about seminars, asks when, wants to learn or asks for a recommendation."""

    seminar: list[NonEmpty] = Field(min_length=1)
    event: list[NonEmpty] = []  # everyday words (教室, 塾) that mean a seminar only with a topic, a name or a time
    slip: list[NonEmpty] = []  # a seminar word as the IME mistypes it (口座 for 講座): one beside a topic, a name or a time
    when: list[NonEmpty] = Field(min_length=1)
    held: list[NonEmpty] = []  # asking when it was (だった, 行われた): not before ら (だったら is "if")
    learn: list[NonEmpty] = Field(min_length=1)
    recommend: list[NonEmpty] = Field(min_length=1)
    calendar: list[NonEmpty] = Field(min_length=1)  # words about the calendar itself (カレンダー, 一覧)
    whats_on: list[NonEmpty] = []  # "what is on" (何かある): with a time (今月), a question about the calendar
    where_to_ask: list[NonEmpty] = []  # "whom to ask" (相談先, どこに相談): without a seminar word, a question for the FAQ


# Placeholders each wording may use; anything else is refused when the file loads.
_PLACEHOLDERS: dict[str, set[str]] = {
    "list_intro": {"what", "count"},
    "next_intro": {"when", "title"},
    "page_note": {"first", "last", "count"},
    "list_note": {"url"},
    "more_intro": {"what", "first", "last", "count"},
    "more_expired": set(),
    "none_upcoming": {"when", "what"},
    "elsewhere_intro": {"what"},
    "past_range": {"when"},
    "past_named": {"title", "held"},
    "no_next": set(),
    "calendar_note": {"calendar", "as_of", "url"},
    "organisers_line": {"phones"},
    "recommend_intro": {"topic"},
    "recommend_none": {"topic"},
    "detail_intro": {"title"},
    "not_found": {"url"},
    "remind_saved": {"title", "when", "day_before"},
    "remind_too_late": {"title", "when"},
    "remind_past": {"title", "when"},
    "remind_channel": {"url"},
    "remind_push": {"title", "when", "organiser", "phone"},
    "remind_push_period": {"title", "when", "organiser", "phone"},
    "period_note": set(),
    "footer": {"source", "as_of"},
}


class Wording(Strict):
    """What the seminar replies say; {name} placeholders are filled in by the bot."""

    list_intro: NonEmpty
    next_intro: NonEmpty
    page_note: NonEmpty
    list_note: NonEmpty
    more_intro: NonEmpty
    more_expired: NonEmpty
    none_upcoming: NonEmpty
    elsewhere_intro: NonEmpty
    past_range: NonEmpty
    past_named: NonEmpty
    no_next: NonEmpty
    calendar_note: NonEmpty
    organisers_line: NonEmpty
    recommend_intro: NonEmpty
    recommend_none: NonEmpty
    detail_intro: NonEmpty
    not_found: NonEmpty
    remind_saved: NonEmpty
    remind_too_late: NonEmpty
    remind_past: NonEmpty
    remind_channel: NonEmpty
    remind_push: NonEmpty
    remind_push_period: NonEmpty
    period_note: NonEmpty
    footer: NonEmpty
    seminar_word: NonEmpty  # "セミナー": the generic name in "予定されているセミナーはありません"
    topic_word: NonEmpty  # "{topic}に関する{kind}": kind is a kind tag asked about (相談会) or seminar_word
    status_today: NonEmpty
    status_ongoing: NonEmpty
    status_past: NonEmpty
    more_label: Label
    detail_label: Label
    remind_label: Label
    consult_label: Label
    call_label: Label
    calendar_label: Label
    add_to_calendar_label: Label
    row_date: NonEmpty
    row_sessions: NonEmpty
    row_organiser: NonEmpty
    row_phone: NonEmpty
    row_schedule: NonEmpty
    row_tags: NonEmpty

    @model_validator(mode="after")
    def _known_placeholders(self) -> "Wording":
        checks = dict(_PLACEHOLDERS, topic_word={"topic", "kind"})
        for name, allowed in checks.items():
            used = {f for _, f, _, _ in string.Formatter().parse(getattr(self, name)) if f is not None}
            unknown = used - allowed
            if unknown:
                known = "、".join("{" + a + "}" for a in sorted(allowed)) or "なし"
                raise ValueError(f"{name} の {{{', '.join(sorted(unknown))}}} は使えません（使えるもの: {known}）")
        return self


class SeminarsFile(Strict):
    """seminars.yaml: the calendar, its categories and the wording of seminar replies."""

    as_of: NonEmpty
    calendar_name: NonEmpty
    calendar_url: NonEmpty
    calendar_entry: EntryId | None = None  # the FAQ entry about the calendar itself; its questions are ours
    feed_url: NonEmpty | None = None  # public address of /seminars (…/seminars.ics) for "add to calendar" links
    words: Words
    tags: list[Tag] = Field(min_length=1)
    organisers: list[Organiser] = Field(min_length=1)
    wording: Wording
    seminars: list[Seminar] = Field(min_length=1)


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True)
class _Ref:
    kind: str  # "name", "keyword", "tag", "organiser"
    target: str  # seminar id, tag name or organiser name
    word: str  # the word as written in the YAML


@dataclass(frozen=True)
class TopicMatch:
    """What a question names: seminars by name, tags, seminar keywords and organisers."""

    named: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()  # keyword words matched (for the reply's wording)
    organisers: tuple[str, ...] = ()
    scores: dict[str, int] = field(default_factory=dict)  # seminar id -> how many of the named topics it has
    kinds: tuple[str, ...] = ()  # the matched tags that are kinds of event (相談会), not subjects
    keyword_subjects: tuple[str, ...] = ()  # the subject tags every seminar of the matched keywords has
    words: tuple[str, ...] = ()  # the calendar's words found (as written in the YAML)

    @property
    def is_topical(self) -> bool:
        """Tell whether the question names a seminar, a category or a seminar keyword."""
        return bool(self.named or self.tags or self.keywords)

    @property
    def topic(self) -> str:
        """Return the subject as a reply names it, e.g. 知財・IT ("" when none); kinds of event are not subjects."""
        subjects = [t for t in self.tags if t not in self.kinds]
        if subjects or self.tags:
            return "・".join(subjects)
        # A keyword that is a phrase ("ネットで売", "販路を広げ") is named by its seminars' subject (IT), which
        # reads as a topic does; one of nouns alone (IT導入補助金) by itself.
        keyword = self.keywords[0] if self.keywords else ""
        if has_hiragana(keyword) and self.keyword_subjects:
            return self.keyword_subjects[0]
        return keyword

    @property
    def kind(self) -> str:
        """Return the kinds of event asked about, e.g. 相談会 ("" when none)."""
        return "・".join(self.kinds)


# A word is matched by its surface form or its reading; readings this short match too much.
_MIN_READING = 2
_LONG_READING = 7
_LONG_SEMINAR_WORD = 6  # ケンシュウカイ, ベンキョウカイ: a shorter one sounds like other words (研修, 検収, 公衆…)
_ASCII_WORD = re.compile(r"^[a-z0-9]+$")


@dataclass(frozen=True)
class _Term:
    """A word of the calendar's vocabulary (several words may share its key), as questions are matched against it."""

    key: str  # surface key
    reading: str  # reading key; "" when the term is not matched by reading
    ascii_word: bool  # an ASCII word (it, pr) matches only between non-alphanumerics
    refs: tuple[_Ref, ...]
    # A word read this long is matched by its sound amid kanji too: an IME's homophone (操業スクール,
    # 警衛計画) is no other word, as a short one's would be (企業, 起業).
    long_reading: bool = False


@dataclass
class SeminarCalendar:
    """The loaded calendar with its matching vocabulary, ready for questions."""

    file: SeminarsFile
    seminars: dict[str, Seminar]
    _terms: list[_Term] = field(default_factory=list)  # longest key first
    # A key's first two characters (or its only one) -> indexes into _terms, by surface and by reading.
    _surface_starts: dict[str, tuple[int, ...]] = field(default_factory=dict)
    _reading_starts: dict[str, tuple[int, ...]] = field(default_factory=dict)
    _long_reading_starts: dict[str, tuple[int, ...]] = field(default_factory=dict)  # the long readings' only
    _tagged: dict[str, frozenset[str]] = field(default_factory=dict)  # tag name -> ids of seminars with it

    @classmethod
    def build(cls, file: SeminarsFile) -> "SeminarCalendar":
        """Index every name, keyword, tag word and organiser word by surface form and reading."""
        refs: dict[str, list[_Ref]] = {}

        def add(word: str, ref: _Ref) -> None:
            key = surface_key(word)
            if key:
                refs.setdefault(key, []).append(ref)

        for tag in file.tags:
            for word in (tag.name, *tag.words):
                add(word, _Ref("tag", tag.name, word))
        for organiser in file.organisers:
            for word in (organiser.name, *organiser.words):
                add(word, _Ref("organiser", organiser.name, word))
        for seminar in file.seminars:
            for word in (seminar.title, *seminar.names):
                add(word, _Ref("name", seminar.id, word))
            for word in seminar.keywords:
                add(word, _Ref("keyword", seminar.id, word))
        terms = []
        for key, found in refs.items():
            ascii_word = bool(_ASCII_WORD.match(key))
            reading = "" if ascii_word else reading_key(found[0].word)
            terms.append(_Term(key, reading if len(reading) >= _MIN_READING else "", ascii_word, tuple(found),
                               len(reading) >= _LONG_READING))
        terms.sort(key=lambda t: -len(t.key))  # longest first: 産学官ネットワーク masks ネット
        surface_starts: dict[str, list[int]] = {}
        reading_starts: dict[str, list[int]] = {}
        long_reading_starts: dict[str, list[int]] = {}
        for i, term in enumerate(terms):
            surface_starts.setdefault(term.key[:2], []).append(i)
            if term.reading:
                reading_starts.setdefault(term.reading[:2], []).append(i)
            if term.long_reading:
                long_reading_starts.setdefault(term.reading[:2], []).append(i)
        tagged = {tag.name: frozenset(s.id for s in file.seminars if tag.name in s.tags) for tag in file.tags}
        return cls(file, {s.id: s for s in file.seminars}, terms,
                   {p: tuple(ids) for p, ids in surface_starts.items()},
                   {p: tuple(ids) for p, ids in reading_starts.items()},
                   {p: tuple(ids) for p, ids in long_reading_starts.items()}, tagged)

    @cached_property
    def programs(self) -> frozenset[str]:
        """Return the FAQ entries of the programs that run seminars."""
        return frozenset(s.program for s in self.seminars.values() if s.program)

    @cached_property
    def _seminar_word_sounds(self) -> tuple[str, ...]:
        sounds = (reading_key(w) for w in self.file.words.seminar if not w.isascii())
        return tuple(dict.fromkeys(r for r in sounds if len(r) >= _LONG_SEMINAR_WORD))

    def sounds_like_a_seminar_word(self, text: str) -> bool:
        """Tell whether a text with kanji has the sound of a long seminar word: an IME's homophone (検収会, 研修会)."""
        if not has_kanji(text):
            return False
        sounds = spoken_reading(text[:500])
        return any(sound in sounds for sound in self._seminar_word_sounds)

    @property
    def wording(self) -> Wording:
        """Return the wording of seminar replies."""
        return self.file.wording

    def get(self, seminar_id: str) -> Seminar | None:
        """Return a seminar by id."""
        return self.seminars.get(seminar_id)

    def match(self, text: str) -> TopicMatch:
        """Find the seminars, categories, keywords and organisers a question names."""
        surface = surface_key(text)
        # Readings catch kana-only input (ぼき for 簿記); with kanji present they would also turn
        # 企業 into 起業 (both キギョウ), so then only the written form counts, but for long words.
        kanji = has_kanji(surface)
        # Amid kanji, as it sounds with its particles: 販路開拓のセミナー is no name (販路開拓セミナー), a topic's seminars.
        reading = spoken_reading(text[:500]) if kanji else reading_key(text[:500])
        candidates = _starting_in(surface, self._surface_starts)
        candidates |= _starting_in(reading, self._long_reading_starts if kanji else self._reading_starts)
        if not candidates:
            return TopicMatch()
        taken_surface: list[tuple[int, int]] = []
        taken_reading: list[tuple[int, int]] = []
        found: list[_Ref] = []
        for term in (self._terms[i] for i in sorted(candidates)):  # longest first: a longer word claims its place first
            if _take(surface, term.key, taken_surface, ascii_word=term.ascii_word) or (
                term.reading and (term.long_reading or not kanji) and _take(reading, term.reading, taken_reading, ascii_word=False)
            ):
                found.extend(term.refs)
        if not found:
            return TopicMatch()
        named = tuple(dict.fromkeys(r.target for r in found if r.kind == "name"))
        found_tags = {r.target for r in found if r.kind == "tag"}
        tags = tuple(t.name for t in self.file.tags if t.name in found_tags)
        keyword_refs = [r for r in found if r.kind == "keyword"]
        organisers = tuple(dict.fromkeys(r.target for r in found if r.kind == "organiser"))
        concerned = set(named).union(*(self._tagged[t] for t in tags), (r.target for r in keyword_refs))
        scores: dict[str, int] = {}
        for seminar in self.file.seminars:
            if seminar.id not in concerned:
                continue
            score = 3 * (seminar.id in named)
            score += sum(1 for t in tags if t in seminar.tags)
            score += len({r.word for r in keyword_refs if r.target == seminar.id})
            if score:
                scores[seminar.id] = score
        keywords = tuple(dict.fromkeys(r.word for r in keyword_refs))
        kinds = tuple(t.name for t in self.file.tags if t.kind and t.name in tags)
        keyword_seminars = [s for s in self.file.seminars if s.id in {r.target for r in keyword_refs}]
        keyword_subjects = tuple(t.name for t in self.file.tags if not t.kind and keyword_seminars
                                 and all(t.name in s.tags for s in keyword_seminars))
        return TopicMatch(named, tags, keywords, organisers, scores, kinds, keyword_subjects,
                          tuple(dict.fromkeys(r.word for r in found)))

    def select(self, match: TopicMatch) -> list[Seminar]:
        """Return the seminars a question is about: the named ones, else the best topical ones, else all."""
        pool = [s for s in self.file.seminars if not match.organisers or s.organiser in match.organisers]
        if match.named:
            named = [s for s in pool if s.id in match.named]
            return named or [s for s in self.file.seminars if s.id in match.named]
        if match.tags or match.keywords:
            scored = [s for s in pool if match.scores.get(s.id)]
            best = max((match.scores[s.id] for s in scored), default=0)
            return [s for s in scored if match.scores[s.id] == best]
        return pool

    def tags_of(self, text: str) -> tuple[str, ...]:
        """Return the categories a text is about (e.g. an FAQ entry's title and keywords)."""
        return self.match(text).tags


def _starting_in(text: str, starts: dict[str, tuple[int, ...]]) -> set[int]:
    """Return the terms whose key may occur in the text: those whose first two characters (or only one) are there."""
    beginnings = {text[i:i + 2] for i in range(len(text) - 1)}
    beginnings.update(text)  # a one-character key is its own beginning
    found: set[int] = set()
    for beginning in starts.keys() & beginnings:
        found.update(starts[beginning])
    return found


def _take(text: str, key: str, taken: list[tuple[int, int]], ascii_word: bool) -> bool:
    """Claim the first place the key occurs in the text that no longer word has claimed."""
    start = text.find(key)
    while start >= 0:
        end = start + len(key)
        free = all(end <= a or start >= b for a, b in taken)
        bounded = not ascii_word or (
            (start == 0 or not text[start - 1].isascii() or not text[start - 1].isalnum())
            and (end == len(text) or not text[end].isascii() or not text[end].isalnum())
        )
        if free and bounded:
            taken.append((start, end))
            return True
        start = text.find(key, start + 1)
    return False


# --------------------------------------------------------------------------- loading


def load_seminars(directory: Path, problems: list[Problem]) -> SeminarCalendar | None:
    """Load and check seminars.yaml: unique ids, known tags and organisers, real dates, end not before start."""
    file, parsed = load_file(directory, FILE, SeminarsFile, problems)
    if file is None or parsed is None:
        return None
    found: list[Problem] = []
    tag_names = [t.name for t in file.tags]
    organiser_names = [o.name for o in file.organisers]
    for key, names in (("tags", tag_names), ("organisers", organiser_names)):
        for i, name in enumerate(names):
            if name in names[:i]:
                found.append(Problem(FILE, parsed.line_of(key, i, "name"), f"「{name}」が{key}に2回書かれています。"))
    seen: dict[str, int] = {}
    for i, seminar in enumerate(file.seminars):
        if seminar.id in seen:
            found.append(Problem(FILE, parsed.line_of("seminars", i, "id"),
                                 f"id「{seminar.id}」は{seen[seminar.id] + 1}番目のセミナーでも使われています。別の id にしてください。"))
        seen.setdefault(seminar.id, i)
        for j, tag in enumerate(seminar.tags):
            if tag not in tag_names:
                found.append(Problem(FILE, parsed.line_of("seminars", i, "tags", j),
                                     f"分類「{tag}」は tags に定義されていません。使える分類：{'、'.join(tag_names)}（新しい分類は tags に追加してください）"))
        if seminar.organiser not in organiser_names:
            found.append(Problem(FILE, parsed.line_of("seminars", i, "organiser"),
                                 f"主催者「{seminar.organiser}」が organisers にありません。organisers に追加するか、表記を合わせてください。"))
        starts = [o.first for o in seminar.occurrences]
        for j, occurrence in enumerate(seminar.occurrences):
            if occurrence.first in starts[:j]:
                found.append(Problem(FILE, parsed.line_of("seminars", i, "occurrences", j),
                                     f"「{seminar.title}」に同じ日（{occurrence.first}）の開催が2回書かれています。"))
    problems.extend(found)
    return SeminarCalendar.build(file) if not found else None
