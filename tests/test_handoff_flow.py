"""The handoff flow: who, business, contact, topic, time, consent; a lead on consent, nothing otherwise."""
from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import select

from bot.channels import console
from bot.engine import Engine
from bot.messages import Incoming, TurnResult
from conftest import Chat, at
from handlers import handoff
from knowledge.model import Knowledge
from storage import repository
from storage.db import Database
from storage.models import ConversationRow, Lead, OutboxItem

ANSWERS = ["山田太郎", "山田商店", "090-1234-5678", "経営発達補助金の申請について", "平日の午前"]


def walk(chat: Chat, answers: list[str] = ANSWERS, start: str = "担当者と話したい") -> list[TurnResult]:
    """Start the handoff and answer every question; return each turn's result."""
    results = [chat.say(start)]
    for answer in answers:
        results.append(chat.say(answer))
    return results


def leads(db: Database) -> list[Lead]:
    with db.transaction() as session:
        return list(session.execute(select(Lead).order_by(Lead.id)).scalars())


def test_details_then_consent_create_one_lead_and_queue_its_delivery(chat: Chat, db: Database) -> None:
    results = walk(chat)
    assert all(r.flow == "handoff" and r.intent == "handoff" for r in results)
    summary = results[-1].text
    for answer in ANSWERS:
        assert answer in summary
    assert "いわき市産業振興部産業創出課" in summary and "商工会議所" in summary  # with whom it is shared
    assert [c.label for c in results[-1].choices] == ["同意する", "同意しない", "入力し直す"]

    done = chat.tap(results[-1], "同意する")
    assert done.flow is None and done.intent == "handoff" and len(done.lead_ids) == 1
    assert "本日の受付時間内（17:15まで）" in done.text  # Friday 10:00
    [lead] = leads(db)
    assert (lead.name, lead.business, lead.contact, lead.topic, lead.preferred_time) == tuple(ANSWERS)
    assert lead.status == "queued"
    with db.transaction() as session:
        item = session.execute(select(OutboxItem).where(OutboxItem.key == f"lead:{lead.id}")).scalar_one()
        assert (item.kind, item.status, item.payload) == ("lead", "pending", {"lead_id": lead.id})


@pytest.mark.parametrize("step", range(6))
def test_cancel_at_any_step_sends_nothing(chat: Chat, db: Database, step: int) -> None:
    results = walk(chat, ANSWERS[:step])
    assert results[-1].flow == "handoff"
    cancelled = chat.say("キャンセル")
    assert cancelled.flow is None and "中止しました" in cancelled.text
    assert leads(db) == []
    assert chat.say("同意する").flow is None and leads(db) == []


def test_decline_discards_the_details_and_offers_the_phone(chat: Chat, db: Database) -> None:
    results = walk(chat)
    declined = chat.tap(results[-1], "同意しない")
    assert declined.flow is None and "0246-22-1126" in declined.text
    assert leads(db) == []


def test_typed_consent_works_like_the_button(chat: Chat, db: Database) -> None:
    walk(chat)
    assert len(chat.say("同意する").lead_ids) == 1


def test_restart_asks_everything_again(chat: Chat, db: Database) -> None:
    results = walk(chat)
    again = chat.tap(results[-1], "入力し直す")
    assert again.flow == "handoff" and "お名前" in again.text
    for answer in ["佐藤花子", "屋号なし", "sato@example.jp", "販路開拓について"]:
        chat.say(answer)
    summary = chat.say("いつでもよい")
    assert "佐藤花子" in summary.text and "（屋号なし）" in summary.text and "山田太郎" not in summary.text


def test_no_business_name_button(chat: Chat, db: Database) -> None:
    chat.say("担当者と話したい")
    asked = chat.say("鈴木一郎")
    tapped = chat.tap(asked, "屋号なし")
    assert "電話番号またはメールアドレス" in tapped.text
    for answer in ["suzuki@example.jp", "創業の相談", "平日の午後"]:
        chat.say(answer)
    chat.say("同意する")
    assert leads(db)[0].business == "（屋号なし）"


def test_invalid_contact_is_asked_again_and_a_valid_one_accepted(chat: Chat, db: Database) -> None:
    walk(chat, ANSWERS[:2])
    again = chat.say("12345")
    assert again.flow == "handoff" and "読み取れませんでした" in again.text
    assert "ご相談の内容" in chat.say("０２４６－２２－１１２６").text


@pytest.mark.parametrize("typed, stored", [
    ("090-1234-5678", "090-1234-5678"),
    ("09012345678", "090-1234-5678"),
    ("０９０－１２３４－５６７８", "090-1234-5678"),
    ("090ー1234ー5678", "090-1234-5678"),
    ("090 1234 5678", "090-1234-5678"),
    ("0246-22-1126", "0246-22-1126"),
    ("0246221126", "0246221126"),
    ("0246(22)1126", "0246-22-1126"),
    ("+81 90-1234-5678", "090-1234-5678"),
    ("050-1234-5678", "050-1234-5678"),
    ("0120-123-456", "0120-123-456"),
    ("info@example.jp", "info@example.jp"),
    ("ｉｎｆｏ＠ｅｘａｍｐｌｅ．ｊｐ", "info@example.jp"),
    ("090-1234-5678（日中は携帯へ）", "090-1234-5678(日中は携帯へ)"),
])
def test_japanese_phone_numbers_and_email_addresses_are_accepted(typed: str, stored: str) -> None:
    assert handoff.normalise_contact(typed) == stored


@pytest.mark.parametrize("typed", ["12345", "090-1234", "0000000000", "090-1234-56789", "03-1234-567",
                                   "電話します", "info@", "@example.jp", "1234567890", "🙂"])
def test_what_is_not_a_phone_or_email_is_refused(typed: str) -> None:
    assert handoff.normalise_contact(typed) is None


def test_too_long_answer_is_refused_with_the_limit(chat: Chat) -> None:
    chat.say("担当者と話したい")
    result = chat.say("あ" * 51)
    assert result.flow == "handoff" and "50文字以内" in result.text and "お名前" in result.text


def test_question_in_the_middle_is_answered_and_the_flow_resumes(chat: Chat, db: Database) -> None:
    chat.say("担当者と話したい")
    answered = chat.say("経営発達補助金の上限は？")
    assert answered.flow == "handoff" and "続ける" in [c.label for c in answered.choices]
    resumed = chat.tap(answered, "続ける")
    assert resumed.flow == "handoff" and "お名前" in resumed.text


@pytest.mark.parametrize("text", ["担当者と話したい", "電話で相談したい", "人と話したい", "相談したい", "問い合わせたい",
                                  "経営のことで相談したいです", "担当者に相談", "相談に乗ってほしい", "来月に相談したい",
                                  "誰かに相談したい", "補助金について相談したい", "市役所の人に相談したい"])
def test_these_start_the_handoff(chat: Chat, text: str) -> None:
    assert chat.say(text).flow == "handoff"


def test_the_fallback_button_starts_the_handoff(chat: Chat) -> None:
    result = chat.say("担当者に相談", postback="handoff:start")
    assert result.flow == "handoff" and "お名前" in result.text


@pytest.mark.parametrize("text", ["信用組合に相談したいです", "商工会議所に電話したい", "よろず支援拠点に相談したい",
                                  "信金さんに経営相談したい",  # whom to ask, with what about compounded
                                  "補助金のことを商工会に問い合わせたい", "経営のことを専門家に無料で相談したい"])
def test_asking_how_to_reach_a_named_desk_is_answered_by_the_faq(chat: Chat, text: str) -> None:
    assert chat.say(text).flow is None


@pytest.mark.parametrize("text", ["補助金のことで問い合わせたい。電話番号は？",
                                  "補助金のことで問い合わせたいんだけど、どこに電話すればいい？"])  # a guess will do
def test_a_wish_to_ask_with_a_question_the_faq_answers_gets_the_answer(chat: Chat, text: str) -> None:
    result = chat.say(text)
    assert result.flow is None and result.intent == "faq" and "0246-22-1126" in result.text
    assert "担当者に相談" in [c.label for c in result.choices]  # the person is one tap away


def test_group_chat_is_asked_to_continue_one_to_one(engine: Engine, db: Database) -> None:
    result = engine.handle(Incoming("line", "Cgroup", "担当者と話したい", at("2026-11-27T10:00:00"), is_group=True))
    assert result.flow is None and "1対1" in result.text


def test_lead_carries_questionnaire_and_recent_questions_but_not_the_flow_answers(
        engine: Engine, db: Database, chat: Chat) -> None:
    chat.say("経営発達補助金の上限は？")
    with db.transaction() as session:  # what the eligibility questionnaire leaves behind
        user = repository.find_user(session, "console", "u1")
        row = session.get(ConversationRow, user.id)
        row.state = {**row.state, "memory": {**row.state["memory"], "eligibility": {
            "answers": {"業種": "小売業", "従業員数": "5人以下"}, "headline": "対象になる可能性があります"}}}
    results = walk(chat)
    assert "対象になる可能性があります" in results[-1].text
    chat.say("同意する")
    [lead] = leads(db)
    assert lead.details["eligibility"]["answers"]["業種"] == "小売業"
    assert lead.details["recent_questions"] == ["経営発達補助金の上限は？"]
    assert lead.details["channel"] == "console"


def test_chat_jsonl_reports_the_handoff_flow_until_the_lead_is_created(engine: Engine, db: Database) -> None:
    lines = [{"user": "j1", "text": t, "now": "2026-11-27T19:00:00"} for t in ["担当者と話したい", *ANSWERS, "同意する", "ありがとう"]]
    out = io.StringIO()
    console.run_jsonl(engine, io.StringIO("\n".join(json.dumps(line, ensure_ascii=False) for line in lines)), out)
    flows = [json.loads(line)["flow"] for line in out.getvalue().splitlines()]
    assert flows == ["handoff"] * 6 + [None, None]
    done = json.loads(out.getvalue().splitlines()[6])["text"]
    assert "11月30日（月）の8:30以降" in done  # Friday evening: the next office day is Monday


@pytest.mark.parametrize("now, expected", [
    ("2026-11-27T10:00:00", "本日の受付時間内（17:15まで）"),  # Friday morning
    ("2026-11-27T17:15:00", "11月30日（月）の8:30以降"),  # Friday at closing time
    ("2026-11-30T07:00:00", "11月30日（月）の8:30以降"),  # Monday before opening
    ("2026-11-28T12:00:00", "11月30日（月）の8:30以降"),  # Saturday
    ("2026-11-22T12:00:00", "11月24日（火）の8:30以降"),  # Sunday before 勤労感謝の日 (Monday 23rd)
    ("2026-12-28T18:00:00", "1月4日（月）の8:30以降"),  # the year-end closure
    ("2026-05-02T09:00:00", "5月7日（木）の8:30以降"),  # Golden Week with its substitute holiday
    ("2026-11-27T01:00:00+00:00", "本日の受付時間内"),  # 10:00 in Tokyo, given in UTC
])
def test_the_answer_time_follows_office_hours_and_holidays(kb: Knowledge, now: str, expected: str) -> None:
    assert expected in handoff.expected_answer(at(now), kb.section("handoff.yaml"))


def test_office_minutes_skip_nights_weekends_and_holidays(kb: Knowledge) -> None:
    hours = kb.section("handoff.yaml").office_hours
    assert handoff.add_office_minutes(at("2026-11-27T10:00:00"), 60, hours) == at("2026-11-27T11:00:00")
    assert handoff.add_office_minutes(at("2026-11-27T16:45:00"), 60, hours) == at("2026-11-30T09:00:00")
    assert handoff.add_office_minutes(at("2026-11-21T20:00:00"), 30, hours) == at("2026-11-24T09:00:00")
