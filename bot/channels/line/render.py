"""Render platform-neutral replies as LINE message objects (JSON as the Messaging API reads it)."""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Sequence

import orjson

from handlers.replies import Card, CardButton, Choice, Reply

log = logging.getLogger(__name__)

# Limits from the Messaging API reference (https://developers.line.biz/en/reference/messaging-api/)
# that its OpenAPI description does not carry. LINE counts characters in UTF-16 code units.
MAX_MESSAGES = 5  # per reply or push request
MAX_TEXT = 5000  # text message
MAX_ALT_TEXT = 1500  # Flex altText
MAX_QUICK_REPLIES = 13
MAX_LABEL = 20  # quick-reply and button action labels
MAX_POSTBACK_DATA = 300
MAX_MESSAGE_ACTION_TEXT = 300
MAX_URI = 1000
MAX_CAROUSEL = 12
MAX_BUBBLE_BYTES = 30_000  # a bubble's JSON
MAX_CAROUSEL_BYTES = 50_000  # a carousel's JSON

# Sentence ends where a long text may be split: a full stop, an exclamation or question mark, a line break.
_SENTENCE_END = re.compile(r"[。！？!?\n]")
_URI_SCHEMES = ("http://", "https://", "tel:", "line://")

MUTED = "#888888"
FAINT = "#999999"
ACCENT = "#0B6E4F"
# Verdict rows start with a mark; colour says the same to a reader who skims.
MARK_COLOURS = (("✓", "#1E8E3E"), ("✗", "#D93025"), ("要確認", "#E37400"))


def utf16_len(text: str) -> int:
    """Return the length of a text as LINE counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def clip(text: str, limit: int) -> str:
    """Shorten a text to at most `limit` UTF-16 units, ending with an ellipsis when cut."""
    if utf16_len(text) <= limit:
        return text
    return _prefix(text, limit - 1) + "…"


def _prefix(text: str, limit: int) -> str:
    """Return the longest prefix of whole characters within `limit` UTF-16 units."""
    units = 0
    for i, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return text[:i]
    return text


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split a long text into pieces within `limit` UTF-16 units, at a sentence end where there is one."""
    pieces = []
    while utf16_len(text) > limit:
        head = _prefix(text, limit)
        ends = [m.end() for m in _SENTENCE_END.finditer(head)]
        # Cut at the last sentence end unless that leaves a uselessly short piece.
        cut = ends[-1] if ends and ends[-1] >= len(head) // 4 else len(head)
        piece, text = text[:cut].rstrip("\n"), text[cut:].lstrip("\n")
        if piece:
            pieces.append(piece)
    if text:
        pieces.append(text)
    return pieces


def encode_postback(label: str, data: str) -> str | None:
    """Return postback data carrying both the choice's data and its label (None if it cannot fit)."""
    # A postback event carries only the data; the label travels with it so the turn sees what was
    # tapped, as on every other channel.
    for payload in ({"d": data, "l": label}, {"d": data}):
        encoded = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        if utf16_len(encoded) <= MAX_POSTBACK_DATA:
            return encoded
    return None


def decode_postback(raw: str) -> tuple[str, str]:
    """Return (label, data) of a tapped postback; data not made by encode_postback() stands for both."""
    try:
        payload = json.loads(raw)
    except ValueError:
        return raw, raw
    if isinstance(payload, dict) and isinstance(payload.get("d"), str):
        label = payload.get("l")
        return (label if isinstance(label, str) and label else payload["d"]), payload["d"]
    return raw, raw


def choice_action(label: str, data: str | None) -> dict[str, Any]:
    """Return the action of a tappable choice: a postback with the data, or the label sent as text."""
    shown = clip(label, MAX_LABEL)
    if data is not None:
        encoded = encode_postback(label, data)
        if encoded is not None:
            return {"type": "postback", "label": shown, "data": encoded, "displayText": clip(label, MAX_POSTBACK_DATA)}
        # Too long for a postback: send the label; typing a label offered last turn works like a tap.
        log.warning("postback data over %d characters; sending the label as text instead", MAX_POSTBACK_DATA)
    return {"type": "message", "label": shown, "text": clip(label, MAX_MESSAGE_ACTION_TEXT)}


def quick_reply(choices: Sequence[Choice]) -> dict[str, Any] | None:
    """Return the quick-reply object for these choices (at most 13)."""
    if len(choices) > MAX_QUICK_REPLIES:
        log.warning("%d choices offered; LINE shows at most %d", len(choices), MAX_QUICK_REPLIES)
    items = [{"type": "action", "action": choice_action(c.label, c.data)} for c in choices[:MAX_QUICK_REPLIES]]
    return {"items": items} if items else None


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "text", "text": text, "wrap": True, **style}


def _value_colour(value: str) -> str | None:
    return next((colour for mark, colour in MARK_COLOURS if value.startswith(mark)), None)


def _row(label: str, value: str) -> dict[str, Any]:
    value_style: dict[str, Any] = {"size": "sm", "flex": 5}
    colour = _value_colour(value)
    if colour:
        value_style.update(color=colour, weight="bold")
    return {
        "type": "box", "layout": "baseline", "spacing": "sm",
        "contents": [_text(label or "—", size="sm", color=MUTED, flex=3), _text(value or "—", **value_style)],
    }


def _button(button: CardButton) -> dict[str, Any] | None:
    label = clip(button.label, MAX_LABEL)
    if button.tel:
        digits = re.sub(r"[^0-9+]", "", button.tel)
        if not digits:
            return None
        action: dict[str, Any] = {"type": "uri", "label": label, "uri": f"tel:{digits}"}
    elif button.url:
        if not button.url.startswith(_URI_SCHEMES) or len(button.url) > MAX_URI:
            log.warning("card link skipped: not an http(s) URL within %d characters", MAX_URI)
            return None
        action = {"type": "uri", "label": label, "uri": button.url}
    else:
        action = choice_action(button.label, button.data)
    style = "primary" if button.tel else "secondary" if button.data else "link"
    button_json: dict[str, Any] = {"type": "button", "style": style, "height": "sm", "action": action}
    if style == "primary":
        button_json["color"] = ACCENT
    return button_json


def bubble(card: Card) -> dict[str, Any]:
    """Render a card as a Flex bubble: title, key facts as rows, text, buttons and the source."""
    body: list[dict[str, Any]] = [_text(card.title or card.alt_text, weight="bold", size="lg")]
    if card.subtitle:
        body.append(_text(card.subtitle, size="sm", color=MUTED))
    if card.rows:
        body.append({"type": "separator", "margin": "md"})
        body.append({"type": "box", "layout": "vertical", "spacing": "sm", "margin": "md",
                     "contents": [_row(label, value) for label, value in card.rows]})
    if card.body:
        body.append(_text(card.body, size="sm", margin="md"))
    result: dict[str, Any] = {
        "type": "bubble",
        "body": {"type": "box", "layout": "vertical", "spacing": "sm", "contents": body},
    }
    footer: list[dict[str, Any]] = [b for b in (_button(button) for button in card.buttons) if b is not None]
    if card.footer:
        note = _text(card.footer, size="xxs", color=FAINT)
        if footer:
            note["margin"] = "md"
        footer.append(note)
    if footer:
        result["footer"] = {"type": "box", "layout": "vertical", "spacing": "sm", "contents": footer}
    return result


def _alt_text(cards: Sequence[Card]) -> str:
    return clip("／".join(c.alt_text or c.title for c in cards), MAX_ALT_TEXT)


def _json_bytes(value: Any) -> int:
    """Return the size of a value in the JSON the LINE client sends (orjson's: compact, UTF-8)."""
    return len(orjson.dumps(value))


@dataclass(frozen=True)
class _Part:
    """One LINE message to be, with the plain text that stands for it if it must be merged."""

    message: dict[str, Any]
    plain: str

    @property
    def is_text(self) -> bool:
        return self.message["type"] == "text"


def _text_parts(text: str) -> list[_Part]:
    return [_Part({"type": "text", "text": piece}, piece) for piece in split_text(text)]


def _card_parts(cards: Sequence[Card]) -> list[_Part]:
    """Render cards: seminars together as carousels, every other card as a bubble."""
    parts: list[_Part] = []
    i = 0
    while i < len(cards):
        if cards[i].kind == "seminar":
            run = [cards[i]]
            while i + len(run) < len(cards) and cards[i + len(run)].kind == "seminar" and len(run) < MAX_CAROUSEL:
                run.append(cards[i + len(run)])
            container: dict[str, Any] = {"type": "carousel", "contents": [bubble(c) for c in run]}
            limit = MAX_CAROUSEL_BYTES
        else:
            run = [cards[i]]
            container = bubble(cards[i])
            limit = MAX_BUBBLE_BYTES
        plain = "\n\n".join(c.as_text() for c in run)
        if _json_bytes(container) > limit:
            log.warning("%s card too large for Flex (%d bytes); sent as text", run[0].kind, _json_bytes(container))
            parts.extend(_text_parts(plain))
        else:
            parts.append(_Part({"type": "flex", "altText": _alt_text(run), "contents": container}, plain))
        i += len(run)
    return parts


def _merge_texts(parts: list[_Part]) -> list[_Part]:
    """Join neighbouring text messages that fit in one, to stay within five messages."""
    merged: list[_Part] = []
    for part in parts:
        if merged and part.is_text and merged[-1].is_text:
            joined = merged[-1].plain + "\n\n" + part.plain
            if utf16_len(joined) <= MAX_TEXT:
                merged[-1] = _Part({"type": "text", "text": joined}, joined)
                continue
        merged.append(part)
    return merged


def _fit(parts: list[_Part]) -> list[_Part]:
    """Keep at most five messages: what does not fit is told as text in the last one."""
    if len(parts) <= MAX_MESSAGES:
        return parts
    rest = "\n\n".join(p.plain for p in parts[MAX_MESSAGES - 1:])
    pieces = split_text(rest)
    if len(pieces) > 1:
        log.warning("reply longer than %d messages; the end was shortened", MAX_MESSAGES)
    last = clip(pieces[0] + ("\n…" if len(pieces) > 1 else ""), MAX_TEXT)
    return parts[:MAX_MESSAGES - 1] + [_Part({"type": "text", "text": last}, last)]


def render(replies: Sequence[Reply]) -> list[dict[str, Any]]:
    """Render replies as at most five LINE messages, the last one carrying the choices as quick replies."""
    parts: list[_Part] = []
    choices: tuple[Choice, ...] = ()
    for reply in replies:
        if reply.text.strip():
            parts.extend(_text_parts(reply.text))
        parts.extend(_card_parts(reply.cards))
        if reply.choices:
            choices = reply.choices  # LINE shows quick replies of the last message only
    parts = _fit(_merge_texts(parts))
    messages = [dict(p.message) for p in parts]
    if messages:
        quick = quick_reply(choices)
        if quick:
            messages[-1]["quickReply"] = quick
    elif choices:
        log.warning("choices without any message to carry them; nothing rendered")
    return messages
