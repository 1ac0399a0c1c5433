"""Any text a user can send gets a reply, never an exception (property-based, hypothesis).

The bulk of the examples go through the pure layers (the search index and the router); a few
hundred go through the whole engine and a real database, and `chat --jsonl` gets the JSON-escaped
lone surrogates that a JSON body can carry.
"""
from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import Settings
from bot.engine import Engine
from bot.messages import Incoming
from handlers import router
from handlers.base import Conversation, Turn
from knowledge.model import Knowledge
from storage.db import Database

from conftest import at

ROOT = Path(__file__).resolve().parent.parent
NOW = at("2026-11-27T10:00")

EMOJI = ["😀", "👍🏻", "👨\u200d👩\u200d👧\u200d👦", "🏳️\u200d🌈", "🇯🇵", "❤️", "🧑🏽\u200d💻", "1️⃣", "🙇\u200d♂️"]
MARKS = ["\u200f", "\u200e", "\u202e", "\u202d", "\u2066", "\u2069", "\u200b", "\u200d", "\ufeff", "\u061c", "\u0301"]
CONTROLS = [chr(c) for c in range(32)] + ["\x7f", "\x85", "\u2028", "\u2029"]
WORDS = ["補助金", "融資", "創業", "セミナー", "いわき市", "しょうがくきん", "ｶﾞｲﾄﾞ", "ＡＢＣ１２３", "経営相談", "担当者と話したい",
         "キャンセル", "やめる", "はい", "いいえ", "1", "０", "メニュー", "ヘルプ", "履歴を削除", "来週", "12月3日",
         "従業員は5人です", "製造業", "?", "？？", "、。", "ー", "〜", "https://example.com", "<script>", "' OR 1=1 --",
         "%s%n", "{{x}}", "\\", "null", "𠮷野家", "髙橋", "①②", "㍻", "ﾟ", "゛"]
SPACES = [" ", "\u3000", "\t", "\n", "\r\n", "\u00a0", "\u2003"]

any_text = st.text(max_size=40)  # every code point except surrogates
piece = st.one_of(
    any_text,
    st.sampled_from(EMOJI + MARKS + CONTROLS + WORDS + SPACES),
    st.text(alphabet=st.characters(min_codepoint=0x3040, max_codepoint=0x30FF), max_size=12),  # kana
    st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), max_size=8),  # kanji
)
message = st.one_of(
    st.lists(piece, max_size=10).map("".join),
    st.lists(st.sampled_from(SPACES), min_size=1, max_size=50).map("".join),  # only spaces
    st.just(""),
)
# Long texts cost up to a few hundred milliseconds each to match, so they get fewer examples.
long_message = st.builds(lambda w, n: (w * n)[:n], st.sampled_from(WORDS + EMOJI + SPACES + MARKS + ["あ", "a"]),
                         st.sampled_from([2000, 2001, 5000, 10_000]))  # at and beyond the engine's cut
with_surrogates = st.lists(st.one_of(piece, st.characters(categories=["Cs"])), min_size=1, max_size=8).map("".join)
postback = st.one_of(
    st.none(),
    st.sampled_from(["cancel", "menu", "handoff:start", "handoff:resume", "handoff:consent", "eligibility:start",
                     "eligibility:resume", "privacy:forget", "faq:unknown-entry"]),
    st.builds(lambda prefix, rest: prefix + rest,
              st.sampled_from(["handoff:", "eligibility:", "seminars:", "faq:", "privacy:", "", "choice:"]), any_text),
)
flow = st.sampled_from([None, *(f.NAME for f in router.FLOWS), "retired-flow"])


@settings(max_examples=1500)
@given(text=message)
def test_the_index_takes_any_text(kb: Knowledge, text: str) -> None:
    hits = kb.index.search(text)
    assert all(0.0 <= hit.score <= 1.0 for hit in hits)


@settings(max_examples=40)
@given(text=long_message)
def test_the_index_takes_long_text(kb: Knowledge, text: str) -> None:
    hits = kb.index.search(text)
    assert all(0.0 <= hit.score <= 1.0 for hit in hits)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=message, postback=postback, flow=flow)
def test_the_router_replies_to_any_text_in_any_flow(kb: Knowledge, text: str, postback: str | None,
                                                    flow: str | None) -> None:
    conversation = Conversation(flow=flow, updated_at=NOW)
    outcome = router.respond(Turn(text=text, now=NOW, kb=kb, conversation=conversation, postback=postback))
    assert outcome.replies
    assert any(reply.as_text().strip() for reply in outcome.replies)


def _engine_examples(count: int):  # type: ignore[no-untyped-def]
    return settings(max_examples=count, suppress_health_check=[HealthCheck.function_scoped_fixture])


_users = itertools.count()


@_engine_examples(200)
@given(texts=st.lists(st.one_of(message, message, with_surrogates), min_size=1, max_size=3), postback=postback)
def test_the_engine_replies_to_any_text_and_stores_it(db: Database, kb: Knowledge, texts: list[str],
                                                      postback: str | None) -> None:
    converse(db, kb, texts, postback)


@_engine_examples(12)
@given(text=long_message)
def test_the_engine_replies_to_long_text(db: Database, kb: Knowledge, text: str) -> None:
    converse(db, kb, [text], None)


def converse(db: Database, kb: Knowledge, texts: list[str], postback: str | None) -> None:
    """Send the texts as a new user (a tapped postback from the second on) and check each gets a reply."""
    engine = Engine(db, Settings(database_url=db.url), kb)
    user = f"fuzz-{next(_users)}"
    for n, text in enumerate(texts):
        result = engine.handle(Incoming("line", user, text, NOW, postback=postback if n else None,
                                        event_id=f"{user}-{n}"))
        assert not result.duplicate
        assert result.text.strip()


HOSTILE_LINES = [
    r'{"user": "s1", "text": "\ud83d"}',  # a lone high surrogate, escaped as JSON allows
    r'{"user": "s2", "text": "\ude00\ud83d"}',  # a reversed pair
    r'{"user": "s3", "text": "\ud83d\ude00 補助金"}',  # a valid pair: one emoji
    r'{"user": "s4", "text": "\u0000\u001b[31m\u202e補助金\u200f"}',
    r'{"user": "s5", "text": "補助金", "postback": "\udfff"}',
    '{"user": "s6", "text": "' + "\u3000" * 300 + '"}',
    '{"user": "s7", "text": "' + "👨\u200d👩\u200d👧\u200d👦" * 1500 + '"}',
    '{"user": "s8", "text": "' + "あ" * 10_000 + '"}',
]


def test_chat_jsonl_answers_escaped_surrogates_and_other_hostile_text(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'jsonl.db'}", "LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-m", "bot.cli", "chat", "--jsonl"], input="\n".join(HOSTILE_LINES) + "\n",
                          capture_output=True, text=True, encoding="utf-8", env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == len(HOSTILE_LINES)
    for sent, line in zip(HOSTILE_LINES, lines):
        out = json.loads(line)
        assert "error" not in out, (sent[:60], out)
        assert out["text"].strip()
