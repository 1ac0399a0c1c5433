"""CPU and wall time per LINE API call (reply, push, loading) of LineClient, against a local fake LINE API.

    python bench/line_client.py                    # 1000 calls of each kind, 5 rounds
    python bench/line_client.py --calls 300 --rounds 7

The messages are a rendered program answer (text, a Flex bubble and quick replies), as a webhook
sends them. CPU is the calling thread's own (time.thread_time), so the fake server's work is not
counted; the median of the rounds is printed. Run by hand; nothing asserts.
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

from fake_line import FakeLineApi

from bot.channels.line import LineClient, render
from handlers.replies import Card, CardButton, Choice, Reply

ANSWER = (Reply(
    "いわき市の小規模事業者持続化補助金についてご案内します。",
    cards=(Card(kind="program", title="小規模事業者持続化補助金", alt_text="小規模事業者持続化補助金のご案内",
                subtitle="販路開拓の取り組みを支援", rows=(("上限", "50万円"), ("補助率", "3分の2"), ("締切", "2026年3月31日")),
                body="チラシ作成や展示会出展などの経費が対象です。", footer="出典: いわき市（2026年度）",
                buttons=(CardButton("詳しく見る", data="program:jizokuka"), CardButton("電話する", tel="0246-22-1111"))),),
    choices=tuple(Choice(label) for label in ("補助金", "セミナー", "融資", "創業", "相談したい", "メニュー")),
),)


def per_call(call: Callable[[int], None], calls: int) -> tuple[float, float]:
    """Return (CPU ms, wall ms) per call over `calls` calls."""
    cpu, wall = time.thread_time(), time.perf_counter()
    for n in range(calls):
        call(n)
    return (time.thread_time() - cpu) * 1000 / calls, (time.perf_counter() - wall) * 1000 / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls of each kind per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    messages = render(ANSWER)
    with FakeLineApi() as fake, LineClient("bench-token", fake.url, fake.url) as client:
        kinds: dict[str, Callable[[int], None]] = {
            "reply": lambda n: client.reply(f"token{n}", messages),
            "push": lambda n: client.push("U" + "0" * 32, messages, f"00000000-0000-4000-8000-{n:012d}"),
            "loading": lambda n: client.show_loading("U" + "0" * 32, 5),
        }
        for call in kinds.values():  # warm up: connections open, code paths loaded
            per_call(call, 20)
        for kind, call in kinds.items():
            rounds = [per_call(call, args.calls) for _ in range(args.rounds)]
            cpu = statistics.median(r[0] for r in rounds)
            wall = statistics.median(r[1] for r in rounds)
            print(f"{kind:8s} CPU {cpu:6.3f} ms/call  wall {wall:6.3f} ms/call  (median of {args.rounds} x {args.calls})")


if __name__ == "__main__":
    main()
