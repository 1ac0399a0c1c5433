"""Show how the FAQ thresholds separate right answers from wrong ones and from out-of-scope questions.

Usage: python3 bench/calibrate.py [KNOWLEDGE_DIR]
Reads tests/questions/*.jsonl; a line with `any` is in scope (right when the best entry's card
contains one of them), a line without is out of scope. Prints, per threshold pair, how many
questions would be answered right, answered wrong, and how many out-of-scope ones would be answered.
"""
from __future__ import annotations

import json
import sys
import unicodedata
from datetime import date
from pathlib import Path

from handlers import faq
from knowledge.model import Knowledge

QUESTIONS = Path(__file__).resolve().parent.parent / "tests" / "questions"


def main() -> None:
    kb = Knowledge.load(sys.argv[1] if len(sys.argv) > 1 else None)
    nfkc = lambda s: unicodedata.normalize("NFKC", s)  # noqa: E731
    right, wrong, outside = [], [], []
    for path in sorted(QUESTIONS.glob("*.jsonl")):
        if "seminar" in path.name or "eligib" in path.name:
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            case = json.loads(line)
            hits = faq.search(kb, case["text"], 2)  # as the FAQ ranks it (the question after any context)
            top = hits[0].score if hits else 0.0
            lead = top - (hits[1].score if len(hits) > 1 else 0.0)
            row = (top, lead, case["text"])
            if "any" not in case:
                outside.append(row)
                continue
            entry = kb.entries[hits[0].entry_id] if hits else None
            card = faq.render_entry(kb, entry, date.today(), faq.asked_facts(case["text"], entry, kb.index)).as_text() if entry else ""
            (right if any(nfkc(a) in nfkc(card) for a in case["any"]) else wrong).append(row)
    print(f"best entry right {len(right)}, wrong {len(wrong)}; out of scope {len(outside)}")
    for top, lead, text in sorted(wrong, reverse=True):
        print(f"  wrong   {top:.3f} lead {lead:.3f}  {text}")
    for top, lead, text in sorted(outside, reverse=True)[:5]:
        print(f"  outside {top:.3f} lead {lead:.3f}  {text}")
    print("threshold  lead   right  wrong  out-of-scope answered")
    for threshold in (faq.SUGGEST_AT, faq.HEDGE_AT, faq.ANSWER_AT, 0.65, 0.7):
        for min_lead in (0.0, faq.CLEAR_LEAD, 0.06):
            count = lambda rows: sum(1 for t, lead, _ in rows if t >= threshold and lead >= min_lead)  # noqa: E731
            print(f"{threshold:9.2f}  {min_lead:4.2f}  {count(right):6d} {count(wrong):6d} {count(outside):6d}")


if __name__ == "__main__":
    main()
