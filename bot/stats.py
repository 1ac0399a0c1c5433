"""`sme-bot stats`: how the bot is used — questions per day, top entries, fallback rate, questionnaires, leads.

Everything is read from the turn log (hashed users, no text) and the leads table.
"""
from __future__ import annotations

import statistics
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from handlers.eligibility import NAME as QUESTIONNAIRE
from knowledge.model import Knowledge
from storage.db import Database
from storage.models import Lead, TurnLog

TOP_ENTRIES = 10
VERDICTS = {"eligible": "対象の見込み", "needs_check": "要確認", "not_eligible": "対象外の見込み"}
LEAD_STATUSES = {"queued": "送信待ち", "delivered": "未担当", "claimed": "対応中", "resolved": "対応済み"}
INTENTS = {"faq": "制度の質問", "fallback": "お答えできない", "seminars": "セミナー", "eligibility": "補助金診断",
           "handoff": "担当者への取り次ぎ", "greeting": "あいさつ", "help": "使い方", "cancel": "中止",
           "privacy": "データの削除", "one_to_one": "個別トークへの案内"}


@dataclass(frozen=True)
class Day:
    """One day (Asia/Tokyo) of use."""

    day: date
    messages: int
    users: int
    fallbacks: int


@dataclass(frozen=True)
class Stats:
    """The figures `sme-bot stats` shows."""

    since: datetime | None
    days: tuple[Day, ...]
    intents: dict[str, int]
    answered: int  # turns answered with an entry
    suggested: int  # turns where the closest entries were offered
    top_entries: tuple[tuple[str, str, int], ...]  # (entry id, title, turns)
    questionnaires_started: int
    questionnaires_finished: int
    verdicts: dict[str, int]
    leads: dict[str, int]
    claimed: int
    minutes_to_claim_median: float | None
    minutes_to_claim_mean: float | None

    @property
    def messages(self) -> int:
        """Return how many messages were answered."""
        return sum(self.intents.values())

    @property
    def fallbacks(self) -> int:
        """Return how many messages got the "cannot answer" reply."""
        return self.intents.get("fallback", 0)

    @property
    def fallback_rate(self) -> float | None:
        """Return the share of messages that got the "cannot answer" reply."""
        return self.fallbacks / self.messages if self.messages else None

    def as_json(self) -> dict[str, Any]:
        """Return the figures as JSON."""
        return {
            "since": self.since.isoformat() if self.since else None,
            "messages": self.messages,
            "per_day": [{"date": d.day.isoformat(), "messages": d.messages, "users": d.users, "fallbacks": d.fallbacks}
                        for d in self.days],
            "intents": self.intents,
            "answered": self.answered,
            "suggested": self.suggested,
            "fallbacks": self.fallbacks,
            "fallback_rate": round(self.fallback_rate, 4) if self.fallback_rate is not None else None,
            "top_entries": [{"entry_id": e, "title": t, "turns": n} for e, t, n in self.top_entries],
            "questionnaires": {"started": self.questionnaires_started, "finished": self.questionnaires_finished,
                               "verdicts": self.verdicts},
            "leads": {"by_status": self.leads, "claimed": self.claimed,
                      "minutes_to_claim": {"median": self.minutes_to_claim_median, "mean": self.minutes_to_claim_mean}},
        }


def collect(db: Database, kb: Knowledge, since: datetime | None) -> Stats:
    """Read the figures for the turns and leads since a time (all of them if None)."""
    with db.transaction() as session:
        day = _tokyo_day(session, TurnLog.created_at)
        recent = [TurnLog.created_at >= since] if since else []
        days = tuple(
            Day(_as_date(d), messages, users, int(fallbacks or 0))
            for d, messages, users, fallbacks in session.execute(
                select(day, func.count(), func.count(TurnLog.user_hash.distinct()),
                       func.sum(case((TurnLog.intent == "fallback", 1), else_=0)))
                .where(*recent).group_by(day).order_by(day))
        )
        intents = dict(session.execute(select(TurnLog.intent, func.count()).where(*recent).group_by(TurnLog.intent)).all())
        with_entry = dict(session.execute(
            select(TurnLog.entry_id.is_not(None), func.count())
            .where(TurnLog.intent == "faq", *recent).group_by(TurnLog.entry_id.is_not(None))).all())
        top = session.execute(
            select(TurnLog.entry_id, func.count().label("n")).where(TurnLog.entry_id.is_not(None), *recent)
            .group_by(TurnLog.entry_id).order_by(func.count().desc(), TurnLog.entry_id).limit(TOP_ENTRIES)).all()
        started, finished = _questionnaires(session, since)
        verdicts = {verdict: n for verdict, n in session.execute(
            select(TurnLog.verdict, func.count()).where(TurnLog.verdict.is_not(None), *recent)
            .group_by(TurnLog.verdict)) if verdict is not None}
        lead_since = [Lead.created_at >= since] if since else []
        leads = dict(session.execute(select(Lead.status, func.count()).where(*lead_since).group_by(Lead.status)).all())
        claims = session.execute(select(Lead.created_at, Lead.claimed_at)
                                 .where(Lead.claimed_at.is_not(None), *lead_since)).all()
    minutes = [(claimed - created).total_seconds() / 60 for created, claimed in claims if claimed is not None]
    return Stats(
        since=since, days=days, intents=intents, answered=with_entry.get(True, 0), suggested=with_entry.get(False, 0),
        top_entries=tuple((e, kb.entries[e].entry.title if e in kb.entries else e, n) for e, n in top if e is not None),
        questionnaires_started=started, questionnaires_finished=finished, verdicts=verdicts, leads=leads,
        claimed=len(minutes),
        minutes_to_claim_median=round(statistics.median(minutes), 1) if minutes else None,
        minutes_to_claim_mean=round(statistics.fmean(minutes), 1) if minutes else None,
    )


def _tokyo_day(session: Session, column: Any) -> ColumnElement[Any]:
    """Return the Asia/Tokyo calendar day of a UTC timestamp, in this database's SQL."""
    if session.bind.dialect.name == "postgresql":  # type: ignore[union-attr]
        return func.date(func.timezone("Asia/Tokyo", column))
    return func.date(column, "+9 hours")  # SQLite keeps UTC text; Japan has no daylight saving time


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _questionnaires(session: Session, since: datetime | None) -> tuple[int, int]:
    """Count questionnaires started (a user's turn entering the flow) and finished (leaving it with a verdict)."""
    previous = func.lag(TurnLog.flow).over(partition_by=TurnLog.user_hash, order_by=(TurnLog.created_at, TurnLog.id))
    turns = select(TurnLog.flow, TurnLog.intent, TurnLog.verdict, previous.label("previous"))
    if since:
        turns = turns.where(TurnLog.created_at >= since)
    sub = turns.subquery()
    was_in = func.coalesce(sub.c.previous, "") == QUESTIONNAIRE
    started, finished = session.execute(select(
        func.sum(case(((sub.c.flow == QUESTIONNAIRE) & ~was_in, 1), else_=0)),
        func.sum(case((sub.c.verdict.is_not(None), 1), else_=0)),
    )).one()
    return int(started or 0), int(finished or 0)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[str]:
    """Lay out rows in columns (numbers right-aligned), counting wide characters as two columns."""
    if not rows:
        return ["（まだありません）"]
    cells = [tuple(str(c) for c in header)] + [tuple(str(c) for c in row) for row in rows]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(header))]
    numeric = [all(isinstance(row[i], (int, float)) for row in rows) and bool(rows) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        parts = []
        for i, cell in enumerate(row):
            pad = " " * (widths[i] - _width(cell))
            parts.append(pad + cell if numeric[i] else cell + pad)
        return "  ".join(parts).rstrip()

    return [line(cells[0]), line(tuple("-" * w for w in widths))] + [line(r) for r in cells[1:]]


def render(s: Stats) -> str:
    """Write the figures as tables for the terminal, in Japanese."""
    period = f"{s.since:%Y-%m-%d}以降" if s.since else "全期間"
    rate = f"{s.fallback_rate:.1%}" if s.fallback_rate is not None else "—"
    lines = [f"利用状況（{period}）", "",
             f"メッセージ {s.messages}件：回答 {s.answered}件、候補を提示 {s.suggested}件、"
             f"お答えできない {s.fallbacks}件（{rate}）", ""]
    lines += ["■ 日別"] + _table(("日付", "メッセージ", "利用者", "お答えできない"),
                                 [(d.day.isoformat(), d.messages, d.users, d.fallbacks) for d in s.days])
    lines += ["", "■ よく答えた項目"] + _table(("回数", "項目", "id"), [(n, t, e) for e, t, n in s.top_entries])
    lines += ["", "■ 用件別"] + _table(("用件", "intent", "回数"), [(INTENTS.get(i, i), i, n) for i, n in
                                                               sorted(s.intents.items(), key=lambda kv: -kv[1])])
    lines += ["", "■ 補助金診断",
              f"開始 {s.questionnaires_started}件、結果まで回答 {s.questionnaires_finished}件"]
    if s.verdicts:
        lines += _table(("結果", "件数"), [(VERDICTS.get(v, v), n) for v, n in sorted(s.verdicts.items())])
    lines += ["", "■ 担当者への取り次ぎ"]
    lines += _table(("状態", "件数"), [(LEAD_STATUSES.get(k, k), s.leads.get(k, 0)) for k in LEAD_STATUSES]
                    + [(k, n) for k, n in s.leads.items() if k not in LEAD_STATUSES])
    if s.claimed:
        lines.append(f"担当者が決まるまで：中央値 {s.minutes_to_claim_median}分、平均 {s.minutes_to_claim_mean}分（{s.claimed}件）")
    return "\n".join(lines)
