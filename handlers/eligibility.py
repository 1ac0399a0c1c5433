"""The 経営発達補助金 pre-eligibility questionnaire: one question at a time, then the verdict with reasons and next steps.

State lives only in Conversation.flow_data ({"answers": {question id: answer}, "history": [question ids]}),
which the engine stores in the database, so a questionnaire survives restarts and moves between workers.
An answer is {"value": str | None, "min": int | None, "max": int | None, "text": what to show}.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Mapping, cast
from zoneinfo import ZoneInfo

from handlers import answers as read
from handlers import faq, smalltalk
from handlers.base import Outcome, Turn
from handlers.replies import Card, CardButton, Choice, Reply
from handlers.verdict import Verdict, contact_list, format_yen, judge
from knowledge.model import Knowledge
from knowledge.subsidy import FILE, Option, Question, SubsidyFile
from knowledge.text import has_any, surface_key, word_keys

NAME = "eligibility"
INTENT = "eligibility"
START = "eligibility:start"
RESUME = "eligibility:resume"
BACK = "eligibility:back"
ANSWER = "eligibility:answer:"  # + question id + ":" + the choice's key
HANDOFF = "handoff:start"
CANCEL = "cancel"
TOKYO = ZoneInfo("Asia/Tokyo")
MONEY_QUESTIONS = ("capital", "cost")
BUTTON_LABEL_MAX = 20

Answer = dict[str, Any]


def rules(kb: Knowledge) -> SubsidyFile:
    """Return the questionnaire's rules and wording."""
    return cast(SubsidyFile, kb.section(FILE))


def wants(turn: Turn) -> bool:
    """Tell whether the user asks to check their eligibility for the subsidy."""
    if turn.postback and turn.postback.startswith(f"{NAME}:"):
        return True
    words = rules(turn.kb).words
    return any(text and (has_any(text, words.start) or (_asks_about_itself(text, words.start_subjects, words.start_intents)
                                                        and not has_any(text, words.how_much)
                                                        and not has_any(text, words.spending)))
               for text in (turn.postback, turn.text))


def _asks_about_itself(text: str, subjects: list[str], intents: list[str]) -> bool:
    """Tell "うちは補助金もらえる？" (the subsidy, then whether we get it) from "事業承継に使える補助金" (which subsidy).

    Both in one sentence: in "補助金の申請を考えています。推薦は商工会議所でもらえますか" what is got is the 推薦.
    """
    return any(_asks_about_itself_in(sentence, subjects, intents) for sentence in _SENTENCES.split(text))


def _asks_about_itself_in(sentence: str, subjects: list[str], intents: list[str]) -> bool:
    key = surface_key(sentence)
    for subject in word_keys(subjects):
        at = key.find(subject)
        if at < 0:
            continue
        rest = key[at + len(subject):]
        for intent in word_keys(intents):
            found = rest.find(intent)
            # The ask ends the message ("…もらえる？", "…対象になるか知りたい"); a noun after it
            # ("…対象になる取り組みの例") makes it a question about the program instead.
            if found >= 0 and _is_ending(rest[found + len(intent):]):
                return True
    return False


_KANJI_OR_KATAKANA = re.compile(r"[\u4e00-\u9fff\u30a1-\u30fa]")
_SENTENCES = re.compile(r"[。．！!\n]")  # a question mark ends the ask, "…もらえる？", not its sentence


def _is_ending(tail: str) -> bool:
    """Tell whether what follows the ask is only a sentence ending (か, かな, ですか, か知りたい)."""
    return len(tail) <= 6 and not _KANJI_OR_KATAKANA.search(tail.replace("知", ""))


def start(turn: Turn) -> Outcome:
    """Start the questionnaire (again, when one is in progress or has expired)."""
    r = rules(turn.kb)
    again = turn.conversation.flow == NAME or turn.postback == RESUME
    intro = r.messages.intro.format(program=r.short_name, total=len(r.questions))
    prefix = (Reply(r.messages.restarted),) if again else ()
    return _ask(turn, {}, [], lead=(intro,), answered=False).with_prefix(*prefix)


def cancel(turn: Turn) -> Outcome:
    """End the questionnaire at the user's request."""
    r = rules(turn.kb)
    return Outcome("cancel", (Reply(r.messages.cancelled, choices=smalltalk.menu_choices(turn.kb.messages)),))


def step(turn: Turn) -> Outcome | None:
    """Take one answer (or 戻る / resume); None when the message is another question, not an answer."""
    r = rules(turn.kb)
    answers = _still_valid(r, turn.flow_data.get("answers"))
    history = [h for h in turn.flow_data.get("history") or [] if h in answers]
    postback = turn.postback
    if postback == RESUME:
        return _ask(turn, answers, history, lead=(r.messages.resumed,))
    if postback == START:
        return start(turn)
    if postback == BACK or (not postback and has_any(turn.text, r.words.back) and len(turn.text) <= 10):
        return _back(turn, answers, history)
    if postback and postback.startswith(ANSWER):
        question_id, _, key = postback[len(ANSWER):].partition(":")
        question = next((q for q in r.questions if q.id == question_id), None)
        option = question.option(key) if question else None
        if question is None or option is None:
            return _ask(turn, answers, history, not_understood=True)
        return _take(turn, answers, history, {question.id: _from_option(option)})
    if postback:
        return start(turn) if wants(turn) else None  # another button (a menu item, an FAQ suggestion)
    pending = _pending(r, answers)
    if pending is None:  # only if subsidy.yaml lost a question mid-way: judge what we have
        return _finish(turn, answers)
    found = _read(turn.text, r, answers, pending)
    if found:
        return _take(turn, answers, history, found)
    if wants(turn):
        return start(turn)
    if _is_another_question(turn):
        return None
    return _ask(turn, answers, history, not_understood=True)


def _still_valid(r: SubsidyFile, stored: Any) -> dict[str, Answer]:
    """Return the stored answers that subsidy.yaml still knows (an admin may edit it while someone answers)."""
    if not isinstance(stored, Mapping):
        return {}
    known = {q.id: {o.value for o in q.choices if o.value is not None} for q in r.questions}
    answers = {}
    for question_id, answer in stored.items():
        if question_id in known and isinstance(answer, Mapping) and isinstance(answer.get("text"), str) \
                and (answer.get("value") is None or answer.get("value") in known[question_id]):
            answers[question_id] = dict(answer)
    return answers


def _pending(r: SubsidyFile, answers: Mapping[str, Answer]) -> Question | None:
    return next((q for q in r.questions if q.id not in answers), None)


def _take(turn: Turn, answers: dict[str, Answer], history: list[str], found: dict[str, Answer]) -> Outcome:
    """Store answers, then ask the next question or give the verdict."""
    r = rules(turn.kb)
    for question_id, answer in found.items():
        answers[question_id] = answer
        if question_id in history:
            history.remove(question_id)
        history.append(question_id)
    ack = r.messages.acknowledged.format(answer="、".join(a["text"] for a in found.values()))
    if _pending(r, answers) is None:
        return _finish(turn, answers)
    return _ask(turn, answers, history, lead=(ack,))


def _back(turn: Turn, answers: dict[str, Answer], history: list[str]) -> Outcome:
    r = rules(turn.kb)
    if not history:
        return _ask(turn, answers, history, lead=(r.messages.first_question,))
    answers.pop(history.pop(), None)
    return _ask(turn, answers, history)


def _ask(turn: Turn, answers: dict[str, Answer], history: list[str], lead: tuple[str, ...] = (),
         not_understood: bool = False, answered: bool = True) -> Outcome:
    """Ask the first unanswered question, with its choices, 戻る and やめる."""
    r = rules(turn.kb)
    question = _pending(r, answers)
    assert question is not None
    number = [q.id for q in r.questions].index(question.id) + 1
    lines = list(lead)
    if not_understood:
        lines += [r.messages.not_understood, question.example]
    lines += [r.messages.progress.format(number=number, total=len(r.questions)), _prompt(r, question)]
    choices = [Choice(o.label, f"{ANSWER}{question.id}:{o.key}") for o in question.choices]
    if history:
        choices.append(Choice(r.messages.back_label, BACK))
    choices.append(Choice(r.messages.cancel_label, CANCEL))
    data = {"answers": answers, "history": history}
    # Whatever was typed here answered (or tried to answer) a question: it is not a question to keep for a lead.
    return Outcome(INTENT, (Reply("\n".join(lines), choices=tuple(choices)),), flow=NAME, flow_data=data,
                   text_is_answer=answered)


def _prompt(r: SubsidyFile, question: Question) -> str:
    if question.id != "issue":
        return question.prompt
    examples = "\n".join(f"・{issue.name}：{issue.examples}" for issue in r.issues)
    return f"{question.prompt}\n{examples}"


# Reading answers -------------------------------------------------------------------------------


def _answer(text: str, value: str | None = None, low: int | None = None, high: int | None = None) -> Answer:
    return {"value": value, "min": low, "max": high, "text": text}


def _from_option(option: Option) -> Answer:
    return _answer(option.label, option.value, option.min, option.max)


def _option_for(question: Question, value: str) -> Answer:
    option = next(o for o in question.choices if o.value == value)
    return _answer(option.label, value)


def _read(text: str, r: SubsidyFile, answers: Mapping[str, Answer], pending: Question) -> dict[str, Answer]:
    """Read the answer to the pending question, and any other unanswered question the text answers unmistakably.

    "製造業で従業員は12人" answers two questions at once; a yes/no is only taken for the question asked,
    and not at all when the text is itself a question ("セミナーはありますか").
    """
    found: dict[str, Answer] = {}
    is_question = _has_question_marker(text, r)
    answer, strong = _READERS[pending.id](text, r, pending)
    if answer is not None and (strong or not is_question):
        found[pending.id] = answer
    money_left = [q for q in MONEY_QUESTIONS if q not in answers and q != pending.id]
    for question in r.questions:
        if question.id in answers or question.id == pending.id or question.id not in _STRONG_ELSEWHERE:
            continue
        if question.id in MONEY_QUESTIONS and (len(money_left) != 1 or pending.id in MONEY_QUESTIONS):
            continue  # "90万円" could be the capital or the cost: not a guess we make
        answer, strong = _READERS[question.id](text, r, question)
        if answer is not None and strong:
            found[question.id] = answer
    return found


def _read_location(text: str, r: SubsidyFile, question: Question) -> tuple[Answer | None, bool]:
    place = read.find_place(text, r.region)
    if place is not None:
        value = "inside" if place.inside else "outside"
        return _answer(place.name or _option_for(question, value)["text"], value), True
    reply = read.find_reply(text, [("no", r.words.no), ("yes", r.words.yes)])
    if reply is not None:
        return _option_for(question, "inside" if reply == "yes" else "outside"), False
    return None, False


def _read_industry(text: str, r: SubsidyFile, question: Question) -> tuple[Answer | None, bool]:
    groups = [(i.id, [*i.keywords, i.name, *(o.label for o in question.choices if o.value == i.id)])
              for i in r.industries]
    industry = read.find_keyword(text, groups)
    return (_option_for(question, industry), True) if industry else (None, False)


def _read_capital(text: str, r: SubsidyFile, question: Question) -> tuple[Answer | None, bool]:
    if has_any(text, r.words.individual):
        return _option_for(question, "individual"), True
    yen = read.find_yen(text)
    if yen is not None:
        return _answer(format_yen(yen), None, yen, yen), read.mentions_money(text)
    if read.find_reply(text, [("unknown", r.words.unknown)]):
        return _option_for(question, "unknown"), False
    return None, False


def _read_employees(text: str, r: SubsidyFile, question: Question) -> tuple[Answer | None, bool]:
    count = read.find_count(text, r.words.alone, r.words.nobody)
    if count is None:
        return None, False
    if count.exact is not None:
        shown = r.messages.nobody_answer if count.exact == 0 else f"{count.exact}人"
    else:
        shown = f"{count.low}人以上" if count.high is None else f"{count.low}～{count.high}人"
    strong = read.mentions_people(text) or has_any(text, r.words.alone)
    return _answer(shown, None, count.low, count.high), strong


def _read_issue(text: str, r: SubsidyFile, question: Question) -> tuple[Answer | None, bool]:
    groups = [(i.id, [*i.keywords, i.name, *(o.label for o in question.choices if o.value == i.id)]) for i in r.issues]
    issue = read.find_keyword(text, groups)
    if issue is not None:
        return _option_for(question, issue), True
    if has_any(text, [r.messages.other_issue_answer, "その他", *r.words.unknown]):
        return _option_for(question, "other"), False
    return None, False


def _read_cost(text: str, r: SubsidyFile, question: Question) -> tuple[Answer | None, bool]:
    yen = read.find_yen(text)
    if yen:  # 0円 is no plan at all: ask again
        return _answer(format_yen(yen), None, yen, yen), read.mentions_money(text)
    if yen is None and read.find_reply(text, [("unknown", r.words.unknown)]):
        return _option_for(question, "undecided"), False
    return None, False


def _read_recommendation(text: str, r: SubsidyFile, question: Question) -> tuple[Answer | None, bool]:
    w = r.words
    reply = read.find_reply(text, [("not_yet", w.not_yet), ("unknown", w.unknown), ("no", w.no), ("yes", w.yes)])
    return (_option_for(question, reply), False) if reply else (None, False)


Reader = Callable[[str, SubsidyFile, Question], tuple[Answer | None, bool]]
_READERS: dict[str, Reader] = {
    "location": _read_location, "industry": _read_industry, "capital": _read_capital,
    "employees": _read_employees, "issue": _read_issue, "cost": _read_cost, "recommendation": _read_recommendation,
}
# Questions answered in passing when the text says so unmistakably (a place, an industry, "12人", "90万円").
_STRONG_ELSEWHERE = {"location", "industry", "capital", "employees", "cost"}


def _has_question_marker(text: str, r: SubsidyFile) -> bool:
    return "?" in text or "？" in text or has_any(text, r.words.question_markers)


def _is_another_question(turn: Turn) -> bool:
    """Tell whether an unreadable answer is really a question about something else."""
    if _has_question_marker(turn.text, rules(turn.kb)) or smalltalk.wants(turn):
        return True
    # A number is an attempt at an answer ("90" for 90万円), however well it matches a phone number in the FAQ.
    if not read.has_number(turn.text) and faq.is_confident(faq.search(turn.kb, turn.text, limit=2)):
        return True
    from handlers import router  # imported here: the router imports this module

    return any(flow.wants(turn) for flow in router.FLOWS if flow.NAME != NAME)


# The verdict -------------------------------------------------------------------------------------


def _finish(turn: Turn, answers: dict[str, Answer]) -> Outcome:
    """Give the verdict: per criterion ✓ / ✗ / 要確認 with the reason, the estimate and what to do next."""
    r = rules(turn.kb)
    w = r.verdict
    verdict = judge(r, answers, turn.now.astimezone(TOKYO).date(), turn.kb.contacts)
    marks = {"ok": w.marks.ok, "ng": w.marks.ng, "check": w.marks.check}
    lines = [f"{marks[c.mark]} {c.name}：{c.reason}" for c in verdict.criteria]
    next_steps = _next_steps(turn, r)
    text = "\n".join([verdict.headline, "", *lines, "", verdict.estimate,
                      *([verdict.window_note] if verdict.window_note else []), "", next_steps, w.disclaimer])
    card = Card(
        kind="verdict",
        title=w.title,
        alt_text=w.alt_text,
        subtitle=verdict.headline,
        rows=tuple((c.name, f"{marks[c.mark]} {c.reason}") for c in verdict.criteria),
        body=verdict.estimate,
        footer=w.footer.format(source=r.source, as_of=r.as_of),
        buttons=_call_buttons(turn, r),
    )
    choices = (Choice(w.handoff_label, HANDOFF), Choice(w.restart_label, START))
    memory = dict(turn.memory)
    memory["eligibility"] = _summary(r, answers, verdict, lines, turn)
    return Outcome(INTENT, (Reply(text, cards=(card,), choices=choices),), memory=memory, verdict=verdict.kind,
                   text_is_answer=True)


def _next_steps(turn: Turn, r: SubsidyFile) -> str:
    return r.verdict.next_steps.format(recommenders=contact_list(r, r.recommenders, turn.kb.contacts),
                                       secretariat=contact_list(r, [r.secretariat], turn.kb.contacts))


def _call_buttons(turn: Turn, r: SubsidyFile) -> tuple[CardButton, ...]:
    contacts = [turn.kb.contacts[i] for i in (*r.recommenders, r.secretariat) if i in turn.kb.contacts]
    return tuple(CardButton(c.name[:BUTTON_LABEL_MAX], tel=c.phone) for c in contacts if c.phone)


def _summary(r: SubsidyFile, answers: Mapping[str, Answer], verdict: Verdict, lines: list[str],
             turn: Turn) -> dict[str, Any]:
    """Return what the handoff attaches to a lead: the answers as shown, the verdict lines and the estimate."""
    return {
        "answers": {q.name: answers[q.id]["text"] for q in r.questions if q.id in answers},
        "verdict": lines,
        "headline": verdict.headline,
        "estimate": verdict.estimate,
        "estimate_yen": verdict.amount,
        "completed_at": turn.now.isoformat(),
    }
