"""`sme-bot kb gaps`: what users asked that the bot could not answer, grouped, most frequent first.

Questions are compared by their matching keys (readings with synonyms folded), so 「今日の天気は？」
and 「きょうのてんき」 fall into one group. The list is what an admin works through to add phrasings
or new entries; a weekly digest of it can be posted to the ops channel.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy import select

from bot.channels import ops
from bot.config import Settings
from knowledge.index import SEPARATOR
from knowledge.model import Knowledge
from knowledge.text import surface_key
from storage.db import Database
from storage.models import RecordedQuestion

# Two questions whose keys score at least this (rapidfuzz WRatio, 0-100) are one group: it joins
# 「ラーメン屋を教えて」 with 「ラーメン」 and 「駐車場はありますか」 with 「会場の駐車場」,
# and keeps 「今日の天気」 apart from 「今日の為替」.
GROUP_AT = 80
DIGEST_GROUPS = 10
VARIANTS_SHOWN = 3


@dataclass
class Gap:
    """A group of similar questions the bot could not answer confidently."""

    key: str  # the matching key of the group's most frequent question
    texts: Counter[str] = field(default_factory=Counter)
    closest: Counter[str] = field(default_factory=Counter)  # entry id -> how often it came closest
    best_score: float | None = None
    fallbacks: int = 0  # the rest were low-confidence suggestions
    last_asked: datetime | None = None

    @property
    def count(self) -> int:
        """Return how many times a question of this group was asked."""
        return sum(self.texts.values())

    @property
    def example(self) -> str:
        """Return the group's most frequent wording."""
        return self.texts.most_common(1)[0][0]

    @property
    def closest_entry(self) -> str | None:
        """Return the entry that most often came closest, if any did."""
        return self.closest.most_common(1)[0][0] if self.closest else None

    def as_json(self, kb: Knowledge) -> dict[str, Any]:
        """Return the group as JSON for `--json`."""
        entry = kb.entries.get(self.closest_entry) if self.closest_entry else None
        return {"count": self.count, "example": self.example,
                "variants": [t for t, _ in self.texts.most_common(VARIANTS_SHOWN + 1)][1:],
                "fallbacks": self.fallbacks, "closest_entry": self.closest_entry,
                "closest_title": entry.entry.title if entry else None, "best_score": self.best_score,
                "last_asked": self.last_asked.isoformat() if self.last_asked else None}


def find_gaps(db: Database, kb: Knowledge, since: datetime | None) -> list[Gap]:
    """Group the recorded questions since a time by similarity, most frequent group first."""
    stmt = select(RecordedQuestion.text, RecordedQuestion.reason, RecordedQuestion.best_entry_id,
                  RecordedQuestion.score, RecordedQuestion.created_at)
    if since is not None:
        stmt = stmt.where(RecordedQuestion.created_at >= since)
    with db.transaction() as session:
        rows = session.execute(stmt).all()
    by_key: dict[str, Gap] = {}
    for text, reason, entry_id, score, created_at in rows:
        key = _key(kb, text)
        gap = by_key.setdefault(key, Gap(key))
        gap.texts[text.strip()] += 1
        if entry_id:
            gap.closest[entry_id] += 1
        if score is not None and (gap.best_score is None or score > gap.best_score):
            gap.best_score = score
        gap.fallbacks += reason == "fallback"
        if gap.last_asked is None or created_at > gap.last_asked:
            gap.last_asked = created_at
    return _merge_similar(sorted(by_key.values(), key=lambda g: (-g.count, g.key)))


def _key(kb: Knowledge, text: str) -> str:
    """Return the text's matching key with word boundaries as spaces (a bare surface form if it has no reading)."""
    return kb.index.vocabulary.key(text).replace(SEPARATOR, " ").strip() or surface_key(text)


def _merge_similar(gaps: list[Gap]) -> list[Gap]:
    """Fold each group into the first, more frequent group whose key is close enough."""
    merged: list[Gap] = []
    keys: list[str] = []
    for gap in gaps:
        found = process.extractOne(gap.key, keys, scorer=fuzz.WRatio, score_cutoff=GROUP_AT)
        if found is None:
            merged.append(gap)
            keys.append(gap.key)
            continue
        into = merged[found[2]]
        into.texts.update(gap.texts)
        into.closest.update(gap.closest)
        into.fallbacks += gap.fallbacks
        if gap.best_score is not None and (into.best_score is None or gap.best_score > into.best_score):
            into.best_score = gap.best_score
        if gap.last_asked and (into.last_asked is None or gap.last_asked > into.last_asked):
            into.last_asked = gap.last_asked
    merged.sort(key=lambda g: (-g.count, g.key))
    return merged


def render(gaps: list[Gap], kb: Knowledge, since: datetime | None, limit: int | None = None) -> str:
    """Write the groups in Japanese for an admin: count, example, other wordings, the closest entry."""
    period = f"{since:%Y-%m-%d}以降" if since else "これまで"
    if not gaps:
        return f"{period}に、答えられなかった質問はありません。"
    total = sum(g.count for g in gaps)
    lines = [f"{period}に答えられなかった（または自信のなかった）質問：{total}件、{len(gaps)}グループ（多い順）"]
    for i, gap in enumerate(gaps[:limit] if limit else gaps, 1):
        lines.append(f"{i}. {gap.count}件「{gap.example}」")
        variants = [t for t, _ in gap.texts.most_common(VARIANTS_SHOWN + 1)][1:]
        if variants:
            lines.append("   ほかの言い方：" + "、".join(f"「{t}」" for t in variants))
        entry = kb.entries.get(gap.closest_entry) if gap.closest_entry else None
        if entry:
            lines.append(f"   いちばん近かった項目：{entry.id}（{entry.entry.title}）点数 {gap.best_score or 0:.2f}")
        elif gap.closest_entry:
            lines.append(f"   いちばん近かった項目：{gap.closest_entry}（今の知識ベースにはありません）")
        else:
            lines.append("   近い項目：なし（新しい項目が必要かもしれません）")
    if limit and len(gaps) > limit:
        lines.append(f"…ほか{len(gaps) - limit}グループ（`sme-bot kb gaps` で全件を確認できます）")
    return "\n".join(lines)


def post_weekly_digest(settings: Settings, db: Database, kb: Knowledge, now: datetime) -> bool:
    """Post last week's groups to the ops channel, once per ISO week across all workers; True if posted now.

    Safe to call on every worker loop: the week's idempotency key makes every call after the first a no-op.
    """
    if not ops.configured(settings):
        return False
    year, week, _ = now.isocalendar()
    since = now - timedelta(days=7)
    gaps = find_gaps(db, kb, since)
    text = ("【週次】ボットが答えられなかった質問\n" + render(gaps, kb, since, limit=DIGEST_GROUPS)
            + "\n言い方を questions に加えるか、新しい項目を作ると、次から答えられるようになります。")
    return ops.post_once(settings, db, f"gaps-digest:{year}-W{week:02d}", text, now)
