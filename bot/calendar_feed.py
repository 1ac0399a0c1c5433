"""The seminar calendar as iCalendar (RFC 5545) for any calendar app: GET /seminars.ics, /seminars/<id>.ics and `sme-bot seminars ics`."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import Blueprint, Response, abort, current_app
from icalendar import Calendar, Event

from handlers.dates import month_span
from knowledge.seminars import Occurrence, Seminar, SeminarCalendar

# UIDs must stay the same across downloads so a calendar app updates events instead of adding twins.
UID_DOMAIN = "iwaki-sme-bot"
PRODID = "-//iwaki-sme-bot//seminars//JA"
MEDIA_TYPE = "text/calendar; charset=utf-8"

blueprint = Blueprint("calendar_feed", __name__)


def uid(seminar: Seminar, occurrence: Occurrence) -> str:
    """Return the stable UID of one occurrence."""
    return f"{seminar.id}-{occurrence.first:%Y%m%d}@{UID_DOMAIN}"


def build(calendar: SeminarCalendar, stamp: datetime, seminar_id: str | None = None) -> bytes:
    """Return every occurrence (or one seminar's) as all-day VEVENTs; raise KeyError for an unknown seminar."""
    seminars = list(calendar.seminars.values())
    if seminar_id is not None:
        seminars = [calendar.seminars[seminar_id]]
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", calendar.file.calendar_name if seminar_id is None else seminars[0].title)
    cal.add("x-wr-timezone", "Asia/Tokyo")
    stamp = stamp.astimezone(timezone.utc)
    for seminar in seminars:
        for occurrence in seminar.occurrences:
            cal.add_component(_event(calendar, seminar, occurrence, stamp))
    return cal.to_ical()


def _event(calendar: SeminarCalendar, seminar: Seminar, occurrence: Occurrence, stamp: datetime) -> Event:
    w = calendar.wording
    event = Event()
    event.add("uid", uid(seminar, occurrence))
    event.add("dtstamp", stamp)
    # All-day: DTEND is the day after the last day (RFC 5545 3.6.1, exclusive end for DATE values).
    event.add("dtstart", occurrence.first)
    event.add("dtend", occurrence.last + timedelta(days=1))
    event.add("summary", seminar.title)
    event.add("transp", "TRANSPARENT")
    lines = [seminar.about]
    sessions = seminar.sessions_of(occurrence)
    if occurrence.is_period:
        lines.append(f"{w.row_date}：{month_span(occurrence.first, occurrence.last)}（{w.period_note}）")
    if sessions:
        lines.append(f"{w.row_sessions}：{sessions}")
    lines.append(f"{w.row_organiser}：{seminar.organiser}")
    if seminar.phone:
        lines.append(f"{w.row_phone}：{seminar.phone}")
    if occurrence.note:
        lines.append(occurrence.note)
    lines.append(w.footer.format(source=seminar.source, as_of=calendar.file.as_of))
    event.add("description", "\n".join(lines))
    event.add("categories", list(seminar.tags))
    event.add("url", calendar.file.calendar_url)
    if seminar.phone:
        event.add("contact", f"{seminar.organiser} {seminar.phone}")
    return event


def _response(seminar_id: str | None) -> Response:
    engine = current_app.extensions["sme_engine"]
    calendar: SeminarCalendar = engine.kb.section("seminars.yaml")
    try:
        body = build(calendar, datetime.now(timezone.utc), seminar_id)
    except KeyError:
        abort(404)
    filename = f"{seminar_id or 'seminars'}.ics"
    return Response(body, mimetype="text/calendar", content_type=MEDIA_TYPE,
                    headers={"Content-Disposition": f'inline; filename="{filename}"', "Cache-Control": "public, max-age=3600"})


@blueprint.get("/seminars.ics")
def all_seminars() -> Response:
    """Serve every seminar occurrence."""
    return _response(None)


@blueprint.get("/seminars/<seminar_id>.ics")
def one_seminar(seminar_id: str) -> Response:
    """Serve one seminar's occurrences (the link a card's 詳細 can carry)."""
    return _response(seminar_id)
