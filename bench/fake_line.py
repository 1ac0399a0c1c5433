"""A local fake of the LINE Messaging API for benchmarks: answers at once, counts what it received."""
from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeLineApi:
    """A threaded HTTP server on loopback that answers reply, push and loading calls like LINE."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        lock = threading.Lock()
        calls = self.calls

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as api.line.me allows
            # Headers and body leave in two writes; with Nagle's algorithm the body would wait for
            # the client's delayed ACK (~40 ms on Linux), a delay the real API does not add.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    calls[self.path] += 1
                if self.path in ("/v2/bot/message/reply", "/v2/bot/message/push"):
                    sent = json.loads(body).get("messages", [])
                    answer = {"sentMessages": [{"id": str(i), "quoteToken": f"q{i}"} for i, _ in enumerate(sent)]}
                    self._send(200, answer)
                elif self.path == "/v2/bot/chat/loading/start":
                    self._send(202, {})
                else:
                    self._send(404, {"message": "Not found"})

            def _send(self, status: int, answer: dict) -> None:
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Return the base URL to give as LINE_API_BASE_URL."""
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "FakeLineApi":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
