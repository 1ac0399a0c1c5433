"""LINE push for the outbox worker: the retry key, and errors that tell the worker whether to try again."""
from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from bot.channels.line import LineNotConfigured, LineRejected, LineUnavailable, push
from bot.config import Settings
from handlers.replies import Card, Choice, Reply, replies_from_json, replies_to_json
from line_fake import FakeLine, line_settings, parse_push

PUSH = "/v2/bot/message/push"
USER = "U4af4980629a1b2c3d4e5f60718293a4b"
KEY = "0b3c9c5e-3a57-5d0e-9b1f-2f8e4c7a6d10"
REPLIES = (Reply("事務局からの回答です。", cards=(Card(kind="lead", title="ご相談の受付", alt_text="ご相談の受付"),),
                 choices=(Choice("ありがとう"),)),)


@pytest.fixture
def line(httpserver: HTTPServer) -> FakeLine:
    return FakeLine(httpserver)


@pytest.fixture
def push_settings(httpserver: HTTPServer) -> Settings:
    """Return settings whose LINE calls go to the fake (push needs no database)."""
    return line_settings("sqlite://", httpserver)


def test_push_sends_the_replies_with_the_retry_key(line: FakeLine, push_settings: Settings) -> None:
    push(push_settings, USER, replies_from_json(replies_to_json(REPLIES)), KEY)
    [request] = line.requests(PUSH)
    assert request.headers["X-Line-Retry-Key"] == KEY
    parsed = parse_push(request)
    assert parsed.to == USER and len(parsed.messages) == 2


def test_push_already_accepted_under_the_key_counts_as_sent(line: FakeLine, push_settings: Settings) -> None:
    line.fail(PUSH, 409, {"message": "The retry key is already accepted"},
              headers={"x-line-accepted-request-id": "abcdef01-2345-6789-abcd-ef0123456789"})
    push(push_settings, USER, REPLIES, KEY)
    assert len(line.requests(PUSH)) == 1


def test_rate_limit_tells_the_worker_when_to_retry(line: FakeLine, push_settings: Settings) -> None:
    line.fail(PUSH, 429, {"message": "Too Many Requests"}, headers={"Retry-After": "30"})
    with pytest.raises(LineUnavailable) as caught:
        push(push_settings, USER, REPLIES, KEY)
    assert caught.value.retry_after == 30 and caught.value.status == 429


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_worth_retrying(line: FakeLine, push_settings: Settings, status: int) -> None:
    line.fail(PUSH, status, {"message": "Internal Server Error"})
    with pytest.raises(LineUnavailable) as caught:
        push(push_settings, USER, REPLIES, KEY)
    assert caught.value.retry_after is None


@pytest.mark.parametrize("status", [400, 403])
def test_refused_push_is_not_worth_retrying(line: FakeLine, push_settings: Settings, status: int) -> None:
    line.fail(PUSH, status, {"message": "Failed to send messages"})
    with pytest.raises(LineRejected) as caught:
        push(push_settings, USER, REPLIES, KEY)
    assert not isinstance(caught.value, LineUnavailable)


def test_push_without_a_token_waits_for_configuration() -> None:
    with pytest.raises(LineNotConfigured) as caught:
        push(Settings(), USER, REPLIES, KEY)
    assert isinstance(caught.value, LineUnavailable)


def test_unreachable_line_is_worth_retrying() -> None:
    unreachable = Settings(line_channel_access_token="t", line_api_base_url="http://127.0.0.1:9")
    with pytest.raises(LineUnavailable):
        push(unreachable, USER, REPLIES, KEY)


def test_nothing_to_say_sends_nothing(line: FakeLine, push_settings: Settings) -> None:
    push(push_settings, USER, (Reply(""),), KEY)
    assert line.paths() == []
