"""`sme-bot kb explain`: why the bot answers a question the way it does, so an admin can fix the entry."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from handlers import faq, router
from handlers.base import RecordQuestion, Turn
from knowledge.index import COVERAGE_WEIGHT, SEPARATOR, SIMILARITY_WEIGHT, KeyTrace
from knowledge.model import Knowledge

SHOWN = 5


@dataclass(frozen=True)
class Match:
    """One entry the question matched, with its scores and the keyword or example that matched best."""

    entry_id: str
    title: str
    file: str
    score: float
    coverage: float
    similarity: float
    matched_key: str  # the reading key that matched best
    matched_text: str | None  # the keyword, title or example question that key comes from


@dataclass(frozen=True)
class Explanation:
    """What the bot made of a question and what it decided."""

    question: str
    matched: str  # what of it was ranked: the whole, or its question after the asker's context
    trace: KeyTrace
    words: tuple[str, ...]  # what the question is matched by (a run of kana split into the knowledge's words)
    matches: tuple[Match, ...]
    decision: str  # answer, guess, suggest, fallback, or the intent of a capability that took the message first
    intent: str
    entry_id: str | None  # the entry answered, if any
    unknown_thing: str | None  # what the question asks that no entry has a word for (金利), if so


def explain(kb: Knowledge, question: str, now: datetime, shown: int = SHOWN) -> Explanation:
    """Trace a question through the matcher and the router, as a fresh user would send it."""
    matched = faq.question_part(kb, question)
    hits = faq.search(kb, question, limit=shown)  # as the FAQ ranks them: a tie broken by the facts asked
    matches = tuple(
        Match(h.entry_id, kb.entries[h.entry_id].entry.title, kb.entries[h.entry_id].file, h.score, h.coverage,
              h.similarity, h.best_key, _source_text(kb, h.entry_id, h.best_key))
        for h in hits
    )
    outcome = router.respond(Turn(text=question, now=now, kb=kb, channel="console"))
    unsure = any(isinstance(effect, RecordQuestion) and effect.reason == "low_confidence" for effect in outcome.effects)
    if outcome.intent == "faq":
        decision = "guess" if unsure else "answer"  # a guess answers "もしかして…" and is recorded as unsure
    elif unsure:
        decision = "suggest"  # the closest entries offered as choices: not an answer, so its intent is fallback
    else:
        decision = outcome.intent
    return Explanation(question, matched, kb.index.vocabulary.trace(matched), tuple(kb.index.words(matched)), matches,
                       decision, outcome.intent, outcome.entry_id, faq.unknown_thing_asked(kb, question))


def _source_text(kb: Knowledge, entry_id: str, key: str) -> str | None:
    """Return the entry's title, keyword or example question whose key is the matched one."""
    entry = kb.entries[entry_id].entry
    wanted = key.replace(SEPARATOR, "")
    for text in (entry.title, entry.short_title, *entry.keywords, *entry.questions):
        if kb.index.vocabulary.key(text).replace(SEPARATOR, "") == wanted:
            return text
    return None


_DECISIONS = {
    "answer": "回答する（いちばん近い項目をそのまま答えます）",
    "guess": "「もしかして」と回答する（自信がないため、いちばん近い項目の答えにほかの候補を添え、質問を記録します）",
    "suggest": "候補を示す（自信がないため、近い項目をボタンで示します）",
    "fallback": "お答えできない（メニューと事務局の連絡先を示し、質問を記録します）",
}


def render(explanation: Explanation) -> str:
    """Write the explanation in Japanese for an admin at a terminal."""
    e, t = explanation, explanation.trace
    lines = [f"質問：{e.question}"]
    if e.matched != e.question:
        lines.append(f"照合した部分：{e.matched}（全体では答えが定まらないため、前置きや補足を除いた質問の部分で照合しました）")
    lines.append(f"読み：{t.reading or '（なし）'}")
    if t.synonyms:
        lines.append("同義語：" + "、".join(f"{variant} → {canonical}" for variant, canonical in t.synonyms))
    else:
        lines.append("同義語：（使われていません）")
    if e.trace.dropped:
        lines.append("省いた言い回し：" + "、".join(e.trace.dropped))
    lines.append(f"照合に使う形：{SEPARATOR.join(e.words) or '（なし）'}")
    lines.append("")
    if e.matches:
        lines.append(f"近い項目（点数 = {COVERAGE_WEIGHT:g}×網羅度 + {SIMILARITY_WEIGHT:g}×類似度）：")
        for i, m in enumerate(e.matches, 1):
            lines.append(f"{i}. {m.entry_id}（{m.title}、{m.file}）点数 {m.score:.3f}"
                         f"（網羅度 {m.coverage:.3f}、類似度 {m.similarity:.3f}）")
            source = f"「{m.matched_text}」" if m.matched_text else "（元の文は特定できません）"
            lines.append(f"   いちばん近い言い方：{source} 読み {m.matched_key}")
    else:
        lines.append("近い項目：ありません（質問の読みがどの項目の言葉とも重なりません）")
    lines.append("")
    lead = e.matches[0].score - e.matches[1].score if len(e.matches) > 1 else (e.matches[0].score if e.matches else 0.0)
    lines.append(f"判定：{_DECISIONS.get(e.decision, f'ほかの機能が応答します（{e.intent}）')}"
                 + (f" → {e.entry_id}" if e.entry_id else ""))
    lines.append(f"  基準：{faq.ANSWER_AT:.2f}以上で2位との差が{faq.CLEAR_LEAD:.2f}以上、または{faq.SURE_AT:.2f}以上なら回答、"
                 f"{faq.HEDGE_AT:.2f}以上で差が{faq.CLEAR_LEAD:.2f}以上、{faq.CLOSE_SIBLINGS_AT:.2f}以上、"
                 f"{faq.SUGGEST_AT:.2f}以上で差が{faq.DOMINANT_LEAD:.2f}以上、"
                 f"または{faq.SUGGEST_AT:.2f}以上で差が{faq.FACT_LEAD:.2f}以上（{faq.HEDGE_AT:.2f}以上なら差を問わず）"
                 f"かつ2位より多くその項目の事柄を聞いていれば「もしかして」と回答、"
                 f"{faq.SUGGEST_AT:.2f}以上なら候補、それ未満はお答えできない（この質問の2位との差 {lead:.3f}）")
    if e.unknown_thing and e.decision in ("suggest", "fallback"):
        lines.append(f"  尋ねている事柄「{e.unknown_thing}」はどの項目にもない言葉のため、答えずに近い項目を候補として示します。"
                     "答えられる項目があれば、その項目の keywords に加えてください。")
    if e.decision in ("guess", "suggest", "fallback"):
        lines.append("  直し方：答えてほしい項目の questions にこの言い方を、keywords に言葉を加えるか、"
                     "synonyms.yaml に同義語を加えてください。")
    return "\n".join(lines)
