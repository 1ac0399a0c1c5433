"""Turn latency of the subsidy questionnaire through the Engine, and how many typed answers are read.

    python bench/eligibility.py                       # 50 questionnaires on a temporary SQLite file
    python bench/eligibility.py --runs 200 --database postgresql+psycopg://postgres@127.0.0.1:5432/bench

Each run is one user answering every question in free text (the forms people type), then the verdict.
Reported: per-turn latency (median, p95, max) for answers and for the verdict, and the share of runs that
reached the verdict in exactly 8 turns (must be 100%). Run by hand; nothing asserts.
"""
from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from bot.config import TOKYO, Settings
from bot.engine import Engine
from bot.messages import Incoming
from knowledge.model import Knowledge
from storage.db import Database

# Rotated through so every run types different forms.
PLACES = ["いわき市平です", "小名浜", "郡山市", "いわき市内", "四倉町"]
INDUSTRIES = ["飲食店をやっています", "製造業", "卸売業", "美容室です", "建設業"]
CAPITALS = ["300万円", "5千万円", "個人事業主です", "1億円", "3億円"]
COUNTS = ["5人", "五人", "従業員は12名", "十二人", "60人くらい"]
ISSUES = ["新商品のブランディング", "データに基づく経営管理", "人手不足", "事業承継", "顧客管理システムの刷新"]
COSTS = ["90万円", "900,000円", "９０万", "百万円", "1.2百万円"]
REPLIES = ["はい", "まだ", "いいえ", "うん", "もらってない"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--database", help="a database URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    url = args.database or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    db = Database(url)
    db.upgrade()
    engine = Engine(db, Settings(database_url=url), Knowledge.load())
    now = datetime(2017, 9, 1, 10, tzinfo=TOKYO)
    answer_ms: list[float] = []
    verdict_ms: list[float] = []
    complete = 0
    for run in range(args.runs):
        user = f"bench-{run}-{time.time_ns()}"
        texts = ["補助金診断"] + [forms[run % len(forms)] for forms in
                                 (PLACES, INDUSTRIES, CAPITALS, COUNTS, ISSUES, COSTS, REPLIES)]
        flows = []
        for i, text in enumerate(texts):
            started = time.perf_counter()
            result = engine.handle(Incoming("console", user, text, now))
            elapsed = (time.perf_counter() - started) * 1000
            (verdict_ms if i == len(texts) - 1 else answer_ms).append(elapsed)
            flows.append(result.flow)
        complete += flows == ["eligibility"] * 7 + [None]
    for name, values in (("answer turn", answer_ms), ("verdict turn", verdict_ms)):
        values.sort()
        p95 = values[int(len(values) * 0.95) - 1]
        print(f"{name:12s} median {statistics.median(values):6.1f} ms  p95 {p95:6.1f} ms  max {values[-1]:6.1f} ms"
              f"  ({len(values)} turns)")
    print(f"verdict in exactly 8 turns: {complete}/{args.runs} ({100 * complete / args.runs:.0f}%)")
    db.dispose()


if __name__ == "__main__":
    main()
