"""Seminar answers through the engine: what is ahead, soonest first, a few at a time, and never a past one as upcoming."""
from datetime import date, timedelta

import pytest

from bot.messages import Incoming
from conftest import Chat, at, read_question_set
from handlers import seminars
from handlers.replies import Card
from knowledge.model import Knowledge

SEMINAR_BUTTONS = ["詳細", "リマインド", "相談する"]


def seminar_cards(result) -> list[Card]:
    return [card for reply in result.replies for card in reply.cards if card.kind == "seminar"]


def seminar_id(card: Card) -> str:
    detail = next(b for b in card.buttons if b.label == "詳細")
    return detail.data.split(":")[2]


def test_next_month_lists_whats_ahead_soonest_first_with_weekday_organiser_phone_and_sessions(engine):
    result = Chat(engine, now="2017-10-15T09:00:00").say("来月のセミナーは？")
    assert result.intent == "seminars"
    assert "来月（2017年11月）" in result.text
    cards = seminar_cards(result)
    assert 3 <= len(cards) <= 5
    first = cards[0]
    assert first.title in ("弁護士等無料相談会", "知財専門家派遣相談会")
    assert first.subtitle == "2017年11月17日(金)"
    rows = dict(first.rows)
    assert rows["日程"] == "11/17(金)" and rows["主催"] == "いわき産学官ネットワーク協会" and rows["電話"] == "0246-21-7570"
    assert first.body and first.alt_text.startswith("11/17(金)")
    assert [b.label for b in first.buttons] == SEMINAR_BUTTONS
    assert first.buttons[2].data == "handoff:start"
    assert any(dict(c.rows).get("回数", "").startswith("1講座（全") for c in cards)
    assert "もっと見る" in [c.label for c in result.choices]


def test_more_continues_across_turns_by_tap_or_by_typing_the_label(engine):
    chat = Chat(engine, now="2017-10-15T09:00:00")
    first = chat.say("来月のセミナーは？")
    second = chat.tap(first, "もっと見る")
    assert second.intent == "seminars" and "続き" in second.text
    shown_first, shown_second = {seminar_id(c) for c in seminar_cards(first)}, {seminar_id(c) for c in seminar_cards(second)}
    assert shown_second and not shown_first & shown_second
    third = chat.say("もっと見る")  # typed, not tapped
    assert third.intent == "seminars"
    shown_third = {seminar_id(c) for c in seminar_cards(third)}
    assert shown_third and not (shown_first | shown_second) & shown_third


def test_nothing_ahead_says_so_plainly_and_points_to_the_city_page_and_phones(engine):
    result = Chat(engine, now="2026-11-27T10:00:00").say("近々のセミナーは？")
    assert result.intent == "seminars"
    assert "予定されているセミナーはありません" in result.text
    assert "http://www.city.iwaki.lg.jp/www/contents/1488506090835/index.html" in result.text
    assert "0246-25-9151" in result.text and "0246-21-7570" in result.text
    assert not seminar_cards(result)


def test_a_topic_with_nothing_ahead_asked_as_seminars_names_the_topic_and_lists_no_past_seminar(engine):
    result = Chat(engine, now="2026-11-27T10:00:00").say("簿記のセミナーある？")
    assert result.intent == "seminars"
    assert "会計・簿記に関するセミナーはありません" in result.text
    assert "よくわかる3級簿記講座" not in result.text and not seminar_cards(result)


@pytest.mark.parametrize("text, held", [("簿記を勉強したい", "「よくわかる3級簿記講座」は2017年11月（全20回）に開催済みです"),
                                        ("べんごしに むりょうで そうだん", "「弁護士等無料相談会」は2017年5月26日"),
                                        ("ろぼっとの べんきょう", "「いわきものづくり塾（ロボティクスコース）」は"),
                                        # A course of several sessions says how many
                                        ("知財の資格の勉強がしたい", "2017年9月～12月（全8回）に開催済みです")])
def test_a_wish_to_learn_or_consult_with_nothing_ahead_is_told_what_was_held(engine, text, held):
    # Not a question of seminars: what there was, and when, tells whom to ask about the next ones.
    result = Chat(engine, now="2026-11-27T10:00:00").say(text)
    assert held in result.text and "今後の開催予定は、現在ありません" in result.text
    assert not seminar_cards(result)


def test_asked_when_a_topics_seminar_was_it_is_answered_with_the_days_it_was_held(engine):
    result = Chat(engine, now="2026-11-27T10:00:00").say("展示会や見本市をうまく活用する方法を学べるセミナーはいつでしたか")
    assert result.intent == "seminars" and "「見本市・展示会活用セミナー」は2017年9月27日に開催済みです" in result.text
    assert not seminar_cards(result)


def test_datta_ra_is_if_not_when_it_was(engine):
    # だったら ("if it is"): nothing held in the past is asked about.
    result = Chat(engine, now="2026-11-27T10:00:00").say("ITセミナーだったら行きたい")
    assert "開催済み" not in result.text


def test_a_past_seminar_asked_by_name_is_answered_as_past(engine):
    result = Chat(engine, now="2017-10-01T10:00:00").say("ネットマーケティングセミナーはいつ？")
    assert "9月28日に開催済みです" in result.text
    assert not seminar_cards(result)


def test_an_occurrence_today_still_counts_as_ahead(engine):
    result = Chat(engine, now="2017-09-28T18:00:00").say("今日のセミナー")
    cards = seminar_cards(result)
    assert [c.title for c in cards] == ["プラスITセミナー（開拓のためのネットマーケティングセミナー）"]
    assert "本日開催" in cards[0].subtitle


def test_a_series_shows_its_next_date_not_its_past_ones(engine):
    result = Chat(engine, now="2017-11-18T09:00:00").say("知財の相談会は次いつ？")
    assert result.text.startswith("次回は12/22(金)")
    assert "11/17" not in result.text


def test_a_period_in_the_past_is_said_to_be_over_and_whats_ahead_follows(engine):
    result = Chat(engine, now="2017-10-15T09:00:00").say("先月のセミナー")
    assert "すでに過ぎています" in result.text
    assert all("開催済み" not in c.as_text() for c in seminar_cards(result))
    assert seminar_cards(result)


def test_a_month_with_nothing_lists_whats_ahead_after_saying_so(engine):
    result = Chat(engine, now="2017-07-21T09:00:00").say("今週のセミナー")
    assert "ありません" in result.text
    assert "販路開拓勉強会" not in result.text  # 7/20 is past
    assert seminar_cards(result)[0].subtitle == "2017年7月28日(金)"


def test_detail_shows_every_date_with_past_ones_marked_and_the_phone_and_page(engine):
    chat = Chat(engine, now="2017-11-18T09:00:00")
    result = chat.say("詳細", postback="seminars:detail:lawyer-free-consultation")
    card = seminar_cards(result)[0]
    assert "5/26(金)（開催済み）" in dict(card.rows)["日程"] and "2/23(金)" in dict(card.rows)["日程"]
    assert any(b.tel == "0246-21-7570" for b in card.buttons)
    assert any(b.url and "1488506090835" in b.url for b in card.buttons)
    remind = next(b for b in card.buttons if b.label == "リマインド")
    assert remind.data == "seminars:remind:lawyer-free-consultation:2018-02-23"


@pytest.mark.parametrize("postback", ["seminars:detail:no-such", "seminars:remind:x", "seminars:remind:lawyer-free-consultation:2017-13-01",
                                      "seminars:more:abc", "seminars:more:5", "seminars:", "seminars:remind:lawyer-free-consultation:2017-05-27"])
def test_a_stale_or_malformed_tap_gets_a_polite_answer(engine, postback):
    result = Chat(engine, now="2017-10-15T09:00:00").say("詳細", postback=postback)
    assert result.intent == "seminars" and result.text


def test_recommendations_follow_the_last_faq_topic(engine):
    chat = Chat(engine, now="2017-11-20T09:00:00")
    asked = chat.say("事業承継の相談窓口はどこ？")
    assert asked.intent == "faq"
    result = chat.say("おすすめのセミナーは？")
    assert result.intent == "seminars"
    assert "事業承継について" in result.text
    assert seminar_cards(result)[0].title == "いわき後継者アカデミー"


def test_without_context_a_recommendation_is_simply_whats_next(engine):
    result = Chat(engine, now="2017-11-20T09:00:00").say("おすすめのセミナーは？")
    assert seminar_cards(result)[0].subtitle.startswith("2017年12月")


@pytest.mark.parametrize("text, expected", [
    ("連携ビジネスのセミナーはどこが主催？", "連携ビジネス創出"),
    ("企業活性化プロジェクトの参加企業", "会川鉄工"),
    ("起業の勉強をしたい", "創業"),
    ("振興会議は何回開催された？", "6回"),
    ("企業活性化プロジェクトは今年どこの会社が参加してる？", "会川鉄工"),  # a time, and a fact other than when
    ("パラオ研修っていつ行ったの", "8月22日"),  # a seminar word, and the program's own fact
    ("よろずの相談件数 今年度", "24件"),
    ("セミナーカレンダーに新しく加わったのは何編？", "経営支援編"),  # the calendar's own fact, guessed  # an everyday word for events (相談), a time, and a fact of a program without seminars
])
def test_program_questions_are_left_to_the_faq(engine, text, expected):
    result = Chat(engine, now="2017-10-15T09:00:00").say(text)
    assert result.intent == "faq" and expected in result.text


@pytest.mark.parametrize("text", ["セミナー" * 1000, "🎉来月のセミナー🎉", "ｾﾐﾅｰ", "\u3000せみなー\u3000", "セミナー\n\n\n来月"])
def test_odd_input_about_seminars_gets_an_answer(engine, text):
    result = Chat(engine, now="2017-10-15T09:00:00").say(text)
    assert result.intent == "seminars" and result.text


def test_no_listing_ever_shows_a_past_seminar_as_upcoming(engine, kb: Knowledge):
    calendar = kb.section("seminars.yaml")
    questions = ["今月のセミナー", "来月のセミナー", "近々のセミナーは？", "IT関係のセミナーある？", "相談会は次いつ？", "ものづくり塾",
                 "年度末のセミナー", "今週のセミナー", "おすすめのセミナー"]
    day = date(2017, 4, 1)
    while day <= date(2018, 4, 5):
        chat = Chat(engine, user=f"sweep-{day}", now=f"{day.isoformat()}T12:00:00")
        for question in questions:
            result = chat.say(question)
            for card in seminar_cards(result):
                seminar = calendar.get(seminar_id(card))
                assert any(o.last >= day for o in seminar.occurrences), (day, question, card.title)
                assert "開催済み" not in card.as_text(), (day, question, card.title)
        day += timedelta(days=9)


def test_the_seminar_question_set_is_answered(engine):
    """Every question of tests/questions/seminars.jsonl (own `now` each) gets a right answer."""
    import unicodedata

    def nfkc(text: str) -> str:
        return unicodedata.normalize("NFKC", text)

    cases = read_question_set("seminars.jsonl")
    failures, past_listed = [], []
    for i, case in enumerate(cases):
        result = engine.handle(Incoming("console", f"q-{i}", case["text"], at(case["now"])))
        said = nfkc(result.text)
        right = (result.intent not in ("fallback", "help", "greeting")
                 and any(nfkc(a) in said for a in case["any"]))
        if not right:
            failures.append(f"{case['id']}: {case['text']} -> {result.intent} {said[:120]!r}")
        if any(nfkc(x) in said for x in case.get("none", [])):
            past_listed.append(f"{case['id']}: {case['text']} -> {said[:120]!r}")
    assert not past_listed, "\n".join(past_listed)
    assert len(failures) <= len(cases) * 0.02, "\n".join(failures)


def test_with_a_feed_address_the_detail_links_the_seminars_own_ics(tmp_path):
    import shutil

    from handlers.base import Turn
    from knowledge.loader import BUNDLED_DIR

    target = tmp_path / "knowledge"
    shutil.copytree(BUNDLED_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__", "README.md"))
    path = target / "seminars.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("feed_url: null", "feed_url: https://bot.example.jp/seminars"),
                    encoding="utf-8")
    kb = Knowledge.load(target)
    outcome = seminars.respond(Turn(text="詳細", now=at("2017-10-15T09:00:00"), kb=kb,
                                    postback="seminars:detail:ip-expert-consultation"))
    card = outcome.replies[0].cards[0]
    assert any(b.url == "https://bot.example.jp/seminars/ip-expert-consultation.ics" for b in card.buttons)


def test_a_period_with_what_is_on_and_no_seminar_word_lists_that_period(engine):
    result = Chat(engine, now="2017-10-16T09:00:00").say("来週なにかある？")
    assert result.intent == "seminars"
    assert [card.subtitle for card in seminar_cards(result)] == ["2017年10月25日(水)", "2017年10月27日(金)"]


def test_a_topic_typed_in_kana_with_a_month_lists_that_months_session(engine):
    result = Chat(engine, now="2018-03-01T09:00:00").say("ちざい 今月")
    assert result.intent == "seminars"
    assert "3/17" in result.text and "2/24" not in result.text


@pytest.mark.parametrize("text", ["今月の天気", "来週の為替レート"])
def test_a_period_alone_with_other_things_is_not_a_seminar_question(engine, text):
    assert Chat(engine, now="2017-10-16T09:00:00").say(text).intent == "fallback"


@pytest.mark.parametrize("now, text, next_session", [
    ("2017-06-01T09:00:00", "弁護士の無料相談はいつ？", "8/25"),
    ("2017-06-01T09:00:00", "弁護士に無料で相談できる日ある？", "8/25"),
    ("2017-06-01T09:00:00", "知財の相談 次いつ", "6/30"),
    ("2017-06-01T09:00:00", "知財相談の日程", "6/30"),
    ("2018-02-01T09:00:00", "来月の知財相談", "3/17"),
])
def test_a_date_asked_of_a_topics_consultation_gets_its_next_session_not_the_organisers_card(engine, now, text,
                                                                                              next_session):
    result = Chat(engine, now=now).say(text)
    assert result.intent == "seminars"
    assert next_session in result.text and seminar_cards(result)


def test_a_date_asked_of_a_topic_with_nothing_ahead_says_none_is_scheduled_when_they_were_and_whom_to_call(engine):
    result = Chat(engine, now="2026-11-27T10:00:00").say("弁護士の無料相談はいつ？")
    assert result.intent == "seminars" and "今後の開催予定は、現在ありません" in result.text
    assert "「弁護士等無料相談会」は2017年5月26日～2018年2月23日（全4回）に開催済みです" in result.text
    assert "0246-21-7570" in result.text and not seminar_cards(result)


@pytest.mark.parametrize("text", ["いわき信組のセミナーってどんなの", "いわきしんくみの せみなーって どんなの"])
def test_the_seminar_of_an_organiser_with_one_program_is_told_by_its_faq_entry(engine, text):
    result = Chat(engine, now="2026-11-27T10:00:00").say(text)
    assert result.intent == "faq" and result.entry_id == "collaborative-business-seminar"


def test_the_seminars_of_an_organiser_with_several_programs_are_listed(engine):
    result = Chat(engine, now="2017-10-01T10:00:00").say("商工会議所のセミナー")
    assert result.intent == "seminars" and "10/25" in result.text


def test_kouza_converted_as_account_still_asks_for_a_course_on_a_topic(engine):
    # 口座 (an account) is the IME's other kanji for 講座 (a course).
    result = Chat(engine, now="2017-10-15T10:00:00").say("簿記 口座")
    assert result.intent == "seminars" and "よくわかる3級簿記講座" in result.text
    assert Chat(engine, now="2017-10-15T10:00:00").say("口座振替できる？").intent != "seminars"


def test_kouza_mistyped_beside_a_topic_asks_for_its_next_course_not_a_desk_that_runs_such_courses(engine):
    # The desk of the prefecture's federation lists 事業計画書作成セミナー among its duties: a desk's fact,
    # not the date asked.
    result = Chat(engine, now="2017-09-01T10:00:00").say("経営計画 口座 こんどいつ")
    assert result.intent == "seminars" and "9/25" in result.text


@pytest.mark.parametrize("text", ["来年独立して店を開きたいんですが、どこに相談すればいい？", "今月中に起業したい。相談先は？"])
def test_a_question_of_whom_to_ask_is_left_to_the_faq_even_with_a_topic_and_a_period(engine, text):
    result = Chat(engine, now="2017-10-15T09:00:00").say(text)
    assert result.intent == "faq" and "創業" in result.text


@pytest.mark.parametrize("text, entry, fact", [
    ("事業承継のｾﾐﾅｰある？", "successor-academy", "事業承継対策"),
    ("事業継承の勉強会やってるとこ教えて", "successor-academy", "事業承継対策"),  # 継承: 承継 the other way round
    ("連携ビジネスセミナーって受講後になにかフォローある？", "collaborative-business-seminar", "訪問"),
    ("農家さんと組んで6次産業化の新商品を作りたい。そういう事例が出てるセミナーってある？",
     "collaborative-business-seminar", "6次化"),
    ("経営の悩みを専門家に相談したい", "yorozu-support-collaboration", "よろず支援拠点"),  # no seminar's program
    ("息子に店を譲るつもりなので、引き継ぎのための集中講座があれば受けたい", "successor-academy", "事業承継対策"),
    ("跡を継ぐ息子が勉強できる講座あっぺか", "successor-academy", "事業承継対策"),  # 継ぐ, dialect
    ("ラーメン屋を始めたいので基礎の講座を受けたい", "startup-school", "創業"),
    ("企業したいんだけど商工会議所で勉強会やってる？", "startup-school", "創業"),  # the IME's 企業 for 起業, as a verb
    # The FAQ is unsure (its best is the subsidy), but the calendar's 連携 seminars of a program are all this one's.
    ("よその会社と組んで新しい名物を作りたい。勉強会ある？", "collaborative-business-seminar", "地域ブランド"),
])
def test_a_topic_with_nothing_ahead_is_told_so_and_then_the_program_that_held_such_seminars(engine, text, entry, fact):
    result = Chat(engine, now="2026-11-27T10:00:00").say(text)
    assert result.intent == "faq" and result.entry_id == entry
    assert ("ありません" in result.text or "開催済み" in result.text) and fact in result.text
    assert result.text.index("ありません") < result.text.index(fact)


def test_a_seminar_question_with_nothing_ahead_gets_no_program_that_runs_no_seminars(engine):
    # The city's subsidy covers IT, but is not the state's IT導入補助金 the seminar was about.
    result = Chat(engine, now="2017-06-01T09:00:00").say("IT導入補助金のセミナー")
    assert result.intent == "seminars" and "経営発達補助金" not in result.text


def test_a_desks_card_that_names_a_seminar_never_follows_none_ahead(kb: Knowledge):
    naming_no_seminar = seminars._NamingNoSeminar(kb, seminars.calendar(kb))
    assert "desk-jfc" not in naming_no_seminar  # 担当：飲食店経営者のための…セミナー
    assert "yorozu-support-collaboration" in naming_no_seminar and "no-such-entry" not in naming_no_seminar


def test_an_entry_that_runs_no_seminar_follows_none_ahead_only_when_the_faq_is_sure_of_it(engine):
    # The FAQ only guesses the subsidy (it pays for IT) for a wish to learn IT.
    result = Chat(engine, now="2026-11-27T10:00:00").say("ITの勉強がしたい")
    assert result.intent == "seminars" and "経営発達補助金" not in result.text


@pytest.mark.parametrize("text", ["ﾊﾟﾗｵ研修はいつ行われましたか", "高校生の経営プレゼンで一番になったチームは、どこの国で研修したの？"])
def test_a_seminar_word_with_nothing_the_calendar_knows_is_left_to_the_faqs_guess(engine, text):
    result = Chat(engine, now="2026-11-27T10:00:00").say(text)
    assert result.intent == "faq" and result.entry_id == "high-school-college"


def test_a_topic_with_seminars_ahead_is_not_told_none_are_scheduled(engine):
    result = Chat(engine, now="2017-10-15T10:00:00").say("事業承継のセミナーある？")
    assert result.entry_id == "successor-academy" and "ありません" not in result.text


def test_a_seminars_keyword_alone_is_a_seminar_question_only_while_one_is_ahead(engine):
    text = "消費税の軽減税率って外食は何%？"
    before = Chat(engine, now="2017-05-01T10:00:00").say(text)
    assert before.intent == "seminars" and "5/31" in before.text
    assert Chat(engine, now="2026-11-27T10:00:00").say(text).intent == "fallback"


@pytest.mark.parametrize("now, text, seminar", [
    # Seminar words: ゼミナー, ゼミ, and seminar in Latin letters.
    ("2017-09-01T10:00:00", "展示会に出るコツを教えてくれるゼミナーある？", "9/27"),
    ("2017-09-01T10:00:00", "展示会のゼミある？", "9/27"),
    ("2017-08-01T09:00:00", "IT seminar 次回 いつ", "身の丈IT"),
    # A consultation on a topic: its next session.
    ("2018-01-10T09:00:00", "知財の専門家に相談したい", "1/26"),
    ("2017-11-10T09:00:00", "べんごしむりょうそうだん", "11/17"),
    # A wish to learn, however said.
    ("2017-10-20T21:00:00", "ぼきならいたい", "よくわかる3級簿記講座"),  # 習いたい in kana
    ("2017-10-20T21:00:00", "ものづくりの技術を社員に学ばせたい", "いわきものづくり塾"),  # to have staff learn
    # A program with a seminar of another topic (人材育成) the FAQ is far from sure of is no answer to it.
    ("2017-10-20T21:00:00", "若手技術者にロボット関連の研修を受けさせたいのですが、該当する講座はございますか", "ロボティクス"),
])
def test_a_seminar_question_however_written_lists_the_seminars_ahead(engine, now, text, seminar):
    result = Chat(engine, now=now).say(text)
    assert result.intent == "seminars" and seminar in result.text


def test_what_is_on_this_month_lists_the_months_seminars_not_the_calendars_faq_entry(engine):
    result = Chat(engine, now="2018-01-10T09:00:00").say("今月なんかある？")
    assert result.intent == "seminars" and "1/26" in result.text
    assert Chat(engine, now="2018-01-10T09:00:00").say("今月のカレンダーはどこで見られる？").intent == "faq"


@pytest.mark.parametrize("text, now, shown, past", [
    ("年内に参加できるものってまだある？", "2017-12-01T09:00:00", "12/22", "11/17"),  # what one can join, this year
    ("次なにかイベントある？", "2017-12-23T09:00:00", "1/26", "12/22"),  # an event asked next
])
def test_what_is_on_asked_without_a_seminar_word_lists_the_seminars_ahead(engine, text, now, shown, past):
    result = Chat(engine, now=now).say(text)
    assert result.intent == "seminars" and shown in result.text and past not in result.text


def test_a_place_to_consult_is_a_question_of_whom_to_ask(engine):
    result = Chat(engine, now="2026-11-27T10:00:00").say("親の会社を継ぐ予定なんですが、相談できる所ありますか")
    assert result.intent != "seminars" and "承継" in result.text


@pytest.mark.parametrize("text, topic", [
    ("ネットで売りたい。講座ある？", "ITに関するセミナー"),  # a keyword that is a phrase: named by its seminars' subject
    ("IT導入補助金のセミナー", "IT導入補助金に関するセミナー"),  # one of nouns alone: by itself
])
def test_none_ahead_names_a_seminar_keywords_topic_as_a_topic_reads(engine, text, topic):
    result = Chat(engine, now="2026-11-27T10:00:00").say(text)
    assert result.intent == "seminars" and f"予定されている{topic}はありません" in result.text


def test_a_seminar_soon_typed_in_kana_lists_the_seminars_ahead(engine):
    # Split into the knowledge's short words (チ|カイ|ウチ|ノ), the FAQ was sure of the high-school program.
    result = Chat(engine, now="2018-01-30T09:00:00").say("ちかいうちの せみなー")
    assert result.intent == "seminars" and "2/2" in result.text


@pytest.mark.parametrize("text", ["インスタで集客するやり方を習いたい", "ﾌｪｲｽﾌﾞｯｸの使い方の講座"])
def test_a_social_network_by_its_name_finds_the_social_media_seminar(engine, text):
    result = Chat(engine, now="2017-09-01T09:00:00").say(text)
    assert result.intent == "seminars" and "ソーシャルメディア活用" in result.text


def test_a_long_calendar_word_in_an_imes_homophone_is_still_that_word(engine):
    # 操業 for 創業 (both ソウギョウ): a long word is matched by its sound amid kanji too, a short one is not.
    result = Chat(engine, now="2017-08-01T10:00:00").say("操業スクールは今年いつやるの？")
    assert result.intent == "seminars" and "次回は2017年8月～9月の「創業スクール」です" in result.text
    assert not seminars.calendar(engine.kb).match("企業の勉強会").tags  # 企業 is no 起業
    assert seminars.calendar(engine.kb).match("警衛計画のセミナー").tags == ("経営計画",)  # a long topic word too


def test_a_topic_typed_alone_is_its_seminars_even_when_the_faq_is_sure_of_another_entry(engine):
    # The FAQ is sure of 創業支援事業計画 for 経営計画: not what the word alone asks while its seminars are ahead.
    result = Chat(engine, now="2017-09-10T18:00:00").say("経営計画")
    assert result.intent == "seminars" and "9/25" in result.text


def test_next_asked_as_tsugi_wa_is_from_now_on(engine):
    result = Chat(engine, now="2018-01-10T09:00:00").say("弁護士に無料で聞ける日、次は？")
    assert result.intent == "seminars" and "2/23" in result.text and "11/17" not in result.text


def test_a_free_consultation_typed_as_keywords_is_its_sessions(engine):
    result = Chat(engine, now="2018-01-10T09:00:00").say("弁護士 無料")  # 無料: a word of consultation sessions
    assert result.intent == "seminars" and "2/23" in result.text


@pytest.mark.parametrize("text", ["簿記", "ぼき"])
def test_a_topic_typed_alone_lists_its_seminars_while_one_is_ahead_and_tells_of_the_past_ones_after(engine, text):
    before = Chat(engine, now="2017-11-01T09:00:00").say(text)
    assert before.intent == "seminars" and "よくわかる3級簿記講座" in before.text
    after = Chat(engine, now="2026-11-27T10:00:00").say(text)  # none ahead: that there was one, better than a fallback
    assert after.intent == "seminars" and "「よくわかる3級簿記講座」は2017年11月" in after.text and "開催済み" in after.text


@pytest.mark.parametrize("text, first", [("展示会", "見本市・展示会活用セミナー"),  # not the meeting's 企画展示ホール
                                         ("経営計画", "経営計画作成支援セミナー")])  # not 創業支援事業計画
def test_a_topic_typed_alone_with_none_ahead_tells_first_of_the_past_seminars_titled_by_it(engine, text, first):
    result = Chat(engine, now="2026-11-27T10:00:00").say(text)
    assert result.intent == "seminars" and result.text.startswith(f"「{first}")


def test_a_message_with_more_than_a_topic_is_not_the_topic_alone_though_two_of_its_words_overlap(engine):
    # 経営の相談 and 経営相談 are both the calendar's words for the one 経営相談 here: the desk asked for is answered.
    result = Chat(engine, now="2026-11-27T10:00:00").say("ｺｰﾃﾞｨﾈｰﾀｰに経営相談したい")
    assert "よろず支援拠点" in result.text


def test_the_name_of_an_entry_the_faq_is_sure_of_is_answered_though_its_words_are_topics(engine):
    result = Chat(engine, now="2026-11-27T10:00:00").say("創業支援事業計画")
    assert result.intent == "faq" and result.entry_id == "startup-support-plan"


def test_a_topic_typed_alone_that_is_no_seminars_subject_is_not_told_of_past_seminars(engine):
    # 確定申告 is a word of the tax category, but no seminar's title has it.
    assert Chat(engine, now="2026-11-27T10:00:00").say("確定申告").intent == "fallback"


@pytest.mark.parametrize("text", ["つぎのせみなーいつ?", "せみなーについておしえて", "しんくみのせみなー"])
def test_a_kana_question_is_not_given_a_topic_by_a_stems_sounds(kb: Knowledge, text):
    # 継が reads ツギ (次), 継い ツズイ, と組み クミ (しんくみ): no such stem is a topic word.
    assert not seminars.calendar(kb).match(text).tags


def test_a_long_seminar_word_in_an_imes_homophone_is_still_a_seminar_word(engine):
    result = Chat(engine, now="2017-11-10T10:00:00").say("来月の検収会ある？")  # 研修会 (ケンシュウカイ)
    assert result.intent == "seminars" and "来月（2017年12月）のセミナー" in result.text
    assert not seminars.calendar(engine.kb).sounds_like_a_seminar_word("公衆トイレの場所")  # 講習 is too short to tell
