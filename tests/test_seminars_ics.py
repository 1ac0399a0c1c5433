"""The calendar for calendar apps: GET /seminars.ics, one seminar's .ics, and `sme-bot seminars ics`, as valid iCalendar."""
import subprocess
import sys
from datetime import date, datetime, timezone

import pytest
from icalendar import Calendar

from bot.app import create_app
from bot.calendar_feed import build
from bot.engine import Engine
from knowledge.model import Knowledge


@pytest.fixture
def client(db, settings, kb):
    app = create_app(settings, Engine(db, settings, kb))
    with app.test_client() as c:
        yield c


def events(body: bytes) -> list:
    return [c for c in Calendar.from_ical(body).walk("VEVENT")]


def occurrence_count(kb: Knowledge) -> int:
    return sum(len(s.occurrences) for s in kb.section("seminars.yaml").seminars.values())


def test_the_feed_serves_every_occurrence_as_an_all_day_event(client, kb):
    response = client.get("/seminars.ics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/calendar") and "utf-8" in response.content_type
    calendar = Calendar.from_ical(response.data)
    assert str(calendar["X-WR-TIMEZONE"]) == "Asia/Tokyo"
    found = events(response.data)
    assert len(found) == occurrence_count(kb)
    assert len({str(e["UID"]) for e in found}) == len(found)
    for event in found:
        start, end = event.decoded("DTSTART"), event.decoded("DTEND")
        assert type(start) is date and type(end) is date and end > start  # all-day, exclusive end


def test_a_dated_occurrence_and_a_month_period_are_the_right_days(client):
    found = {str(e["UID"]): e for e in events(client.get("/seminars.ics").data)}
    lawyer = found["lawyer-free-consultation-20171117@iwaki-sme-bot"]
    assert (lawyer.decoded("DTSTART"), lawyer.decoded("DTEND")) == (date(2017, 11, 17), date(2017, 11, 18))
    assert str(lawyer["SUMMARY"]) == "弁護士等無料相談会"
    assert "0246-21-7570" in str(lawyer["DESCRIPTION"])
    robotics = found["monozukuri-robotics-20171101@iwaki-sme-bot"]
    assert (robotics.decoded("DTSTART"), robotics.decoded("DTEND")) == (date(2017, 11, 1), date(2018, 2, 1))


def test_uids_are_stable_between_downloads(kb):
    calendar = kb.section("seminars.yaml")
    first = [str(e["UID"]) for e in events(build(calendar, datetime(2020, 1, 1, tzinfo=timezone.utc)))]
    second = [str(e["UID"]) for e in events(build(calendar, datetime(2026, 1, 1, tzinfo=timezone.utc)))]
    assert first == second


def test_one_seminar_has_its_own_feed_and_an_unknown_one_is_404(client):
    response = client.get("/seminars/ip-expert-consultation.ics")
    assert response.status_code == 200
    found = events(response.data)
    assert len(found) == 12 and {str(e["SUMMARY"]) for e in found} == {"知財専門家派遣相談会"}
    assert client.get("/seminars/no-such-seminar.ics").status_code == 404


def test_the_command_writes_the_same_calendar(kb, tmp_path):
    result = subprocess.run([sys.executable, "-m", "bot.cli", "seminars", "ics"], capture_output=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert result.returncode == 0, result.stderr.decode()
    assert len(events(result.stdout)) == occurrence_count(kb)
