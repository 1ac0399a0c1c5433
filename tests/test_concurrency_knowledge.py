"""The loaded knowledge is shared by the threads of a worker (gunicorn.conf.py: 4 threads): searching it must be thread-safe."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor


from knowledge.model import Knowledge


def test_one_knowledge_answers_many_threads_at_once(kb: Knowledge) -> None:
    threads, questions = 8, 400
    barrier = threading.Barrier(threads)

    def ask(n: int) -> int:
        if n < threads:
            barrier.wait(timeout=30)
        # a new text every time, so no cache spares the tokenizer
        return len(kb.index.search(f"創業したばかりの会社で設備投資の補助金を{n}件探しています"))

    with ThreadPoolExecutor(max_workers=threads) as pool:
        found = list(pool.map(ask, range(questions)))
    assert all(n > 0 for n in found)
