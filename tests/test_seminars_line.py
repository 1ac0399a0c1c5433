"""Seminar cards on LINE: a valid carousel LINE accepts, and its リマインド button stores the reminder."""
from datetime import datetime

from sqlalchemy import select

from bot.config import TOKYO
from line_fake import _actions as actions
from line_fake import message_texts, parse_reply
from storage.models import Reminder
from test_line_webhook import REPLY, app_client, line, post, with_event  # noqa: F401 (fixtures)


def at_ms(when: str) -> int:
    """Return a LINE event timestamp (milliseconds) for a Tokyo time."""
    return int(datetime.fromisoformat(when).replace(tzinfo=TOKYO).timestamp() * 1000)


def test_next_months_seminars_are_a_carousel_line_accepts_and_remind_stores_a_reminder(app_client, line, db):
    asked = with_event("text", webhookEventId="01SEMINAR00000000000000001", timestamp=at_ms("2017-10-15T09:00:00"))
    asked["events"][0]["message"]["text"] = "来月のセミナーは？"
    assert post(app_client, asked).status_code == 200
    parse_reply(line.requests(REPLY)[-1])  # checks every message against the SDK models and LINE's limits
    messages = line.bodies(REPLY)[-1]["messages"]
    texts = message_texts(messages)
    assert "弁護士等無料相談会" in texts and "11/17(金)" in texts
    remind = next(a for a in actions(messages) if a.get("label") == "リマインド")
    assert remind["type"] == "postback"

    tapped = with_event("postback", webhookEventId="01SEMINAR00000000000000002", timestamp=at_ms("2017-10-15T09:01:00"),
                        postback={"data": remind["data"]})
    assert post(app_client, tapped).status_code == 200
    parse_reply(line.requests(REPLY)[-1])
    assert "リマインドを承りました" in message_texts(line.bodies(REPLY)[-1]["messages"])
    with db.transaction() as session:
        stored = session.execute(select(Reminder)).scalars().all()
    assert len(stored) == 1 and stored[0].starts_on.isoformat() == "2017-11-17"
