"""The terminal channel: an interactive chat, and `chat --jsonl` for scripts and tests."""
from __future__ import annotations

import json
from datetime import datetime
from typing import IO, Any

from bot.config import TOKYO
from bot.engine import Engine, now_in_tokyo
from bot.messages import Incoming, TurnResult

CHANNEL = "console"


def parse_now(value: Any) -> datetime:
    """Parse an ISO 8601 time; a time without a zone is taken as Asia/Tokyo."""
    if not isinstance(value, str):
        raise ValueError("now must be an ISO 8601 string")
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=TOKYO)


def to_incoming(message: Any) -> Incoming:
    """Turn one JSON line of `chat --jsonl` into an Incoming message (ValueError if malformed)."""
    if not isinstance(message, dict):
        raise ValueError("each line must be a JSON object")
    user, text = message.get("user"), message.get("text")
    if not isinstance(user, str) or not user.strip():
        raise ValueError("'user' must be a non-empty string")
    if not isinstance(text, str):
        raise ValueError("'text' must be a string")
    postback = message.get("postback")
    if postback is not None and not isinstance(postback, str):
        raise ValueError("'postback' must be a string")
    now = parse_now(message["now"]) if message.get("now") is not None else now_in_tokyo()
    return Incoming(channel=CHANNEL, user_id=user, text=text, now=now, postback=postback)


def result_json(user: str, result: TurnResult) -> dict[str, Any]:
    """Return the output object of `chat --jsonl` for one turn."""
    return {
        "user": user,
        "intent": result.intent,
        "text": result.text,
        "choices": [c.label for c in result.choices],
        "flow": result.flow,
        "entry_id": result.entry_id,
        "score": result.score,
    }


def run_jsonl(engine: Engine, stdin: IO[str], stdout: IO[str]) -> None:
    """Answer each input line with exactly one output line, flushed; bad lines get an error line."""
    for line in stdin:
        if not line.strip():
            continue
        try:
            incoming = to_incoming(json.loads(line))
        except (ValueError, KeyError) as exc:  # json.JSONDecodeError is a ValueError
            out: dict[str, Any] = {"error": f"invalid input line: {exc}"}
        else:
            try:
                out = result_json(incoming.user_id, engine.handle(incoming))
            except Exception as exc:  # one bad turn must not end the session for the others
                out = {"user": incoming.user_id, "error": f"internal error: {type(exc).__name__}"}
        stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        stdout.flush()


def run_interactive(engine: Engine, stdin: IO[str], stdout: IO[str], user: str = "console-user") -> None:
    """Chat in the terminal; choices are numbered and can be picked by number or by label."""
    stdout.write("いわき市 中小企業支援チャットボット（終了は Ctrl+D）\n")
    choices: list[tuple[str, str | None]] = []
    while True:
        stdout.write("\nあなた> ")
        stdout.flush()
        line = stdin.readline()
        if not line:
            stdout.write("\n")
            return
        text = line.strip()
        if not text:
            continue
        postback = None
        if text.isdigit() and 1 <= int(text) <= len(choices):
            text, postback = choices[int(text) - 1]
        result = engine.handle(Incoming(CHANNEL, user, text, now_in_tokyo(), postback=postback))
        stdout.write(f"\nボット> {result.text}\n")
        choices = [(c.label, c.data) for c in result.choices]
        for i, (label, _) in enumerate(choices, 1):
            stdout.write(f"  [{i}] {label}\n")
