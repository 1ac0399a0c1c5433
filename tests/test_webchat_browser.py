"""The web chat in a real headless Chromium: type a question, tap a quick reply, finish a questionnaire and a handoff.

Debian's `chromium` driven by Playwright's Python package (never `playwright install`); the app runs
in a real server thread on 127.0.0.1 with a throwaway SQLite database.
"""
from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Iterator

import pytest

from bot.app import create_app
from bot.config import Settings
from bot.engine import Engine
from knowledge.model import Knowledge
from storage.db import Database

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is not installed "
                                                            "(pip install -e '.[test]')")
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")) if p
                 and Path(p).exists()), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium was not found "
                                                         "(apt-get install -y chromium; .ci/run does this)")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
PHONE = {"width": 390, "height": 844}
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, kb: Knowledge) -> Iterator[str]:
    """Serve the app on a free port of 127.0.0.1 from a real server thread."""
    from werkzeug.serving import make_server

    db = Database(f"sqlite:///{tmp_path_factory.mktemp('webchat') / 'web.db'}")
    db.upgrade()
    settings = Settings(database_url=db.url, web_chat_enabled=True)
    httpd = make_server("127.0.0.1", 0, create_app(settings, Engine(db, settings, kb)), threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/"
    httpd.shutdown()
    db.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator["sync_api.Browser"]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: "sync_api.Browser", server: str) -> Iterator["sync_api.Page"]:
    """Open the chat as a phone would, in a fresh browser profile (its own anonymous id)."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                  locale="ja-JP")
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    opened.goto(server)
    opened.locator(".chip", has_text="補助金診断").wait_for()
    yield opened
    context.close()


def bot_bubbles(page: "sync_api.Page") -> "sync_api.Locator":
    return page.locator(".bubble.bot:not(.typing)")


def send(page: "sync_api.Page", text: str) -> None:
    """Type a message and press Enter, then wait for the bot's answer."""
    before = bot_bubbles(page).count()
    page.fill("#text", text)
    page.press("#text", "Enter")
    bot_bubbles(page).nth(before).wait_for()


def tap(page: "sync_api.Page", label: str) -> None:
    """Tap a quick reply, then wait for the bot's answer."""
    before = bot_bubbles(page).count()
    page.locator(".chip", has_text=label).first.click()
    bot_bubbles(page).nth(before).wait_for()


def test_a_typed_question_is_answered_with_a_card_and_a_call_button(page: "sync_api.Page", tmp_path: Path):
    send(page, "奨学金の返還支援の概要を教えて")
    card = page.locator(".card").last
    assert "奨学金" in card.locator(".card-title").inner_text()
    assert card.locator("a.card-button.tel").first.get_attribute("href").startswith("tel:0")
    assert page.locator(".bubble.user").last.inner_text() == "奨学金の返還支援の概要を教えて"
    page.screenshot(path=str(tmp_path / "answer-phone.png"), full_page=False)
    assert (tmp_path / "answer-phone.png").stat().st_size > 10_000


def test_tapping_a_quick_reply_sends_it(page: "sync_api.Page"):
    tap(page, "使い方")
    assert "使い方" in page.locator(".bubble.user").last.inner_text()
    assert "キャンセル" in bot_bubbles(page).last.inner_text()
    assert page.locator(".chip").count() > 0  # the menu is offered again


def test_a_questionnaire_is_completed_by_tapping(page: "sync_api.Page"):
    tap(page, "補助金診断")
    assert "質問 1/" in bot_bubbles(page).last.inner_text()
    for _ in range(12):
        if page.locator(".card-verdict").count():
            break
        labels = [c for c in page.locator(".chip").all_inner_texts() if c not in ("戻る", "やめる", "キャンセル")]
        assert labels, bot_bubbles(page).last.inner_text()
        tap(page, labels[0])
    verdict = page.locator(".card-verdict")
    assert verdict.count() == 1
    assert verdict.locator(".card-rows dt").count() >= 5
    assert "担当者に相談" in page.locator(".chip").all_inner_texts()


def test_a_handoff_is_taken_through_to_the_end(page: "sync_api.Page"):
    tap(page, "担当者に相談")
    for answer in ("山田太郎", "山田商店", "090-1234-5678", "補助金の申請について", "平日の午前"):
        send(page, answer)
    assert "同意する" in page.locator(".chip").all_inner_texts()
    tap(page, "同意する")
    assert "ご相談を受け付けました" in bot_bubbles(page).last.inner_text()


def test_a_message_over_the_limit_cannot_be_typed(page: "sync_api.Page"):
    page.fill("#text", "あ" * 600)
    assert len(page.input_value("#text")) == 500
