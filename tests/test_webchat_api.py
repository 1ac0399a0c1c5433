"""The web chat's page and JSON API: same engine as LINE, an anonymous cookie, same-origin JSON only, bounded input."""
from __future__ import annotations

from dataclasses import replace

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.app import create_app
from bot.config import Settings
from bot.engine import Engine
from bot.webchat import COOKIE, MAX_TEXT
from storage.models import TurnLog, User


@pytest.fixture
def client(engine: Engine, settings: Settings) -> FlaskClient:
    return create_app(replace(settings, web_chat_enabled=True), engine).test_client()


def say(client: FlaskClient, text: str, postback: str | None = None, **headers: str):  # type: ignore[no-untyped-def]
    return client.post("/web/chat", json={"text": text, "postback": postback}, headers=headers)


def test_the_page_is_served_with_an_anonymous_httponly_cookie(client: FlaskClient):
    response = client.get("/")
    assert response.status_code == 200 and "いわき市 中小企業支援チャットボット" in response.get_data(as_text=True)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    for asset in ("/web/static/chat.js", "/web/static/chat.css"):
        assert client.get(asset).status_code == 200


def test_the_page_loads_nothing_from_elsewhere(client: FlaskClient):
    html = client.get("/").get_data(as_text=True)
    assert "http://" not in html and "https://" not in html and "//" not in html.replace("<!--", "")


def test_hello_greets_with_the_menu(client: FlaskClient):
    data = client.post("/web/hello", json={}).get_json()
    assert data["intent"] == "greeting" and "補助金診断" in [c["label"] for c in data["replies"][-1]["choices"]]


def test_a_question_gets_the_same_answer_as_on_other_channels_with_its_card(client: FlaskClient, engine: Engine):
    data = say(client, "奨学金の返還支援の概要を教えて").get_json()
    assert data["intent"] == "faq"
    card = data["replies"][0]["cards"][0]
    assert "奨学金" in card["title"] and card["footer"]
    assert any(b["tel"] for b in card["buttons"]), card["buttons"]
    with engine.db.transaction() as session:
        assert session.execute(select(TurnLog.channel)).scalar_one() == "web"


def test_the_cookie_keeps_the_conversation_and_a_tap_carries_its_postback(client: FlaskClient):
    first = say(client, "データを削除").get_json()
    assert first["flow"] == "privacy"
    kept = say(client, "やめる", "cancel").get_json()
    assert kept["flow"] is None and "削除は行いませんでした" in kept["replies"][0]["text"]


def test_two_browsers_are_two_users(engine: Engine, settings: Settings):
    app = create_app(replace(settings, web_chat_enabled=True), engine)
    a, b = app.test_client(), app.test_client()
    assert say(a, "データを削除").get_json()["flow"] == "privacy"
    assert say(b, "はい、削除する").get_json()["flow"] is None  # b has nothing to confirm
    with engine.db.transaction() as session:
        ids = session.execute(select(User.platform_user_id).where(User.platform == "web")).scalars().all()
    assert len(set(ids)) == 2 and all(len(i) >= 20 for i in ids)


def test_a_forged_cookie_value_is_replaced_by_a_fresh_id(client: FlaskClient):
    client.set_cookie(COOKIE, "<script>")
    response = say(client, "こんにちは")
    assert response.status_code == 200 and f"{COOKIE}=" in response.headers["Set-Cookie"]


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}])
def test_a_cross_site_request_is_refused(client: FlaskClient, headers: dict[str, str]):
    response = say(client, "データを削除", **headers)
    assert response.status_code == 403 and "このページ以外" in response.get_json()["error"]


def test_a_same_origin_request_from_the_browser_is_accepted(client: FlaskClient):
    response = say(client, "こんにちは", Origin="http://localhost", **{"Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 200


def test_a_form_post_is_refused(client: FlaskClient):
    response = client.post("/web/chat", data={"text": "データを削除"})
    assert response.status_code == 415


def test_a_too_long_message_is_refused_with_a_clear_reason(client: FlaskClient):
    response = say(client, "あ" * (MAX_TEXT + 1))
    assert response.status_code == 413 and f"{MAX_TEXT}文字まで" in response.get_json()["error"]
    assert say(client, "補助金" + "あ" * (MAX_TEXT - 3)).status_code == 200


@pytest.mark.parametrize("body", [[], "text", {"text": 5}, {"text": "x", "postback": 3}, {"text": "  "}])
def test_a_malformed_body_gets_a_japanese_error(client: FlaskClient, body: object):
    response = client.post("/web/chat", json=body)
    assert response.status_code == 400 and response.get_json()["error"].endswith("。")


def test_emoji_and_odd_characters_are_answered(client: FlaskClient):
    response = say(client, "🙂🎉\u200b\u0000補助金")
    assert response.status_code == 200 and response.get_json()["replies"]


def test_off_means_not_found(engine: Engine, settings: Settings):
    client = create_app(replace(settings, web_chat_enabled=False), engine).test_client()
    assert client.get("/").status_code == 404
    assert client.get("/web/static/chat.js").status_code == 404
    assert client.post("/web/chat", json={"text": "こんにちは"}).status_code == 404
    assert client.get("/healthz").status_code == 200


def test_on_locally_and_off_in_production_unless_enabled():
    assert Settings.from_env({}).web_chat_enabled
    assert not Settings.from_env({"DYNO": "web.1"}).web_chat_enabled
    assert Settings.from_env({"DYNO": "web.1", "WEB_CHAT_ENABLED": "1"}).web_chat_enabled
