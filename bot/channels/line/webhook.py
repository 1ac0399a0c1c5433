"""The LINE webhook: check the signature, turn events into turns, answer by reply, push or the outbox."""
from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterator, Sequence

from flask import Blueprint, Response, request
from linebot.v3.webhook import SignatureValidator
from linebot.v3.webhooks import (
    Event,
    FollowEvent,
    GroupSource,
    JoinEvent,
    LeaveEvent,
    MessageEvent,
    PostbackEvent,
    RoomSource,
    TextMessageContent,
    UnfollowEvent,
    UserMentionee,
    UserSource,
)
from linebot.v3.webhooks import Mention

from bot.channels.line.client import LineClient, LineError, LineRejected, LineUnavailable, ReplyTokenInvalid
from bot.channels.line.render import decode_postback, render
from bot.config import TOKYO, Settings
from bot.engine import Engine, now_in_tokyo
from bot.messages import Incoming, TurnResult
from handlers.replies import Reply, replies_to_json
from storage import repository

log = logging.getLogger(__name__)

CHANNEL = "line"
# Retry keys are UUIDs derived from the webhook event id: a retried push of the same answer carries
# the same key, and LINE delivers it once (https://developers.line.biz/en/docs/messaging-api/retrying-api-request/).
RETRY_KEY_NAMESPACE = uuid.UUID("5d7f3c1e-2b8a-4c59-9e0f-1a6b3d2c4e58")
LOADING_SECONDS = 5
# A 1:1 turn still running after this many seconds shows the loading animation; most answer in milliseconds,
# and calling LINE before every answer would cost a round trip each time.
LOADING_DELAY = 1.0
# The loading animation's watcher thread ends after this many seconds without a turn (the next turn starts another).
WATCHER_IDLE_SECONDS = 60.0


def retry_key_for(event_id: str) -> str:
    """Return the X-Line-Retry-Key of the answer to this webhook event (the same on every retry)."""
    return str(uuid.uuid5(RETRY_KEY_NAMESPACE, event_id))


def push(settings: Settings, user_id: str, replies: Sequence[Reply], retry_key: str) -> None:
    """Push replies to a LINE user, group or room (the outbox worker's "push" items with channel "line").

    Raises LineUnavailable (with retry_after, if LINE gave one) when it is worth trying again later,
    LineRejected when it is not. A push already accepted under this retry key counts as delivered.
    """
    messages = render(replies)
    if not messages:
        return
    with LineClient.from_settings(settings) as client:
        client.push(user_id, messages, retry_key)


@dataclass(frozen=True)
class Origin:
    """Where an event happened: the id to answer (a user, or a group or room) and whether it is a group."""

    id: str
    is_group: bool


def origin_of(event: Event) -> Origin | None:
    """Return the chat an event comes from; in a group or room the group's id (its shared conversation)."""
    source = event.source
    if isinstance(source, GroupSource):
        return Origin(source.group_id, True)
    if isinstance(source, RoomSource):
        return Origin(source.room_id, True)
    if isinstance(source, UserSource) and source.user_id:
        return Origin(source.user_id, False)
    return None


def mentions_bot(mention: Mention | None, bot_user_id: str | None) -> bool:
    """Tell whether a message mentions the bot itself (an @All mention does not count)."""
    if mention is None:
        return False
    return any(
        isinstance(m, UserMentionee) and (m.is_self or (bot_user_id is not None and m.user_id == bot_user_id))
        for m in mention.mentionees
    )


def without_mentions(text: str, mention: Mention | None) -> str:
    """Remove the @names from a message; LINE gives their positions in UTF-16 code units."""
    if mention is None:
        return text
    units = text.encode("utf-16-le")
    for m in sorted(mention.mentionees, key=lambda m: m.index, reverse=True):
        start, end = 2 * m.index, 2 * (m.index + m.length)
        if 0 <= start <= end <= len(units):
            units = units[:start] + units[end:]
    return units.decode("utf-16-le", "replace").strip()


def parse_events(payload: dict[str, Any]) -> list[Event]:
    """Return the events the SDK can read; an unknown or incomplete event is logged and skipped."""
    events = []
    for raw in payload["events"]:
        try:
            events.append(Event.from_dict(raw))
        except Exception as exc:  # pydantic.v1 ValidationError, ValueError (unknown type), TypeError
            kind = raw.get("type") if isinstance(raw, dict) else type(raw).__name__
            log.info("LINE event skipped: type=%s is unknown or incomplete (%s)", kind, type(exc).__name__)
    return events


@dataclass(eq=False)
class _Turn:
    """A 1:1 turn under way: the chat that waits for its answer, and when it becomes slow."""

    chat_id: str
    deadline: float  # time.monotonic()
    finished: bool = False
    # Held while the loading animation is being started: the turn's end waits for it (see LoadingAnimation).
    lock: threading.Lock = field(default_factory=threading.Lock)


class LoadingAnimation:
    """Shows the loading animation in a 1:1 chat whose turn is still running `delay` seconds after it began.

    One daemon thread watches the turns in the order they began: with the same delay for all, that is
    the order of their deadlines. It starts with the first turn (never in gunicorn's master, which
    must not own threads before it forks) and ends after WATCHER_IDLE_SECONDS without turns. A turn that
    ends in time costs an append and a flag, under 10 µs of CPU (a threading.Timer per turn: ~150 µs).
    A turn that ends while its animation is being started waits for that call (bounded by
    LOADING_TIMEOUT), so the animation never reaches LINE after the answer, where it would spin with
    nothing more to come. A failed animation is logged and does not touch the answer.
    """

    def __init__(self, client: LineClient, delay: float):
        self.client = client
        self.delay = delay
        self._turns: deque[_Turn] = deque()
        self._changed = threading.Condition()
        self._watching = False

    @contextmanager
    def while_slow(self, chat_id: str) -> Iterator[None]:
        """Run the block; show the animation in `chat_id` if the block is still running after the delay."""
        turn = _Turn(chat_id, time.monotonic() + self.delay)
        self._add(turn)
        try:
            yield
        finally:
            with turn.lock:
                turn.finished = True

    def _add(self, turn: _Turn) -> None:
        with self._changed:
            if not self._watching:
                self._watching = _start_daemon(self._watch, "line-loading")
            if self._watching:  # else this turn goes without the animation
                self._turns.append(turn)
                if len(self._turns) == 1:  # the watcher sleeps until a turn arrives
                    self._changed.notify()

    def _watch(self) -> None:
        while True:
            with self._changed:
                if not self._turns and not self._changed.wait_for(lambda: self._turns, WATCHER_IDLE_SECONDS):
                    self._watching = False
                    return
                turn = self._turns[0]
                wait = turn.deadline - time.monotonic()
                if wait > 0 and not turn.finished:
                    self._changed.wait(wait)
                    continue
                self._turns.popleft()
            if not turn.finished:
                # Its own thread: a slow LINE must not hold back the animation of the turns behind.
                _start_daemon(self._show, "line-loading-call", turn)

    def _show(self, turn: _Turn) -> None:
        with turn.lock:
            if turn.finished:
                return
            try:
                self.client.show_loading(turn.chat_id, LOADING_SECONDS)
            except LineError as exc:
                log.warning("loading animation not shown: %s", exc)
            except Exception:  # this thread's end: nothing above it would log the error
                log.exception("loading animation failed")


def _start_daemon(target: Callable[..., None], name: str, *args: Any) -> bool:
    """Start a daemon thread; False (logged) if the system has no thread to give: the animation is skipped."""
    try:
        threading.Thread(target=target, args=args, name=name, daemon=True).start()
    except RuntimeError as exc:
        log.warning("loading animation not shown: %s", exc)
        return False
    return True


class LineWebhook:
    """Answers the events of one webhook request, one at a time, in the order LINE sent them."""

    def __init__(self, settings: Settings, engine: Engine, client: LineClient, loading_delay: float = LOADING_DELAY):
        assert settings.line_channel_secret
        self.settings = settings
        self.engine = engine
        self.client = client
        self.validator = SignatureValidator(settings.line_channel_secret)
        self.loading = LoadingAnimation(client, loading_delay)

    def receive(self, body: bytes, signature: str | None) -> tuple[str, int]:
        """Check and process one webhook request; return the response text and status."""
        if not signature:
            log.warning("LINE webhook refused: no X-Line-Signature header")
            return "missing signature", 400
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            log.warning("LINE webhook refused: body is not UTF-8")
            return "invalid body", 400
        # The signature is an HMAC of the raw body (https://developers.line.biz/en/reference/messaging-api/#signature-validation).
        if not self.validator.validate(text, signature):
            log.warning("LINE webhook refused: wrong signature")
            return "invalid signature", 400
        try:
            payload = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than the parser recurses
            log.warning("LINE webhook refused: body is not JSON")
            return "malformed JSON", 400
        if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
            log.warning("LINE webhook refused: no events array")
            return "malformed payload", 400
        bot_user_id = payload.get("destination") if isinstance(payload.get("destination"), str) else None
        for event in parse_events(payload):
            self.process(event, bot_user_id)
        return "OK", 200

    def process(self, event: Event, bot_user_id: str | None) -> None:
        """Handle one event; an unexpected error is logged with the event id and apologised for."""
        try:
            self._dispatch(event, bot_user_id)
        except Exception:
            log.exception("LINE event failed event=%s type=%s", event.webhook_event_id, event.type)
            origin = origin_of(event)
            if origin is not None:
                try:
                    self.deliver(event, origin, (Reply(self.engine.kb.messages.apology),))
                except Exception:
                    log.exception("apology not sent event=%s", event.webhook_event_id)

    def _dispatch(self, event: Event, bot_user_id: str | None) -> None:
        origin = origin_of(event)
        if origin is None:
            log.info("LINE event ignored: no user, group or room id event=%s", event.webhook_event_id)
            return
        if event.mode == "standby":  # another channel (a module) answers this chat now
            log.debug("LINE event ignored in standby mode event=%s", event.webhook_event_id)
            return
        now = datetime.fromtimestamp(event.timestamp / 1000, TOKYO)
        if isinstance(event, MessageEvent):
            self._message(event, origin, bot_user_id, now)
        elif isinstance(event, PostbackEvent):
            label, data = decode_postback(event.postback.data)
            self._turn(event, origin, Incoming(CHANNEL, origin.id, label, now, postback=data,
                                               event_id=event.webhook_event_id, is_group=origin.is_group))
        elif isinstance(event, FollowEvent):
            if self._first_delivery(event, now):
                self.deliver(event, origin, self.engine.greet(CHANNEL, origin.id, now).replies)
        elif isinstance(event, UnfollowEvent | LeaveEvent):
            # Blocked, or removed from the group: nothing more is pushed there (reminders are cancelled).
            self.engine.deactivate(CHANNEL, origin.id, now)
        elif isinstance(event, JoinEvent):
            if self._first_delivery(event, now):
                self.deliver(event, origin, self.engine.canned("greeting", self.engine.kb.messages.group_greeting).replies)
        else:
            # Deliberately ignored: unsend, memberJoined/Left, videoPlayComplete, beacon, accountLink,
            # membership, module, activated/deactivated, botSuspended/Resumed, delivery, messageEdited.
            log.debug("LINE event ignored type=%s event=%s", event.type, event.webhook_event_id)

    def _message(self, event: MessageEvent, origin: Origin, bot_user_id: str | None, now: datetime) -> None:
        message = event.message
        if isinstance(message, TextMessageContent):
            text = message.text
            if origin.is_group:
                # In a group the bot speaks only when spoken to.
                if not mentions_bot(message.mention, bot_user_id):
                    return
                text = without_mentions(text, message.mention)
                if not text:  # just "@bot": say what it can do
                    if self._first_delivery(event, now):
                        self.deliver(event, origin, self.engine.canned("help", self.engine.kb.messages.help).replies)
                    return
            self._turn(event, origin, Incoming(CHANNEL, origin.id, text, now, event_id=event.webhook_event_id,
                                               is_group=origin.is_group))
        elif not origin.is_group and self._first_delivery(event, now):
            # Stickers, photos, videos, voice, files, places: the bot reads text only.
            self.deliver(event, origin, self.engine.canned("non_text", self.engine.kb.messages.non_text).replies)

    def _turn(self, event: MessageEvent | PostbackEvent, origin: Origin, incoming: Incoming) -> None:
        if origin.is_group:  # LINE shows the loading animation in 1:1 chats only
            result: TurnResult = self.engine.handle(incoming)
        else:
            with self.loading.while_slow(origin.id):
                result = self.engine.handle(incoming)
        if not result.duplicate:
            self.deliver(event, origin, result.replies)

    def _first_delivery(self, event: Event, now: datetime) -> bool:
        """Claim an event not handled by Engine.handle, so a redelivery is answered once."""
        with self.engine.db.transaction() as session:
            first = repository.claim_event(session, CHANNEL, event.webhook_event_id, now)
        if not first:
            log.info("duplicate event skipped channel=%s event=%s", CHANNEL, event.webhook_event_id)
        return first

    def deliver(self, event: Event, origin: Origin, replies: Sequence[Reply]) -> None:
        """Send replies: by reply token (free); if it is spent, by push; if LINE is down, through the outbox."""
        messages = render(replies)
        if not messages:
            return
        reply_token = getattr(event, "reply_token", None)
        if reply_token:
            try:
                self.client.reply(reply_token, messages)
                return
            except ReplyTokenInvalid:
                # Reply tokens expire soon after the event and work once; a redelivered event's has often expired.
                log.info("reply token unusable; answering by push event=%s", event.webhook_event_id)
            except LineUnavailable as exc:
                log.warning("reply failed (%s); answering by push event=%s", exc, event.webhook_event_id)
            except LineRejected as exc:
                log.error("LINE rejected our reply (%s) event=%s", exc, event.webhook_event_id)
                return
        retry_key = retry_key_for(event.webhook_event_id)
        try:
            self.client.push(origin.id, messages, retry_key)
        except LineUnavailable as exc:
            self._queue(origin, replies, retry_key, exc)
        except LineRejected as exc:
            log.error("LINE rejected our push (%s) event=%s", exc, event.webhook_event_id)

    def _queue(self, origin: Origin, replies: Sequence[Reply], retry_key: str, error: LineUnavailable) -> None:
        payload = {"channel": CHANNEL, "user_id": origin.id, "replies": replies_to_json(list(replies)),
                   "retry_key": retry_key}
        with self.engine.db.transaction() as session:
            repository.enqueue(session, "push", f"line:push:{retry_key}", payload, now_in_tokyo())
        log.warning("LINE push failed (%s); queued for the worker key=line:push:%s", error, retry_key)


def blueprint(settings: Settings, engine: Engine) -> Blueprint:
    """Return the blueprint of POST /line/webhook (503 until the channel secret and access token are set)."""
    bp = Blueprint("line", __name__)
    configured = bool(settings.line_channel_secret and settings.line_channel_access_token)
    webhook = LineWebhook(settings, engine, LineClient.from_settings(settings)) if configured else None
    if webhook is None:
        log.warning("LINE is off: LINE_CHANNEL_SECRET and LINE_CHANNEL_ACCESS_TOKEN are not both set; "
                    "/line/webhook answers 503")

    @bp.post("/line/webhook")
    def line_webhook() -> Response:
        if webhook is None:
            log.error("LINE webhook called but LINE is not configured: set LINE_CHANNEL_SECRET and "
                      "LINE_CHANNEL_ACCESS_TOKEN; answering 503")
            return Response("LINE channel is not configured", status=503, mimetype="text/plain")
        body = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH: 413 before anything is read
        text, status = webhook.receive(body, request.headers.get("X-Line-Signature"))
        return Response(text, status=status, mimetype="text/plain")

    return bp
