"""`sme-bot kb test`: run admins' regression questions against the knowledge as edited, and say what failed.

A question set is JSON lines: `id`, `text`, optional `now` (ISO 8601), `any` (a correct reply
contains one of these), `none` (and none of these). A line without `any` is a question the bot
must not answer as if it were about a program: it falls back or offers a person.
"""
from __future__ import annotations

import json
import logging
import tempfile
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from bot.channels.console import parse_now
from bot.config import Settings
from bot.engine import Engine, now_in_tokyo
from bot.messages import Incoming, TurnResult
from knowledge.model import Knowledge
from storage.db import Database

# Intents that mean "the bot did not answer the question": never a pass for an in-scope question.
NOT_AN_ANSWER = {"fallback", "help", "greeting"}
# Intents that are the right reply to an out-of-scope question.
OUT_OF_SCOPE_OK = {"fallback", "handoff"}
# A question this long that is echoed back proves nothing; shorter ones may legitimately recur.
ECHO_MIN = 8
SHOWN_CHARS = 160


class QuestionSetError(ValueError):
    """A question set line cannot be read; the message says which file and line."""


@dataclass(frozen=True)
class Question:
    """One regression question and what a correct reply must (not) contain."""

    id: str  # may be empty
    text: str
    source: str  # "file.jsonl:line"
    now: datetime | None = None
    any: tuple[str, ...] | None = None  # None: out of scope
    none: tuple[str, ...] = ()

    @property
    def in_scope(self) -> bool:
        """Tell whether the bot should answer this question from the knowledge."""
        return self.any is not None


@dataclass(frozen=True)
class Failure:
    """A question the bot got wrong, with what it said."""

    question: Question
    intent: str
    reply: str


@dataclass(frozen=True)
class Report:
    """The outcome of a run: failures, and per file how many passed."""

    failures: tuple[Failure, ...]
    totals: dict[str, tuple[int, int]]  # file name -> (passed, asked)

    @property
    def passed(self) -> bool:
        """Tell whether every question passed."""
        return not self.failures


def read(path: Path) -> list[Question]:
    """Read a question set; a malformed line raises QuestionSetError with its file and line."""
    questions = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionSetError(f"{path}: 読めません（{exc}）") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path.name}:{number}"
        try:
            raw = json.loads(line)
            if not isinstance(raw, dict) or not isinstance(raw.get("text"), str) or not raw["text"].strip():
                raise ValueError("「text」（質問の文）が必要です")
            expected = raw.get("any")
            if expected is not None and (not isinstance(expected, list) or not expected
                                         or not all(isinstance(a, str) and a for a in expected)):
                raise ValueError("「any」は文字列のリストで書いてください")
            unwanted = raw.get("none") or []
            if not isinstance(unwanted, list) or not all(isinstance(a, str) and a for a in unwanted):
                raise ValueError("「none」は文字列のリストで書いてください")
            questions.append(Question(
                id=str(raw.get("id") or ""), text=raw["text"], source=where,
                now=parse_now(raw["now"]) if raw.get("now") is not None else None,
                any=tuple(expected) if expected is not None else None, none=tuple(unwanted),
            ))
        except (ValueError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
            raise QuestionSetError(f"{where}: この行を読めません（{exc}）。"
                                   '1行に1つ、{"id": …, "text": …, "any": [...]} の形で書いてください。') from exc
    return questions


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def judge(question: Question, result: TurnResult) -> bool:
    """Tell whether a reply is right for the question, by the rules of the question sets."""
    if not question.in_scope:
        return result.intent in OUT_OF_SCOPE_OK
    said = _nfkc(result.text)
    asked = _nfkc(question.text)
    if len(asked) >= ECHO_MIN:
        said = said.replace(asked, "")
    return (result.intent not in NOT_AN_ANSWER
            and any(_nfkc(a) in said for a in question.any or ())
            and not any(_nfkc(n) in said for n in question.none))


def run(kb: Knowledge, sets: dict[str, list[Question]]) -> Report:
    """Ask every question as a new user on a throwaway database and judge each reply."""
    failures: list[Failure] = []
    totals: dict[str, tuple[int, int]] = {}
    with tempfile.TemporaryDirectory(prefix="sme-bot-kb-test-") as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'kb-test.db'}")
        db.upgrade()
        engine = Engine(db, Settings(database_url=db.url), kb)
        try:
            for name, questions in sets.items():
                passed = 0
                for i, q in enumerate(questions):
                    result = engine.handle(Incoming("console", f"kb-test-{name}-{i}", q.text, q.now or now_in_tokyo()))
                    if judge(q, result):
                        passed += 1
                    else:
                        failures.append(Failure(q, result.intent, result.text))
                totals[name] = (passed, len(questions))
        finally:
            db.dispose()
    return Report(tuple(failures), totals)


def default_files(kb: Knowledge) -> list[Path]:
    """Return the admins' question sets kept next to the knowledge: tests/*.jsonl."""
    return sorted((kb.directory / "tests").glob("*.jsonl"))


def render(report: Report) -> str:
    """Write each failure with what the bot answered, then a summary, in Japanese."""
    lines = []
    for f in report.failures:
        q = f.question
        lines.append(f"✗ {q.source}{' ' + q.id if q.id else ''}「{q.text}」")
        if q.in_scope:
            expected = "、".join(f"「{a}」" for a in q.any or ())
            lines.append(f"   期待：{expected}のいずれかを含む回答"
                         + (f"（{'、'.join(f'「{n}」' for n in q.none)}は含まない）" if q.none else ""))
        else:
            lines.append("   期待：対象外として「お答えできません」と案内する（または担当者へ取り次ぐ）")
        reply = " ".join(f.reply.split())
        lines.append(f"   ボットの応答（{f.intent}）：{reply[:SHOWN_CHARS]}{'…' if len(reply) > SHOWN_CHARS else ''}")
    asked = sum(total for _, total in report.totals.values())
    passed = sum(ok for ok, _ in report.totals.values())
    per_file = "、".join(f"{name} {ok}/{total}" for name, (ok, total) in report.totals.items())
    if lines:
        lines.append("")
    lines.append(f"結果：{asked}問中 {passed}問合格、{asked - passed}問不合格（{per_file}）")
    if report.failures:
        lines.append("不合格の質問は `sme-bot kb explain \"質問\"` で、どの項目がなぜ選ばれたかを確認できます。")
    return "\n".join(lines)


def command(files: list[Path], knowledge_dir: str | Path | None, out: IO[str]) -> int:
    """Run `sme-bot kb test`: 0 if every question passed, 1 if any failed, 2 if a file cannot be read."""
    kb = Knowledge.load(knowledge_dir)
    paths = files or default_files(kb)
    if not paths:
        out.write(f"質問セットがありません（{kb.directory / 'tests'} に *.jsonl を置いてください）。\n")
        return 0
    try:
        sets = {path.name: read(path) for path in paths}
    except QuestionSetError as exc:
        out.write(f"{exc}\n")
        return 2
    logging.getLogger("bot.engine").setLevel(logging.WARNING)  # one line per question would bury the report
    report = run(kb, sets)
    out.write(render(report) + "\n")
    return 0 if report.passed else 1
