"""Answer questions about programs and facts from the knowledge base, or say honestly that we are not sure."""
from __future__ import annotations

import re
from datetime import date
from typing import Container, Iterator

from handlers.base import Outcome, RecordQuestion, Turn
from handlers.replies import Card, CardButton, Choice, Reply
from handlers.smalltalk import menu_choices
from knowledge.index import Hit, SearchIndex
from knowledge.model import AnswerableEntry, Knowledge
from knowledge.schema import Fact
from knowledge.text import asked_noun, contact_owner, reading_key, surface_key, word_keys, word_readings

# Calibrated on tests/questions/ (faq and out_of_scope sets; see bench/calibrate.py):
# - at or above ANSWER_AT with a clear lead over the runner-up, the best entry is answered;
# - at or above HEDGE_AT with a clear lead (or from SUGGEST_AT with a dominant one), it is offered
#   as "もしかして…" with its answer and the other candidates as choices (an honest guess, not a
#   confident answer);
# - at or above SUGGEST_AT, the closest entries are offered as choices only;
# - below, the fallback says what the bot can help with.
ANSWER_AT = 0.60
HEDGE_AT = 0.53
SUGGEST_AT = 0.42
CLEAR_LEAD = 0.03
# A score this high is an answer even when a sibling entry scores close to it.
SURE_AT = 0.85
# From SUGGEST_AT, a best entry this far ahead of the runner-up is offered as a guess with its answer,
# not as one choice among others. Measured on questions written apart from tests/questions/ (530 in
# scope, 165 out of scope, kept outside the repository): 7 more right answers, 1 more out-of-scope
# question guessed at.
DOMINANT_LEAD = 0.20
# From SUGGEST_AT, a best entry this far ahead whose facts the question asks, more of them than of the
# runner-up's, is offered as a guess too ("バイヤーを招いた商談会、売り手側の会社は何社出たの？" asks the trade
# fair's number of companies). On questions written apart (90 paraphrases, 100 phone-typed, 65 out of
# scope): 3 more right answers, none more out of scope guessed at. From HEDGE_AT such a best entry
# needs no lead at all: "ハマコンの主催者" asks the organiser of 浜魂, not of the desk of the NPO that
# runs it, which scores as high.
FACT_LEAD = 0.05
# Two entries this close and this high (a program and the desk that runs it) are both about the
# question: the better one is offered as a guess, the other as a choice.
CLOSE_SIBLINGS_AT = 0.68
POSTBACK_PREFIX = "faq:"
MAX_SUGGESTIONS = 3
# What the FAQ does with a ranking, surest last (so that verdicts compare).
FALL_BACK, SUGGEST, GUESS, ANSWER = range(4)


# Where a message's context ends and its question may begin: "うちは飲食店なんだけど補助金ある？".
_CLAUSE_END = re.compile(r"[。．！？!?\n、，,]|けど|けれど|ですが|んだが")
_SENTENCE_END = re.compile(r"[。．！？!?\n]")
QUESTION_MARK = re.compile(r"[？?]")
MIN_QUESTION = 4  # characters (of its reading too) a clause needs to be a question by itself
# The question is at the end: only the last few clauses are tried, each ranked anew (a long message
# of many commas would otherwise cost a ranking per comma).
MAX_CLAUSES = 3


def search(kb: Knowledge, text: str, limit: int) -> list[Hit]:
    """Return the entries closest to a message, best first (ranked on its question part).

    Two unsure entries (below ANSWER_AT) within CLEAR_LEAD of each other are a tie, which the facts
    asked break: "はまたましいのうんえいだんたいは" asks the program's 運営 (its organiser) more than the
    desk of the NPO that runs it, which scores a little higher. Two entries both sure of what the
    question names ("いわき信組のセミナーってどんなの": the credit union's seminar, and its desk, whose
    facts list its seminars) stay as ranked.
    """
    question = question_part(kb, text)
    hits = kb.index.search(question, limit=limit)
    if (len(hits) > 1 and hits[0].score < ANSWER_AT and hits[0].score - hits[1].score < CLEAR_LEAD
            and _asks_more_of_the_best(kb, question, hits[1::-1])):
        hits[0], hits[1] = hits[1], hits[0]
    return hits


def question_part(kb: Knowledge, text: str) -> str:
    """Return what of a message the FAQ ranks: the whole, or the question after the asker's context.

    A message that tells about the asker before it asks ("新卒採用したいIT企業です。奨学金返還の支援
    ってうちで使える？", "従業員3人の飲食店だけど補助金つかえる？") is unsure as a whole: the context
    dilutes the question, or matches another entry better than the question does. The question
    alone is what follows a sentence end, a comma or a "but" (けど, ですが), the longest such part
    first, or else the first sentence, followed by more about it. It is ranked instead when it is
    surer of the entry the whole message ranks first (answered, not guessed; guessed, not only
    suggested), or answers outright the one it ranks second while the whole would not even guess its
    first ("人が足りないのでITで省力化したい。市の補助は受けられますか" guesses the subsidy, and its
    last sentence alone reads as the guarantee fee's 補助). A question that answers some other
    entry has lost what the context was about ("来年独立したいんですが、どこに相談すればいい？" is
    not a question for the list of every desk).
    """
    hits = kb.index.search(text, limit=2)
    whole = _verdict(kb, text, hits)
    if not hits or whole == ANSWER:
        return text
    ranked = {h.entry_id for h in hits}
    for question in _questions_in(text):
        clause_hits = kb.index.search(question, limit=2)
        verdict = _verdict(kb, question, clause_hits)
        if verdict > whole and (clause_hits[0].entry_id == hits[0].entry_id
                                or (verdict == ANSWER and whole < GUESS and clause_hits[0].entry_id in ranked)):
            return question
    return text


def _questions_in(text: str) -> Iterator[str]:
    """Yield the parts of a message that may be its question: what follows each of its last clause ends,
    longest first, then its first sentence (a question asked first and explained after:
    "補助率ってどれくらい？かかった経費の何割出るの"). In a message that marks its question (？), a part
    without the mark is more about the asker ("市の補助金っていくらまで出るんですか？うちは従業員5人です")."""
    marked = QUESTION_MARK.search(text) is not None
    for cut in _clause_starts(text)[-MAX_CLAUSES:]:
        question = text[cut:]
        if len(question.strip()) < MIN_QUESTION:
            break
        if _asks_something(question) and (not marked or QUESTION_MARK.search(question)):
            yield question
    first = _SENTENCE_END.search(text)
    if first is not None and _asks_something(text[:first.end()]) and text[first.end():].strip():
        yield text[:first.end()]


def _clause_starts(text: str) -> list[int]:
    """Return where each clause after the first begins (after a sentence end, a comma, a けど …)."""
    return [cut.end() for cut in _CLAUSE_END.finditer(text)]


def _asks_something(part: str) -> bool:
    """Tell whether a part of a message says enough to be a question: a word or two ("使えねえ", read
    ツカエ) is a remark."""
    return len(reading_key(part)) >= MIN_QUESTION


def _verdict(kb: Knowledge, question: str, hits: list[Hit]) -> int:
    """Return what the FAQ does with a question's hits (best first): answer, guess (hedged), suggest, or fall back."""
    if not hits:
        return FALL_BACK
    best = hits[0]
    lead = best.score - (hits[1].score if len(hits) > 1 else 0.0)
    unsure = SUGGEST if best.score >= SUGGEST_AT else FALL_BACK
    if is_confident(hits):
        return unsure if unknown_thing_asked(kb, question) else ANSWER
    if ((best.score >= HEDGE_AT and lead >= CLEAR_LEAD) or best.score >= CLOSE_SIBLINGS_AT
            or (best.score >= SUGGEST_AT and lead >= DOMINANT_LEAD)
            or (best.score >= (HEDGE_AT if lead < FACT_LEAD else SUGGEST_AT)
                and _asks_more_of_the_best(kb, question, hits))):
        return unsure if unknown_thing_asked(kb, question) else GUESS
    return unsure


def unknown_thing_asked(kb: Knowledge, question: str) -> str | None:
    """Return the thing the question's last clause asks for if no entry has a word for it: "日本政策金融公庫の金利は？"
    names the bank's desk, but asks its interest rate (金利), which the knowledge does not tell. Of a contact, the
    thing asked is whose: "法務局の連絡先" asks for 法務局. The closest entries are offered, not answered as if they
    told it."""
    clause = _last_clause(question)
    noun = contact_owner(clause, tuple(kb.messages.contact_words)) or asked_noun(clause)
    return noun if noun is not None and not kb.index.knows(noun) else None


def _last_clause(question: str) -> str:
    """Return the last clause of a question: what it asks, after the asker's context."""
    starts = _clause_starts(question.rstrip("？?！!。 　"))
    return question[starts[-1]:] if starts else question


def _asks_more_of_the_best(kb: Knowledge, question: str, hits: list[Hit]) -> bool:
    """Tell whether the question's last clause asks more facts of the best entry than of the runner-up.

    Only the last clause: the asker's context before it names things that cue facts too ("うちは飲食店
    なんだけど、おすすめの温泉ある？" names the 飲食店 of a desk's seminar).
    """
    asked = _last_clause(question)
    second = len(asked_facts(asked, kb.entries[hits[1].entry_id], kb.index)) if len(hits) > 1 else 0
    return len(asked_facts(asked, kb.entries[hits[0].entry_id], kb.index)) > second


def handoff_choice(turn: Turn) -> Choice:
    """Return the "talk to a person" choice offered wherever the bot is unsure."""
    return Choice(turn.kb.messages.handoff_label, "handoff:start")


def is_confident(hits: list[Hit]) -> bool:
    """Tell whether the best of these hits (best first) is answered outright, not hedged or suggested."""
    if not hits:
        return False
    lead = hits[0].score - (hits[1].score if len(hits) > 1 else 0.0)
    return hits[0].score >= SURE_AT or (hits[0].score >= ANSWER_AT and lead >= CLEAR_LEAD)


def respond(turn: Turn) -> Outcome:
    """Answer the question, offer the closest entries, or fall back."""
    kb = turn.kb
    if turn.postback and turn.postback.startswith(POSTBACK_PREFIX):
        entry = kb.entries.get(turn.postback[len(POSTBACK_PREFIX):])
        if entry is not None:
            return _answer(turn, entry, 1.0, [])
    hits = search(kb, turn.text, MAX_SUGGESTIONS + 1)
    verdict = _verdict(kb, turn.text, hits)
    if verdict in (ANSWER, GUESS):
        return _answer(turn, kb.entries[hits[0].entry_id], hits[0].score, hits[1:], hedged=verdict == GUESS)
    if verdict == SUGGEST:
        return _suggest(turn, hits)
    return fallback(turn, hits[0] if hits else None)


def answers(kb: Knowledge, text: str) -> bool:
    """Tell whether the FAQ answers a message, outright or as a guess (not only with choices)."""
    return _verdict(kb, text, search(kb, text, MAX_SUGGESTIONS + 1)) in (ANSWER, GUESS)


def known_answer(turn: Turn, preface: str, guessed: Container[str], answered: Container[str] = (),
                 told: str | None = None) -> Outcome | None:
    """Return the FAQ's answer with `preface` before it, if it answers with one of the entries `guessed` (a
    guess will do) or `answered` (only a sure answer); None where it would answer with another, or only
    suggest or fall back. The entry `told`, what the preface already says, is no candidate."""
    hits = [hit for hit in search(turn.kb, turn.text, MAX_SUGGESTIONS + 2) if hit.entry_id != told]
    verdict = _verdict(turn.kb, turn.text, hits)
    if not (verdict == ANSWER and hits[0].entry_id in answered
            or verdict in (ANSWER, GUESS) and hits[0].entry_id in guessed):
        return None
    return _answer(turn, turn.kb.entries[hits[0].entry_id], hits[0].score, hits[1:], hedged=verdict == GUESS,
                   preface=preface)


def entry_answer(turn: Turn, entry_id: str, preface: str) -> Outcome:
    """Return an entry's answer with `preface` before it: an entry the caller chose, not the search."""
    score = next((hit.score for hit in search(turn.kb, turn.text, MAX_SUGGESTIONS + 2) if hit.entry_id == entry_id), 0.0)
    return _answer(turn, turn.kb.entries[entry_id], score, [], preface=preface)


def fallback(turn: Turn, closest: Hit | None, text: str | None = None) -> Outcome:
    """Say what the bot can help with (`text`, else the knowledge's fallback); record the question for the admins."""
    record = RecordQuestion(turn.text[:1000], "fallback", closest.entry_id if closest else None,
                            round(closest.score, 3) if closest else None)
    return Outcome("fallback", (Reply(text or turn.kb.messages.fallback, choices=menu_choices(turn.kb.messages)),),
                   effects=(record,), score=round(closest.score, 3) if closest else None)


def _suggest(turn: Turn, hits: list[Hit]) -> Outcome:
    kb = turn.kb
    picks = [h for h in hits if h.score >= SUGGEST_AT][:MAX_SUGGESTIONS]
    choices = tuple(Choice(kb.entries[h.entry_id].entry.short_title, POSTBACK_PREFIX + h.entry_id) for h in picks)
    lines = "\n".join(f"・{kb.entries[h.entry_id].entry.title}" for h in picks)
    record = RecordQuestion(turn.text[:1000], "low_confidence", hits[0].entry_id, round(hits[0].score, 3))
    thing = unknown_thing_asked(kb, turn.text)
    intro = kb.messages.unknown_thing.format(thing=thing) if thing else kb.messages.not_sure
    text = f"{intro}\n{lines}"
    # Not an answer: the intent says so, so that nobody (and no statistic) takes it for one.
    return Outcome("fallback", (Reply(text, choices=choices + (handoff_choice(turn),)),),
                   effects=(record,), score=round(hits[0].score, 3))


def asked_facts(question: str, entry: AnswerableEntry, index: SearchIndex) -> list[Fact]:
    """Return the facts of an entry that the question asks about (by their cue words).

    A cue in Latin letters is looked for as written: its reading is the sound of other words (TEL, テル, in
    "やってる"). A cue is found by its reading in the question's too, synonyms folded: "なんぼ" asks いくら,
    "応募" 申請. Not the other way: a cue that is itself a synonym (研修, of セミナー) is not asked by every
    question of a seminar.
    """
    q_surface, q_reading = surface_key(question), reading_key(question)
    q_folded = "".join(index.words(question))
    found = []
    for fact in entry.entry.facts:
        for cue, cue_surface, cue_reading in zip(fact.cues, word_keys(fact.cues), word_readings(fact.cues)):
            if (cue_surface and cue_surface in q_surface) or (len(cue_reading) >= 2 and not cue.isascii()
                                                              and (cue_reading in q_reading or cue_reading in q_folded)):
                found.append(fact)
                break
    return found


def render_entry(kb: Knowledge, entry: AnswerableEntry, today: date, facts: list[Fact]) -> Card:
    """Render an entry as a card: title, the facts asked about, the answer, contacts, year and source."""
    e = entry.entry
    notes = [kb.messages.as_of_note.format(as_of=entry.as_of)]
    if e.valid_until and today > e.valid_until:
        notes.append(kb.messages.outdated_note.format(valid_until=_japanese_date(e.valid_until)))
    notes.append(f"出典：{e.section}")
    contacts = [kb.contacts[c] for c in e.contacts if c in kb.contacts]
    contact_lines = [
        kb.messages.contact_line.format(name=c.name, phone=c.phone) if c.phone else f"お問い合わせ：{c.name}"
        for c in contacts
    ]
    buttons = tuple(CardButton(c.name, tel=c.phone) for c in contacts if c.phone)
    if e.url:
        buttons += (CardButton("詳しく見る", url=e.url),)
    body = "\n".join([e.answer.strip(), *(line for line, c in zip(contact_lines, contacts) if not c.phone)])
    return Card(
        kind="program",
        title=e.title,
        alt_text=f"{e.short_title}のご案内（{entry.as_of}時点）",
        subtitle=f"実施：{e.run_by}" if e.run_by else None,
        rows=tuple((f.label, f.value) for f in facts),
        body=body,
        footer="\n".join(notes),
        buttons=buttons,
    )


def _answer(turn: Turn, entry: AnswerableEntry, score: float, others: list[Hit], hedged: bool = False,
            preface: str = "") -> Outcome:
    kb = turn.kb
    facts = asked_facts(turn.text, entry, turn.kb.index) if score < 1.0 or not turn.postback else []
    card = render_entry(kb, entry, turn.now.date(), facts)
    lines = [preface] if preface else []
    if hedged:
        lines.append(kb.messages.hedge.format(title=entry.entry.short_title))
    if facts:
        lines.append("ご質問の点についてお答えします。\n" + "\n".join(f"{f.label}：{f.value}" for f in facts))
    lead = "\n".join(lines)
    effects: tuple[RecordQuestion, ...] = ()
    if hedged:
        effects = (RecordQuestion(turn.text[:1000], "low_confidence", entry.id, round(score, 3)),)
    related = tuple(
        Choice(kb.entries[h.entry_id].entry.short_title, POSTBACK_PREFIX + h.entry_id)
        for h in others[:MAX_SUGGESTIONS if hedged else 2]
        if h.score >= SUGGEST_AT and h.entry_id != entry.id
    )
    offered = tuple(choice for choice in menu_choices(kb.messages) if choice.label == entry.entry.menu)
    memory = dict(turn.memory)
    memory["last_entry"] = entry.id
    return Outcome("faq", (Reply(lead, cards=(card,), choices=offered + related + (handoff_choice(turn),)),),
                   entry_id=entry.id, score=round(score, 3), memory=memory, effects=effects)


def _japanese_date(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"
