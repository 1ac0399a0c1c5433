"""A local fake of the LINE Messaging API for benchmarks: answers at once, counts what it received.

It runs in its own process on asyncio, so that what the benchmark measures is the bot's work and
not the fake's: a real LINE API costs the bot one HTTP round trip and nothing of its CPU.

    python bench/fake_line.py PORT        # serve on 127.0.0.1:PORT until killed
"""
from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

COUNTS_PATH = "/__calls"  # GET: what was received so far, as {path: count}; DELETE: start counting again
ANSWERS = {
    "/v2/bot/message/reply": (200, b'{"sentMessages":[{"id":"1","quoteToken":"q1"}]}'),
    "/v2/bot/message/push": (200, b'{"sentMessages":[{"id":"1","quoteToken":"q1"}]}'),
    "/v2/bot/chat/loading/start": (202, b"{}"),
}
NOT_FOUND = (404, b'{"message":"Not found"}')
REASONS = {200: "OK", 202: "Accepted", 404: "Not Found"}


class FakeLineProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive, as api.line.me allows; enough of it for the SDK's and urllib3's requests."""

    def __init__(self, calls: Counter[str]):
        self.calls = calls
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:  # headers and body leave in one write; no Nagle delay to wait for
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1").split("\r\n")
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buffer) < head_end + 4 + length:
                return
            self.buffer = self.buffer[head_end + 4 + length:]
            method, path = head[0].split(" ")[:2]
            self.answer(*self.route(method, path))

    def route(self, method: str, path: str) -> tuple[int, bytes]:
        """Return the status and JSON body LINE would give."""
        if path == COUNTS_PATH:
            if method == "DELETE":
                self.calls.clear()
            return 200, json.dumps(dict(self.calls)).encode()
        self.calls[path] += 1
        return ANSWERS.get(path, NOT_FOUND)

    def answer(self, status: int, body: bytes) -> None:
        assert self.transport is not None
        self.transport.write(
            f"HTTP/1.1 {status} {REASONS[status]}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode() + body)


async def serve(port: int) -> None:
    """Serve on loopback until cancelled."""
    calls: Counter[str] = Counter()
    server = await asyncio.get_running_loop().create_server(lambda: FakeLineProtocol(calls), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def free_port() -> int:
    """Return a free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeLineApi:
    """The fake in a child process: `url` to give as LINE_API_BASE_URL, `calls` of what it received."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Return the base URL to give as LINE_API_BASE_URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def calls(self) -> Counter[str]:
        """Return how many calls each path received since the start or the last reset()."""
        with urllib.request.urlopen(self.url + COUNTS_PATH, timeout=5) as response:
            return Counter(json.loads(response.read()))

    def reset(self) -> None:
        """Start counting again."""
        urllib.request.urlopen(urllib.request.Request(self.url + COUNTS_PATH, method="DELETE"), timeout=5).close()

    def __enter__(self) -> "FakeLineApi":
        self.process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), str(self.port)])
        deadline = time.monotonic() + 10
        while True:
            try:
                self.calls
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=10)


if __name__ == "__main__":
    try:
        asyncio.run(serve(int(sys.argv[1])))
    except KeyboardInterrupt:
        pass
