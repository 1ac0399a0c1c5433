"""The web chat: a page at / and a JSON API on the same engine as LINE (channel "web").

For admins previewing an edit and for anyone without a LINE account. Each browser gets a random
anonymous id in an HttpOnly cookie. The API accepts only same-origin JSON: a cross-site form
cannot send `application/json`, and a cross-site fetch is refused by its Origin / Sec-Fetch-Site.
On by default locally, off in production unless WEB_CHAT_ENABLED is set (then everything is 404).
"""
from __future__ import annotations

import logging
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, jsonify, request, send_from_directory

from bot.config import Settings
from bot.engine import Engine, now_in_tokyo
from bot.messages import Incoming, TurnResult
from handlers.replies import replies_to_json

log = logging.getLogger(__name__)

CHANNEL = "web"
COOKIE = "sme_web_id"
COOKIE_MAX_AGE = 180 * 24 * 3600  # as long as conversations are kept (PURGE_AFTER_DAYS)
MAX_TEXT = 500  # characters: a question, or a consultation's details
MAX_POSTBACK = 300
STATIC = Path(__file__).resolve().parent / "static"
_ID = re.compile(r"^[A-Za-z0-9_-]{20,64}$")

# The page loads nothing from elsewhere; say so to the browser, so injected markup could not either.
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

MESSAGES = {
    "not_json": "リクエストの形式が正しくありません（application/json で送ってください）。",
    "cross_site": "このページ以外からは送信できません。",
    "bad_body": "メッセージの形式が正しくありません。",
    "empty": "メッセージが空です。",
    "too_long": f"メッセージが長すぎます（{MAX_TEXT}文字まで）。短くして送ってください。",
}


def blueprint(settings: Settings, engine: Engine) -> Blueprint:
    """Return the web chat: GET / (the page), /web/static/* and POST /web/hello, /web/chat."""
    bp = Blueprint("webchat", __name__, static_folder=str(STATIC), static_url_path="/web/static")

    @bp.before_request
    def only_when_enabled() -> None:
        if not settings.web_chat_enabled:
            abort(404)

    @bp.after_request
    def secure(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        return response

    @bp.get("/")
    def page() -> Response:
        visitor, new = _visitor()
        return _remember(send_from_directory(STATIC, "index.html", max_age=0), visitor, new)

    @bp.post("/web/hello")
    def hello() -> Response | tuple[Response, int]:
        refused = _refuse_cross_site()
        if refused is not None:
            return refused
        visitor, new = _visitor()
        return _remember(jsonify(_result_json(engine.canned("greeting", engine.kb.messages.greeting))), visitor, new)

    @bp.post("/web/chat")
    def chat() -> Response | tuple[Response, int]:
        refused = _refuse_cross_site()
        if refused is not None:
            return refused
        try:
            body = request.get_json(silent=True)
        except RecursionError:  # JSON nested deeper than the parser recurses
            body = None
        if not isinstance(body, dict):
            return _refused("bad_body")
        problem = _problem(body)
        if problem is not None:
            return _refused(problem)
        visitor, new = _visitor()
        try:
            result = engine.handle(Incoming(CHANNEL, visitor, body.get("text") or "", now_in_tokyo(),
                                            postback=body.get("postback") or None))
        except Exception:  # the edge: log (without what was written) and apologise
            log.exception("web chat turn failed")
            return jsonify(error=engine.kb.messages.apology), 500
        return _remember(jsonify(_result_json(result)), visitor, new)

    return bp


def _visitor() -> tuple[str, bool]:
    """Return this browser's anonymous id, and whether it is new (a random one when it has none)."""
    current = request.cookies.get(COOKIE, "")
    return (current, False) if _ID.match(current) else (secrets.token_urlsafe(24), True)


def _remember(response: Response, visitor: str, new: bool) -> Response:
    """Give a new visitor their id in an HttpOnly cookie."""
    if new:
        response.set_cookie(COOKIE, visitor, max_age=COOKIE_MAX_AGE, httponly=True, samesite="Strict",
                            secure=request.is_secure, path="/")
    return response


def _refuse_cross_site() -> tuple[Response, int] | None:
    """Refuse anything but a same-origin JSON request (the CSRF defence of the API)."""
    if not request.is_json:
        return jsonify(error=MESSAGES["not_json"]), 415
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return jsonify(error=MESSAGES["cross_site"]), 403
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        return jsonify(error=MESSAGES["cross_site"]), 403
    return None


def _refused(problem: str) -> tuple[Response, int]:
    """Return the answer to a chat request refused for this problem (see _problem)."""
    return jsonify(error=MESSAGES[problem]), 413 if problem == "too_long" else 400


def _problem(body: dict[str, Any]) -> str | None:
    """Return what is wrong with a chat request's JSON object, or None."""
    text, postback = body.get("text", ""), body.get("postback")
    if not isinstance(text, str) or (postback is not None and not isinstance(postback, str)):
        return "bad_body"
    if len(text) > MAX_TEXT or (postback and len(postback) > MAX_POSTBACK):
        return "too_long"
    if not text.strip() and not postback:
        return "empty"
    return None


def _result_json(result: TurnResult) -> dict[str, Any]:
    """Return a turn's replies as the page renders them: text, cards, choices."""
    return {"intent": result.intent, "flow": result.flow, "replies": replies_to_json(result.replies)}
