"""A local fake of the LINE Messaging API, signed webhook bodies, and checks of what the bot sends to LINE."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
from pathlib import Path
from typing import Any, Iterator

from linebot.v3.messaging import FlexMessage, Message, PushMessageRequest, ReplyMessageRequest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from bot.channels.line.render import utf16_len
from bot.config import Settings

SECRET = "0123456789abcdef0123456789abcdef"
TOKEN = "test-channel-access-token"
FIXTURES = Path(__file__).parent / "fixtures" / "line"

# Documented limits the OpenAPI description does not carry (Messaging API reference).
MAX_MESSAGES = 5
MAX_TEXT = 5000
MAX_ALT_TEXT = 1500
MAX_QUICK_REPLIES = 13
MAX_LABEL = 20
MAX_POSTBACK_DATA = 300
MAX_CAROUSEL = 12
MAX_BUBBLE_BYTES = 30_000
MAX_CAROUSEL_BYTES = 50_000


def fixture(name: str) -> dict[str, Any]:
    """Return a webhook body from tests/fixtures/line/ as a dict."""
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def sign(body: bytes, secret: str = SECRET) -> str:
    """Return the X-Line-Signature of a body, as LINE computes it."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def encode(payload: dict[str, Any]) -> bytes:
    """Serialise a webhook body the way LINE sends it (UTF-8 JSON)."""
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def line_settings(database_url: str, server: HTTPServer) -> Settings:
    """Return settings with LINE credentials, every API call pointed at the fake server."""
    return Settings(database_url=database_url, line_channel_secret=SECRET, line_channel_access_token=TOKEN,
                    line_api_base_url=server.url_for("/").rstrip("/"))


class FakeLine:
    """Answers every Messaging API call like LINE does; failures can be scripted per path."""

    def __init__(self, server: HTTPServer):
        self.server = server
        self._failures: dict[str, list[tuple[int, dict[str, Any], dict[str, str]]]] = {}
        self.rich_menus: dict[str, dict[str, Any]] = {}
        self.images: dict[str, bytes] = {}
        self.default_menu: str | None = None
        self._next_id = 0
        self._arrived: list[str] = []  # paths as requests arrive (the server's log has them once answered)
        self._arrival = threading.Condition()
        server.expect_request(re.compile("^/")).respond_with_handler(self._answer)

    def fail(self, path: str, status: int, body: dict[str, Any] | None = None, times: int = 1,
             headers: dict[str, str] | None = None) -> None:
        """Make the next `times` calls to `path` fail with this status."""
        self._failures.setdefault(path, []).extend([(status, body or {"message": "error"}, headers or {})] * times)

    def requests(self, path: str, method: str = "POST") -> list[Request]:
        """Return the requests received on a path, in order."""
        return [r for r, _ in self.server.log if r.path == path and r.method == method]

    def paths(self) -> list[str]:
        """Return the paths of every request received, in order."""
        return [r.path for r, _ in self.server.log]

    def wait_for(self, path: str, timeout: float) -> bool:
        """Wait until a request on `path` has arrived (not necessarily been answered); False after `timeout` seconds."""
        with self._arrival:
            return self._arrival.wait_for(lambda: path in self._arrived, timeout)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        """Return the JSON bodies received on a path."""
        return [json.loads(r.get_data()) for r in self.requests(path)]

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
        return Response(json.dumps(body), status=status, content_type="application/json", headers=headers)

    def _answer(self, request: Request) -> Response:
        assert request.headers.get("Authorization") == f"Bearer {TOKEN}"
        with self._arrival:
            self._arrived.append(request.path)
            self._arrival.notify_all()
        failures = self._failures.get(request.path)
        if failures:
            status, body, headers = failures.pop(0)
            return self._json(status, body, headers)
        path, method = request.path, request.method
        if path in ("/v2/bot/message/reply", "/v2/bot/message/push"):
            sent = json.loads(request.get_data())["messages"]
            return self._json(200, {"sentMessages": [{"id": str(600000 + i), "quoteToken": f"q{i}"} for i, _ in enumerate(sent)]})
        if path == "/v2/bot/chat/loading/start":
            return self._json(202, {})
        if path == "/v2/bot/richmenu/list":
            return self._json(200, {"richmenus": list(self.rich_menus.values())})
        if path == "/v2/bot/richmenu" and method == "POST":
            self._next_id += 1
            menu_id = f"richmenu-{self._next_id:032x}"
            self.rich_menus[menu_id] = {**json.loads(request.get_data()), "richMenuId": menu_id}
            return self._json(200, {"richMenuId": menu_id})
        match = re.fullmatch(r"/v2/bot/richmenu/([^/]+)/content", path)
        if match:
            if method == "POST":
                self.images[match[1]] = request.get_data()
                return self._json(200, {})
            if match[1] in self.images:
                return Response(self.images[match[1]], status=200, content_type="image/png")
            return self._json(404, {"message": "Not found"})
        match = re.fullmatch(r"/v2/bot/user/all/richmenu/([^/]+)", path)
        if match:
            if match[1] not in self.images:
                return self._json(400, {"message": "must upload richmenu image before applying it to user"})
            self.default_menu = match[1]
            return self._json(200, {})
        match = re.fullmatch(r"/v2/bot/richmenu/([^/]+)", path)
        if match and method == "DELETE":
            self.rich_menus.pop(match[1], None)
            return self._json(200, {})
        return self._json(404, {"message": "Not found"})


def _actions(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if isinstance(value.get("action"), dict):
            yield value["action"]
        for child in value.values():
            yield from _actions(child)
    elif isinstance(value, list):
        for child in value:
            yield from _actions(child)


def _flex_texts(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if value.get("type") == "text":
            yield value.get("text", "")
        for child in value.values():
            yield from _flex_texts(child)
    elif isinstance(value, list):
        for child in value:
            yield from _flex_texts(child)


def check_message(message: dict[str, Any]) -> None:
    """Check one message against the SDK's model (no property it does not know) and LINE's documented limits."""
    model = Message.from_dict(message)
    assert model.to_dict() == message, "a property the Messaging API does not define was dropped"
    if message["type"] == "text":
        assert message["text"] and utf16_len(message["text"]) <= MAX_TEXT
    elif message["type"] == "flex":
        assert isinstance(model, FlexMessage)
        assert message["altText"].strip() and utf16_len(message["altText"]) <= MAX_ALT_TEXT
        contents = message["contents"]
        size = len(json.dumps(contents, ensure_ascii=False, separators=(",", ":")).encode())
        if contents["type"] == "carousel":
            assert 1 <= len(contents["contents"]) <= MAX_CAROUSEL
            assert size <= MAX_CAROUSEL_BYTES
        else:
            assert size <= MAX_BUBBLE_BYTES
        assert all(text.strip() for text in _flex_texts(contents)), "LINE rejects an empty Flex text"
    items = (message.get("quickReply") or {}).get("items", [])
    assert len(items) <= MAX_QUICK_REPLIES
    for action in _actions(message) if message["type"] == "flex" else []:
        _check_action(action)
    for item in items:
        _check_action(item["action"])


def _check_action(action: dict[str, Any]) -> None:
    assert 1 <= utf16_len(action["label"]) <= MAX_LABEL, action["label"]
    if action["type"] == "postback":
        assert utf16_len(action["data"]) <= MAX_POSTBACK_DATA
    if action["type"] == "uri":
        assert action["uri"].startswith(("https://", "http://", "tel:"))


def check_messages(messages: list[dict[str, Any]]) -> None:
    """Check a list of messages as sent in one reply or push."""
    assert 1 <= len(messages) <= MAX_MESSAGES
    for message in messages:
        check_message(message)


def parse_reply(request: Request) -> ReplyMessageRequest:
    """Parse a captured reply request with the SDK's model and check its messages."""
    body = request.get_data(as_text=True)
    parsed = ReplyMessageRequest.from_json(body)
    check_messages(json.loads(body)["messages"])
    return parsed


def parse_push(request: Request) -> PushMessageRequest:
    """Parse a captured push request with the SDK's model and check its messages."""
    body = request.get_data(as_text=True)
    parsed = PushMessageRequest.from_json(body)
    check_messages(json.loads(body)["messages"])
    return parsed


def message_texts(messages: list[dict[str, Any]]) -> str:
    """Return every text of the messages (text messages, altTexts and Flex texts), joined."""
    out = []
    for m in messages:
        if m["type"] == "text":
            out.append(m["text"])
        else:
            out.append(m["altText"])
            out.extend(_flex_texts(m["contents"]))
    return "\n".join(out)
