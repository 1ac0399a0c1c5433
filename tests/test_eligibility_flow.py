"""The subsidy questionnaire through the real Engine: one question at a time, free text, back, cancel, resume, timeout."""
from __future__ import annotations

from typing import Any

import pytest

from bot.engine import Engine
from bot.messages import Incoming, TurnResult
from handlers.base import Conversation
from storage import repository
from tests.conftest import Chat, at

OPEN = "2017-09-01T10:00:00"  # inside the call window 平成29年8月21日～9月29日
CLOSED = "2026-11-27T10:00:00"


def stored(engine: Engine, user: str = "u1") -> Conversation:
    """Return the conversation as the database holds it."""
    with engine.db.transaction() as session:
        read = repository.read_conversation(session, "console", user, engine.settings.user_hash_salt)
    assert read.user_id is not None
    return Conversation.from_json(read.state)


def talk(chat: Chat, *messages: str, now: str = OPEN) -> list[TurnResult]:
    return [chat.say(m, now=now) for m in messages]


def verdict_card(result: TurnResult) -> Any:
    return next(card for reply in result.replies for card in reply.cards if card.kind == "verdict")


def rows(result: TurnResult) -> dict[str, str]:
    return dict(verdict_card(result).rows)


FREE_TEXT = ["補助金の対象になるか診断したい", "いわき市平です", "飲食店をやっています", "300万円", "従業員は3名",
             "新商品のブランディング", "90万円", "はい"]


def test_a_complete_conversation_in_free_text_gives_the_verdict(chat: Chat, engine: Engine):
    results = talk(chat, *FREE_TEXT)
    for result in results[:-1]:
        assert result.flow == "eligibility" and result.intent == "eligibility" and result.choices
    final = results[-1]
    assert final.flow is None and final.intent == "eligibility"
    assert rows(final) == {
        "所在地": "✓ いわき市内の事業所です（いわき市平）",
        "企業規模": "✓ 小規模企業に当たります（小売業で従業員5人以下）",
        "取り組む課題": "✓ 「販路開拓・拡大」の取組みです",
        "事業費": "✓ 事業費90万円の予定です",
        "商工団体等の推薦": "✓ 推薦を受けています",
        "公募期間": "✓ 公募期間中です（9月29日まで）",
    }
    for label, value in rows(final).items():
        assert f"{value.split(' ', 1)[0]} {label}：{value.split(' ', 1)[1]}" in final.replies[-1].text
    assert "補助額の目安：50万円" in final.text
    assert "0246-25-9152" in final.text and "0246-32-2900" in final.text and "0246-22-1126" in final.text
    assert ("担当者に相談", "handoff:start") in [(c.label, c.data) for c in final.choices]


def test_every_question_offers_choices_and_one_question_is_asked_at_a_time(chat: Chat):
    first = chat.say("補助金診断", now=OPEN)
    assert "【質問 1/7】" in first.text and "【質問 2/7】" not in first.text
    assert [c.label for c in first.choices] == ["いわき市内", "いわき市外", "やめる"]
    second = chat.tap(first, "いわき市内", now=OPEN)
    assert "【質問 2/7】" in second.text and "戻る" in [c.label for c in second.choices]
    assert all(len(c.label) <= 20 for c in second.choices) and len(second.choices) <= 13


def test_a_complete_conversation_by_taps(chat: Chat, engine: Engine):
    result = chat.say("補助金診断", postback="eligibility:start", now=OPEN)
    for label in ["いわき市外", "サービス業", "5千万円超～1億円以下", "101～300人", "事業承継", "30万円", "まだ"]:
        assert result.flow == "eligibility"
        result = chat.tap(result, label, now=OPEN)
    assert result.flow is None
    assert rows(result)["所在地"].startswith("✗")
    assert rows(result)["企業規模"].startswith("✗")
    assert rows(result)["商工団体等の推薦"].startswith("要確認") and "0246-25-9152" in rows(result)["商工団体等の推薦"]
    assert "対象外となる可能性が高い" in result.text
    assert "補助額の目安：20万円" in result.text


def test_the_answers_and_verdict_are_kept_for_the_handoff(chat: Chat, engine: Engine):
    talk(chat, *FREE_TEXT)
    memory = stored(engine).memory["eligibility"]
    assert memory["answers"]["所在地"] == "いわき市平" and memory["answers"]["従業員数"] == "3人"
    assert memory["answers"]["事業費"] == "90万円" and memory["estimate_yen"] == 500_000
    assert memory["verdict"][0] == "✓ 所在地：いわき市内の事業所です（いわき市平）" and len(memory["verdict"]) == 6
    assert stored(engine).flow is None and stored(engine).flow_data == {}


@pytest.mark.parametrize("opening", ["補助金の対象になるか診断したい", "補助金診断", "うちは補助金もらえる？"])
def test_the_questionnaire_starts_from_what_people_say(chat: Chat, opening: str):
    result = chat.say(opening, now=OPEN)
    assert result.flow == "eligibility" and "【質問 1/7】" in result.text


def test_the_menu_button_starts_it(chat: Chat):
    menu = chat.say("こんにちは", now=OPEN)
    result = chat.tap(menu, "補助金診断", now=OPEN)
    assert result.flow == "eligibility" and "【質問 1/7】" in result.text


def test_typing_a_choice_label_works_like_tapping_it(chat: Chat):
    talk(chat, "補助金診断", "いわき市内")
    result = chat.say("小売業・飲食店", now=OPEN)
    assert "「小売業・飲食店」で承りました" in result.text and "【質問 3/7】" in result.text


def test_an_answer_that_cannot_be_understood_is_asked_again_with_an_example(chat: Chat, engine: Engine):
    talk(chat, "補助金診断", "いわき市内", "製造業", "1千万円以下")
    result = chat.say("けっこういます", now=OPEN)
    assert result.flow == "eligibility" and result.intent == "eligibility"
    assert "読み取れませんでした" in result.text and "「5人」「12名」" in result.text and "【質問 4/7】" in result.text
    assert "employees" not in stored(engine).flow_data["answers"]


def test_a_bare_small_number_for_money_is_not_guessed(chat: Chat):
    talk(chat, "補助金診断", "いわき市内", "製造業", "1千万円以下", "5人", "販路開拓")
    result = chat.say("90", now=OPEN)
    assert "読み取れませんでした" in result.text and "【質問 6/7】" in result.text
    assert "「90万円」で承りました" in chat.say("90万円", now=OPEN).text


@pytest.mark.parametrize("count,shown", [("5人", "5人"), ("五人", "5人"), ("従業員は12名", "12人"), ("十二人", "12人")])
def test_head_counts_typed_in_any_form_are_understood(chat: Chat, count: str, shown: str):
    talk(chat, "補助金診断", "いわき市内", "製造業", "1千万円以下")
    assert f"「{shown}」で承りました" in chat.say(count, now=OPEN).text


@pytest.mark.parametrize("money,shown", [("90万円", "90万円"), ("900,000円", "90万円"), ("９０万", "90万円"),
                                         ("百万円", "100万円"), ("1.2百万円", "120万円")])
def test_amounts_typed_in_any_form_are_understood(chat: Chat, money: str, shown: str):
    talk(chat, "補助金診断", "いわき市内", "製造業", "1千万円以下", "5人", "販路開拓")
    assert f"「{shown}」で承りました" in chat.say(money, now=OPEN).text


@pytest.mark.parametrize("capital,shown", [("3億円", "3億円"), ("5千万円", "5,000万円")])
def test_capital_typed_in_any_form_is_understood(chat: Chat, capital: str, shown: str):
    talk(chat, "補助金診断", "いわき市内", "製造業")
    assert f"「{shown}」で承りました" in chat.say(capital, now=OPEN).text


@pytest.mark.parametrize("place,inside", [("いわき市平です", True), ("郡山市", False), ("小名浜", True), ("はい", True),
                                          ("いいえ", False)])
def test_places_and_yes_no_answer_the_location_question(chat: Chat, engine: Engine, place: str, inside: bool):
    talk(chat, "補助金診断")
    assert "【質問 2/7】" in chat.say(place, now=OPEN).text
    assert stored(engine).flow_data["answers"]["location"]["value"] == ("inside" if inside else "outside")


@pytest.mark.parametrize("reply,value", [("はい", "yes"), ("いいえ", "no"), ("まだ", "not_yet"), ("うん", "yes"),
                                         ("ない", "no"), ("もらってない", "no")])
def test_yes_no_and_not_yet_answer_the_recommendation_question(chat: Chat, engine: Engine, reply: str, value: str):
    talk(chat, "補助金診断", "いわき市内", "製造業", "1千万円以下", "5人", "販路開拓", "90万円")
    final = chat.say(reply, now=OPEN)
    assert final.flow is None
    expected = "✓" if value == "yes" else "要確認"
    assert rows(final)["商工団体等の推薦"].startswith(expected)


def test_one_message_may_answer_several_questions(chat: Chat, engine: Engine):
    talk(chat, "補助金診断")
    result = chat.say("いわき市小名浜で飲食店をやっています", now=OPEN)
    assert "【質問 3/7】" in result.text
    answers = stored(engine).flow_data["answers"]
    assert answers["location"]["value"] == "inside" and answers["industry"]["value"] == "retail"


def test_an_answer_to_a_later_question_is_kept_and_the_pending_one_asked_again(chat: Chat, engine: Engine):
    talk(chat, "補助金診断", "いわき市内", "製造業")
    result = chat.say("従業員は12名", now=OPEN)
    assert "「12人」で承りました" in result.text and "【質問 3/7】" in result.text
    assert stored(engine).flow_data["answers"]["employees"]["min"] == 12
    assert "【質問 5/7】" in chat.say("1千万円以下", now=OPEN).text


def test_back_goes_back_one_question(chat: Chat, engine: Engine):
    talk(chat, "補助金診断", "いわき市内", "製造業")
    result = chat.say("戻る", now=OPEN)
    assert result.flow == "eligibility" and "【質問 2/7】" in result.text
    assert "industry" not in stored(engine).flow_data["answers"]
    result = chat.tap(result, "戻る", now=OPEN)
    assert "【質問 1/7】" in result.text
    assert "最初の質問" in chat.say("戻る", now=OPEN).text
    assert "【質問 2/7】" in chat.say("郡山市", now=OPEN).text


@pytest.mark.parametrize("word", ["やめる", "キャンセル"])
def test_cancel_ends_it_and_the_next_message_is_answered_normally(chat: Chat, engine: Engine, word: str):
    talk(chat, "補助金診断", "いわき市内")
    result = chat.say(word, now=OPEN)
    assert result.flow is None and "中止しました" in result.text
    assert stored(engine).flow is None
    after = chat.say("5人", now=OPEN)
    assert after.flow is None and after.intent != "eligibility"


def test_the_cancel_button_ends_it(chat: Chat):
    first = chat.say("補助金診断", now=OPEN)
    assert chat.tap(first, "やめる", now=OPEN).flow is None


def test_a_question_about_something_else_is_answered_and_resume_offered(chat: Chat, engine: Engine):
    talk(chat, "補助金診断", "いわき市内", "製造業")
    result = chat.say("商工会議所の電話番号は？", now=OPEN)
    assert result.intent != "eligibility" and "0246-25-915" in result.text
    assert result.flow == "eligibility" and "続ける" in [c.label for c in result.choices]
    resumed = chat.tap(result, "続ける", now=OPEN)
    assert resumed.flow == "eligibility" and "【質問 3/7】" in resumed.text and "再開" in resumed.text
    assert "「1,000万円」で承りました" in chat.say("1000万円", now=OPEN).text


def test_after_the_other_question_an_answer_can_be_typed_directly(chat: Chat):
    talk(chat, "補助金診断", "いわき市内", "製造業")
    chat.say("補助金の上限はいくらですか？", now=OPEN)
    assert "【質問 4/7】" in chat.say("1千万円以下", now=OPEN).text


def test_resume_postback_reasks_the_pending_question(chat: Chat):
    talk(chat, "補助金診断", "いわき市内")
    result = chat.say("続ける", postback="eligibility:resume", now=OPEN)
    assert result.flow == "eligibility" and "【質問 2/7】" in result.text


def test_thirty_minutes_idle_ends_it_and_the_user_is_told(chat: Chat, engine: Engine):
    talk(chat, "補助金診断", "いわき市内", now="2017-09-01T10:00:00")
    result = chat.say("製造業", now="2017-09-01T10:31:00")
    assert "しばらく操作がなかったため終了しました" in result.text
    assert result.flow is None and stored(engine).flow is None


def test_less_than_thirty_minutes_idle_goes_on(chat: Chat):
    talk(chat, "補助金診断", "いわき市内", now="2017-09-01T10:00:00")
    result = chat.say("製造業", now="2017-09-01T10:29:00")
    assert result.flow == "eligibility" and "【質問 3/7】" in result.text


def test_resume_after_the_timeout_starts_again(chat: Chat):
    talk(chat, "補助金診断", "いわき市内", now="2017-09-01T10:00:00")
    result = chat.say("続ける", postback="eligibility:resume", now="2017-09-01T11:00:00")
    assert result.flow == "eligibility" and "【質問 1/7】" in result.text


def test_the_state_survives_a_restart(engine: Engine):
    Chat(engine).say("補助金診断", now=OPEN)
    Chat(engine).say("いわき市内", now=OPEN)
    restarted = Engine(engine.db, engine.settings, engine.kb)  # a new process (or another worker) on the same database
    result = Chat(restarted).say("製造業", now=OPEN)
    assert result.flow == "eligibility" and "【質問 3/7】" in result.text


def test_two_users_have_their_own_questionnaires(engine: Engine):
    a, b = Chat(engine, "a"), Chat(engine, "b")
    a.say("補助金診断", now=OPEN)
    b.say("補助金診断", now=OPEN)
    a.say("いわき市内", now=OPEN)
    assert "【質問 2/7】" in b.say("郡山市", now=OPEN).text
    assert "【質問 3/7】" in a.say("卸売業", now=OPEN).text


def test_a_closed_window_is_said_with_the_secretariat(chat: Chat):
    final = talk(chat, *FREE_TEXT, now=CLOSED)[-1]
    assert rows(final)["公募期間"].startswith("✗") and "平成29年8月21日～9月29日" in rows(final)["公募期間"]
    assert "次回の公募については事務局にご確認ください" in final.text


def test_a_long_or_odd_message_mid_way_is_asked_again(chat: Chat):
    talk(chat, "補助金診断", "いわき市内")
    for text in ["あ" * 5000, "😀🙏", "   "]:
        result = chat.say(text, now=OPEN)
        assert result.flow == "eligibility" and "【質問 2/7】" in result.text


def test_starting_again_mid_way_clears_the_answers(chat: Chat, engine: Engine):
    talk(chat, "補助金診断", "いわき市内", "製造業")
    result = chat.say("補助金診断", now=OPEN)
    assert "最初から" in result.text and "【質問 1/7】" in result.text
    assert stored(engine).flow_data["answers"] == {}


def test_restart_after_the_verdict(chat: Chat):
    final = talk(chat, *FREE_TEXT)[-1]
    again = chat.tap(final, "もう一度診断する", now=OPEN)
    assert again.flow == "eligibility" and "【質問 1/7】" in again.text


def test_in_a_group_it_asks_to_continue_one_to_one(engine: Engine):
    result = engine.handle(Incoming("console", "g1", "補助金診断", at(OPEN), is_group=True))
    assert result.flow is None and "1対1" in result.text


def test_answers_that_the_rules_no_longer_know_are_asked_again(kb):
    # An admin removed or renamed a choice while someone was answering: that answer is asked again, nothing breaks.
    from handlers import eligibility
    from handlers.base import Turn

    stale = {"answers": {"location": {"value": "inside", "min": None, "max": None, "text": "いわき市内"},
                         "industry": {"value": "mining", "min": None, "max": None, "text": "鉱業"},
                         "capital": "not a mapping"},
             "history": ["location", "industry", "capital"]}
    turn = Turn(text="卸売業", now=at(OPEN), kb=kb, conversation=Conversation(flow="eligibility", flow_data=stale))
    outcome = eligibility.step(turn)
    assert outcome is not None and outcome.flow == "eligibility" and "【質問 3/7】" in outcome.replies[-1].text
    assert outcome.flow_data["answers"]["industry"]["value"] == "wholesale"
    assert outcome.flow_data["history"] == ["location", "industry"]


def test_the_verdicts_handoff_button_hands_the_answers_to_the_secretariat(chat: Chat, engine: Engine):
    from sqlalchemy import select

    from storage.models import Lead

    final = talk(chat, *FREE_TEXT)[-1]
    result = chat.tap(final, "担当者に相談", now=OPEN)
    assert result.flow == "handoff"
    for text in ["山田太郎", "山田商店", "090-1234-5678", "補助金の申請について", "平日の午前"]:
        result = chat.say(text, now=OPEN)
    chat.tap(result, "同意する", now=OPEN)
    with engine.db.transaction() as session:
        [lead] = session.execute(select(Lead)).scalars().all()
        attached = lead.details["eligibility"]
    assert attached["answers"]["所在地"] == "いわき市平" and attached["estimate_yen"] == 500_000
    assert "✓ 企業規模：小規模企業に当たります（小売業で従業員5人以下）" in attached["verdict"]
    # the typed answers were not questions: they are not shown to the secretariat as such
    assert "いわき市平です" not in lead.details.get("recent_questions", [])


@pytest.mark.parametrize("text", ["補助金の対象になる取り組みの例", "補助金の対象になる経費は？",
                                  "経営発達補助金って、かかった費用のどれくらいを出してもらえる？",
                                  "レジのシステムを入れたいんだけど補助金の対象になる？",  # what the money is for
                                  "補助金の申請を考えています。推薦は商工会議所でもらえますか"])  # what is got: 推薦
def test_a_question_about_what_the_subsidy_covers_is_answered_not_the_questionnaire(chat: Chat, text: str):
    result = chat.say(text)
    assert result.flow is None
    assert result.intent == "faq"


@pytest.mark.parametrize("text", ["うちは補助金もらえる？", "補助金の対象になるか知りたい", "飲食店です。補助金の対象になりますか"])
def test_asking_whether_we_get_the_subsidy_starts_the_questionnaire(chat: Chat, text: str):
    assert chat.say(text).flow == "eligibility"


def test_the_subsidys_answer_offers_the_check_and_a_tap_starts_it(chat):
    # The entry's `menu: 補助金診断` shows the menu's item with the answer.
    answer = chat.say("補助金の上限は？")
    assert answer.entry_id == "management-development-subsidy" and "50万円" in answer.text
    started = chat.tap(answer, "補助金診断")
    assert started.flow == "eligibility"
