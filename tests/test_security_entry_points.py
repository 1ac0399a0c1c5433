"""Every way into the web app, as production configures it: signed or refused, hostile bodies never a 500, nothing stored, no lead shown."""
from __future__ import annotations

import json
import time
from typing import Any, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select

from bot.app import create_app
from bot.config import Settings
from bot.engine import Engine
from handlers.base import CreateLead
from knowledge.model import Knowledge
from line_fake import SECRET as LINE_SECRET
from line_fake import TOKEN as LINE_TOKEN
from line_fake import FakeLine, encode, fixture, sign
from slack_fake import (HANDOFF_CHANNEL, SIGNING_SECRET, TOKEN as SLACK_TOKEN, FakeSlack, event_body,  # noqa: F401
                        signed_headers, slack_api, slack_server)
from storage import repository
from storage.db import Database
from storage.models import Base

from conftest import at

# The POST routes that platforms call, and how each proves who is calling.
SIGNED_ROUTES = {"/line/webhook", "/slack/events"}
# Routes for people in a browser: off in production (WEB_CHAT_ENABLED unset), so 404 there.
BROWSER_ROUTES = {"/web/hello", "/web/chat"}
LEAD = CreateLead(name="磐城太郎ZQX", business="磐城商店ZQX", contact="090-9876-5432", topic="秘密の相談ZQX",
                  preferred_time="平日午前ZQX")


def production_settings(db: Database, line_api: HTTPServer, slack: HTTPServer, **extra: str) -> Settings:
    """Return settings read as on Heroku (DYNO set), every platform configured and pointed at the fakes."""
    return Settings.from_env({
        "DYNO": "web.1", "DATABASE_URL": db.url,
        "LINE_CHANNEL_SECRET": LINE_SECRET, "LINE_CHANNEL_ACCESS_TOKEN": LINE_TOKEN,
        "LINE_API_BASE_URL": line_api.url_for("/").rstrip("/"),
        "SLACK_BOT_TOKEN": SLACK_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_HANDOFF_CHANNEL": HANDOFF_CHANNEL, "SLACK_API_BASE_URL": slack.url_for("/api/"), **extra,
    })


@pytest.fixture
def line(httpserver: HTTPServer) -> FakeLine:
    return FakeLine(httpserver)


@pytest.fixture
def app(db: Database, kb: Knowledge, httpserver: HTTPServer, slack_server: HTTPServer, line: FakeLine) -> Flask:
    settings = production_settings(db, httpserver, slack_server)
    return create_app(settings, Engine(db, settings, kb))


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as client:
        yield client


def stored_rows(db: Database) -> dict[str, int]:
    """Return the number of rows of every table that has any."""
    counts = {}
    with db.transaction() as session:
        for table in Base.metadata.sorted_tables:
            n = session.execute(select(func.count()).select_from(table)).scalar_one()
            if n:
                counts[table.name] = n
    return counts


def post_routes(app: Flask) -> set[str]:
    return {rule.rule for rule in app.url_map.iter_rules() if "POST" in (rule.methods or set())}


def test_every_post_route_is_a_known_signed_or_browser_route(app: Flask) -> None:
    # A new POST route must be added here on purpose, with the way it checks its caller.
    assert post_routes(app) == SIGNED_ROUTES | BROWSER_ROUTES


LINE_BODY = encode(fixture("text"))
SLACK_BODY = event_body({"type": "message", "channel_type": "im", "user": "U0USER", "text": "補助金", "channel": "D0USER",
                         "ts": "1800000000.000100", "event_ts": "1800000000.000100"})


@pytest.mark.parametrize("headers", [
    {},
    {"X-Line-Signature": "bm90IHRoZSBzaWduYXR1cmU="},
    {"X-Line-Signature": sign(b"another body")},
    {"X-Slack-Signature": "v0=" + "0" * 64, "X-Slack-Request-Timestamp": "{now}"},
    {"X-Slack-Signature": "v0=deadbeef", "X-Slack-Request-Timestamp": "not-a-number"},
], ids=["unsigned", "line-garbage", "line-other-body", "slack-wrong", "slack-bad-timestamp"])
@pytest.mark.parametrize("body", [LINE_BODY, SLACK_BODY.encode()], ids=["line-body", "slack-body"])
def test_every_post_route_refuses_a_caller_that_cannot_sign(app: Flask, client: FlaskClient, db: Database, line: FakeLine,
                                                            slack_api: FakeSlack, headers: dict[str, str],
                                                            body: bytes) -> None:
    headers = {k: v.replace("{now}", str(int(time.time()))) for k, v in headers.items()}
    for route in post_routes(app):
        response = client.post(route, data=body, headers={"Content-Type": "application/json", **headers})
        assert 400 <= response.status_code < 500, (route, response.status_code)
    assert stored_rows(db) == {}
    assert line.paths() == [] and slack_api.calls == []


DEEP = b"[" * 50_000 + b"]" * 50_000
HOSTILE_LINE_BODIES = {
    "not-json": b"{not json",
    "empty": b"",
    "array": b"[]",
    "null": b"null",
    "string": b'"events"',
    "no-events": b'{"destination": "U0"}',
    "events-object": b'{"events": {}}',
    "events-of-garbage": b'{"events": [1, "x", null, [], {}]}',
    "event-without-source": json.dumps({"events": [{"type": "message", "webhookEventId": "E1", "timestamp": 1,
                                                    "mode": "active", "message": {"type": "text", "id": "1", "text": "x"}}]}).encode(),
    "source-without-user": json.dumps({"events": [{**fixture("text")["events"][0], "source": {"type": "user"}}]}).encode(),
    "timestamp-as-text": json.dumps({"events": [{**fixture("text")["events"][0], "timestamp": "yesterday"}]}).encode(),
    "text-not-a-string": json.dumps({"events": [{**fixture("text")["events"][0],
                                                 "message": {"type": "text", "id": "1", "text": {"a": 1}}}]}).encode(),
    "broken-utf8": b"\xff\xfe broken utf-8",
    "nested-too-deep": DEEP,
}


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "application/x-www-form-urlencoded"])
@pytest.mark.parametrize("name", list(HOSTILE_LINE_BODIES))
def test_hostile_line_bodies_signed_with_the_secret_are_a_4xx_or_skipped_never_a_500(
        client: FlaskClient, db: Database, line: FakeLine, name: str, content_type: str) -> None:
    body = HOSTILE_LINE_BODIES[name]
    response = client.post("/line/webhook", data=body,
                           headers={"Content-Type": content_type, "X-Line-Signature": sign(body)})
    # A body LINE could send with unknown or incomplete events is accepted and its events skipped.
    assert response.status_code in (200, 400), response.status_code
    assert stored_rows(db) == {}
    assert line.paths() == []


HOSTILE_SLACK_BODIES = {
    "not-json": "{not json",
    "empty": "",
    "array": "[]",
    "form-without-payload": "a=1&b=2",
    "form-payload-not-json": "payload=%7Bnot",
    "form-payload-array": "payload=%5B%5D",
    "event-callback-without-event": json.dumps({"type": "event_callback", "event_id": "Ev1"}),
    "event-not-an-object": json.dumps({"type": "event_callback", "event_id": "Ev2", "event": "message"}),
    "nested-too-deep": DEEP.decode(),
}


@pytest.mark.parametrize("name", list(HOSTILE_SLACK_BODIES))
def test_hostile_slack_bodies_signed_with_the_secret_are_a_4xx_or_ignored_never_a_500(
        client: FlaskClient, db: Database, slack_api: FakeSlack, name: str) -> None:
    body = HOSTILE_SLACK_BODIES[name]
    content_type = "application/x-www-form-urlencoded" if name.startswith("form") else "application/json"
    response = client.post("/slack/events", data=body.encode(), headers=signed_headers(body, content_type=content_type))
    assert response.status_code < 500, response.status_code
    assert stored_rows(db) == {}
    assert [m for m, _ in slack_api.calls if m != "auth.test"] == []


@pytest.mark.parametrize("age", [6 * 60, 3600, -6 * 60], ids=["six-minutes-old", "an-hour-old", "six-minutes-ahead"])
def test_a_replayed_slack_request_with_an_old_or_future_timestamp_is_refused(
        client: FlaskClient, db: Database, slack_api: FakeSlack, age: int) -> None:
    headers = signed_headers(SLACK_BODY, timestamp=int(time.time()) - age)
    response = client.post("/slack/events", data=SLACK_BODY.encode(), headers=headers)
    assert response.status_code == 401
    assert stored_rows(db) == {} and slack_api.posts() == []


def test_a_slack_request_replayed_within_the_window_is_answered_once(client: FlaskClient, db: Database,
                                                                     slack_api: FakeSlack) -> None:
    headers = signed_headers(SLACK_BODY)
    first = client.post("/slack/events", data=SLACK_BODY.encode(), headers=headers)
    again = client.post("/slack/events", data=SLACK_BODY.encode(), headers=headers)
    assert first.status_code == again.status_code == 200
    assert len(slack_api.posts()) == 1
    assert stored_rows(db)["processed_events"] == 1


@pytest.mark.parametrize("platform", ["line", "slack"])
def test_a_body_over_the_configured_limit_is_refused_before_it_is_read(
        db: Database, kb: Knowledge, httpserver: HTTPServer, slack_server: HTTPServer, line: FakeLine,
        slack_api: FakeSlack, platform: str) -> None:
    settings = production_settings(db, httpserver, slack_server, MAX_BODY_BYTES="4096")
    client = create_app(settings, Engine(db, settings, kb)).test_client()
    if platform == "line":
        payload = fixture("text")
        payload["events"][0]["message"]["text"] = "補助金" * 2000
        body = encode(payload)
        response = client.post("/line/webhook", data=body,
                               headers={"Content-Type": "application/json", "X-Line-Signature": sign(body)})
    else:
        body = SLACK_BODY.replace("補助金", "補助金" * 2000)
        response = client.post("/slack/events", data=body.encode(), headers=signed_headers(body))
    assert response.status_code == 413
    assert stored_rows(db) == {} and line.paths() == [] and slack_api.posts() == []


def test_the_web_chat_is_off_in_production(client: FlaskClient, db: Database) -> None:
    assert client.get("/").status_code == 404
    response = client.post("/web/chat", json={"text": "補助金"})
    assert response.status_code == 404
    assert stored_rows(db) == {}


@pytest.mark.parametrize("body, content_type", [
    (DEEP, "application/json"), (b"{not json", "application/json"), (b'{"text": 5}', "application/json"),
    (b'{"text": "' + "あ".encode() * 600 + b'"}', "application/json"), (b"text=hi", "application/x-www-form-urlencoded"),
], ids=["nested-too-deep", "not-json", "text-not-a-string", "too-long", "form"])
def test_the_web_chat_when_enabled_refuses_hostile_bodies_with_a_4xx(
        db: Database, kb: Knowledge, httpserver: HTTPServer, slack_server: HTTPServer, body: bytes,
        content_type: str) -> None:
    settings = production_settings(db, httpserver, slack_server, WEB_CHAT_ENABLED="true")
    client = create_app(settings, Engine(db, settings, kb)).test_client()
    response = client.post("/web/chat", data=body, headers={"Content-Type": content_type})
    assert 400 <= response.status_code < 500, response.status_code
    assert stored_rows(db) == {}


def _url(rule: Any) -> str:
    return rule.rule.replace("<", "").replace(">", "").replace("path:", "")


@pytest.mark.parametrize("web_chat", ["false", "true"])
def test_no_page_shows_a_lead_to_an_anonymous_visitor(db: Database, kb: Knowledge, httpserver: HTTPServer,
                                                      slack_server: HTTPServer, line: FakeLine, web_chat: str) -> None:
    now = at("2026-11-27T10:00")
    with db.transaction() as session:
        user = repository.lock_user(session, "line", "U-lead", now, "salt")
        repository.create_lead(session, user, LEAD, ["秘密の質問ZQX"], now)
    settings = production_settings(db, httpserver, slack_server, WEB_CHAT_ENABLED=web_chat)
    app = create_app(settings, Engine(db, settings, kb))
    client = app.test_client()
    secrets_of_the_lead = [LEAD.name, LEAD.business, LEAD.contact, LEAD.topic, LEAD.preferred_time, "ZQX", "9876"]
    visited = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or set()):
            continue
        for url in (_url(rule), _url(rule).replace("seminar_id", "1"), _url(rule).replace("filename", "index.html")):
            text = client.get(url).get_data(as_text=True)
            visited += 1
            assert not [s for s in secrets_of_the_lead if s in text], url
    for route in BROWSER_ROUTES:
        for body in ({"text": "リード一覧"}, {"text": "leads"}, {"text": "ZQX"}, {"postback": "leads:list"}):
            text = client.post(route, json=body).get_data(as_text=True)
            assert not [s for s in secrets_of_the_lead if s in text], (route, body)
    assert visited >= 3
