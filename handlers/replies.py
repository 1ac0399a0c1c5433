"""Replies as handlers build them: text, choices and cards, independent of any platform."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Choice:
    """A quick-reply choice: the label the user sees and the data a tap carries."""

    label: str
    data: str | None = None  # postback data; None means "the label itself is sent as text"

    @property
    def payload(self) -> str:
        """Return what a tap sends back: the data, or the label as typed text."""
        return self.data if self.data is not None else self.label


@dataclass(frozen=True)
class CardButton:
    """A button on a card: a postback choice, a phone call or a web link."""

    label: str
    data: str | None = None  # postback data
    tel: str | None = None  # phone number for a tel: link
    url: str | None = None  # web link


@dataclass(frozen=True)
class Card:
    """A structured answer: a program, a seminar, or the subsidy verdict."""

    kind: str  # "program", "seminar", "verdict", "lead"
    title: str
    alt_text: str  # one line that stands for the whole card (LINE altText, notifications)
    subtitle: str | None = None
    rows: tuple[tuple[str, str], ...] = ()  # (label, value) facts shown as rows
    body: str | None = None  # free text under the rows
    footer: str | None = None  # e.g. the source and the year the facts are from
    buttons: tuple[CardButton, ...] = ()

    def as_text(self) -> str:
        """Render the card as plain text for the terminal and for `chat --jsonl`."""
        lines = [f"【{self.title}】"]
        if self.subtitle:
            lines.append(self.subtitle)
        lines.extend(f"・{label}：{value}" for label, value in self.rows)
        if self.body:
            lines.append(self.body)
        for button in self.buttons:
            if button.tel:
                lines.append(f"☎ {button.label}：{button.tel}")
            elif button.url:
                lines.append(f"🔗 {button.label}：{button.url}")
        if self.footer:
            lines.append(self.footer)
        return "\n".join(lines)


@dataclass(frozen=True)
class Reply:
    """One message to the user: text, optional cards, optional choices."""

    text: str = ""
    cards: tuple[Card, ...] = field(default_factory=tuple)
    choices: tuple[Choice, ...] = field(default_factory=tuple)

    def as_text(self) -> str:
        """Render the whole message as plain text."""
        parts = [self.text] if self.text else []
        parts.extend(card.as_text() for card in self.cards)
        return "\n\n".join(parts)


def replies_to_json(replies: tuple[Reply, ...] | list[Reply]) -> list[dict]:
    """Serialise replies for the outbox (a push delivered later by the worker)."""
    return [asdict(r) for r in replies]


def replies_from_json(raw: list[dict]) -> tuple[Reply, ...]:
    """Rebuild replies serialised by replies_to_json()."""
    return tuple(
        Reply(
            text=r.get("text", ""),
            cards=tuple(
                Card(**{**c, "rows": tuple(tuple(row) for row in c.get("rows", ())),
                        "buttons": tuple(CardButton(**b) for b in c.get("buttons", ()))})
                for c in r.get("cards", ())
            ),
            choices=tuple(Choice(**ch) for ch in r.get("choices", ())),
        )
        for r in raw
    )
