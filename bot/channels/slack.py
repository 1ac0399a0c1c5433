"""Slack: the secretariat's side of the handoff (lead cards, claim, resolve, thread relay) and Slack as a user channel.

One slack-bolt App behind Flask's /slack/events (Events API and interactivity on one URL).
Requests are verified by bolt (signature and a 5-minute timestamp window → 401). Listeners run
before the HTTP answer (process_before_response): the engine's turn is committed first, and a
Slack retry (X-Slack-Retry-Num) of the same event_id is then answered once by the engine's
dedupe. What must reach someone later (a relay to the user, a card to refresh) goes through the
outbox, delivered by `sme-bot worker`.
"""
from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping
from urllib.parse import parse_qsl

from flask import Blueprint, Response, request
from slack_bolt import Ack, App
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from bot.config import TOKYO, Settings
from bot.engine import Engine, now_in_tokyo
from bot.messages import Incoming
from handlers import handoff
from handlers.replies import Card, Choice, Reply, replies_to_json
from knowledge.handoff import HandoffFile
from storage import repository
from storage.models import Lead, User

log = logging.getLogger(__name__)

CHANNEL = "slack"
ROUTE = "/slack/events"
CHOICE_ACTION = "choice"
CLAIM_ACTION = "lead_claim"
RESOLVE_ACTION = "lead_resolve"
LEAD_EVENT = "sme_lead"  # message metadata event_type of a lead card, found again after a crash
POSTED_EVENT = "sme_post"  # metadata of every other message the worker posts (relays, pushes, re-announcements)

# Block Kit limits (api.slack.com/reference/block-kit/blocks): 50 blocks, 3000 characters of section
# text, 10 fields of 2000, 150 characters of header, 25 elements an actions block, 75 per button label.
MAX_BLOCKS = 50
SECTION_MAX = 3000
FIELD_MAX = 2000
HEADER_MAX = 150
BUTTONS_PER_BLOCK = 25
BUTTON_LABEL_MAX = 75
BUTTON_VALUE_MAX = 2000

_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
_LINK = re.compile(r"<((?:https?|mailto|tel):[^>|]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!(?:subteam\^)?([^>|]+)(?:\|([^>]*))?>")


# --- text -------------------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Escape &, < and > so Slack shows the text as written: "<!channel>" never pings, "<url|label>" never disguises."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain(text: str) -> str:
    """Turn Slack's message markup into the text a person wrote: links as their address, entities unescaped."""
    text = _MENTION.sub("", text)
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})" if m.group(2) else m.group(1), text)
    text = _SPECIAL.sub(lambda m: f"@{m.group(2) or m.group(1)}", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(mrkdwn: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(mrkdwn, SECTION_MAX)}}


def _button(label: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {"type": "button", "action_id": action_id, "value": value[:BUTTON_VALUE_MAX],
                              "text": {"type": "plain_text", "text": _cut(label, BUTTON_LABEL_MAX), "emoji": True}}
    if style:
        button["style"] = style
    return button


# --- replies for Slack users -------------------------------------------------------------------


def render(reply: Reply) -> tuple[str, list[dict[str, Any]]]:
    """Return a reply as Slack's notification text and Block Kit blocks; choices become buttons."""
    blocks: list[dict[str, Any]] = []
    if reply.text:
        text = escape(reply.text)
        blocks.extend(_section(text[i:i + SECTION_MAX]) for i in range(0, len(text), SECTION_MAX))
    for card in reply.cards:
        blocks.extend(_card_blocks(card))
    buttons = [_button(c.label, f"{CHOICE_ACTION}:{i}", c.payload) for i, c in enumerate(reply.choices)]
    for i in range(0, len(buttons), BUTTONS_PER_BLOCK):
        blocks.append({"type": "actions", "elements": buttons[i:i + BUTTONS_PER_BLOCK]})
    return _cut(escape(reply.as_text()) or " ", SECTION_MAX), blocks[:MAX_BLOCKS]


def _card_blocks(card: Card) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": _cut(card.title, HEADER_MAX)}}]
    if card.subtitle:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(card.subtitle)}]})
    fields = [{"type": "mrkdwn", "text": _cut(f"*{escape(label)}*\n{escape(value)}", FIELD_MAX)} for label, value in card.rows]
    for i in range(0, len(fields), 10):
        blocks.append({"type": "section", "fields": fields[i:i + 10]})
    lines = [escape(card.body)] if card.body else []
    lines.extend(f"☎ {escape(b.label)}：{escape(b.tel)}" for b in card.buttons if b.tel)
    if lines:
        blocks.append(_section("\n".join(lines)))
    buttons = []
    for i, b in enumerate(card.buttons):
        if b.url:
            buttons.append({"type": "button", "action_id": f"link:{i}", "url": b.url,
                            "text": {"type": "plain_text", "text": _cut(b.label, BUTTON_LABEL_MAX)}})
        elif b.data:
            buttons.append(_button(b.label, f"{CHOICE_ACTION}:card:{i}", b.data))
    if buttons:
        blocks.append({"type": "actions", "elements": buttons[:BUTTONS_PER_BLOCK]})
    if card.footer:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(card.footer)}]})
    return blocks


def web_client(settings: Settings) -> WebClient:
    """Return a Slack Web API client for the bot token, on SLACK_API_BASE_URL."""
    base = settings.slack_api_base_url if settings.slack_api_base_url.endswith("/") else settings.slack_api_base_url + "/"
    return WebClient(token=settings.slack_bot_token, base_url=base, timeout=15)


def send(client: WebClient, channel: str, replies: tuple[Reply, ...], thread_ts: str | None = None,
         metadata: Mapping[str, Any] | None = None) -> list[str]:
    """Post replies to a Slack conversation; return the posted messages' ts."""
    posted = []
    for reply in replies:
        text, blocks = render(reply)
        response = client.chat_postMessage(channel=channel, text=text, blocks=blocks, thread_ts=thread_ts,
                                           metadata=dict(metadata) if metadata else None)
        posted.append(str(response["ts"]))
    return posted


# --- posting exactly once ----------------------------------------------------------------------


def find_posted(client: WebClient, channel: str, event_type: str, key: Mapping[str, Any], since: datetime,
                thread_ts: str | None = None) -> Mapping[str, Any] | None:
    """Return a message this app already posted with this metadata, if any (conversations.history or .replies)."""
    cursor = None
    oldest = f"{(since - timedelta(minutes=5)).timestamp():.6f}"
    while True:
        if thread_ts:
            page = client.conversations_replies(channel=channel, ts=thread_ts, include_all_metadata=True,
                                                oldest=oldest, limit=200, cursor=cursor)
        else:
            page = client.conversations_history(channel=channel, include_all_metadata=True, oldest=oldest,
                                                limit=200, cursor=cursor)
        for message in page.get("messages") or []:
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == event_type and all(payload.get(k) == v for k, v in key.items()):
                return message
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return None


def post_once(client: WebClient, channel: str, text: str, blocks: list[dict[str, Any]], event_type: str,
              key: Mapping[str, Any], since: datetime, retry: bool, thread_ts: str | None = None,
              reply_broadcast: bool = False) -> dict[str, str]:
    """Post a message unless a previous attempt already did (looked up by metadata on a retry); return channel and ts."""
    if retry:
        found = find_posted(client, channel, event_type, key, since, thread_ts)
        if found is not None:
            log.info("message found from an earlier attempt channel=%s ts=%s", channel, found.get("ts"))
            return {"channel": channel, "ts": str(found["ts"])}
    response = client.chat_postMessage(channel=channel, text=text, blocks=blocks, thread_ts=thread_ts,
                                       reply_broadcast=reply_broadcast or None,
                                       metadata={"event_type": event_type, "event_payload": dict(key)})
    return {"channel": str(response.get("channel") or channel), "ts": str(response["ts"])}


def push(settings: Settings, client: WebClient, user_id: str, replies: tuple[Reply, ...], key: str,
         since: datetime, retry: bool) -> dict[str, Any]:
    """Send replies to a Slack user's direct messages with the bot, once per key."""
    channel = str(client.conversations_open(users=user_id)["channel"]["id"])
    posted = []
    for i, reply in enumerate(replies):
        text, blocks = render(reply)
        posted.append(post_once(client, channel, text, blocks, POSTED_EVENT, {"key": f"{key}#{i}"}, since, retry)["ts"])
    return {"channel": channel, "ts": posted}


# --- lead cards --------------------------------------------------------------------------------


def lead_message(lead: Lead, platform: str | None, w: HandoffFile) -> tuple[str, list[dict[str, Any]]]:
    """Return the Slack card of a lead: who, contact, topic, time, questionnaire, last questions, status and buttons."""
    s, labels = w.slack, w.summary_labels
    title = s.card_title.format(id=lead.id)
    received = lead.created_at.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M")
    via = s.channel_names.get(platform or "", platform or "-")
    fields = [(labels.name, lead.name), (labels.business, lead.business), (labels.contact, lead.contact),
              (labels.preferred_time, lead.preferred_time), (s.received, received), (s.via, via)]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(title, HEADER_MAX)}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": _cut(f"*{escape(k)}*\n{escape(v)}", FIELD_MAX)}
                                       for k, v in fields]},
        _section(f"*{escape(labels.topic)}*\n{escape(lead.topic)}"),
    ]
    details = lead.details or {}
    if details.get("eligibility"):
        lines = "\n".join(f"• {escape(line)}" for line in handoff.describe_answers(details["eligibility"]))
        blocks.append(_section(f"*{escape(labels.eligibility)}*\n{lines}"))
    questions = [q for q in details.get("recent_questions") or [] if isinstance(q, str)]
    if questions:
        lines = "\n".join(f"• {escape(q)}" for q in questions)
        blocks.append(_section(f"*{escape(s.recent_questions)}*\n{lines}"))
    if lead.status == "resolved":
        status = escape(s.status_resolved).replace("{who}", _who(lead.resolved_by))
    elif lead.status == "claimed":
        status = escape(s.status_claimed).replace("{who}", _who(lead.claimed_by))
    else:
        status = escape(s.status_open)
    blocks.append(_section(f"*{status}*"))
    if lead.status != "resolved":
        buttons = [_button(s.claim_label, CLAIM_ACTION, str(lead.id), "primary"),
                   _button(s.resolve_label, RESOLVE_ACTION, str(lead.id))]
        if lead.status == "claimed":
            buttons = buttons[1:]
        blocks.append({"type": "actions", "block_id": f"lead:{lead.id}", "elements": buttons})
    blocks.append({"type": "context", "elements": [
        {"type": "mrkdwn", "text": escape(s.thread_hint.format(internal=s.internal_prefix))}]})
    text = f"{escape(title)}: {escape(lead.name)}（{escape(lead.business)}） {status}"
    return _cut(text, SECTION_MAX), blocks[:MAX_BLOCKS]


def _who(slack_user: str | None) -> str:
    """Return a mention of a Slack user id (shown as their name); ids are Slack's own, never user input."""
    if slack_user and re.fullmatch(r"[UW][A-Z0-9]+", slack_user):
        return f"<@{slack_user}>"
    return escape(slack_user or "-")


def refresh_card(client: WebClient, lead: Lead, platform: str | None, w: HandoffFile) -> None:
    """Show the lead's current status on its Slack card."""
    if not (lead.slack_channel and lead.slack_ts):
        return
    text, blocks = lead_message(lead, platform, w)
    client.chat_update(channel=lead.slack_channel, ts=lead.slack_ts, text=text, blocks=blocks)


# --- the web endpoint --------------------------------------------------------------------------


def blueprint(settings: Settings, engine: Engine, clock: Callable[[], datetime] = now_in_tokyo) -> Blueprint:
    """Return the blueprint of POST /slack/events (503 until SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are set)."""
    bp = Blueprint("slack", __name__)
    configured = bool(settings.slack_bot_token and settings.slack_signing_secret)
    handler = SlackRequestHandler(build_bolt_app(engine, settings, clock)) if configured else None
    if handler is None:
        log.warning("Slack is off: SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are not both set; %s answers 503", ROUTE)

    verifier = SignatureVerifier(settings.slack_signing_secret) if settings.slack_signing_secret else None

    @bp.post(ROUTE)
    def slack_events() -> Response:
        if handler is None or verifier is None:
            return Response("Slack is not configured", status=503, mimetype="text/plain")
        # bolt parses the body before it checks the signature; a malformed body must be a 4xx, not a 500.
        body = request.get_data(as_text=True)
        try:
            valid = verifier.is_valid_request(body, dict(request.headers))
        except ValueError:  # an X-Slack-Request-Timestamp that is not a number
            valid = False
        if not valid:
            return Response("invalid signature or timestamp", status=401, mimetype="text/plain")
        if not _parses(body):
            return Response("malformed body", status=400, mimetype="text/plain")
        return handler.handle(request)

    return bp


def _parses(body: str) -> bool:
    """Tell whether a Slack request body is what Slack sends: a JSON object, or a form with a JSON object payload."""
    try:
        if body.lstrip().startswith(("{", "[")):
            data = json.loads(body)
            return isinstance(data, dict) and isinstance(data.get("event", {}), dict)
        payload = dict(parse_qsl(body, keep_blank_values=True)).get("payload")
        return payload is None or isinstance(json.loads(payload), dict)
    except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than the parser recurses
        return False


def build_bolt_app(engine: Engine, settings: Settings, clock: Callable[[], datetime] = now_in_tokyo) -> App:
    """Return the bolt App with the listeners of both sides (users and secretariat)."""
    client = web_client(settings)
    # bolt's single-token mode asks Slack (auth.test) on the first request and, if Slack fails then,
    # acknowledges the event without handling it; an authorize of our own never drops an event.
    # name: without one, bolt names the app after its caller's file with inspect.stack(), which
    # reads the source of every frame and maps every loaded module (~0.2 s of start-up).
    bolt = App(client=WebClient(base_url=client.base_url, timeout=client.timeout),
               signing_secret=settings.slack_signing_secret, authorize=_authorize(client),
               process_before_response=True, name="sme-bot")
    side = _Listeners(engine, settings, clock)
    bolt.event("message")(side.on_message)
    bolt.event("app_mention")(side.on_mention)
    bolt.action(CLAIM_ACTION)(side.on_claim)
    bolt.action(RESOLVE_ACTION)(side.on_resolve)
    bolt.action(re.compile(rf"^{CHOICE_ACTION}:"))(side.on_choice)
    bolt.action(re.compile(r"^link:"))(lambda ack: ack())
    return bolt


def _authorize(client: WebClient) -> Callable[..., AuthorizeResult]:
    """Return bolt's authorize: the bot token, and the bot's own ids once Slack has told them (to ignore itself)."""
    known: dict[str, str] = {}

    def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        if "user_id" not in known:
            try:
                response = client.auth_test()
                known.update(user_id=str(response.get("user_id")), bot_id=str(response.get("bot_id")))
            except Exception as exc:  # events from bots are still ignored by their bot_id
                log.warning("auth.test failed (%s); answering without the bot's own ids", exc)
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=client.token,
                               bot_user_id=known.get("user_id"), bot_id=known.get("bot_id"))

    return authorize


class _Listeners:
    """What happens on each Slack event and button."""

    def __init__(self, engine: Engine, settings: Settings, clock: Callable[[], datetime]):
        self.engine, self.settings, self.clock = engine, settings, clock

    @property
    def wording(self) -> HandoffFile:
        return self.engine.kb.section("handoff.yaml")

    # events

    def on_message(self, event: dict[str, Any], body: dict[str, Any], client: WebClient) -> None:
        """Answer a direct message, or relay a secretariat reply in a lead's thread to the user."""
        if event.get("bot_id") or event.get("subtype") not in (None, "file_share", "thread_broadcast") or not event.get("user"):
            return  # bots (this one included), edits, deletions, joins
        if event.get("channel_type") == "im":
            self._turn(event, body, client, is_group=False)
        elif event.get("thread_ts") and event.get("thread_ts") != event.get("ts"):
            self._relay_to_user(event)

    def on_mention(self, event: dict[str, Any], body: dict[str, Any], client: WebClient) -> None:
        """Answer a mention of the bot in a channel (in a thread under it)."""
        if event.get("bot_id") or not event.get("user"):
            return
        if event.get("channel") == self.settings.slack_handoff_channel:
            return  # the secretariat's channel: thread replies are relays, not questions to the bot
        self._turn(event, body, client, is_group=True)

    def _turn(self, event: dict[str, Any], body: dict[str, Any], client: WebClient, is_group: bool) -> None:
        incoming = Incoming(CHANNEL, str(event["user"]), plain(str(event.get("text") or "")), self.clock(),
                            event_id=body.get("event_id") or f"{event.get('channel')}:{event.get('ts')}",
                            is_group=is_group)
        thread_ts = (event.get("thread_ts") or event.get("ts")) if is_group else None
        self._answer(client, incoming, str(event["channel"]), thread_ts)

    def _answer(self, client: WebClient, incoming: Incoming, channel: str, thread_ts: str | None) -> None:
        try:
            result = self.engine.handle(incoming)
        except Exception:
            log.exception("slack turn failed event=%s", incoming.event_id)
            replies: tuple[Reply, ...] = (Reply(self.engine.kb.messages.apology),)
        else:
            if result.duplicate:
                return
            replies = result.replies
        if not replies:
            return
        try:
            send(client, channel, replies, thread_ts=thread_ts)
        except Exception as exc:  # Slack down or rate-limited: the worker sends it later, nothing is lost
            log.warning("slack reply failed, queued for the worker event=%s error=%s", incoming.event_id, exc)
            with self.engine.db.transaction() as session:
                repository.enqueue(session, "push", f"push:slack:{incoming.event_id or uuid.uuid4().hex}",
                                   {"channel": CHANNEL, "user_id": incoming.user_id,
                                    "replies": replies_to_json(replies)}, incoming.now)

    def _relay_to_user(self, event: dict[str, Any]) -> None:
        w = self.wording
        text = plain(str(event.get("text") or ""))
        if not text or text.startswith(w.slack.internal_prefix):
            return
        now = self.clock()
        with self.engine.db.transaction() as session:
            lead = repository.find_lead_by_thread(session, str(event.get("channel")), str(event["thread_ts"]))
            if lead is None or lead.user_id is None:
                return
            user = session.get(User, lead.user_id)
            if user is None:
                return
            choices = (Choice(w.release_label, handoff.RELEASE),) if lead.status != "resolved" else ()
            reply = Reply(f"{w.from_secretariat}\n{text}", choices=choices)
            repository.enqueue(session, "push", f"push:relay:{event.get('channel')}:{event.get('ts')}",
                               {"channel": user.platform, "user_id": user.platform_user_id,
                                "replies": replies_to_json((reply,)), "lead_id": lead.id}, now)
        log.info("secretariat reply queued lead=%s", lead.id)

    # buttons

    def on_choice(self, ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        """Take a tapped choice as the user's next message."""
        ack()
        label = str((action.get("text") or {}).get("text") or "")
        value = str(action.get("value") or label)
        channel = str((body.get("channel") or {}).get("id") or body["user"]["id"])
        container = body.get("container") or {}
        incoming = Incoming(CHANNEL, str(body["user"]["id"]), label, self.clock(),
                            postback=None if value == label else value,
                            event_id=f"action:{container.get('message_ts')}:{action.get('action_ts')}",
                            is_group=not channel.startswith("D"))
        self._answer(client, incoming, channel, container.get("thread_ts") if incoming.is_group else None)

    def on_claim(self, ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        """Mark the lead as taken by whoever pressed 担当する, and show it on the card."""
        ack()
        self._change_lead(body, action, client, claim=True)

    def on_resolve(self, ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        """Close the lead, tell the user, and hand the chat back to the bot."""
        ack()
        self._change_lead(body, action, client, claim=False)

    def _change_lead(self, body: dict[str, Any], action: dict[str, Any], client: WebClient, claim: bool) -> None:
        try:
            lead_id = int(str(action.get("value")))
        except ValueError:
            return
        who = str(body["user"]["id"])
        now = self.clock()
        w = self.wording
        with self.engine.db.transaction() as session:
            lead = session.get(Lead, lead_id, with_for_update=True)
            if lead is None or lead.status == "resolved":
                return
            if claim:
                lead.status, lead.claimed_by, lead.claimed_at = "claimed", who, now
            else:
                lead.status, lead.resolved_by, lead.resolved_at = "resolved", who, now
                if not lead.claimed_by:
                    lead.claimed_by, lead.claimed_at = who, now
            user = session.get(User, lead.user_id) if lead.user_id is not None else None
            platform = user.platform if user else None
            if not claim and user is not None:
                repository.enqueue(session, "push", f"push:resolved:{lead.id}",
                                   {"channel": user.platform, "user_id": user.platform_user_id,
                                    "replies": replies_to_json((Reply(w.resolved_push),)), "lead_id": lead.id}, now)
            if not (lead.slack_channel and lead.slack_ts):  # the card was pressed before the worker recorded it
                message = body.get("message") or {}
                lead.slack_channel = str((body.get("channel") or {}).get("id") or "") or None
                lead.slack_ts = message.get("ts")
        log.info("lead %s %s by slack user", lead_id, "claimed" if claim else "resolved")
        try:
            refresh_card(client, lead, platform, w)
        except Exception as exc:  # the worker refreshes it when Slack is back
            log.warning("card update failed lead=%s error=%s", lead_id, exc)
            with self.engine.db.transaction() as session:
                repository.enqueue(session, "lead_card", f"lead_card:{lead_id}:{uuid.uuid4().hex}", {"lead_id": lead_id}, now)
