"""A local fake of the Slack Web API (the methods the bot uses), and signed Slack requests for the Flask test client.

Modelled on slack-bolt's own tests (a mock Web API server the SDK is pointed at by base_url),
but stateful: posted messages are kept per channel with their metadata and threads, so
conversations.history / .replies answer like Slack's, and outages can be scripted.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, urlencode

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from bot.config import Settings

TOKEN = "xoxb-test-token"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
HANDOFF_CHANNEL = "C0HANDOFF"
BOT_USER = "UBOT0001"
BOT_ID = "BBOT0001"


def slack_settings(database_url: str, server: HTTPServer, **overrides: Any) -> Settings:
    """Return settings with Slack credentials, every API call pointed at the fake server."""
    values: dict[str, Any] = dict(database_url=database_url, slack_bot_token=TOKEN, slack_signing_secret=SIGNING_SECRET,
                                  slack_handoff_channel=HANDOFF_CHANNEL, slack_api_base_url=server.url_for("/api/"))
    values.update(overrides)
    return Settings(**values)


def signed_headers(body: str, timestamp: int | None = None, secret: str = SIGNING_SECRET,
                   content_type: str = "application/json") -> dict[str, str]:
    """Return the headers Slack sends with a request: X-Slack-Request-Timestamp and X-Slack-Signature (v0)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}", "Content-Type": content_type}


def event_body(event: dict[str, Any], event_id: str = "Ev0001") -> str:
    """Return an Events API callback body around one event."""
    return json.dumps({"token": "legacy", "team_id": "T0001", "api_app_id": "A0001", "type": "event_callback",
                       "event_id": event_id, "event_time": int(time.time()), "event": event,
                       "authorizations": [{"team_id": "T0001", "user_id": BOT_USER, "is_bot": True}]},
                      ensure_ascii=False)


def action_body(action_id: str, value: str, user: str, channel: str, message_ts: str, label: str = "",
                message: dict[str, Any] | None = None, action_ts: str | None = None) -> str:
    """Return an interactivity request body (form-encoded payload) for a button press."""
    payload = {
        "type": "block_actions", "team": {"id": "T0001"}, "user": {"id": user, "name": user.lower()},
        "api_app_id": "A0001", "trigger_id": "1.2.3", "channel": {"id": channel},
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
        "message": message or {"ts": message_ts, "type": "message"},
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b1", "value": value,
                     "text": {"type": "plain_text", "text": label}, "action_ts": action_ts or f"{time.time():.6f}"}],
    }
    return urlencode({"payload": json.dumps(payload, ensure_ascii=False)})


class FakeSlack:
    """Answers the Web API methods the bot calls, keeping what was posted; failures can be scripted."""

    def __init__(self, server: HTTPServer):
        self.server = server
        self.lock = threading.Lock()
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._failures: list[tuple[str, int, dict[str, Any], dict[str, str]]] = []
        self.on_call: Callable[[str, dict[str, Any]], None] | None = None  # runs before answering
        self._clock = 1_800_000_000.0
        server.expect_request(re.compile(r"^/api/")).respond_with_handler(self._answer)

    # scripting

    def fail(self, method: str, status: int = 500, times: int = 1, body: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None) -> None:
        """Make the next `times` calls of a method ("*" for any) fail with this status."""
        self._failures.extend([(method, status, body or {"ok": False, "error": "internal_error"}, headers or {})] * times)

    def posts(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Return every chat.postMessage call's arguments, in order (of one channel if given)."""
        return [args for method, args in self.calls if method == "chat.postMessage"
                and (channel is None or args.get("channel") == channel)]

    def updates(self) -> list[dict[str, Any]]:
        """Return every chat.update call's arguments, in order."""
        return [args for method, args in self.calls if method == "chat.update"]

    def lead_cards(self) -> list[dict[str, Any]]:
        """Return the lead cards in the handoff channel (top-level messages with sme_lead metadata)."""
        return [m for m in self.messages.get(HANDOFF_CHANNEL, [])
                if (m.get("metadata") or {}).get("event_type") == "sme_lead"]

    def thread(self, ts: str, channel: str = HANDOFF_CHANNEL) -> list[dict[str, Any]]:
        """Return the replies in the thread of a message."""
        return [m for m in self.messages.get(channel, []) if m.get("thread_ts") == ts and m["ts"] != ts]

    # the API

    def _answer(self, request: Request) -> Response:
        method = request.path.rsplit("/", 1)[-1]
        args = _arguments(request)
        with self.lock:
            self.calls.append((method, args))
        if self.on_call is not None:
            self.on_call(method, args)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _json({"ok": False, "error": "invalid_auth"})
        with self.lock:
            for i, (name, status, body, headers) in enumerate(self._failures):
                if name in (method, "*"):
                    del self._failures[i]
                    return _json(body, status, headers)
            handler = getattr(self, "_" + method.replace(".", "_"), None)
            if handler is None:
                return _json({"ok": False, "error": "unknown_method"})
            return _json(handler(args))

    def _next_ts(self) -> str:
        self._clock += 1.0
        return f"{self._clock:.6f}"

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://iwaki.example/", "team": "Iwaki", "user": "sme-bot", "team_id": "T0001",
                "user_id": BOT_USER, "bot_id": BOT_ID}

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel"))
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        message = {"type": "message", "ts": self._next_ts(), "text": args.get("text", ""), "blocks": args.get("blocks"),
                   "bot_id": BOT_ID, "user": BOT_USER, "metadata": args.get("metadata")}
        if args.get("thread_ts"):
            message["thread_ts"] = str(args["thread_ts"])
        self.messages.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": message}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        for message in self.messages.get(str(args.get("channel")), []):
            if message["ts"] == args.get("ts"):
                message.update(text=args.get("text", ""), blocks=args.get("blocks"))
                return {"ok": True, "channel": args["channel"], "ts": message["ts"]}
        return {"ok": False, "error": "message_not_found"}

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        oldest = float(args.get("oldest") or 0)
        found = [self._visible(m, args) for m in reversed(self.messages.get(str(args.get("channel")), []))
                 if float(m["ts"]) > oldest and (not m.get("thread_ts") or m["thread_ts"] == m["ts"])]
        return {"ok": True, "messages": found, "has_more": False, "response_metadata": {"next_cursor": ""}}

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        ts = str(args.get("ts"))
        found = [self._visible(m, args) for m in self.messages.get(str(args.get("channel")), [])
                 if m["ts"] == ts or m.get("thread_ts") == ts]
        return {"ok": True, "messages": found, "has_more": False, "response_metadata": {"next_cursor": ""}}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "channel": {"id": "D" + str(args.get("users"))[1:]}}

    @staticmethod
    def _visible(message: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
        include = str(args.get("include_all_metadata")).lower() in ("1", "true")
        return {k: v for k, v in message.items() if k != "metadata" or include}


def _arguments(request: Request) -> dict[str, Any]:
    """Read a Web API call's arguments: JSON body, form body or query string (the SDK uses all three)."""
    raw = request.get_data(as_text=True)
    if request.headers.get("Content-Type", "").startswith("application/json") and raw:
        return json.loads(raw)
    args: dict[str, Any] = {k: v[0] for k, v in parse_qs(raw).items()} if raw else {}
    args.update({k: v for k, v in request.args.items()})
    for key in ("blocks", "metadata"):
        if isinstance(args.get(key), str):
            args[key] = json.loads(args[key])
    return args


def _json(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, headers=headers or {},
                    content_type="application/json; charset=utf-8")


# --- fixtures (imported by the Slack, handoff and outbox tests) ------------------------------------


@pytest.fixture
def slack_server() -> Iterator[HTTPServer]:
    """Return a local HTTP server of its own for the fake Slack API (the LINE fake answers every path)."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def slack_api(slack_server: HTTPServer) -> FakeSlack:
    """Return the fake Slack API, empty."""
    return FakeSlack(slack_server)
