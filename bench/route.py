"""CPU time of routing one new question (handlers.router.respond), over the question sets shipped with the tests.

    python bench/route.py                 # 5 rounds over every question
    python bench/route.py --rounds 3
    python bench/route.py --profile       # where one round spends its time (cProfile)

Each question is a new Turn of a new user (no conversation, no button), asked at 2017-10-15 09:00
in Tokyo, within the bundled seminar calendar. Before each, the text caches and the index's
rankings per text are emptied, so every question costs what a new one costs; the keys of the
knowledge's own word lists stay, as in a bot that has answered before. Time is the CPU time of the
thread (other benchmarks share the machine); the median wall time is shown beside it. Run by hand;
nothing asserts.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from answer import bundled_questions, forget_cached_keys  # noqa: E402

from bot.config import TOKYO  # noqa: E402
from handlers import router  # noqa: E402
from handlers.base import Turn  # noqa: E402
from knowledge.model import Knowledge  # noqa: E402

NOW = datetime(2017, 10, 15, 9, 0, tzinfo=TOKYO)


def route_new(kb: Knowledge, text: str) -> tuple[float, float]:
    """Route one text as a new question; return (CPU ms, wall ms)."""
    forget_cached_keys()
    kb.index.forget_rankings()
    turn = Turn(text=text, now=NOW, kb=kb)
    cpu, wall = time.thread_time_ns(), time.perf_counter_ns()
    router.respond(turn)
    return (time.thread_time_ns() - cpu) / 1e6, (time.perf_counter_ns() - wall) / 1e6


def run_round(kb: Knowledge, questions: list[str]) -> None:
    """Route every question once and print the distribution."""
    cpu, wall = zip(*(route_new(kb, q) for q in questions))
    cuts = statistics.quantiles(cpu, n=100, method="inclusive")
    print(f"{len(questions)} questions: CPU median {statistics.median(cpu):5.2f} ms, p90 {cuts[89]:5.2f} ms, "
          f"p99 {cuts[98]:5.2f} ms, mean {statistics.mean(cpu):5.2f} ms | wall median {statistics.median(wall):5.2f} ms",
          flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="profile one round instead")
    args = parser.parse_args(argv)
    kb = Knowledge.load()
    questions = bundled_questions()
    for q in questions:  # warm up: imports, the word lists' keys, the tokenizer
        route_new(kb, q)
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for q in questions:
            route_new(kb, q)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
        return 0
    for _ in range(args.rounds):
        run_round(kb, questions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
