"""Time per question of the search index against a naive rapidfuzz scan, on the bundled and on generated knowledge.

    python bench/answer.py                      # bundled, 1,000, 10,000 and 100,000 entries
    python bench/answer.py --sizes 1000 10000   # fewer sizes
    python bench/answer.py --profile 10000      # where the index spends its time at that size

Each question is timed with the text caches emptied first, so a repeated question costs what a new
one costs. The naive reference is `rapidfuzz.process.extractOne(q, every_example_question,
scorer=WRatio)`, measured on the same questions in the same run. Run by hand; nothing asserts.
"""
from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from rapidfuzz import fuzz, process

sys.path.insert(0, str(Path(__file__).resolve().parent))

from knowledge_gen import generate, user_questions  # noqa: E402

from knowledge import text as text_keys  # noqa: E402
from knowledge.index import SearchIndex, Vocabulary  # noqa: E402
from knowledge.model import Knowledge  # noqa: E402

QUESTION_SETS = Path(__file__).resolve().parent.parent / "tests" / "questions"


@dataclass(frozen=True)
class Timing:
    """Milliseconds per question over a run."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        """Return the median in ms."""
        return statistics.median(self.samples)

    @property
    def p99(self) -> float:
        """Return the 99th percentile in ms."""
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


# Caches a new question does not empty: the tokenizer, and the keys of the knowledge's own word lists.
_KEPT_CACHES = {"_tokenizer", "_dictionary", "_word_keys", "_word_readings"}


def forget_cached_keys() -> None:
    """Empty the caches of text keys, so the next question is tokenised afresh."""
    for name in dir(text_keys):
        cached = getattr(text_keys, name)
        if callable(getattr(cached, "cache_clear", None)) and name not in _KEPT_CACHES:
            cached.cache_clear()


def time_each(questions: Sequence[str], answer: Callable[[str], object]) -> Timing:
    """Time one call per question, caches emptied before each."""
    samples = []
    for q in questions:
        forget_cached_keys()
        start = time.perf_counter()
        answer(q)
        samples.append((time.perf_counter() - start) * 1000)
    return Timing(tuple(samples))


def bundled_questions() -> list[str]:
    """Return the regression questions shipped with the tests (answerable and out of scope)."""
    questions = []
    for path in sorted(QUESTION_SETS.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                questions.append(json.loads(line)["text"])
    return questions


def report(label: str, entries: int, keys: int, build_s: float, index: Timing, naive: Timing | None) -> dict:
    """Print one line of results and return them."""
    line = (f"{label:<10} entries={entries:>7,} naive_keys={keys:>7,} build={build_s:6.1f}s "
            f"index median={index.median:7.2f}ms p99={index.p99:7.2f}ms")
    row = {"label": label, "entries": entries, "index_median": index.median, "index_p99": index.p99}
    if naive is not None:
        line += (f" | naive median={naive.median:7.2f}ms p99={naive.p99:7.2f}ms"
                 f" | naive/index median x{naive.median / index.median:5.1f} p99 x{naive.p99 / index.p99:5.1f}")
        row.update(naive_median=naive.median, naive_p99=naive.p99)
    print(line, f"rss={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}MB", flush=True)
    return row


def run_bundled(queries: int) -> dict:
    """Benchmark the bundled knowledge."""
    start = time.perf_counter()
    kb = Knowledge.load()
    build = time.perf_counter() - start
    questions = (bundled_questions() * 3)[: max(queries, 100)]
    examples = [q for e in kb.entries.values() for q in e.entry.questions]
    index = time_each(questions, kb.index.rank)
    naive = time_each(questions, lambda q: process.extractOne(q, examples, scorer=fuzz.WRatio))
    return report("bundled", len(kb.entries), len(examples), build, index, naive)


def run_generated(size: int, queries: int, naive_queries: int, vocabulary: Vocabulary) -> dict:
    """Benchmark generated knowledge of `size` entries."""
    entries = generate(size)
    start = time.perf_counter()
    index = SearchIndex([e.document() for e in entries], vocabulary)
    build = time.perf_counter() - start
    questions = user_questions(entries, queries)
    examples = [q for e in entries for q in e.questions]
    index_timing = time_each(questions, index.rank)
    naive = time_each(questions[:naive_queries], lambda q: process.extractOne(q, examples, scorer=fuzz.WRatio))
    return report(f"gen {size:,}", size, len(examples), build, index_timing, naive)


def profile(size: int, queries: int, vocabulary: Vocabulary) -> None:
    """Print where the index spends its time answering at this size."""
    entries = generate(size)
    index = SearchIndex([e.document() for e in entries], vocabulary)
    questions = user_questions(entries, queries)
    profiler = cProfile.Profile()
    profiler.enable()
    time_each(questions, index.rank)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(18)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 10_000, 100_000])
    parser.add_argument("--queries", type=int, default=300, help="questions per size (index)")
    parser.add_argument("--naive-budget-s", type=float, default=30.0,
                        help="at most about this many seconds of naive scanning per size")
    parser.add_argument("--profile", type=int, metavar="SIZE", help="profile the index at this size instead")
    args = parser.parse_args(argv)

    kb = Knowledge.load()  # the real synonyms and noise words give generated keys the real folding
    vocabulary = Vocabulary.build(kb.synonyms.groups, kb.synonyms.noise)
    if args.profile:
        profile(args.profile, args.queries, vocabulary)
        return 0
    rows = [run_bundled(args.queries)]
    for size in args.sizes:
        # the naive scan costs about 2 µs per example question: keep each size within the budget
        naive_queries = max(20, min(args.queries, int(args.naive_budget_s / (size * 3 * 2e-6))))
        rows.append(run_generated(size, args.queries, naive_queries, vocabulary))
    generated = rows[1:]
    for smaller, larger in zip(generated, generated[1:]):
        growth = larger["entries"] / smaller["entries"]
        print(f"growth {smaller['entries']:,} -> {larger['entries']:,} (x{growth:.0f} entries): "
              f"index median x{larger['index_median'] / smaller['index_median']:.2f}, "
              f"p99 x{larger['index_p99'] / smaller['index_p99']:.2f}; "
              f"naive median x{larger['naive_median'] / smaller['naive_median']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
