"""Load: 50 users take the subsidy questionnaire at the same time through the LINE webhook, over real HTTP.

Each simulated user taps the quick replies LINE would show them, one event at a time, as a phone
does; the app runs in a threaded HTTP server and answers a local fake LINE API. Bounded: 50 users,
8 events each, loopback only. At the end every user's own answers, and only theirs, are in their
verdict and their conversation.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from werkzeug import Request, Response
from werkzeug.serving import make_server

from bot.app import create_app
from bot.config import Settings
from bot.engine import Engine
from knowledge.model import Knowledge
from line_fake import SECRET, TOKEN, sign
from storage.db import Database
from storage.models import ConversationRow, ProcessedEvent, TurnLog, User

USERS = 50
COSTS = ["30万円", "60万円", "75万円", "100万円"]
NAVIGATION = {"戻る", "やめる"}
MAX_EVENTS = 12  # per user: the questionnaire has 7 questions; more means it is going round in circles


class LineRecorder:
    """The Messaging API endpoints the webhook calls, keeping each reply by its reply token."""

    def __init__(self, server: HTTPServer):
        self.replies: dict[str, list[dict[str, Any]]] = {}
        self.lock = threading.Lock()
        server.expect_request("/v2/bot/message/reply").respond_with_handler(self._reply)
        server.expect_request("/v2/bot/chat/loading/start").respond_with_handler(
            lambda request: Response("{}", status=202, content_type="application/json"))

    def _reply(self, request: Request) -> Response:
        body = json.loads(request.get_data())
        with self.lock:
            self.replies[body["replyToken"]] = body["messages"]
        return Response(json.dumps({"sentMessages": [{"id": "1", "quoteToken": "q"}]}), content_type="application/json")


@pytest.fixture
def line_api() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def webhook_url(db: Database, kb: Knowledge, line_api: HTTPServer) -> Iterator[str]:
    """Serve the app over real HTTP on loopback, with threads, as gunicorn's gthread workers do."""
    settings = Settings(database_url=db.url, line_channel_secret=SECRET, line_channel_access_token=TOKEN,
                        line_api_base_url=line_api.url_for("/").rstrip("/"), web_chat_enabled=False)
    server = make_server("127.0.0.1", 0, create_app(settings, Engine(db, settings, kb)), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}/line/webhook"
    server.shutdown()


def event(user: str, n: int, text: str | None = None, postback: str | None = None) -> dict[str, Any]:
    base = {"mode": "active", "timestamp": int(time.time() * 1000), "source": {"type": "user", "userId": user},
            "webhookEventId": f"01LOAD{user[-6:]}{n:04d}", "deliveryContext": {"isRedelivery": False},
            "replyToken": f"{user}-{n}"}
    if postback is not None:
        return {**base, "type": "postback", "postback": {"data": postback}}
    return {**base, "type": "message", "message": {"type": "text", "id": f"{user}{n}", "quoteToken": "q", "text": text}}


def choose(items: list[dict[str, Any]], cost: str) -> dict[str, Any]:
    """Tap what this user would: their own cost when asked for it, else the first real answer."""
    actions = [item["action"] for item in items if item["action"]["label"] not in NAVIGATION]
    return next((a for a in actions if a["label"] == cost), actions[0])


def take_questionnaire(url: str, line: LineRecorder, n: int) -> tuple[str, str, list[dict[str, Any]]]:
    """Go through the questionnaire as user n; return the user id, their cost and the last reply."""
    user, cost = f"U{n:032x}", COSTS[n % len(COSTS)]
    step = event(user, 0, text="補助金診断")
    for count in range(1, MAX_EVENTS + 1):
        body = json.dumps({"destination": "Ubot", "events": [step]}, ensure_ascii=False).encode()
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json", "X-Line-Signature": sign(body)})
        with urllib.request.urlopen(request, timeout=60) as response:  # a 4xx or 5xx raises HTTPError
            assert response.status == 200, (user, response.status)
        messages = line.replies[step["replyToken"]]
        items = (messages[-1].get("quickReply") or {}).get("items", [])
        if not any(item["action"]["label"] in NAVIGATION for item in items):
            return user, cost, messages  # no step left to go back to: the verdict
        action = choose(items, cost)
        if action["type"] == "postback":
            step = event(user, count, postback=action["data"])
        else:
            step = event(user, count, text=action["text"])
    raise AssertionError(f"{user} never reached the verdict")


def test_fifty_users_take_the_questionnaire_at_once_and_each_gets_their_own_verdict(
        db: Database, webhook_url: str, line_api: HTTPServer) -> None:
    line = LineRecorder(line_api)
    started = threading.Barrier(USERS)

    def one_user(n: int) -> tuple[str, str, list[dict[str, Any]]]:
        started.wait(timeout=30)
        return take_questionnaire(webhook_url, line, n)

    with ThreadPoolExecutor(max_workers=USERS) as pool:
        results = list(pool.map(one_user, range(USERS), timeout=240))

    for user, cost, verdict in results:
        shown = json.dumps(verdict, ensure_ascii=False)
        assert f"事業費{cost}" in shown or f"事業費 {cost}" in shown, (user, cost)
        assert not [c for c in COSTS if c != cost and f"事業費{c}の" in shown], (user, cost)
    with db.transaction() as session:
        rows = session.execute(select(User, ConversationRow).join(ConversationRow, ConversationRow.user_id == User.id)).all()
        verdicts = dict(session.execute(select(TurnLog.user_hash, func.count()).where(TurnLog.verdict.is_not(None))
                                        .group_by(TurnLog.user_hash)).all())
        events = session.execute(select(func.count()).select_from(ProcessedEvent)).scalar_one()
    assert len(rows) == USERS
    for user, conversation in rows:
        assert conversation.state["flow"] is None, user.platform_user_id
        assert conversation.version == 8, (user.platform_user_id, conversation.version)  # the start and 7 answers
        assert verdicts.get(user.user_hash) == 1, user.platform_user_id
    assert events == USERS * 8
